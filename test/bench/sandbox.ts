/**
 * `npm run bench:sandbox`: figures for the sandbox API server, printed as JSON.
 * - kubectl get configmaps -A (-o json and table) over 10,000 objects, side by
 *   side with an anchor: the same kubectl against a stub server that answers
 *   the list with pre-rendered bytes (what kubectl itself costs), as a ratio.
 * - Storing 50,000 objects: time, heap, snapshot write and reload.
 * - Watch latency from write to event, p50/p99 (bar: < 50 ms).
 */
import { spawn } from 'node:child_process';
import { createServer, request, Agent } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startSandbox, kubeconfigYaml } from '../../sandbox/index.ts';
import { Store } from '../../sandbox/api/store.ts';
import { Persistence } from '../../sandbox/api/persist.ts';
import { writeFileSync } from 'node:fs';

const N_LIST = Number(process.env.BENCH_LIST ?? 10_000);
const N_STORE = Number(process.env.BENCH_STORE ?? 50_000);
const N_WATCH = Number(process.env.BENCH_WATCH ?? 200);

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

/** POST over a keep-alive agent (undici's fetch costs several times the server's own work per request). */
function post(agent: Agent, url: string, path: string, body: unknown): Promise<number> {
  const u = new URL(url);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', reject);
    r.end(data);
  });
}

async function main() {
  const out: Record<string, unknown> = { node: process.version };
  const sb = await startSandbox({ controllers: false });
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
        const status = await post(agent, sb.url, `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, labels: { app: 'bench', shard: String(i % 7) } }, data: { key: `value-${i}`, config: 'x'.repeat(200) } });
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
      const r = await fetch(`${sb.url}/api/v1/configmaps`);
      listBody = await r.text();
      lt.push(performance.now() - s);
    }
    out.serverList = { objects: N_LIST, medianMs: Math.round(pct(lt, 50)), bytes: listBody.length };

    // ---- anchor: a stub server that returns the same list bytes instantly, proxying everything else
    const tableBody = await (await fetch(`${sb.url}/api/v1/configmaps?includeObject=Object`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } })).text();
    const stub = createServer(async (req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/api/v1/configmaps') {
        const table = String(req.headers.accept ?? '').includes('as=Table');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(table ? tableBody : listBody);
        return;
      }
      const r = await fetch(`${sb.url}${req.url}`, { headers: { accept: String(req.headers.accept ?? '*/*') } });
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
    const res = await fetch(`${sb.url}/api/v1/namespaces/bench-0/configmaps?watch=true&resourceVersion=${sb.server.store.resourceVersion}`, { signal: ctrl.signal });
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
      await post(agent, sb.url, '/api/v1/namespaces/bench-0/configmaps', { metadata: { name } });
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
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
