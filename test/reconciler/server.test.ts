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
import { createCofferServer, decideDelivery, Live, listen, parseListen, parseTokenFile, ReconcileTrigger, TokenFileError, TokenStore, verifyDelivery } from '../../reconciler/server/index.ts';
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
    ['generic good', 'generic', { 'x-coffer-signature': `sha256=${hmac(body.toString())}` }, true],
    ['generic github header', 'generic', { 'x-hub-signature-256': `sha256=${hmac(body.toString())}` }, false],
  ];
  for (const [name, provider, headers, ok] of cases) it(name, () => expect(verifyDelivery(provider, headers, body, SECRET)).toBe(ok));
  it('refuses everything with an empty secret', () => expect(verifyDelivery('gitlab', { 'x-gitlab-token': '' }, body, '')).toBe(false));
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

function hook(provider: string, body: string, headers: Record<string, string>) {
  return fetch(`${base}/hooks/${provider}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

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
      ['generic', { 'x-coffer-signature': `sha256=${hmac(push)}` }],
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
    expect(sampleValue(f, 'coffer_webhook_requests_total', { provider: 'github', outcome: 'triggered' })).toBe(1);
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
