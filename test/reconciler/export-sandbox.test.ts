import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { compileCel } from '../../compiler/cel/index.ts';
import { FileBackend, initRepository, restore } from '../../repository/index.ts';
import { buildBundle, exportNamespace, writeBundle } from '../../reconciler/export/index.ts';
import { discoverResources, isNotFound, KubeApiError, waitFor, type KubeObject } from '../../reconciler/kube/index.ts';
import { createAll, randomName, sampleApp, startTestCluster, waitPodsReady, type TestCluster } from './kube-cluster.ts';
import { readFile } from 'node:fs/promises';

// Backups, mover Jobs and Pods on a loaded two-core machine take minutes, not the default 60 s (issue 19: the
// SIGTERM test timed out at load 8–11). Each test still fails on its own deadlines when something really hangs.
vi.setConfig({ testTimeout: 300_000 });

let cluster: TestCluster;
let ns: string;
const group = `${randomName('t')}.example.com`;

beforeAll(async () => {
  cluster = await startTestCluster();
  ns = randomName('shop');
  const objs = sampleApp(ns, group);
  const cr = objs.pop()!;
  await createAll(cluster.client, objs);
  // The custom resource can only be created once the CRD is served.
  await waitFor(async () => ((await discoverResources(cluster.client)).resources.some((r) => r.group === group) ? true : undefined), { timeoutMs: 30_000, what: `CRD group ${group} served` });
  await createAll(cluster.client, [cr]);
  await waitPodsReady(cluster.client, ns, 'app in (web,db)', 2);
});

afterAll(async () => {
  await cluster?.client.delete('v1', 'namespaces', undefined, ns).catch(() => undefined);
  await cluster?.client.delete('apiextensions.k8s.io/v1', 'customresourcedefinitions', undefined, `widgets.${group}`).catch(() => undefined);
  await cluster?.stop();
});

const kindsOf = (r: Awaited<ReturnType<typeof exportNamespace>>) => Object.fromEntries(r.summary.kinds.map((k) => [k.resource, k.names]));

describe('export of a realistic namespace', () => {
  it('captures app objects and custom resources, skips what controllers rebuild, adds cluster dependencies', async () => {
    const r = await exportNamespace(cluster.client, { namespace: ns });
    const kinds = kindsOf(r);
    expect(kinds['configmaps']).toEqual(['settings']);
    expect(kinds['secrets']).toContain('db-credentials');
    expect(kinds['services']).toEqual(['web']);
    expect(kinds['deployments.apps']).toEqual(['web']);
    expect(kinds['statefulsets.apps']).toEqual(['db']);
    expect(kinds['persistentvolumeclaims']).toEqual(['data-db-0']);
    expect(kinds['rolebindings.rbac.authorization.k8s.io']).toEqual(['web-view']);
    expect(kinds[`widgets.${group}`]).toEqual(['blue']);
    // Controller-made objects stay out, with a reason.
    expect(kinds['pods']).toBeUndefined();
    expect(kinds['replicasets.apps']).toBeUndefined();
    expect(kinds['events']).toBeUndefined();
    expect(r.excluded.some((e) => e.object.includes(' Pod ') && e.reason.startsWith('pod owned by'))).toBe(true);
    // Cluster-scoped things the app needs.
    expect(kinds['namespaces']).toEqual([ns]);
    expect(kinds['customresourcedefinitions.apiextensions.k8s.io']).toEqual([`widgets.${group}`]);
    expect(kinds['persistentvolumes']).toHaveLength(1);
    expect(kinds['storageclasses.storage.k8s.io']?.length).toBe(1);
    // The RoleBinding's ClusterRole comes along when the cluster has it; otherwise the gap is a warning, not silence.
    const view = await cluster.client.find('rbac.authorization.k8s.io/v1', 'clusterroles', undefined, 'view');
    if (view) expect(kinds['clusterroles.rbac.authorization.k8s.io']).toEqual(['view']);
    else expect(r.warnings.some((w) => w.includes('ClusterRole view'))).toBe(true);
    expect(r.pvcs.map((p) => p.metadata.name)).toEqual(['data-db-0']);
    // Cleaned: no server-set fields anywhere.
    for (const o of [...r.objects, ...r.clusterObjects]) {
      expect(o.object.metadata.uid).toBeUndefined();
      expect(o.object.metadata.resourceVersion).toBeUndefined();
      expect(o.object.status).toBeUndefined();
    }
    // Git-safe summary: the Secret's value appears nowhere in it.
    expect(JSON.stringify(r.summary)).not.toContain('hunter2');
    expect(JSON.stringify(r.summary)).not.toContain(Buffer.from('hunter2-never-in-git').toString('base64'));
  });

  it('applies the policy CEL selector and kind exclusions', async () => {
    const selector = compileCel("object.kind != 'ConfigMap' || (has(object.metadata.labels) && object.metadata.labels.app == 'nope')", 'object');
    const r = await exportNamespace(cluster.client, { namespace: ns, selector, excludeKinds: ['Secret'] });
    const kinds = kindsOf(r);
    expect(kinds['configmaps']).toBeUndefined();
    expect(kinds['secrets']).toBeUndefined();
    expect(kinds['deployments.apps']).toEqual(['web']);
  });

  it('writes the bundle into an encrypted repository and it reads back byte-for-byte, Secret data included', async () => {
    const r = await exportNamespace(cluster.client, { namespace: ns });
    const entries = buildBundle([...r.objects, ...r.clusterObjects], { namespace: ns });
    const dir = mkdtempSync(join(tmpdir(), 'coffer-export-repo-'));
    const backend = new FileBackend(join(dir, 'repo'));
    const repo = await initRepository(backend, 'pw');
    const { snapshotId } = await writeBundle(repo, entries, { tags: { namespace: ns, restorepoint: 'rp-1' } });
    const target = join(dir, 'out');
    await restore(repo, snapshotId, target);
    for (const e of entries) expect((await readFile(join(target, e.path))).equals(e.data)).toBe(true);
    const secret = parse(await readFile(join(target, 'resources/secrets/namespaces', ns, 'db-credentials.yaml'), 'utf8')) as KubeObject;
    expect(Buffer.from((secret.data as { password: string }).password, 'base64').toString()).toBe('hunter2-never-in-git');
    // And the repository files on disk do not contain it in clear.
    const { execFileSync } = await import('node:child_process');
    expect(() => execFileSync('grep', ['-rq', 'hunter2-never-in-git', join(dir, 'repo')])).toThrow();
  });

  it('the client pages through large lists and reports API errors with status and reason', async () => {
    for (let i = 0; i < 7; i++) await cluster.client.create('v1', 'configmaps', ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `page-${i}`, namespace: ns }, data: { i: String(i) } });
    const seen: string[] = [];
    for await (const o of cluster.client.listPaged('v1', 'configmaps', ns, { pageSize: 2, labelSelector: '' })) seen.push(o.metadata.name);
    // The server really paged (so listPaged followed continue tokens).
    const first = await cluster.client.request<{ items: unknown[]; metadata: { continue?: string } }>('GET', `/api/v1/namespaces/${ns}/configmaps`, { query: { limit: 2 } });
    expect(first.items).toHaveLength(2);
    expect(first.metadata.continue).toBeTruthy();
    expect(seen.filter((n) => n.startsWith('page-')).sort()).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4', 'page-5', 'page-6']);
    const err = (await cluster.client.get('v1', 'configmaps', ns, 'nope').catch((e: unknown) => e)) as KubeApiError;
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.status).toBe(404);
    expect(err.reason).toBe('NotFound');
    expect(err.message).toContain('configmaps "nope" not found');
    expect(isNotFound(err)).toBe(true);
    expect(await cluster.client.find('v1', 'configmaps', ns, 'nope')).toBeUndefined();
    await expect(exportNamespace(cluster.client, { namespace: 'no-such-namespace' })).rejects.toThrow('namespace "no-such-namespace" not found');
  });
});
