/**
 * The dashboard's server side without a cluster: static files (content types, ETag revalidation, no directory
 * traversal, no token needed for the page, a strict CSP), `GET /api/v1/whoami`, and `POST /api/v1/restores` refusing
 * bad bodies with a 400 that names the field (the cluster-side restore is covered by server-restore-e2e).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { recordRestore, type RestoreResultDoc } from '../../reconciler/restore/index.ts';
import { KubeClient, loadKubeConfig } from '../../reconciler/kube/client.ts';
import { CofferMetrics } from '../../reconciler/metrics/index.ts';
import { createCofferServer, Live, listen, TokenStore } from '../../reconciler/server/index.ts';
import { parseRestoreBody, RestoreBodyError } from '../../reconciler/server/restore-request.ts';
import { DASHBOARD_CSP, DASHBOARD_DIR, StaticFiles } from '../../reconciler/server/static.ts';
import { kubeconfigYaml } from '../../sandbox/index.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';

const READ = 'read-token-0123456789abcdef';
const OPERATE = 'operate-token-0123456789abcdef';

describe('parseRestoreBody', () => {
  const sets = ['staging'];
  it('accepts the full request and keeps only what was given', () => {
    const body = { restorePoint: 'latest', namespace: 'shop', policy: 'hourly', before: '2026-11-20T10:00Z', namespaceMapping: { shop: 'shop-copy' }, include: 'object.kind == "ConfigMap"', exclude: 'object.metadata.name == "x"', transforms: ['staging'], existing: 'update', wait: true, timeout: '90s', volumes: false, hooks: false };
    expect(parseRestoreBody(body, sets)).toEqual(body);
    expect(parseRestoreBody({ restorePoint: 'shop-hourly-20261124t010500z-abc', dryRun: true }, sets)).toEqual({ restorePoint: 'shop-hourly-20261124t010500z-abc', dryRun: true });
  });
  it.each([
    ['not an object', [1], /^body: /],
    ['missing restore point', { namespace: 'shop' }, /^restorePoint: required/],
    ['restore point not a string', { restorePoint: 5 }, /^restorePoint: expected a non-empty string/],
    ['unknown field', { restorePoint: 'latest', namespaceMappings: {} }, /^namespaceMappings: unknown field/],
    ['bad namespace', { restorePoint: 'latest', namespace: 'Shop_1' }, /^namespace: "Shop_1" is not a namespace name/],
    ['mapping not an object', { restorePoint: 'latest', namespaceMapping: ['shop=copy'] }, /^namespaceMapping: expected an object/],
    ['mapping to a bad name', { restorePoint: 'latest', namespaceMapping: { shop: 'no/slash' } }, /^namespaceMapping\.shop: "no\/slash" is not a namespace name/],
    ['CEL that does not compile', { restorePoint: 'latest', include: 'object.kind ==' }, /^include: /],
    ['CEL that is not boolean', { restorePoint: 'latest', exclude: '"ConfigMap"' }, /^exclude: /],
    ['unknown TransformSet', { restorePoint: 'latest', transforms: ['prod'] }, /^transforms\[0\]: no TransformSet "prod" in the plan \(have: staging\)/],
    ['transforms not a list', { restorePoint: 'latest', transforms: 'staging' }, /^transforms: expected an array/],
    ['bad existing', { restorePoint: 'latest', existing: 'overwrite' }, /^existing: "overwrite": expected skip, update or recreate/],
    ['bad before', { restorePoint: 'latest', before: 'yesterday' }, /^before: /],
    ['before with a name', { restorePoint: 'rp-1', before: '2026-11-20T10:00Z' }, /^before: only with "restorePoint": "latest"/],
    ['bad timeout', { restorePoint: 'latest', timeout: '5 minutes' }, /^timeout: "5 minutes": expected a duration/],
    ['dryRun not boolean', { restorePoint: 'latest', dryRun: 'yes' }, /^dryRun: expected true or false/],
    ['wait on a dry run', { restorePoint: 'latest', dryRun: true, wait: true }, /^wait: /],
  ])('refuses %s', (_, body, message) => {
    expect(() => parseRestoreBody(body, sets)).toThrow(RestoreBodyError);
    expect(() => parseRestoreBody(body, sets)).toThrow(message);
  });
});

let dir: string;
let server: Server;
let base: string;
let port: number;
const logs: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  dir = tempDir('server-dashboard');
  const repo = makePolicyRepo(join(dir, 'policies'), demoPolicyRepo(join(dir, 'repository'), readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
  const source = await openSource({ source: repo, env: {} });
  const tokensFile = join(dir, 'tokens.csv');
  writeFileSync(tokensFile, `${READ},grafana,read\n${OPERATE},alice,operate\n`);
  writeFileSync(join(dir, 'kubeconfig'), kubeconfigYaml('http://127.0.0.1:1'));
  const client = new KubeClient(loadKubeConfig({ env: { KUBECONFIG: join(dir, 'kubeconfig') } }));
  const metrics = new CofferMetrics();
  const live = new Live({ source, client, metrics, log: (e) => logs.push(e) });
  server = createCofferServer({ live, metrics, branch: () => source.branch, tokens: new TokenStore(tokensFile), log: (e) => logs.push(e) });
  port = (await listen(server, '127.0.0.1', 0)).port;
  base = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  cleanup(dir);
});

/** A raw request: the path goes on the wire exactly as given (fetch would normalise `..` away). */
function raw(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard static files', () => {
  it('serves the page at / and /index.html without a token, with a strict CSP', async () => {
    const page = readFileSync(join(DASHBOARD_DIR, 'index.html'), 'utf8');
    for (const p of ['/', '/index.html']) {
      const r = await fetch(`${base}${p}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(r.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await r.text()).toBe(page);
    }
    // The data is not public.
    expect((await fetch(`${base}/api/v1/health`)).status).toBe(401);
  });

  it('sends every file with its content type', async () => {
    const files = readdirSync(DASHBOARD_DIR).filter((f) => /\.(html|js|css)$/.test(f));
    expect(files).toEqual(expect.arrayContaining(['index.html', 'app.js', 'style.css']));
    // The folder's README is documentation, not part of the page.
    expect((await fetch(`${base}/README.md`)).status).toBe(404);
    const want: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };
    for (const f of files) {
      const r = await fetch(`${base}/${f}`);
      expect(r.status, f).toBe(200);
      expect(r.headers.get('content-type'), f).toBe(want[f.slice(f.lastIndexOf('.'))]);
      expect(Buffer.from(await r.arrayBuffer()).equals(readFileSync(join(DASHBOARD_DIR, f))), f).toBe(true);
    }
  });

  it('revalidates with a strong ETag: 304 while unchanged, HEAD without a body', async () => {
    const r = await fetch(`${base}/app.js`);
    const etag = r.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(r.headers.get('cache-control')).toBe('no-cache');
    const again = await raw('/app.js', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    expect((await raw('/app.js', { 'if-none-match': '"other"' })).status).toBe(200);
    const head = await fetch(`${base}/style.css`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${base}/style.css`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('never serves anything outside the dashboard folder', async () => {
    for (const p of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/%2e%2e%2f%2e%2e%2fpackage.json', '/dashboard/../package.json', '//etc/passwd', '/..\\..\\package.json', '/app.js%00.html', '/.git/config', '/reconciler/server/http.ts', '/index.html/', '/style.css/../../package.json']) {
      const r = await raw(p);
      expect([400, 404], p).toContain(r.status);
      expect(r.body, p).not.toMatch(/"name": "coffer"|\[core\]|root:/);
    }
  });

  it('loads only known file types, and the page uses no inline script or style', () => {
    const files = new StaticFiles(DASHBOARD_DIR).paths();
    expect(files).toContain('/index.html');
    expect(files.every((f) => /\.(html|js|css|svg|png|ico|json|txt|mjs)$/.test(f))).toBe(true);
    const html = readFileSync(join(DASHBOARD_DIR, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i);
    // Rendering goes through text nodes only: no HTML parsing of data anywhere in the page's code.
    for (const f of files.filter((x) => x.endsWith('.js'))) expect(readFileSync(join(DASHBOARD_DIR, f), 'utf8'), f).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });
});

describe('API for the dashboard', () => {
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });
  it('tells the page who the caller is and what it may do', async () => {
    expect(await (await fetch(`${base}/api/v1/whoami`, { headers: auth(READ) })).json()).toEqual({ name: 'grafana', role: 'read', can: { read: true, operate: false } });
    expect(await (await fetch(`${base}/api/v1/whoami`, { headers: auth(OPERATE) })).json()).toEqual({ name: 'alice', role: 'operate', can: { read: true, operate: true } });
    expect((await fetch(`${base}/api/v1/whoami`)).status).toBe(401);
  });

  it.each([
    ['/applications?state=Broken', 400, /^state "Broken": expected Failing, NeverBackedUp, Unprotected, Protected$/],
    ['/applications?sort=colour', 400, /^sort "colour": expected namespace, state, lastGood, size, restorePoints$/],
    ['/applications?order=up', 400, /^order "up": expected asc or desc$/],
    ['/applications?continue=not-ours', 400, /^continue: not a token this server gave out$/],
    ['/applications?limit=0', 400, /^limit "0"/],
    ['/restorepoints/hourly-20261124t010500z', 400, /^namespace: required/],
    ['/restorepoints/hourly-20261124t010500z?namespace=shop', 404, /^no restore point "hourly-20261124t010500z" of namespace "shop"/],
  ])('refuses the read %s with %i and the reason', async (path, status, message) => {
    const r = await fetch(`${base}/api/v1${path}`, { headers: auth(READ) });
    expect(r.status).toBe(status);
    expect(((await r.json()) as { error: string }).error).toMatch(message);
  });

  it('streams events only to an authenticated reader', async () => {
    expect((await fetch(`${base}/api/v1/events`)).status).toBe(401);
    const ac = new AbortController();
    const r = await fetch(`${base}/api/v1/events`, { headers: auth(READ), signal: ac.signal });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = r.body!.getReader();
    let text = '';
    while (!text.includes('event: hello')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/^retry: 2000\n/);
    ac.abort();
  });

  it('refuses restores to readers and bad bodies with a 400 naming the field, and runs nothing', async () => {
    const post = (body: unknown, token = OPERATE) => fetch(`${base}/api/v1/restores`, { method: 'POST', headers: auth(token), body: JSON.stringify(body) });
    expect((await post({ restorePoint: 'latest', namespace: 'shop', dryRun: true }, READ)).status).toBe(403);
    const cases: Array<[unknown, RegExp]> = [
      [{ namespace: 'shop' }, /^restorePoint: required/],
      [{ restorePoint: 'latest', namespace: 'shop', include: 'object.kind ==' }, /^include: /],
      [{ restorePoint: 'latest', namespace: 'shop', transforms: ['nope'] }, /^transforms\[0\]: no TransformSet "nope"/],
      [{ restorePoint: 'latest', namespace: 'shop', namespaceMapping: { shop: 'A' } }, /^namespaceMapping\.shop: /],
      [{ restorePoint: 'latest', extra: 1 }, /^extra: unknown field/],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(message);
    }
    const malformed = await fetch(`${base}/api/v1/restores`, { method: 'POST', headers: auth(OPERATE), body: '{"restorePoint":' });
    expect(malformed.status).toBe(400);
    // A valid body for a restore point the (empty) catalog does not have: 404, and no job.
    const missing = await post({ restorePoint: 'latest', namespace: 'shop' });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toMatch(/^restorePoint: no successful restore point for namespace shop/);
    const list = (await (await fetch(`${base}/api/v1/restores`, { headers: auth(READ) })).json()) as { jobs: unknown[]; recorded: unknown[] };
    expect(list).toEqual({ jobs: [], recorded: [] });
    expect((await fetch(`${base}/api/v1/restores/restore-nope`, { headers: auth(READ) })).status).toBe(404);
    expect(logs.filter((l) => String(l.event).startsWith('api-restore'))).toEqual([]);
  });

  it('lists restores recorded in the catalog (not started here) and serves their RestoreResult', async () => {
    const name = 'restore-20261120t100000z-c0ffee';
    const doc: RestoreResultDoc = {
      apiVersion: 'coffer.dev/v1alpha1',
      kind: 'RestoreResult',
      metadata: { name },
      spec: {
        restorePoint: 'hourly-20261120-090000',
        source: { cluster: 'demo', namespace: 'shop', policy: 'hourly' },
        target: { cluster: 'demo', namespace: 'shop-copy' },
        startTime: '2026-11-20T10:00:00.000Z',
        endTime: '2026-11-20T10:00:07.000Z',
        durationSeconds: 7,
        phase: 'PartiallyFailed',
        summary: { created: 1, updated: 0, skipped: 0, failed: 1 },
        resources: [
          { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop-copy', name: 'a', action: 'created' },
          { apiVersion: 'v1', kind: 'Secret', namespace: 'shop-copy', name: 'b', action: 'failed', reason: 'forbidden' },
        ],
        errors: ['Secret shop-copy/b: forbidden'],
      },
    };
    const source = await openSource({ source: join(dir, 'policies'), env: {} });
    await recordRestore(openCatalog({ source, cluster: 'demo', branch: 'coffer-catalog' }), doc, 'restore-20261120t100000z-c0ffee');
    const list = (await (await fetch(`${base}/api/v1/restores`, { headers: auth(READ) })).json()) as { jobs: unknown[]; recorded: Array<Record<string, unknown>> };
    expect(list.jobs).toEqual([]);
    expect(list.recorded).toEqual([
      { name, path: `restores/demo/shop-copy/${name}.yaml`, restorePoint: doc.spec.restorePoint, source: doc.spec.source, target: doc.spec.target, phase: 'PartiallyFailed', startTime: doc.spec.startTime, endTime: doc.spec.endTime, summary: doc.spec.summary, errors: doc.spec.errors },
    ]);
    const one = await fetch(`${base}/api/v1/restores/${name}`, { headers: auth(READ) });
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ result: doc });
  });
});

describe('shutting down', () => {
  it('runs API jobs one at a time, waits for them on drain, then refuses new ones with 503', async () => {
    const source = await openSource({ source: join(dir, 'policies'), env: {} });
    const client = new KubeClient(loadKubeConfig({ env: { KUBECONFIG: join(dir, 'kubeconfig') } }));
    const live = new Live({ source, client, metrics: new CofferMetrics() });
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = live.exclusive(async () => {
      order.push('first:start');
      await gate;
      order.push('first:end');
      return 1;
    });
    const second = live.exclusive(async () => {
      order.push('second');
      return 2;
    });
    expect(await live.drain(50)).toBe(false); // the first job is still running
    expect(() => live.exclusive(async () => 3)).toThrow(/shutting down/);
    await expect(live.startBackup({ policy: 'hourly' }, 'alice')).rejects.toMatchObject({ status: 503 });
    release();
    expect(await live.drain(5000)).toBe(true);
    expect([await first, await second]).toEqual([1, 2]);
    expect(order).toEqual(['first:start', 'first:end', 'second']);
  });

  it('refuses new jobs once the stop signal fires, and hands the interrupt to running and waiting jobs', async () => {
    const source = await openSource({ source: join(dir, 'policies'), env: {} });
    const client = new KubeClient(loadKubeConfig({ env: { KUBECONFIG: join(dir, 'kubeconfig') } }));
    const stop = new AbortController();
    const interrupt = new AbortController();
    const live = new Live({ source, client, metrics: new CofferMetrics(), stop: stop.signal, interrupt: interrupt.signal });
    const running = live.exclusive(
      (signal) =>
        new Promise((_, reject) => {
          signal!.addEventListener('abort', () => reject(signal!.reason as Error), { once: true });
        }),
    );
    const waiting = live.exclusive(async () => 'ran');
    stop.abort();
    expect(() => live.exclusive(async () => 3)).toThrow(/shutting down/);
    interrupt.abort(new Error('interrupted: the shutdown timeout passed'));
    await expect(running).rejects.toThrow('interrupted: the shutdown timeout passed');
    await expect(waiting).rejects.toThrow('interrupted: the shutdown timeout passed');
    expect(await live.drain(1000)).toBe(true);
  });
});

describe("the page's pure helpers (dashboard/*.js, imported as the browser does)", () => {
  // Loaded by URL so the type checker does not need declarations for the browser modules.
  const load = async (f: string) => (await import(/* @vite-ignore */ new URL(`../../dashboard/${f}`, import.meta.url).href)) as Record<string, (...a: never[]) => unknown>;

  it('orders compliance results worst first: fail, error, warn, skip, pass, then severity and namespace', async () => {
    const { worstFirst } = await load('compliance.js');
    const r = (result: string, ns: string, severity?: string) => ({ result, policy: 'p', rule: 'rpo', resources: [{ name: ns }], ...(severity ? { severity } : {}) });
    const input = [r('pass', 'a'), r('warn', 'b'), r('fail', 'z', 'medium'), r('skip', 'c'), r('error', 'd'), r('fail', 'y', 'critical'), r('fail', 'x', 'medium')];
    const out = (worstFirst as (x: unknown[]) => Array<{ result: string; resources: Array<{ name: string }> }>)(input);
    expect(out.map((x) => `${x.result}:${x.resources[0]!.name}`)).toEqual(['fail:y', 'fail:x', 'fail:z', 'error:d', 'warn:b', 'skip:c', 'pass:a']);
  });

  it.each([
    [10 * 60e3, 300e3],
    [9 * 60e3, 60e3],
    [6 * 3600e3, 3600e3],
    [3 * 86400e3, 12 * 3600e3],
    [30 * 86400e3, 7 * 86400e3],
    [730 * 86400e3, 90 * 86400e3],
  ])('puts at most 10 ticks on a %i ms axis', async (span, step) => {
    const { ticks } = await load('timeline.js');
    const from = Date.parse('2026-11-20T10:07:00Z');
    const t = (ticks as (a: number, b: number) => { step: number; ticks: number[] })(from, from + span);
    expect(t.step).toBe(step);
    expect(t.ticks.length).toBeGreaterThanOrEqual(1);
    expect(t.ticks.length).toBeLessThanOrEqual(10);
    expect(t.ticks.every((x) => x % step === 0 && x >= from && x <= from + span)).toBe(true);
  });

  it('says every status in one vocabulary, whatever the API spelled', async () => {
    const { statusWord } = await load('dom.js');
    const w = statusWord as (s: unknown) => string;
    expect(['succeeded', 'Succeeded', 'failed', 'partiallyFailed', 'PartiallyFailed', 'running', 'waiting', 'Pending', 'cancelled'].map(w)).toEqual(['Succeeded', 'Succeeded', 'Failed', 'PartiallyFailed', 'PartiallyFailed', 'Running', 'Waiting', 'Waiting', 'Cancelled']);
  });

  it('formats sizes and restore point sizes', async () => {
    const { fmtBytes } = await load('dom.js');
    const { pointSize } = await load('timeline.js');
    const f = fmtBytes as (n: unknown) => string;
    expect([f(0), f(1023), f(1536), f(22 * 1024), f(5.5 * 1024 ** 3), f(undefined)]).toEqual(['0 B', '1023 B', '1.5 KiB', '22 KiB', '5.5 GiB', '—']);
    const size = pointSize as (rp: unknown) => number | undefined;
    expect(size({ spec: { stats: { bytesRead: 42 }, volumes: [{ sizeBytes: 7 }] } })).toBe(42);
    expect(size({ spec: { volumes: [{ sizeBytes: 7 }, { sizeBytes: 3 }] } })).toBe(10);
    expect(size({ spec: {} })).toBeUndefined();
  });
});
