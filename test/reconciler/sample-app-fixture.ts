/**
 * Shared set-up of the whole-loop suites and benchmarks: the demo's sample app (StatefulSet with a SQLite volume,
 * Deployment, Service, ConfigMap, Secret) plus Coffer's repository key Secret in a cluster, and a policy repository
 * committed with isomorphic-git.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import git from 'isomorphic-git';
import { DEMO_NAMESPACE, demoPolicyRepo, sampleApp } from '../../cli/demo-app.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';

const PLURALS: Record<string, string> = { Namespace: 'namespaces', ConfigMap: 'configmaps', Secret: 'secrets', Service: 'services', StatefulSet: 'statefulsets', Deployment: 'deployments' };

export async function waitFor(what: string, f: () => Promise<boolean>, ms = 180_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Deploys the sample app (in each of `apps`' namespaces, its pods kept on `node` when given) and the
 * `coffer-system/coffer-repository-key` Secret, and waits until every database is ready.
 */
export async function deploySampleApp(client: KubeClient, passphrase: string, apps: Array<{ namespace: string; node?: string }> = [{ namespace: DEMO_NAMESPACE }]): Promise<void> {
  const objects: KubeObject[] = [];
  for (const app of apps) {
    for (const o of sampleApp(app.namespace)) {
      const template = (o as { spec?: { template?: { spec: Record<string, unknown> } } }).spec?.template;
      if (app.node && template) template.spec.nodeSelector = { 'kubernetes.io/hostname': app.node };
      objects.push(o);
    }
  }
  objects.push(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, stringData: { passphrase } } as KubeObject,
  );
  for (const o of objects) await client.create(o.apiVersion, PLURALS[o.kind]!, o.metadata.namespace, o);
  for (const app of apps) {
    await waitFor(`the db StatefulSet in ${app.namespace}`, async () => ((await client.find('apps/v1', 'statefulsets', app.namespace, 'db')) as { status?: { readyReplicas?: number } } | undefined)?.status?.readyReplicas === 1);
  }
}

/** Writes `files` into `repoDir` (a repository created on first use) and commits them. */
export async function commitFiles(repoDir: string, files: Record<string, string>, message = 'policies'): Promise<void> {
  if (!fs.existsSync(join(repoDir, '.git'))) await git.init({ fs, dir: repoDir, defaultBranch: 'main' });
  for (const [path, content] of Object.entries(files)) {
    fs.mkdirSync(dirname(join(repoDir, path)), { recursive: true });
    fs.writeFileSync(join(repoDir, path), content);
    await git.add({ fs, dir: repoDir, filepath: path });
  }
  await git.commit({ fs, dir: repoDir, message, author: { name: 't', email: 't@example.com' } });
}

export interface SampleLoop {
  work: string;
  sb: Sandbox;
  client: KubeClient;
  /** The filesystem repository the demo's profile names (created empty). */
  repositoryPath: string;
  /** The policy repository, committed. */
  repoDir: string;
}

/**
 * A sandbox in a new folder under the temp dir with the sample app deployed, and the demo's policy repository (its
 * sqlite blueprint; `edit` may change the files first) committed: the start of every whole-loop suite.
 */
export async function startSampleLoop(prefix: string, passphrase: string, edit: (files: Record<string, string>) => void = () => {}): Promise<SampleLoop> {
  const work = fs.mkdtempSync(join(tmpdir(), prefix));
  const sb = await startSandbox({ dir: join(work, 'sandbox') });
  const client = new KubeClient(sb.kubeConfig);
  await deploySampleApp(client, passphrase);
  const repositoryPath = join(work, 'repository');
  fs.mkdirSync(repositoryPath);
  const repoDir = join(work, 'policy-repo');
  const files = demoPolicyRepo(repositoryPath, fs.readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8'));
  edit(files);
  await commitFiles(repoDir, files);
  return { work, sb, client, repositoryPath, repoDir };
}
