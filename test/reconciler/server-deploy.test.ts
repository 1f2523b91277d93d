/** deploy/: the Kustomize manifests render and pass the API server's validation (`kubectl apply -k --dry-run=server`). */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { cleanup, tempDir } from './git-helpers.ts';

const run = promisify(execFile);
const deployDir = new URL('../../deploy/', import.meta.url).pathname;
let sb: Sandbox;
let work: string;

beforeAll(async () => {
  work = tempDir('deploy');
  sb = await startSandbox({ dir: join(work, 'sandbox') });
}, 120_000);
afterAll(async () => {
  await sb?.stop();
  if (work) cleanup(work);
});

describe('deploy/ manifests', () => {
  it('render with kustomize into exactly the objects Coffer needs', async () => {
    const { stdout } = await run('kubectl', ['kustomize', deployDir]);
    const docs = YAML.parseAllDocuments(stdout).map((d) => d.toJSON() as { kind: string; metadata: { name: string; namespace?: string } });
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(
      ['ClusterRole/coffer-backup', 'ClusterRole/coffer-restore', 'ClusterRoleBinding/coffer-backup', 'ClusterRoleBinding/coffer-restore', 'Deployment/coffer', 'Namespace/coffer-system', 'Role/coffer', 'RoleBinding/coffer', 'Service/coffer', 'ServiceAccount/coffer'].sort(),
    );
    for (const d of docs) if (!d.kind.startsWith('Cluster') && d.kind !== 'Namespace') expect(d.metadata.namespace, d.kind).toBe('coffer-system');
  });

  it('pass kubectl apply -k --dry-run=server against the sandbox, creating nothing', async () => {
    const env = { ...process.env, KUBECONFIG: sb.kubeconfigPath };
    // Like a real API server, a dry run cannot place objects in a namespace that does not exist yet.
    await run('kubectl', ['create', 'namespace', 'coffer-system'], { env });
    const { stdout } = await run('kubectl', ['apply', '-k', deployDir, '--dry-run=server'], { env });
    expect(stdout).toContain('deployment.apps/coffer created (server dry run)');
    expect(stdout).toContain('clusterrole.rbac.authorization.k8s.io/coffer-backup created (server dry run)');
    expect(stdout.trim().split('\n')).toHaveLength(10);
    await expect(run('kubectl', ['get', '-n', 'coffer-system', 'deployment', 'coffer'], { env })).rejects.toThrow(/NotFound|not found/);
  });
});
