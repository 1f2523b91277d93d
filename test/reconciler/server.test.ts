/**
 * The HTTP server without a cluster: webhook signatures of every provider (accepted, refused, ignored), trigger
 * coalescing, body limits, bearer tokens and roles, metrics, and the read API over a real policy repository.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { kubeconfigYaml } from '../../sandbox/index.ts';
import { KubeClient, loadKubeConfig } from '../../reconciler/kube/client.ts';
import { CofferMetrics } from '../../reconciler/metrics/index.ts';
import { parsePrometheusText, sampleValue } from '../../reconciler/metrics/text-format.ts';
import { createCofferServer, decideDelivery, deliveryId, Live, listen, MIN_SECRET_LENGTH, parseListen, parseTokenFile, ReconcileTrigger, ReplayGuard, ServeConfigError, TokenFileError, TokenStore, verifyDelivery, webhookSecret } from '../../reconciler/server/index.ts';
import { openCatalog, type RestorePoint } from '../../reconciler/catalog/index.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';

const SECRET = 'shared-webhook-secret-42';
const READ = 'read-token-0123456789abcdef';
const OPERATE = 'operate-token-0123456789abcdef';
const hmac = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');

describe('verifyDelivery', () => {
  // GitHub's documented test vector: secret "It's a Secret to Everybody", payload "Hello, World!".
  it('matches the GitHub documentation example', () => {
    expect(verifyDelivery('github', { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' }, Buffer.from('Hello, World!'), "It's a Secret to Everybody")).toBe(true);
  });
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const cases: Array<[string, Parameters<typeof verifyDelivery>[0], Record<string, string>, boolean]> = [
    ['github good', 'github', { 'x-hub-signature-256': `sha256=${hmac(body.toString())}` }, true],
    ['github upper-case hex', 'github', { 'x-hub-signature-256': `sha256=${hmac(body.toString()).toUpperCase()}` }, true],
    ['github wrong secret', 'github', { 'x-hub-signature-256': `sha256=${hmac(body.toString(), 'nope')}` }, false],
    ['github sha1 header only', 'github', { 'x-hub-signature': `sha1=${hmac(body.toString())}` }, false],
    ['github missing', 'github', {}, false],
    ['gitea good', 'gitea', { 'x-gitea-signature': hmac(body.toString()) }, true],
    ['forgejo good', 'gitea', { 'x-forgejo-signature': hmac(body.toString()) }, true],
    ['gitea with github prefix', 'gitea', { 'x-gitea-signature': `sha256=${hmac(body.toString())}` }, false],
    ['gitlab token', 'gitlab', { 'x-gitlab-token': SECRET }, true],
    ['gitlab token prefix', 'gitlab', { 'x-gitlab-token': SECRET.slice(0, -1) }, false],
    ['gitlab empty', 'gitlab', { 'x-gitlab-token': '' }, false],
    ['generic good', 'generic', { 'x-coffer-timestamp': '1700000000', 'x-coffer-signature': `sha256=${hmac(`1700000000.${body}`)}` }, true],
    ['generic other timestamp', 'generic', { 'x-coffer-timestamp': '1700000001', 'x-coffer-signature': `sha256=${hmac(`1700000000.${body}`)}` }, false],
    ['generic body only (unsigned timestamp)', 'generic', { 'x-coffer-timestamp': '1700000000', 'x-coffer-signature': `sha256=${hmac(body.toString())}` }, false],
    ['generic without timestamp', 'generic', { 'x-coffer-signature': `sha256=${hmac(body.toString())}` }, false],
    ['generic github header', 'generic', { 'x-hub-signature-256': `sha256=${hmac(body.toString())}` }, false],
  ];
  for (const [name, provider, headers, ok] of cases) it(name, () => expect(verifyDelivery(provider, headers, body, SECRET)).toBe(ok));
  it('refuses everything with an empty secret', () => expect(verifyDelivery('gitlab', { 'x-gitlab-token': '' }, body, '')).toBe(false));
});

describe('deliveryId', () => {
  const now = 1_700_000_000_000;
  it.each([
    ['GitHub X-GitHub-Delivery', 'github', { 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' }, { ok: true, id: 'github:72d3162e-cc78-11e3-81ab-4c9367dc0958' }],
    ['GitHub without a delivery id', 'github', {}, { ok: false, status: 400 }],
    ['GitLab X-Gitlab-Event-UUID', 'gitlab', { 'x-gitlab-event-uuid': '13792a34-cac6-4fda-95a8-c58e00a3954e' }, { ok: true, id: 'gitlab:13792a34-cac6-4fda-95a8-c58e00a3954e' }],
    ['GitLab without one', 'gitlab', { 'x-gitlab-token': SECRET }, { ok: false, status: 400 }],
    ['Gitea X-Gitea-Delivery', 'gitea', { 'x-gitea-delivery': 'a1' }, { ok: true, id: 'gitea:a1' }],
    ['Forgejo X-Forgejo-Delivery', 'gitea', { 'x-forgejo-delivery': 'b2' }, { ok: true, id: 'gitea:b2' }],
    ['generic, timestamp now', 'generic', { 'x-coffer-timestamp': '1700000000', 'x-coffer-signature': 'sha256=AB' }, { ok: true, id: 'generic:sha256=ab' }],
    ['generic, 299 s old', 'generic', { 'x-coffer-timestamp': '1699999701', 'x-coffer-signature': 'sha256=ab' }, { ok: true }],
    ['generic, 301 s old', 'generic', { 'x-coffer-timestamp': '1699999699', 'x-coffer-signature': 'sha256=ab' }, { ok: false, status: 401 }],
    ['generic, 301 s ahead', 'generic', { 'x-coffer-timestamp': '1700000301', 'x-coffer-signature': 'sha256=ab' }, { ok: false, status: 401 }],
    ['generic, milliseconds by mistake', 'generic', { 'x-coffer-timestamp': '1700000000000', 'x-coffer-signature': 'sha256=ab' }, { ok: false, status: 400 }],
    ['generic, not a number', 'generic', { 'x-coffer-timestamp': 'yesterday', 'x-coffer-signature': 'sha256=ab' }, { ok: false, status: 400 }],
  ] as const)('%s', (_, provider, headers, want) => expect(deliveryId(provider, headers, now)).toMatchObject(want));
});

describe('ReplayGuard', () => {
  it('refuses an id seen within the window, forgets it after, and never holds more than its bound', () => {
    let t = 0;
    const g = new ReplayGuard(() => t, 1000, 3);
    expect(g.admit('a')).toBe(true);
    expect(g.admit('a')).toBe(false);
    t = 999;
    expect(g.admit('a')).toBe(false);
    t = 1000;
    expect(g.admit('a')).toBe(true); // the first sighting aged out; this one starts a new window
    for (const id of ['b', 'c', 'd', 'e']) expect(g.admit(id)).toBe(true);
    expect(g.size).toBe(3);
  });
});

describe('webhookSecret', () => {
  it.each([
    ['env too short', undefined, { COFFER_WEBHOOK_SECRET: 'short' }, /COFFER_WEBHOOK_SECRET: the webhook secret is 5 characters; use at least 16/],
    ['file too short', 'short', {}, /--webhook-secret-file .*secret: the webhook secret is 5 characters/],
  ])('%s', (_, fileText, env, err) => {
    let file: string | undefined;
    if (fileText !== undefined) {
      file = join(tempDir('secret'), 'secret');
      writeFileSync(file, `${fileText}\n`);
    }
    expect(() => webhookSecret(file, env)).toThrow(ServeConfigError);
    expect(() => webhookSecret(file, env)).toThrow(err);
  });
  it('accepts 16 characters and more', () => expect(webhookSecret(undefined, { COFFER_WEBHOOK_SECRET: 'x'.repeat(MIN_SECRET_LENGTH) })).toHaveLength(16));
  it('leaves webhooks off without a secret', () => expect(webhookSecret(undefined, {})).toBeUndefined());
});

describe('decideDelivery', () => {
  const b = (o: unknown) => Buffer.from(JSON.stringify(o));
  it.each([
    ['github push to main', 'github', { 'x-github-event': 'push' }, { ref: 'refs/heads/main', after: 'abc', pusher: { name: 'alice' } }, true],
    ['github push elsewhere', 'github', { 'x-github-event': 'push' }, { ref: 'refs/heads/feature' }, false],
    ['github tag', 'github', { 'x-github-event': 'push' }, { ref: 'refs/tags/v1' }, false],
    ['github ping', 'github', { 'x-github-event': 'ping' }, { zen: 'hi' }, false],
    ['github pull_request', 'github', { 'x-github-event': 'pull_request' }, { ref: 'refs/heads/main' }, false],
    ['gitlab push', 'gitlab', { 'x-gitlab-event': 'Push Hook' }, { ref: 'refs/heads/main', checkout_sha: 'abc' }, true],
    ['gitlab tag push', 'gitlab', { 'x-gitlab-event': 'Tag Push Hook' }, { ref: 'refs/tags/v1' }, false],
    ['gitea push', 'gitea', { 'x-gitea-event': 'push' }, { ref: 'refs/heads/main' }, true],
    ['generic sync now', 'generic', {}, {}, true],
    ['generic other branch', 'generic', {}, { ref: 'refs/heads/dev' }, false],
  ] as const)('%s', (_, provider, headers, payload, trigger) => {
    expect(decideDelivery(provider, headers, b(payload), 'main').trigger).toBe(trigger);
  });
  it('refuses a body that is not JSON', () => expect(decideDelivery('github', { 'x-github-event': 'push' }, Buffer.from('ref=main'), 'main')).toMatchObject({ trigger: false, status: 400 }));
  it('triggers on a push to any branch while the policy branch is not known yet (a lazily opened remote source)', () => {
    expect(decideDelivery('github', { 'x-github-event': 'push' }, b({ ref: 'refs/heads/master' }), '')).toMatchObject({ trigger: true, ref: 'refs/heads/master' });
    expect(decideDelivery('github', { 'x-github-event': 'push' }, b({ ref: 'refs/tags/v1' }), '').trigger).toBe(false);
  });
});

describe('ReconcileTrigger', () => {
  it('queues exactly one reconcile for many requests during a reconcile, and wakes a sleeping loop', async () => {
    const t = new ReconcileTrigger();
    t.beginReconcile();
    expect([t.request('a'), t.request('b'), t.request('c')]).toEqual([false, false, false]);
    await t.wake(); // queued: resolves at once
    let woke = false;
    void t.wake().then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false); // nothing queued any more
    expect(t.request('d')).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(woke).toBe(true);
    // A sleep that ended by timeout leaves a stale waiter; the next reconcile drops it, so a request is queued, not lost.
    void t.wake();
    t.beginReconcile();
    expect(t.request('e')).toBe(false);
    expect(t.queued).toBe(true);
  });
});

describe('token files', () => {
  it.each([
    ['short,alice,read', /shorter than 16/],
    [`${READ},alice,admin`, /role "admin"/],
    [`${READ},alice`, /token,name,role/],
    [`${READ},alice,read\n${READ},bob,read`, /already used/],
  ])('refuses %s', (text, err) => {
    expect(() => parseTokenFile(text, 'tokens.csv')).toThrow(TokenFileError);
    expect(() => parseTokenFile(text, 'tokens.csv')).toThrow(err);
  });
});

let dir: string;
let server: Server;
let base: string;
let trigger: ReconcileTrigger;
let metrics: CofferMetrics;
let tokensFile: string;
let repo: string;
const logs: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  dir = tempDir('server');
  repo = makePolicyRepo(join(dir, 'policies'), demoPolicyRepo(join(dir, 'repository'), readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
  const source = await openSource({ source: repo, env: {} });
  tokensFile = join(dir, 'tokens.csv');
  writeFileSync(tokensFile, `# token,name,role\n${READ},grafana,read\n${OPERATE},alice,operate\n`);
  metrics = new CofferMetrics();
  trigger = new ReconcileTrigger();
  // No cluster behind this address: routes that need one are covered by the sandbox end-to-end test.
  writeFileSync(join(dir, 'kubeconfig'), kubeconfigYaml('http://127.0.0.1:1'));
  const client = new KubeClient(loadKubeConfig({ env: { KUBECONFIG: join(dir, 'kubeconfig') } }));
  const live = new Live({ source, client, metrics, trigger, log: (e) => logs.push(e) });
  server = createCofferServer({ live, metrics, branch: () => source.branch, webhookSecret: SECRET, tokens: new TokenStore(tokensFile), maxBodyBytes: 4096, log: (e) => logs.push(e) });
  const addr = await listen(server, '127.0.0.1', 0);
  base = `http://127.0.0.1:${addr.port}`;
}, 60_000);

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  cleanup(dir);
});

let deliveries = 0;
/** Each call is a new delivery (its own provider delivery id) unless `headers` names one. */
function hook(provider: string, body: string, headers: Record<string, string>) {
  const id = `delivery-${++deliveries}`;
  const named: Record<string, string> = { github: { 'x-github-delivery': id }, gitlab: { 'x-gitlab-event-uuid': id }, gitea: { 'x-gitea-delivery': id } }[provider] ?? {};
  return fetch(`${base}/hooks/${provider}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...named, ...headers } });
}
const signedGeneric = (body: string, ts = Math.floor(Date.now() / 1000)) => ({ 'x-coffer-timestamp': String(ts), 'x-coffer-signature': `sha256=${hmac(`${ts}.${body}`)}` });

describe('HTTP server', () => {
  const push = JSON.stringify({ ref: 'refs/heads/main', after: 'c0ffee', pusher: { name: 'alice' } });

  it('answers 401 to a bad or missing signature and triggers nothing', async () => {
    for (const [provider, headers] of [
      ['github', { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac(push, 'wrong')}` }],
      ['github', { 'x-github-event': 'push' }],
      ['gitlab', { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'wrong' }],
      ['gitea', { 'x-gitea-event': 'push', 'x-gitea-signature': hmac(`${push} `) }],
      ['generic', {}],
    ] as const) {
      const res = await hook(provider, push, headers);
      expect(res.status, provider).toBe(401);
      expect(trigger.queued).toBe(false);
    }
  });

  it('triggers on a signed push to the watched branch; many pushes queue one reconcile', async () => {
    const ok = await hook('github', push, { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac(push)}` });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toEqual({ triggered: true, queued: true, ref: 'refs/heads/main' });
    for (const [p, h] of [
      ['gitlab', { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET }],
      ['gitea', { 'x-gitea-event': 'push', 'x-gitea-signature': hmac(push) }],
      ['generic', signedGeneric(push)],
    ] as const) {
      expect((await hook(p, push, h)).status, p).toBe(202);
    }
    expect(trigger.queued).toBe(true);
    await trigger.wake();
    expect(trigger.queued).toBe(false);
    const other = JSON.stringify({ ref: 'refs/heads/feature' });
    const ignored = await hook('github', other, { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac(other)}` });
    expect(ignored.status).toBe(202);
    expect(await ignored.json()).toMatchObject({ triggered: false });
    expect(trigger.queued).toBe(false);
    expect(logs.filter((l) => l.event === 'webhook')).toHaveLength(4);
  });

  it('refuses a replayed delivery of every provider with 409, and a stale or unnamed one', async () => {
    const github = { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac(push)}`, 'x-github-delivery': 'replayed-1' };
    expect((await hook('github', push, github)).status).toBe(202);
    await trigger.wake();
    const again = await hook('github', push, github);
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ error: 'delivery replayed-1 was already received: replays are refused' });
    const gitlab = { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET, 'x-gitlab-event-uuid': 'replayed-2' };
    expect((await hook('gitlab', push, gitlab)).status).toBe(202);
    await trigger.wake();
    expect((await hook('gitlab', push, gitlab)).status).toBe(409);
    const generic = signedGeneric(push, Math.floor(Date.now() / 1000) - 60); // not the second an earlier test signed
    expect((await hook('generic', push, generic)).status).toBe(202);
    await trigger.wake();
    expect((await hook('generic', push, generic)).status).toBe(409);
    const stale = await hook('generic', push, signedGeneric(push, Math.floor(Date.now() / 1000) - 3600));
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { error: string }).error).toMatch(/X-Coffer-Timestamp is 36\d\d s from the server's clock \(tolerance ±300 s\)/);
    const unnamed = await fetch(`${base}/hooks/github`, { method: 'POST', body: push, headers: { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac(push)}` } });
    expect(unnamed.status).toBe(400);
    expect(((await unnamed.json()) as { error: string }).error).toMatch(/missing x-github-delivery header/);
    expect(trigger.queued).toBe(false);
    expect(logs.filter((l) => l.event === 'webhook-rejected' && /replays are refused/.test(String(l.reason)))).toHaveLength(3);
  });

  it('refuses bodies over the limit with 413 before verifying them', async () => {
    const big = JSON.stringify({ ref: 'refs/heads/main', pad: 'x'.repeat(5000) });
    const res = await hook('github', big, { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac(big)}` });
    expect(res.status).toBe(413);
    expect(trigger.queued).toBe(false);
  });

  it('guards the API with bearer tokens and roles', async () => {
    expect((await fetch(`${base}/api/v1/plan`)).status).toBe(401);
    const bad = await fetch(`${base}/api/v1/plan`, { headers: { authorization: 'Bearer not-a-valid-token-at-all' } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer realm="coffer"');
    const forbidden = await fetch(`${base}/api/v1/backups`, { method: 'POST', headers: { authorization: `Bearer ${READ}` }, body: '{"policy":"hourly"}' });
    expect(forbidden.status).toBe(403);
    expect(logs.some((l) => l.event === 'api-backup-requested')).toBe(false);
    const unknown = await fetch(`${base}/api/v1/backups`, { method: 'POST', headers: { authorization: `Bearer ${OPERATE}` }, body: '{"policy":"nope"}' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/policy "nope" not found/);
    const malformed = await fetch(`${base}/api/v1/backups`, { method: 'POST', headers: { authorization: `Bearer ${OPERATE}` }, body: '[1]' });
    expect(malformed.status).toBe(400);
  });

  it('serves the plan, policies and (empty) catalog to a reader', async () => {
    const get = async (p: string) => {
      const r = await fetch(`${base}/api/v1${p}`, { headers: { authorization: `Bearer ${READ}` } });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const plan = await get('/plan');
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({ kind: 'Plan', config: { cluster: 'demo' } });
    expect(((await get('/policies')).body.items as Array<{ name: string }>).map((p) => p.name)).toEqual(['hourly']);
    expect((await get('/policies/hourly')).body).toMatchObject({ name: 'hourly' });
    expect((await get('/policies/none')).status).toBe(404);
    expect((await get('/restorepoints?namespace=shop')).body).toEqual({ metadata: {}, items: [] });
    expect((await get('/runs?type=backup&limit=5')).body).toEqual({ metadata: {}, items: [] });
    expect((await get('/runs?limit=0')).status).toBe(400);
    expect((await get('/health')).body).toMatchObject({ status: 'starting', queued: false });
    expect((await get('/nothing')).status).toBe(404);
  });

  // Each case was a 500 with a stack trace in the log, or Node's bare 400 without a body.
  it.each([
    ['percent-escape cut short', 'GET', '/api/v1/policies/%E0%A4%A', undefined, 400],
    ['percent-escape of nothing', 'GET', '/api/v1/restores/%', undefined, 400],
    ['lone surrogate escape', 'GET', '/api/v1/backups/%ED%A0%80', undefined, 400],
    ['restore body that is not JSON', 'POST', '/api/v1/restores', '{"restorePoint":', 400],
    ['restore body of the wrong shape', 'POST', '/api/v1/restores', '{"restorePoint": 5}', 400],
    ['restore body that is an array', 'POST', '/api/v1/restores', '[]', 400],
    ['backup body with a numeric policy', 'POST', '/api/v1/backups', '{"policy": 7}', 400],
    ['backup ttl that is not a duration', 'POST', '/api/v1/backups', '{"policy": "hourly", "ttl": "forever"}', 400],
    ['backup ttl of zero', 'POST', '/api/v1/backups', '{"policy": "hourly", "ttl": "0s"}', 400],
    ['backup pin that is not a boolean', 'POST', '/api/v1/backups', '{"policy": "hourly", "pin": "yes"}', 400],
    ['backup with both ttl and pin', 'POST', '/api/v1/backups', '{"policy": "hourly", "ttl": "1h", "pin": true}', 400],
    ['query with a bad escape', 'GET', '/api/v1/runs?limit=%zz', undefined, 400],
    ['webhook name with a bad escape', 'POST', '/hooks/%zz', '{}', 404],
  ])('%s → %s with a JSON error and nothing logged as an error', async (_, m, path, body, status) => {
    const before = logs.length;
    const res = await fetch(`${base}${path}`, { method: m, headers: { authorization: `Bearer ${OPERATE}` }, ...(body !== undefined ? { body } : {}) });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(typeof ((await res.json()) as { error: unknown }).error).toBe('string');
    expect(logs.slice(before).filter((l) => l.event === 'error')).toEqual([]);
  });

  it.each([
    ['a request line Node cannot parse', 'GET /api v1 HTTP/1.1\r\nhost: x\r\n\r\n'],
    ['an absolute-form target with a broken host', 'GET http://[::1/api/v1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'],
    ['a header with a control byte', 'GET / HTTP/1.1\r\nhost: x\r\nx-a: b\x01c\r\n\r\n'],
    ['a bad chunk size', 'POST /hooks/github HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'],
  ])('%s → 400 with a JSON error', async (_, raw) => {
    const { connect } = await import('node:net');
    const before = logs.length;
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(new URL(base).port), '127.0.0.1', () => sock.write(raw));
      let text = '';
      sock.on('data', (d) => (text += d.toString()));
      sock.on('end', () => resolve(text));
      sock.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(/\{.*\}/s.exec(reply.slice(reply.indexOf('\r\n\r\n')))![0])).toMatchObject({ error: expect.any(String) });
    expect(logs.slice(before).filter((l) => l.event === 'error')).toEqual([]);
  });

  it('pages restore points and runs like the Kubernetes list API (limit, continue, 400/410 for bad tokens)', async () => {
    const get = async (p: string) => {
      const r = await fetch(`${base}/api/v1${p}`, { headers: { authorization: `Bearer ${READ}` } });
      return { status: r.status, body: (await r.json()) as { items: RestorePoint[]; metadata: { continue?: string }; error?: string } };
    };
    const catalog = openCatalog({ source: await openSource({ source: repo, env: {} }), cluster: 'demo' });
    for (let i = 0; i < 5; i++) {
      const { run, rp } = backup({ cluster: 'demo', namespace: i % 2 ? 'blog' : 'shop', policy: 'hourly', start: new Date(Date.UTC(2026, 10, 1, i)) });
      await catalog.recordBackup(run, rp);
    }
    const seen: string[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const page = await get(`/restorepoints?limit=2${next ? `&continue=${encodeURIComponent(next)}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((d) => `${d.spec.namespace}/${d.metadata.name}`));
      next = page.body.metadata.continue;
      pages++;
    } while (next);
    expect(pages).toBe(3);
    expect(seen).toEqual(['blog/hourly-20261101-010000', 'blog/hourly-20261101-030000', 'shop/hourly-20261101-000000', 'shop/hourly-20261101-020000', 'shop/hourly-20261101-040000']);
    const runs = await get('/runs?limit=3');
    expect(runs.body.items).toHaveLength(3);
    expect((await get(`/runs?limit=3&continue=${encodeURIComponent(runs.body.metadata.continue!)}`)).body.items).toHaveLength(2);
    const bad = await get('/restorepoints?continue=garbage');
    expect(bad).toMatchObject({ status: 400, body: { error: 'continue token is not one this server issued; list again without it' } });
    const gone = Buffer.from(JSON.stringify({ v: 1, c: 'f'.repeat(40), k: ['demo', 'shop', 'hourly', '2026-11-01T00:00:00.000Z', 'x'] })).toString('base64url');
    const expired = await get(`/restorepoints?continue=${gone}`);
    expect(expired.status).toBe(410);
    expect(expired.body.error).toMatch(/^continue token is for catalog commit ffffffffffff, which is no longer in the repository/);
  });

  it('picks up a rotated token file without a restart', async () => {
    const NEW = 'rotated-token-0123456789abcdef';
    writeFileSync(tokensFile, `${NEW},grafana,read\n`);
    const { utimesSync } = await import('node:fs');
    utimesSync(tokensFile, new Date(), new Date(Date.now() + 5000));
    expect((await fetch(`${base}/api/v1/health`, { headers: { authorization: `Bearer ${READ}` } })).status).toBe(401);
    expect((await fetch(`${base}/api/v1/health`, { headers: { authorization: `Bearer ${NEW}` } })).status).toBe(200);
  });

  it('exposes metrics that parse, counting webhooks and API calls', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const f = parsePrometheusText(await res.text());
    expect(sampleValue(f, 'coffer_webhook_requests_total', { provider: 'github', outcome: 'unauthorized' })).toBe(2);
    expect(sampleValue(f, 'coffer_webhook_requests_total', { provider: 'github', outcome: 'triggered' })).toBe(2);
    expect(sampleValue(f, 'coffer_webhook_requests_total', { provider: 'github', outcome: 'rejected' })).toBe(2);
    expect(sampleValue(f, 'coffer_webhook_requests_total', { provider: 'github', outcome: 'ignored' })).toBe(1);
    expect(sampleValue(f, 'coffer_api_requests_total', { method: 'POST', route: '/backups', code: '403' })).toBe(1);
    expect(sampleValue(f, 'coffer_api_requests_total', { method: 'GET', route: '/policies/{name}', code: '404' })).toBe(1);
  });

  it('parses --listen addresses', () => {
    expect(parseListen('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(':9090')).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(() => parseListen('8080')).toThrow(/HOST:PORT/);
  });
});
