import { CompileFailed, compileFromGit, hasErrors } from '../compiler/index.ts';
import { prune } from '../repository/index.ts';
import { openCatalog, runId, type Identity, type RestorePoint, type RunRecord } from './catalog/index.ts';
import type { GitSource } from './git/source.ts';
import type { KubeClient } from './kube/client.ts';
import { openProfileRepository } from './profile-repository.ts';
import { forgetRestorePointData, ReconcileError } from './reconcile.ts';
import { randomBytes } from 'node:crypto';

export interface DeleteRestorePointOptions {
  source: GitSource;
  client: KubeClient;
  name: string;
  namespace?: string;
  dryRun?: boolean;
  author?: Identity;
  cofferNamespace?: string;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

export interface DeleteRestorePointResult {
  restorePoint: RestorePoint;
  /** Catalog document removed (or that would be). */
  path: string;
  /** Repository snapshots forgotten (or that would be): the manifests and one per volume. */
  snapshots: string[];
  volumeSnapshots: string[];
  dryRun: boolean;
  commit?: string;
  /** Set when the catalog entry is gone but freeing the data failed; the next retention pass or `repo prune` frees it. */
  dataError?: string;
}

/**
 * `coffer delete restorepoint`: the catalog document first (one commit, recorded as a retention run with the point in
 * `expired`), the repository snapshots second and a prune of that profile, so no restore point ever points at
 * forgotten data — the same order as retention. Works for any point, pinned or not: deleting is how a pin ends.
 */
export async function deleteRestorePoint(o: DeleteRestorePointOptions): Promise<DeleteRestorePointResult> {
  const now = o.now ?? (() => new Date());
  const rev = await o.source.fetch();
  const compiled = await compileFromGit(rev.gitdir, rev.commit);
  if (!compiled.plan || hasErrors(compiled.diagnostics)) throw new CompileFailed(compiled.diagnostics);
  const plan = compiled.plan;
  const catalog = openCatalog({ source: o.source, cluster: plan.config.cluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path, ...(o.author ? { author: o.author } : {}), clock: now });
  const entry = (await catalog.readRestorePoints(o.namespace ? { namespace: o.namespace } : {})).find((e) => e.doc.metadata.name === o.name);
  if (!entry) throw new ReconcileError('E_RECONCILE_NOT_FOUND', `restore point "${o.name}" not found in branch ${catalog.branch} for cluster ${catalog.cluster}${o.namespace ? ` (namespace ${o.namespace})` : ''}; list them with coffer get restorepoints`);
  const rp = entry.doc;
  const result: DeleteRestorePointResult = {
    restorePoint: rp,
    path: entry.path,
    snapshots: [rp.spec.repository.manifestSnapshot, ...(rp.spec.volumes ?? []).map((v) => v.snapshotId)].filter((x): x is string => !!x),
    volumeSnapshots: (rp.spec.volumes ?? []).map((v) => v.volumeSnapshot).filter((x): x is string => !!x),
    dryRun: !!o.dryRun,
  };
  if (o.dryRun) return result;
  const start = now();
  const run: RunRecord = {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Run',
    metadata: { name: runId('retention', start, randomBytes(3).toString('hex')) },
    spec: { type: 'retention', cluster: rp.spec.cluster, namespace: rp.spec.namespace, policy: rp.spec.policy, trigger: 'manual', sourceCommit: rev.commit, planHash: plan.hash },
    status: { phase: 'Succeeded', startTime: start.toISOString(), endTime: now().toISOString() },
  };
  const commit = await catalog.expireRestorePoints(rp.spec.namespace, rp.spec.policy, [rp.metadata.name], run);
  result.commit = commit.commit;
  const profile = plan.profiles.find((p) => p.name === rp.spec.repository.profile);
  try {
    if (!profile) throw new Error(`profile "${rp.spec.repository.profile}" is no longer in the plan`);
    const repo = openProfileRepository(o.client, profile, { ...(o.cofferNamespace ? { cofferNamespace: o.cofferNamespace } : {}), ...(o.env ? { env: o.env } : {}) });
    await forgetRestorePointData([rp], () => repo, o.client);
    await prune((await repo).repo);
  } catch (e) {
    result.dataError = (e as Error).message;
  }
  return result;
}
