import type { Plan } from '../../compiler/index.ts';
import type { KubeClient } from '../../reconciler/kube/client.ts';
import { openProfileRepository } from '../../reconciler/profile-repository.ts';
import type { Finding } from './local.ts';

/**
 * Each Profile of the plan: its key Secret readable and the repository reachable and openable with that key — the
 * same path a backup takes, except that nothing is created (a repository not made yet is fine: the first backup
 * makes it).
 */
export async function profileFindings(client: KubeClient, plan: Plan, opts: { cofferNamespace?: string; env?: NodeJS.ProcessEnv }): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const p of plan.profiles) {
    const check = `profile/${p.name}`;
    try {
      const r = await openProfileRepository(client, p, { ...opts, create: false });
      out.push({ check, ok: true, detail: `${p.location}: repository ${r.repo.config.id.slice(0, 8)} opened with its key` });
      await r.close();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'E_REPO_NOT_INITIALIZED') out.push({ check, ok: true, detail: `${p.location}: reachable, no repository yet (the first backup creates it)` });
      else out.push({ check, ok: false, detail: `${p.location}: ${(e as Error).message}`, fix: code?.startsWith('E_PROFILE') ? `create the Secret the profile names (kubectl -n ${opts.cofferNamespace ?? 'coffer-system'} create secret generic …)` : code === 'E_REPO_PASSWORD' || code === 'E_REPO_KEY' ? 'the key Secret does not open this repository: restore the original key' : 'check the storage is reachable from here (network, credentials, path)' });
    }
  }
  return out;
}
