/**
 * The API server on a sandbox cluster. Identities: `/api/v1/` with Kubernetes tokens: bearer tokens go through the cluster's TokenReview, each call
 * through SubjectAccessReview against resources of group coffer.dev (reconciler/server/README.md), using the example
 * ClusterRoles of deploy/base/api-roles.yaml and a team Role limited to one namespace. The caller's view: a team that
 * may restore only into `shop` restores into shop and gets a 403 naming what is missing for `other`; a token the
 * cluster rejects is a 401; the dashboard's sign-in and refresh requests pass with a viewer's token.
 * Replicas: two in-process `coffer run --listen` against the same cluster and policy repository each take a restore;
 * both complete, and either replica answers for either job (state kept in ConfigMaps, job-store.ts), cancels included.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_NAMESPACE, demoPolicyRepo } from '../../cli/demo-app.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import { LeaseLock } from '../../reconciler/lease/index.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { JobStore } from '../../reconciler/server/job-store.ts';
import { startCofferRun, type CofferRun } from './coffer-run-fixture.ts';
import { createCofferServer, forbiddenMessage, KubeIdentities, listen, readAccess, startServing, type Access, type Serving } from '../../reconciler/server/index.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';
import { deploySampleApp, waitFor } from './sample-app-fixture.ts';

const RBAC = 'rbac.authorization.k8s.io/v1';
let sb: Sandbox;
let client: KubeClient;
let work: string;
let repoDir: string;
let serving: Serving;
const logs: Array<Record<string, unknown>> = [];
/** alice: Role restores create+get in shop only. bob: ClusterRoleBinding to coffer-viewer. reporter: SA in shop, RoleBinding to coffer-viewer. */
let alice: string;
let bob: string;
let reporter: string;

const tokenOf = (kubeconfigPath: string) => (YAML.parse(fs.readFileSync(kubeconfigPath, 'utf8')) as { users: Array<{ user: { token: string } }> }).users[0]!.user.token;
const call = async (method: string, path: string, token: string | undefined, body?: unknown) => {
  const r = await fetch(`${serving.url}/api/v1${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};
const reviews = (resource: string) => sb.server.audit.events().filter((e) => e.resource === resource).length;

beforeAll(async () => {
  work = tempDir('server-identities');
  sb = await startSandbox({ dir: join(work, 'sandbox') });
  client = new KubeClient(sb.kubeConfig);
  await deploySampleApp(client, randomBytes(16).toString('hex'));
  fs.mkdirSync(join(work, 'repository'));
  repoDir = makePolicyRepo(join(work, 'policy-repo'), demoPolicyRepo(join(work, 'repository'), fs.readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
  const source = await openSource({ source: repoDir, env: {} });
  const s = await reconcileOnce({ source, client, env: {}, only: { policy: 'hourly', namespace: DEMO_NAMESPACE } });
  expect(s.runs.map((r) => r.run.status.phase)).toEqual(['Succeeded']);

  // The example roles exactly as deploy/ ships them, and the bindings a platform team would write.
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(new URL('../../deploy/base/api-roles.yaml', import.meta.url), 'utf8'))) await client.create(RBAC, 'clusterroles', undefined, doc.toJS());
  await client.create(RBAC, 'roles', DEMO_NAMESPACE, { apiVersion: RBAC, kind: 'Role', metadata: { name: 'shop-restorer', namespace: DEMO_NAMESPACE }, rules: [{ apiGroups: ['coffer.dev'], resources: ['restores'], verbs: ['create', 'get'] }] } as never);
  await client.create(RBAC, 'rolebindings', DEMO_NAMESPACE, { apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'shop-team', namespace: DEMO_NAMESPACE }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'shop-restorer' }, subjects: [{ kind: 'Group', name: 'shop-team', apiGroup: 'rbac.authorization.k8s.io' }] } as never);
  await client.create(RBAC, 'clusterrolebindings', undefined, { apiVersion: RBAC, kind: 'ClusterRoleBinding', metadata: { name: 'bob-views' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'coffer-viewer' }, subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }] } as never);
  await client.create('v1', 'serviceaccounts', DEMO_NAMESPACE, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reporter', namespace: DEMO_NAMESPACE } });
  await client.create(RBAC, 'rolebindings', DEMO_NAMESPACE, { apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'reporter-views', namespace: DEMO_NAMESPACE }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'coffer-viewer' }, subjects: [{ kind: 'ServiceAccount', name: 'reporter', namespace: DEMO_NAMESPACE }] } as never);
  alice = tokenOf(sb.userKubeconfig('alice', ['shop-team']));
  bob = tokenOf(sb.userKubeconfig('bob'));
  reporter = (await client.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${DEMO_NAMESPACE}/serviceaccounts/reporter/token`, { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } } })).status.token;

  // No token file: Kubernetes identities only, Coffer's own client (here the sandbox admin) asks the reviews.
  serving = await startServing({ listen: '127.0.0.1:0', source, client, kubeConfig: sb.kubeConfig, leaseNamespace: 'coffer-system', identity: 'identities', env: {}, log: (e) => logs.push(e) });
}, 300_000);

afterAll(async () => {
  await serving?.close();
  await sb?.stop();
  if (work) cleanup(work);
}, 120_000);

describe('readAccess and forbiddenMessage (the table in reconciler/server/README.md)', () => {
  it.each([
    ['/restorepoints', '', { verb: 'list', resource: 'restorepoints' }],
    ['/restorepoints', 'namespace=shop', { verb: 'list', resource: 'restorepoints', namespace: 'shop' }],
    ['/runs', 'namespace=shop&limit=5', { verb: 'list', resource: 'runs', namespace: 'shop' }],
    ['/restores', '', { verb: 'list', resource: 'restores' }],
    ['/backups', 'namespace=shop', { verb: 'list', resource: 'backups', namespace: 'shop' }],
    ['/plan', '', { verb: 'get', resource: 'plan' }],
    ['/policies', '', { verb: 'list', resource: 'policies' }],
    ['/policies/hourly', '', { verb: 'get', resource: 'policies' }],
    ['/reports/compliance', '', { verb: 'get', resource: 'reports', name: 'compliance' }],
    ['/applications/shop', '', { verb: 'list', resource: 'restorepoints', namespace: 'shop' }],
    ['/restorepoints/rp-1', 'namespace=shop', { verb: 'get', resource: 'restorepoints', name: 'rp-1', namespace: 'shop' }],
    ['/some-future-read', '', { verb: 'list', resource: 'restorepoints' }],
  ] as Array<[string, string, Access]>)('GET %s?%s', (route, q, want) => expect(readAccess(route, new URLSearchParams(q))).toEqual(want));

  // Wording of kube-apiserver's responsewriters.Forbidden, as the sandbox's forbidden.ts reproduces it for kubectl.
  it.each([
    [{ verb: 'create', resource: 'restores', namespace: 'other' }, undefined, 'restores.coffer.dev is forbidden: User "alice" cannot create resource "restores" in API group "coffer.dev" in the namespace "other"'],
    [{ verb: 'list', resource: 'restorepoints' }, undefined, 'restorepoints.coffer.dev is forbidden: User "alice" cannot list resource "restorepoints" in API group "coffer.dev" at the cluster scope'],
    [{ verb: 'create', resource: 'restores', subresource: 'cancel', name: 'r1', namespace: 'shop' }, 'no RBAC policy matched', 'restores.coffer.dev "r1" is forbidden: User "alice" cannot create resource "restores/cancel" in API group "coffer.dev" in the namespace "shop": no RBAC policy matched'],
  ] as Array<[Access, string | undefined, string]>)('%j', (a, reason, want) => expect(forbiddenMessage('alice', a, reason)).toBe(want));
});

describe('/api/v1/ with Kubernetes identities', () => {
  it('a team allowed to create restores only in shop restores into shop and gets a 403 naming what is missing for other', async () => {
    const who = await call('GET', '/whoami', alice);
    expect(who).toEqual({ status: 200, body: { name: 'alice', groups: ['shop-team', 'system:authenticated'], via: 'kubernetes', role: 'namespaced', can: { read: false, operate: false } } });

    const denied = await call('POST', '/restores', alice, { restorePoint: 'latest', namespace: DEMO_NAMESPACE, namespaceMapping: { [DEMO_NAMESPACE]: 'other' } });
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({
      error: 'restores.coffer.dev is forbidden: User "alice" cannot create resource "restores" in API group "coffer.dev" in the namespace "other"',
      reason: 'Forbidden',
      access: { group: 'coffer.dev', verb: 'create', resource: 'restores', namespace: 'other' },
    });
    // A dry run needs the same permission, and nothing was created.
    expect((await call('POST', '/restores', alice, { restorePoint: 'latest', namespace: DEMO_NAMESPACE, namespaceMapping: { [DEMO_NAMESPACE]: 'other' }, dryRun: true })).status).toBe(403);
    expect(await client.find('v1', 'namespaces', undefined, 'other')).toBeUndefined();
    expect(logs.filter((l) => l.event === 'api-forbidden' && l.namespace === 'other')).toHaveLength(2);

    const accepted = await call('POST', '/restores', alice, { restorePoint: 'latest', namespace: DEMO_NAMESPACE, volumes: false, hooks: false });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect(accepted.body.requestedBy).toBe('alice');
    let job: Record<string, any> = {};
    await waitFor('the restore into shop', async () => {
      job = (await call('GET', `/restores/${accepted.body.id}`, alice)).body;
      return ['succeeded', 'failed', 'partiallyFailed'].includes(job.job?.state);
    }, 120_000);
    expect(job.job.state, JSON.stringify(job)).toBe('succeeded');
    // Reading other namespaces' restores, or all of them, is not part of alice's role.
    expect((await call('GET', '/restores', alice)).status).toBe(403);
    expect((await call('POST', '/backups', alice, { policy: 'hourly', namespace: DEMO_NAMESPACE })).body.error).toBe('backups.coffer.dev is forbidden: User "alice" cannot create resource "backups" in API group "coffer.dev" in the namespace "shop"');
  }, 180_000);

  it('a token the cluster rejects is a 401 with a challenge; no token is a 401 too; the answer is cached by the token hash', async () => {
    for (const token of [`not-a-token-${randomBytes(8).toString('hex')}`, 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln']) {
      const r = await fetch(`${serving.url}/api/v1/restorepoints`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="coffer"');
      expect(((await r.json()) as { error: string }).error).toMatch(/^invalid bearer token: /);
    }
    expect((await call('GET', '/restorepoints', undefined)).body).toEqual({ error: 'missing bearer token' });

    // A fresh token: one TokenReview for any number of requests within the cache's TTL, and one SubjectAccessReview per question.
    const fresh = tokenOf(sb.userKubeconfig('carol'));
    const [tr, sar] = [reviews('tokenreviews'), reviews('subjectaccessreviews')];
    for (let i = 0; i < 3; i++) expect((await call('GET', '/restorepoints', fresh)).status).toBe(403);
    expect([reviews('tokenreviews') - tr, reviews('subjectaccessreviews') - sar]).toEqual([1, 1]);
  });

  it('a ServiceAccount bound to coffer-viewer in shop lists shop\'s restore points, not the cluster\'s, and cannot restore', async () => {
    const mine = await call('GET', `/restorepoints?namespace=${DEMO_NAMESPACE}`, reporter);
    expect(mine.status).toBe(200);
    expect(mine.body.items.map((i: { spec: { namespace: string } }) => i.spec.namespace)).toEqual([DEMO_NAMESPACE]);
    expect((await call('GET', '/whoami', reporter)).body).toMatchObject({ name: `system:serviceaccount:${DEMO_NAMESPACE}:reporter`, role: 'namespaced' });
    for (const path of ['/runs', '/restores', '/backups']) expect((await call('GET', `${path}?namespace=${DEMO_NAMESPACE}`, reporter)).status, path).toBe(200);
    const all = await call('GET', '/restorepoints', reporter);
    expect(all.status).toBe(403);
    expect(all.body.error).toBe(`restorepoints.coffer.dev is forbidden: User "system:serviceaccount:${DEMO_NAMESPACE}:reporter" cannot list resource "restorepoints" in API group "coffer.dev" at the cluster scope`);
    expect((await call('POST', '/restores', reporter, { restorePoint: 'latest', namespace: DEMO_NAMESPACE, dryRun: true })).status).toBe(403);
  });

  it('a team bound in shop only sees exactly shop in the Applications view, its pages and its events; no 403 for the whole page', async () => {
    await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    const names = (r: { body: Record<string, any> }) => (r.body.items as Array<{ namespace: string }>).map((a) => a.namespace);
    const everything = await call('GET', '/applications?limit=1000', bob);
    expect(everything.status).toBe(200);
    expect(names(everything)).toEqual(expect.arrayContaining([DEMO_NAMESPACE, 'other', 'default', 'kube-system']));

    // reporter: coffer-viewer bound in shop. One SubjectAccessReview per namespace the first time, none while cached.
    const sar = reviews('subjectaccessreviews');
    const mine = await call('GET', '/applications?limit=1000', reporter);
    expect(mine.status).toBe(200);
    expect(names(mine)).toEqual([DEMO_NAMESPACE]);
    expect(mine.body.metadata.total).toBe(1);
    expect(reviews('subjectaccessreviews') - sar).toBeLessThanOrEqual(1 + everything.body.metadata.total);
    const cached = reviews('subjectaccessreviews');
    expect(names(await call('GET', '/applications?limit=1000&q=o', reporter))).toEqual([DEMO_NAMESPACE]);
    expect(reviews('subjectaccessreviews') - cached).toBe(0);
    // alice may only create restores in shop: an empty list, not a refusal.
    expect(await call('GET', '/applications', alice)).toMatchObject({ status: 200, body: { items: [], metadata: { total: 0 } } });

    const app = await call('GET', `/applications/${DEMO_NAMESPACE}`, reporter);
    expect(app.status).toBe(200);
    expect(app.body.can).toEqual({ restore: false, backup: false });
    expect((await call('GET', `/applications/${DEMO_NAMESPACE}`, bob)).body.can).toEqual({ restore: false, backup: false });
    const other = await call('GET', '/applications/other', reporter);
    expect(other.status).toBe(403);
    expect(other.body.error).toBe(`restorepoints.coffer.dev is forbidden: User "system:serviceaccount:${DEMO_NAMESPACE}:reporter" cannot list resource "restorepoints" in API group "coffer.dev" in the namespace "other"`);
    const point = (app.body.application as { lastGood: { name: string } }).lastGood.name;
    expect((await call('GET', `/restorepoints/${point}?namespace=${DEMO_NAMESPACE}`, reporter)).body.restorePoint.metadata.name).toBe(point);
    expect((await call('GET', `/restorepoints/${point}?namespace=other`, reporter)).status).toBe(403);

    // Events: reporter gets shop's and the server's own, never other's; bob gets all of them.
    const open = async (token: string) => {
      const ac = new AbortController();
      const r = await fetch(`${serving.url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
      expect(r.status).toBe(200);
      const reader = r.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      const until = async (re: RegExp) => {
        while (!re.test(text)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`the stream ended: ${text}`);
          text += decoder.decode(value, { stream: true });
        }
        return text;
      };
      return { until, close: () => ac.abort() };
    };
    const [theirs, all] = [await open(reporter), await open(bob)];
    try {
      for (const s of [theirs, all]) await s.until(/event: hello/);
      const events = serving.live.events;
      events.publish('run', { namespace: 'other', policy: 'hourly', phase: 'Running', step: 'secret-step-of-other' });
      events.publish('restore', { id: 'r-x', state: 'running', namespace: 'other', target: 'elsewhere' });
      events.publish('backup-job', { id: 'b-x', state: 'running', policy: 'hourly' });
      events.publish('run', { namespace: DEMO_NAMESPACE, policy: 'hourly', phase: 'Running', step: 'step-of-shop' });
      events.publish('restore', { id: 'r-y', state: 'running', namespace: 'other', target: DEMO_NAMESPACE });
      events.publish('health', { reconciling: false, marker: 'last' });
      const seen = await theirs.until(/"marker":"last"/);
      expect(seen).toContain('step-of-shop');
      expect(seen).toContain('"id":"r-y"');
      expect(seen).not.toContain('secret-step-of-other');
      expect(seen).not.toContain('r-x');
      expect(seen).not.toContain('b-x');
      // Written in the order published.
      expect(seen.indexOf('step-of-shop')).toBeLessThan(seen.indexOf('"id":"r-y"'));
      const everyone = await all.until(/"marker":"last"/);
      for (const x of ['secret-step-of-other', 'r-x', 'b-x', 'step-of-shop', 'r-y']) expect(everyone).toContain(x);
    } finally {
      theirs.close();
      all.close();
    }
  });

  it('the dashboard signs in with a viewer\'s Kubernetes token: whoami and every request of its refresh answer', async () => {
    // dashboard/app.js signIn + refresh, with the header dashboard/api.js sends.
    expect((await call('GET', '/whoami', bob)).body).toEqual({ name: 'bob', groups: ['system:authenticated'], via: 'kubernetes', role: 'read', can: { read: true, operate: false } });
    for (const path of ['/health', '/reports/compliance', '/restorepoints?limit=1000', '/runs?limit=100', '/backups', '/restores?limit=50', '/plan']) expect((await call('GET', path, bob)).status, path).toBe(200);
    expect((await call('POST', '/reconcile', bob)).status).toBe(403);
    const page = await fetch(`${serving.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form');
  });

  it('a cluster that will not answer the reviews (Coffer lacks coffer-api) is a 503 naming why, never a pass', async () => {
    const weak = new KubeClient({ kubeconfigPath: sb.userKubeconfig('coffer-without-reviews') });
    const server = createCofferServer({ live: serving.live, metrics: serving.metrics, branch: () => 'main', kube: new KubeIdentities({ request: (m, p, o) => weak.request(m, p, o) }), dashboard: false });
    const { port } = await listen(server, '127.0.0.1', 0);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/restorepoints`, { headers: { authorization: `Bearer ${bob}` } });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('5');
      expect(((await r.json()) as { error: string }).error).toBe('cannot check the caller with the cluster: POST /apis/authentication.k8s.io/v1/tokenreviews: tokenreviews.authentication.k8s.io is forbidden: User "coffer-without-reviews" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope');
    } finally {
      server.close();
    }
  });

  it('KubeIdentities reuses answers for its TTL only', async () => {
    let t = 0;
    const ids = new KubeIdentities({ request: (m, p, o) => client.request(m, p, o), ttlMs: 1000, now: () => t });
    const before = reviews('tokenreviews');
    expect((await ids.authenticate(bob)).user?.username).toBe('bob');
    t = 999;
    await ids.authenticate(bob);
    expect(reviews('tokenreviews') - before).toBe(1);
    t = 1000;
    await ids.authenticate(bob);
    expect(reviews('tokenreviews') - before).toBe(2);
  });
});

describe('two replicas of coffer run', () => {
  it('each takes a restore, both complete, and either replica answers for either job; a cancel reaches the owner', async () => {
    const replicas: CofferRun[] = [];
    try {
      // One after the other, so each one's SIGTERM handler is its own.
      for (const identity of ['replica-a', 'replica-b']) replicas.push(await startCofferRun(['--source', repoDir, '--kubeconfig', sb.kubeconfigPath, '--listen', '127.0.0.1:0', '--identity', identity, '--interval', '1h', '--shutdown-timeout', '30s', '-o', 'json'], { cwd: work, env: {} }));
      // The sandbox admin's token, checked by each replica with TokenReview and SubjectAccessReview.
      const api = async (r: CofferRun, method: string, path: string, body?: unknown) => {
        const res = await fetch(`${r.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${sb.adminToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
        return { status: res.status, body: (await res.json()) as Record<string, any> };
      };
      const [a, b] = replicas as [CofferRun, CofferRun];
      const ids: string[] = [];
      for (const [r, target] of [[a, 'shop-a'], [b, 'shop-b']] as const) {
        const res = await api(r, 'POST', '/restores', { restorePoint: 'latest', namespace: DEMO_NAMESPACE, namespaceMapping: { [DEMO_NAMESPACE]: target } });
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        ids.push(res.body.id as string);
      }
      const state = async (r: CofferRun, id: string) => (await api(r, 'GET', `/restores/${id}`)).body.job?.state as string | undefined;
      for (const id of ids) await waitFor(`restore ${id} finished, seen from both replicas`, async () => (await state(a, id)) === 'succeeded' && (await state(b, id)) === 'succeeded', 150_000);
      for (const r of replicas) {
        const listed = (await api(r, 'GET', '/restores')).body.jobs as Array<{ id: string; requestedBy: string }>;
        expect(ids.every((id) => listed.some((j) => j.id === id)), r.url).toBe(true);
        for (const id of ids) expect((await api(r, 'GET', `/restores/${id}`)).body.job).toMatchObject({ id, state: 'succeeded', requestedBy: 'kubernetes-admin' });
      }
      for (const ns of ['shop-a', 'shop-b']) expect((await client.get('v1', 'configmaps', ns, 'shop-config')).data).toMatchObject({ greeting: 'Welcome to the coffee shop' });

      // A restore accepted by A while the test holds the Lease waits; B cancels it, A (its owner) carries that out.
      let third = { status: 0, body: {} as Record<string, any> };
      const holder = new LeaseLock({ kubeConfig: sb.kubeConfig, namespace: 'coffer-system', identity: 'test-holder', leaseDurationSeconds: 600 });
      await waitFor('the Lease for the test', async () => (await holder.tryAcquire()).held, 120_000);
      try {
        third = await api(a, 'POST', '/restores', { restorePoint: 'latest', namespace: DEMO_NAMESPACE, namespaceMapping: { [DEMO_NAMESPACE]: 'shop-c' } });
        expect(third.status).toBe(202);
        await waitFor('the waiting job seen by B', async () => (await state(b, third.body.id)) === 'waiting', 30_000);
        const cancel = await api(b, 'POST', `/restores/${third.body.id}/cancel`);
        expect(cancel.status, JSON.stringify(cancel.body)).toBe(202);
        await waitFor('the cancel carried out by A, seen by B', async () => (await state(b, third.body.id)) === 'cancelled', 30_000);
        expect((await api(a, 'GET', `/restores/${third.body.id}`)).body.job).toMatchObject({ state: 'cancelled', cancelledBy: 'kubernetes-admin' });
      } finally {
        await holder.release();
      }
      // Once the Lease is free the owner drops the cancelled job for good; cancelling it again is then a conflict.
      await waitFor('the cancelled job finished', async () => Boolean((await api(b, 'GET', `/restores/${third.body.id}`)).body.job?.finished), 60_000);
      expect((await api(b, 'POST', `/restores/${third.body.id}/cancel`)).status).toBe(409);
      expect(await client.find('v1', 'namespaces', undefined, 'shop-c')).toBeUndefined();
    } finally {
      expect(await Promise.all(replicas.map((r) => r.stop()))).toEqual(replicas.map(() => 0));
    }
  }, 300_000);

  it('a job whose owner stopped writing is reported failed, not running forever', async () => {
    const id = `restore-20261207t000000z-${randomBytes(3).toString('hex')}`;
    let now = new Date('2026-12-07T00:00:00Z');
    const owner = new JobStore({ client, namespace: 'coffer-system', identity: 'gone', now: () => now });
    owner.track('restore', { id, state: 'running', created: now.toISOString() }, () => undefined);
    await owner.flush();
    owner.stop(); // the replica dies
    expect((await owner.get('restore', id))?.job.state).toBe('running');
    now = new Date(now.getTime() + 31_000);
    expect((await owner.get('restore', id))?.job).toMatchObject({ state: 'failed', error: 'replica gone stopped reporting on this job 31s ago (last state running)' });
  });

  it('finished jobs are pruned beyond the newest `keep`', async () => {
    // the clock a minute after the jobs: pruning by age (keepMs, a day) must not take them, whatever today's date is
    const store = new JobStore({ client, namespace: 'coffer-system', identity: 'pruner', keep: 1, now: () => new Date('2026-12-07T00:01:00Z') });
    const ids = ['backup-20261207t000001z-aaaaaa', 'backup-20261207t000002z-bbbbbb'];
    for (const [i, id] of ids.entries()) {
      const job = { id, state: 'running', created: `2026-12-07T00:00:0${i + 1}.000Z` };
      store.track('backup', job, () => undefined);
      await store.done('backup', { ...job, state: 'succeeded', finished: `2026-12-07T00:00:0${i + 1}.500Z` });
    }
    expect((await store.list('backup')).map((s) => s.job.id).filter((id) => ids.includes(id))).toEqual([ids[1]]);
  });
});
