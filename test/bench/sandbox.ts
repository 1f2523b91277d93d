/**
 * `npm run bench:sandbox`: figures for the sandbox API server, printed as JSON.
 * - kubectl get configmaps -A (-o json and table) over 10,000 objects, side by
 *   side with an anchor: the same kubectl against a stub server that answers
 *   the list with pre-rendered bytes (what kubectl itself costs), as a ratio.
 * - Storing 50,000 objects: time, heap, snapshot write and reload.
 * - Watch latency from write to event, p50/p99 (bar: < 50 ms).
 * - Enforcement on vs off: the same request mix (create, get, list) against a
 *   sandbox that authenticates (admin token; a ServiceAccount JWT) and one
 *   started with `enforce: false`, in alternating rounds; the ratio of
 *   throughputs (goal ≥ 0.90).
 */
import { spawn } from 'node:child_process';
import { createServer, request, Agent } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startSandbox, kubeconfigYaml, type Sandbox } from '../../sandbox/index.ts';
import { Store } from '../../sandbox/api/store.ts';
import { Persistence } from '../../sandbox/api/persist.ts';
import { writeFileSync } from 'node:fs';

const N_LIST = Number(process.env.BENCH_LIST ?? 10_000);
const N_STORE = Number(process.env.BENCH_STORE ?? 50_000);
const N_WATCH = Number(process.env.BENCH_WATCH ?? 200);
const N_ENFORCE = Number(process.env.BENCH_ENFORCE ?? 300);
const ENFORCE_ROUNDS = Number(process.env.BENCH_ENFORCE_ROUNDS ?? 40);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 100) / 100;
}

/** Runs kubectl asynchronously: the server under test lives in this process and must keep serving. */
function kubectl(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; bytes: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('kubectl', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (bytes += d.length));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, bytes, stderr }));
  });
}

async function timeKubectl(kubeconfig: string, args: string[], runs = 3): Promise<{ medianMs: number; bytes: number }> {
  const home = mkdtempSync(join(tmpdir(), 'bench-kubectl-'));
  const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: home };
  await kubectl(env, ['api-resources']); // warm the discovery cache
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await kubectl(env, args);
    times.push(performance.now() - t0);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    bytes = r.bytes;
  }
  rmSync(home, { recursive: true, force: true });
  return { medianMs: Math.round(pct(times, 50)), bytes };
}

/** One request over a keep-alive agent (undici's fetch costs several times the server's own work per request). */
function call(agent: Agent, url: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<number> {
  const u = new URL(url);
  const data = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (data !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(data);
  }
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path, method, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', reject);
    r.end(data);
  });
}

function post(agent: Agent, url: string, path: string, body: unknown, token?: string): Promise<number> {
  return call(agent, url, 'POST', path, token, body);
}

/** Requests per second of a create/get/list mix, 16 in flight; every answer must be a success. */
async function throughput(sb: Sandbox, token: string | undefined, tag: string, n: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const kind = i % 3;
      const status =
        kind === 0
          ? await post(agent, sb.url, '/api/v1/namespaces/enforce/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${tag}-${i}`, labels: { tag } }, data: { v: String(i) } }, token)
          : kind === 1
            ? await call(agent, sb.url, 'GET', '/api/v1/namespaces/enforce/configmaps/fixed', token)
            : await call(agent, sb.url, 'GET', '/api/v1/namespaces/enforce-small/configmaps?labelSelector=app%3Dbench', token);
      if (status !== 200 && status !== 201) throw new Error(`${tag} request ${i}: HTTP ${status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const ms = performance.now() - t0;
  agent.destroy();
  return (n / ms) * 1000;
}

/**
 * Authentication (and whatever authorizer the server runs) on vs `enforce: false`,
 * side by side: three identical sandboxes (off; on with the admin token; on with
 * a ServiceAccount JWT) get the same traffic in rotating order, so store growth,
 * journal compaction and machine drift weigh on each alike.
 */
async function enforcementCost(): Promise<Record<string, unknown>> {
  const sides = { off: await startSandbox({ controllers: false, enforce: false }), admin: await startSandbox({ controllers: false }), serviceAccount: await startSandbox({ controllers: false }) };
  type Side = keyof typeof sides;
  try {
    for (const sb of Object.values(sides)) {
      for (const ns of ['enforce', 'enforce-small']) sb.server.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      sb.server.ensure({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fixed', namespace: 'enforce' }, data: { v: 'x' } });
      for (let i = 0; i < 20; i++) sb.server.ensure({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `small-${i}`, namespace: 'enforce-small', labels: { app: 'bench' } }, data: { v: 'x' } });
      sb.server.ensure({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'bench', namespace: 'enforce' } });
      // The ServiceAccount may do what the admin does, so an authorizer answers yes on the same mix.
      sb.server.ensure({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'bench-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: 'enforce' }] });
    }
    const sa = sides.serviceAccount;
    const agent = new Agent({ keepAlive: true });
    const saToken = await new Promise<string>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port: new URL(sa.url).port, path: '/api/v1/namespaces/enforce/serviceaccounts/bench/token', method: 'POST', agent, headers: { authorization: `Bearer ${sa.adminToken}`, 'content-type': 'application/json' } }, (res) => {
        let d = '';
        res.on('data', (c) => (d += c));
        res.on('end', () => (res.statusCode === 201 ? resolve(JSON.parse(d).status.token) : reject(new Error(`TokenRequest: HTTP ${res.statusCode} ${d}`))));
      });
      r.on('error', reject);
      r.end('{}');
    });
    agent.destroy();
    const token: Record<Side, string | undefined> = { off: undefined, admin: sides.admin.adminToken, serviceAccount: saToken };
    const names = Object.keys(sides) as Side[];
    for (const n of names) await throughput(sides[n], token[n], `warm-${n.toLowerCase()}`, 600);
    // Many short rounds in rotating order: a noisy neighbour on the shared machine hits every side alike.
    const rounds: Record<Side, number>[] = [];
    for (let r = 0; r < ENFORCE_ROUNDS; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]!);
      const got = {} as Record<Side, number>;
      for (const n of order) got[n] = await throughput(sides[n], token[n], `r${r}-${n.toLowerCase()}`, N_ENFORCE);
      rounds.push(got);
    }
    // Throughput over all rounds (requests / total time) and the median of per-round ratios.
    const overall = (k: Side) => (rounds.length * N_ENFORCE) / rounds.reduce((t, x) => t + N_ENFORCE / x[k], 0);
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    return {
      requestsPerRound: N_ENFORCE,
      rounds: ENFORCE_ROUNDS,
      offPerSecond: Math.round(overall('off')),
      onAdminPerSecond: Math.round(overall('admin')),
      onServiceAccountPerSecond: Math.round(overall('serviceAccount')),
      ratioAdmin: r3(overall('admin') / overall('off')),
      ratioServiceAccount: r3(overall('serviceAccount') / overall('off')),
      medianRoundRatioAdmin: r3(pct(rounds.map((x) => x.admin / x.off), 50)),
      medianRoundRatioServiceAccount: r3(pct(rounds.map((x) => x.serviceAccount / x.off), 50)),
      goal: 'ratios >= 0.90',
    };
  } finally {
    for (const sb of Object.values(sides)) await sb.stop();
  }
}

async function main() {
  const out: Record<string, unknown> = { node: process.version };
  // BENCH_ONLY=enforcement runs just the on/off comparison.
  if (process.env.BENCH_ONLY === 'enforcement') {
    out.enforcement = await enforcementCost();
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const sb = await startSandbox({ controllers: false });
  const admin = { authorization: `Bearer ${sb.adminToken}` };
  try {
    // ---- 10,000 configmaps across 10 namespaces, created over HTTP (16 in flight)
    for (let n = 0; n < 10; n++) sb.server.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `bench-${n}` } });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < N_LIST) {
        const i = next++;
        const ns = `bench-${i % 10}`;
        const status = await post(agent, sb.url, `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, labels: { app: 'bench', shard: String(i % 7) } }, data: { key: `value-${i}`, config: 'x'.repeat(200) } }, sb.adminToken);
        if (status !== 201) throw new Error(`create ${i}: HTTP ${status}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const createMs = performance.now() - t0;
    out.httpCreate = { objects: N_LIST, ms: Math.round(createMs), perSecond: Math.round((N_LIST / createMs) * 1000) };

    // ---- raw list latency (server only)
    const lt: number[] = [];
    let listBody = '';
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      const r = await fetch(`${sb.url}/api/v1/configmaps`, { headers: admin });
      listBody = await r.text();
      lt.push(performance.now() - s);
    }
    out.serverList = { objects: N_LIST, medianMs: Math.round(pct(lt, 50)), bytes: listBody.length };

    // ---- anchor: a stub server that returns the same list bytes instantly, proxying everything else
    const tableBody = await (await fetch(`${sb.url}/api/v1/configmaps?includeObject=Object`, { headers: { ...admin, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } })).text();
    const stub = createServer(async (req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/api/v1/configmaps') {
        const table = String(req.headers.accept ?? '').includes('as=Table');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(table ? tableBody : listBody);
        return;
      }
      const r = await fetch(`${sb.url}${req.url}`, { headers: { ...admin, accept: String(req.headers.accept ?? '*/*') } });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await r.arrayBuffer()));
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', () => r()));
    const stubDir = mkdtempSync(join(tmpdir(), 'bench-stub-'));
    const stubKc = join(stubDir, 'kubeconfig');
    writeFileSync(stubKc, kubeconfigYaml(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`));
    const sandboxJson = await timeKubectl(sb.kubeconfigPath, ['get', 'configmaps', '-A', '-o', 'json']);
    const anchorJson = await timeKubectl(stubKc, ['get', 'configmaps', '-A', '-o', 'json']);
    const sandboxTable = await timeKubectl(sb.kubeconfigPath, ['get', 'configmaps', '-A']);
    const anchorTable = await timeKubectl(stubKc, ['get', 'configmaps', '-A']);
    stub.close();
    rmSync(stubDir, { recursive: true, force: true });
    out.kubectlGetJson = { objects: N_LIST, sandboxMs: sandboxJson.medianMs, instantServerAnchorMs: anchorJson.medianMs, ratio: Math.round((sandboxJson.medianMs / anchorJson.medianMs) * 100) / 100, outputBytes: sandboxJson.bytes };
    out.kubectlGetTable = { objects: N_LIST, sandboxMs: sandboxTable.medianMs, instantServerAnchorMs: anchorTable.medianMs, ratio: Math.round((sandboxTable.medianMs / anchorTable.medianMs) * 100) / 100 };

    // ---- watch latency: POST a change, time until the event arrives on an open watch
    const lat: number[] = [];
    const ctrl = new AbortController();
    const res = await fetch(`${sb.url}/api/v1/namespaces/bench-0/configmaps?watch=true&resourceVersion=${sb.server.store.resourceVersion}`, { signal: ctrl.signal, headers: admin });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const waiting = new Map<string, number>();
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const ev = JSON.parse(line) as { object: { metadata: { name: string } } };
          const s = waiting.get(ev.object.metadata.name);
          if (s !== undefined) {
            lat.push(performance.now() - s);
            waiting.delete(ev.object.metadata.name);
          }
        }
      }
    })();
    for (let i = 0; i < N_WATCH; i++) {
      const name = `watch-${i}`;
      waiting.set(name, performance.now());
      await post(agent, sb.url, '/api/v1/namespaces/bench-0/configmaps', { metadata: { name } }, sb.adminToken);
      const until = Date.now() + 2000;
      while (waiting.has(name) && Date.now() < until) await new Promise((r) => setImmediate(r));
    }
    ctrl.abort();
    await pump;
    agent.destroy();
    out.watchLatency = { events: lat.length, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), maxMs: pct(lat, 100), barMs: 50 };
  } finally {
    await sb.stop();
  }

  // ---- 50,000 objects in one store, through the server's create path, then snapshot and reload
  {
    const dir = mkdtempSync(join(tmpdir(), 'bench-store-'));
    const { ApiServer } = await import('../../sandbox/api/server.ts');
    const { bootstrap } = await import('../../sandbox/index.ts');
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const store = new Store();
    const persist = new Persistence(dir, store);
    persist.load();
    const api = new ApiServer({ store });
    bootstrap(api);
    for (let n = 0; n < 50; n++) api.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `s-${n}` } });
    const t0 = performance.now();
    for (let i = 0; i < N_STORE; i++) {
      api.ensure({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `obj-${i}`, namespace: `s-${i % 50}`, labels: { app: 'bench' } }, data: { key: `value-${i}`, config: 'x'.repeat(200) } });
    }
    const storeMs = performance.now() - t0;
    persist.flush();
    global.gc?.();
    const heap1 = process.memoryUsage().heapUsed;
    const c0 = performance.now();
    persist.close();
    const compactMs = performance.now() - c0;
    const store2 = new Store();
    const r0 = performance.now();
    const loaded = new Persistence(dir, store2).load();
    const reloadMs = performance.now() - r0;
    out.store50k = {
      objects: N_STORE,
      createMs: Math.round(storeMs),
      perSecond: Math.round((N_STORE / storeMs) * 1000),
      heapMiB: Math.round(((heap1 - heap0) / 1048576) * 10) / 10,
      snapshotWriteMs: Math.round(compactMs),
      reloadMs: Math.round(reloadMs),
      reloadedObjects: loaded,
    };
    rmSync(dir, { recursive: true, force: true });
  }
  out.enforcement = await enforcementCost();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
