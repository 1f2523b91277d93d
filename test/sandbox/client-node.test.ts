/**
 * @kubernetes/client-node against the sandbox: typed list with pagination,
 * watch with resourceVersion resume and 410 for a too-old one, an informer,
 * optimistic concurrency, owner-reference garbage collection, generateName
 * and dry run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';

let sb: Sandbox;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
const NS = 'cn';

beforeAll(async () => {
  sb = await startSandbox({ controllers: false });
  core = sb.kubeConfig.makeApiClient(k8s.CoreV1Api);
  apps = sb.kubeConfig.makeApiClient(k8s.AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
});
afterAll(async () => {
  await sb?.stop();
});

async function until(cond: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
}

function statusOf(e: unknown): { code: number; body: any } {
  const err = e as { code: number; body: string };
  return { code: err.code, body: typeof err.body === 'string' ? JSON.parse(err.body) : err.body };
}

describe('@kubernetes/client-node against the sandbox', () => {
  it('lists with limit/continue in key order and counts what remains', async () => {
    for (let i = 0; i < 25; i++) await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: `page-${String(i).padStart(2, '0')}`, labels: { set: 'paging' } } } });
    const names: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    const remaining: number[] = [];
    do {
      const page = await core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'set=paging', limit: 10, _continue: cont });
      names.push(...page.items.map((i) => i.metadata!.name!));
      cont = page.metadata?._continue || undefined;
      if (page.metadata?.remainingItemCount !== undefined) remaining.push(page.metadata.remainingItemCount);
      pages++;
    } while (cont);
    expect(pages).toBe(3);
    expect(remaining).toEqual([15, 5]);
    expect(names).toEqual(Array.from({ length: 25 }, (_, i) => `page-${String(i).padStart(2, '0')}`));
  });

  it('rejects a stale update with 409 Conflict and keeps resourceVersion monotonic', async () => {
    const a = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'occ' }, data: { v: '1' } } });
    const b = await core.replaceNamespacedConfigMap({ namespace: NS, name: 'occ', body: { ...a, data: { v: '2' } } });
    expect(Number(b.metadata!.resourceVersion)).toBeGreaterThan(Number(a.metadata!.resourceVersion));
    try {
      await core.replaceNamespacedConfigMap({ namespace: NS, name: 'occ', body: { ...a, data: { v: '3' } } });
      expect.unreachable('stale update accepted');
    } catch (e) {
      const s = statusOf(e);
      expect(s.code).toBe(409);
      expect(s.body.reason).toBe('Conflict');
      expect(s.body.message).toBe('Operation cannot be fulfilled on configmaps "occ": the object has been modified; please apply your changes to the latest version and try again');
    }
    try {
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'occ' } } });
      expect.unreachable('duplicate create accepted');
    } catch (e) {
      const s = statusOf(e);
      expect(s.code).toBe(409);
      expect(s.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'AlreadyExists', details: { name: 'occ', kind: 'configmaps' } });
    }
  });

  it('watches from a resourceVersion, resumes without gaps, and answers 410 Expired for a compacted one', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: NS });
    const rv = list.metadata!.resourceVersion!;
    const events: string[] = [];
    const w = new k8s.Watch(sb.kubeConfig);
    const req = await w.watch(`/api/v1/namespaces/${NS}/configmaps`, { resourceVersion: rv, allowWatchBookmarks: true }, (type, obj) => events.push(`${type} ${obj.metadata?.name}`), () => {});
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'w1' } } });
    await core.patchNamespacedConfigMap({ namespace: NS, name: 'w1', body: { data: { a: 'b' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await core.deleteNamespacedConfigMap({ namespace: NS, name: 'w1' });
    await until(() => events.length >= 3);
    req.abort();
    expect(events).toEqual(['ADDED w1', 'MODIFIED w1', 'DELETED w1']);

    // Resume from the list's RV replays the same history.
    const replay: string[] = [];
    const req2 = await w.watch(`/api/v1/namespaces/${NS}/configmaps`, { resourceVersion: rv }, (type, obj) => replay.push(`${type} ${obj.metadata?.name}`), () => {});
    await until(() => replay.length >= 3);
    req2.abort();
    expect(replay).toEqual(events);
  });

  it('answers a watch from a compacted resourceVersion with an ERROR event carrying 410', async () => {
    // A server whose watch history holds only 5 events: bootstrap alone pushes resourceVersion 1 out of it.
    const { Store } = await import('../../sandbox/api/store.ts');
    const { ApiServer } = await import('../../sandbox/api/server.ts');
    const { bootstrap } = await import('../../sandbox/index.ts');
    const api = new ApiServer({ store: new Store(5) });
    bootstrap(api);
    const url = await api.listen(0);
    try {
      const res = await fetch(`${url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1`);
      const text = await res.text();
      expect(res.status).toBe(200);
      const ev = JSON.parse(text.trim().split('\n')[0]);
      expect(ev.type).toBe('ERROR');
      expect(ev.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
      expect(ev.object.message).toMatch(/^too old resource version: 1 \(\d+\)$/);
    } finally {
      await api.close();
    }
  });

  it('feeds an informer: initial list, then adds, updates and deletes', async () => {
    const listFn = () => core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'inf=yes' });
    const inf = k8s.makeInformer(sb.kubeConfig, `/api/v1/namespaces/${NS}/configmaps`, listFn, 'inf=yes');
    const seen: string[] = [];
    inf.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    inf.on('update', (o) => seen.push(`update ${o.metadata!.name} ${o.data?.v}`));
    inf.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'pre', labels: { inf: 'yes' } } } });
    await inf.start();
    await until(() => seen.includes('add pre'));
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'live', labels: { inf: 'yes' } }, data: { v: '1' } } });
    await core.patchNamespacedConfigMap({ namespace: NS, name: 'live', body: { data: { v: '2' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'other', labels: { inf: 'no' } } } });
    await core.deleteNamespacedConfigMap({ namespace: NS, name: 'live' });
    await until(() => seen.includes('delete live'));
    await inf.stop();
    expect(seen).toEqual(['add pre', 'add live', 'update live 2', 'delete live']);
    expect(inf.list().map((o) => o.metadata!.name)).toEqual(['pre']);
  });

  it('garbage-collects dependents in the background, orphans on request, and waits for them in the foreground', async () => {
    const owner = await apps.createNamespacedDeployment({
      namespace: NS,
      body: { metadata: { name: 'owner' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } },
    });
    const ref = (o: k8s.V1Deployment) => [{ apiVersion: 'apps/v1', kind: 'Deployment', name: o.metadata!.name!, uid: o.metadata!.uid!, controller: true, blockOwnerDeletion: true }];
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'dep-1', ownerReferences: ref(owner) } } });
    await apps.deleteNamespacedDeployment({ namespace: NS, name: 'owner' });
    await until(async () => (await core.listNamespacedConfigMap({ namespace: NS, fieldSelector: 'metadata.name=dep-1' })).items.length === 0);

    const o2 = await apps.createNamespacedDeployment({ namespace: NS, body: { ...owner, metadata: { name: 'owner2' } } });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'dep-2', ownerReferences: ref(o2) } } });
    await apps.deleteNamespacedDeployment({ namespace: NS, name: 'owner2', propagationPolicy: 'Orphan' });
    await until(async () => (await apps.listNamespacedDeployment({ namespace: NS, fieldSelector: 'metadata.name=owner2' })).items.length === 0);
    const orphan = await core.readNamespacedConfigMap({ namespace: NS, name: 'dep-2' });
    expect(orphan.metadata!.ownerReferences).toBeUndefined();

    const o3 = await apps.createNamespacedDeployment({ namespace: NS, body: { ...owner, metadata: { name: 'owner3' } } });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'dep-3', ownerReferences: ref(o3), finalizers: ['example.com/slow'] } } });
    await apps.deleteNamespacedDeployment({ namespace: NS, name: 'owner3', propagationPolicy: 'Foreground' });
    const waiting = await apps.readNamespacedDeployment({ namespace: NS, name: 'owner3' });
    expect(waiting.metadata!.deletionTimestamp).toBeTruthy();
    expect(waiting.metadata!.finalizers).toContain('foregroundDeletion');
    await until(async () => !!(await core.readNamespacedConfigMap({ namespace: NS, name: 'dep-3' })).metadata!.deletionTimestamp);
    await core.patchNamespacedConfigMap({ namespace: NS, name: 'dep-3', body: [{ op: 'remove', path: '/metadata/finalizers' }] }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch));
    await until(async () => (await apps.listNamespacedDeployment({ namespace: NS, fieldSelector: 'metadata.name=owner3' })).items.length === 0);
  });

  it('fills generateName, honours dryRun=All and exposes the status subresource separately from spec', async () => {
    const g = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { generateName: 'gen-' } } });
    expect(g.metadata!.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    const dry = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'dry' } }, dryRun: 'All' });
    expect(dry.metadata!.name).toBe('dry');
    await expect(core.readNamespacedConfigMap({ namespace: NS, name: 'dry' })).rejects.toMatchObject({ code: 404 });

    const d = await apps.readNamespacedDeployment({ namespace: NS, name: 'owner3' }).catch(() => undefined);
    expect(d).toBeUndefined();
    const dep = await apps.createNamespacedDeployment({
      namespace: NS,
      body: { metadata: { name: 'st' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } }, status: { replicas: 9 } },
    });
    expect(dep.status).toBeUndefined();
    const withStatus = await apps.replaceNamespacedDeploymentStatus({ namespace: NS, name: 'st', body: { ...dep, spec: { ...dep.spec!, replicas: 5 }, status: { replicas: 1, readyReplicas: 1 } } });
    expect(withStatus.status!.readyReplicas).toBe(1);
    expect(withStatus.spec!.replicas).toBe(1);
    expect(withStatus.metadata!.generation).toBe(1);
    const specChange = await apps.replaceNamespacedDeployment({ namespace: NS, name: 'st', body: { ...withStatus, spec: { ...withStatus.spec!, replicas: 3 }, status: { replicas: 0 } } });
    expect(specChange.status!.readyReplicas).toBe(1);
    expect(specChange.metadata!.generation).toBe(2);
    const scale = await apps.readNamespacedDeploymentScale({ namespace: NS, name: 'st' });
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 3 }, status: { replicas: 1, selector: 'a=b' } });
  });
});
