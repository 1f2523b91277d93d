/**
 * coffer cancel over the real HTTP server and Live job queue. The "cluster" is a TCP server that accepts and never
 * answers, so the first backup is provably still running (stuck listing namespaces) when it is cancelled and the
 * second provably waiting behind it; dropping those connections lets the first one end. The interrupt path itself
 * (finally phases, failed run records) is covered end to end by reconcile-e2e, cancel-scheduled and cancel-restore
 * (a declared restore, forwarded by a standby replica).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { main } from '../../cli/main.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient, loadKubeConfig } from '../../reconciler/kube/client.ts';
import { CofferMetrics } from '../../reconciler/metrics/index.ts';
import { createCofferServer, Live, listen, ReconcileTrigger, TokenStore, type BackupJob } from '../../reconciler/server/index.ts';
import { kubeconfigYaml } from '../../sandbox/index.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';
import { runCoffer } from '../cli-capture.ts';
import { compileTip, runDeclaredRestores, type RestoreResultDoc } from '../../reconciler/restore/index.ts';
import { RunningRuns } from '../../reconciler/run-cancel.ts';
import { parse } from 'yaml';
import { execFileSync } from 'node:child_process';

const OPERATE = 'operate-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
let dir: string;
let repo: string;
let server: Server;
let base: string;
let silent: TcpServer;
let live: Live;
const running = new RunningRuns();
const sockets: Socket[] = [];
const logs: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  dir = tempDir('cancel');
  const files = demoPolicyRepo(join(dir, 'repository'), readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8'));
  files['restores/held.yaml'] = 'apiVersion: coffer.dev/v1alpha1\nkind: Restore\nmetadata:\n  name: held\nspec:\n  source:\n    namespace: shop\n    policy: hourly\n  target:\n    namespace: shop-held\n';
  repo = makePolicyRepo(join(dir, 'policies'), files);
  silent = createTcpServer((s) => sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  writeFileSync(join(dir, 'kubeconfig'), kubeconfigYaml(`http://127.0.0.1:${(silent.address() as { port: number }).port}`));
  writeFileSync(join(dir, 'tokens.csv'), `${OPERATE},alice,operate\n${READ},grafana,read\n`);
  const metrics = new CofferMetrics();
  live = new Live({ source: await openSource({ source: repo, env: {} }), client: new KubeClient(loadKubeConfig({ env: { KUBECONFIG: join(dir, 'kubeconfig') } })), metrics, trigger: new ReconcileTrigger(), running, log: (e) => logs.push(e) });
  server = createCofferServer({ live, metrics, branch: () => 'main', tokens: new TokenStore(join(dir, 'tokens.csv')), dashboard: false, log: (e) => logs.push(e) });
  base = `http://127.0.0.1:${(await listen(server, '127.0.0.1', 0)).port}`;
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  silent?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  cleanup(dir);
});

async function api(method: string, path: string, token = OPERATE, body?: unknown) {
  const r = await fetch(`${base}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}` }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: r.status, body: (await r.json()) as BackupJob & { error?: string; job?: { state: string; started?: string; finished?: string } } };
}

const cancel = (...argv: string[]) => runCoffer(['cancel', ...argv], { env: { COFFER_SERVER: base, COFFER_API_TOKEN: OPERATE }, cwd: dir });

async function until(f: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('coffer cancel', () => {
  it('a waiting backup never starts; a running one ends cancelled, naming who; a finished one is a 409', async () => {
    const a = (await api('POST', '/backups', OPERATE, { policy: 'hourly' })).body;
    await until(async () => (await api('GET', `/backups/${a.id}`, READ)).body.state === 'running' && sockets.length > 0, 'the first backup to be stuck on the cluster');
    const b = (await api('POST', '/backups', OPERATE, { policy: 'hourly' })).body;
    expect((await api('GET', `/backups/${b.id}`, READ)).body.state).toBe('waiting');

    const waiting = await cancel(b.id);
    expect(waiting).toEqual({ code: 0, out: `backup/${b.id} cancelled\n`, err: '' });
    expect((await api('GET', `/backups/${b.id}`, READ)).body).toMatchObject({ state: 'cancelled', cancelledBy: 'alice', error: 'cancelled by alice before it started' });

    const running = await cancel(a.id, '-o', 'json');
    expect(JSON.parse(running.out)).toMatchObject({ id: a.id, state: 'running', cancelledBy: 'alice' });
    for (const s of sockets) s.destroy(); // the stuck request ends; the interrupted job finishes
    await until(async () => (await api('GET', `/backups/${a.id}`, READ)).body.state !== 'running', 'the first backup to end');
    const ended = (await api('GET', `/backups/${a.id}`, READ)).body;
    expect(ended).toMatchObject({ state: 'cancelled', cancelledBy: 'alice' });
    expect(ended.error).toMatch(/^cancelled by alice/);
    expect(ended.runs).toEqual([]); // nothing was recorded as a restore point
    expect((await api('GET', `/backups/${b.id}`, READ)).body.started).toBeUndefined();

    const again = await cancel(a.id);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/backup .* has already finished \(cancelled\)/);
    expect(logs.filter((l) => l.event === 'api-backup-cancel').map((l) => l.user)).toEqual(['alice', 'alice']);
  }, 120_000);

  it('a restore: waiting never starts, running ends cancelled', async () => {
    const catalog = openCatalog({ source: await openSource({ source: repo, env: {} }), cluster: 'demo', branch: 'coffer-catalog' });
    const { run, rp } = backup({ cluster: 'demo', namespace: 'shop', policy: 'hourly', start: new Date(Date.now() - 3600_000) });
    rp.spec.repository.manifestSnapshot = 'f'.repeat(64);
    await catalog.recordBackup(run, rp);
    const before = sockets.length;
    const r1 = (await api('POST', '/restores', OPERATE, { restorePoint: 'latest', namespace: 'shop' })).body;
    expect(r1.id).toMatch(/^restore-/);
    await until(async () => (await api('GET', `/restores/${r1.id}`, READ)).body.job?.state === 'running' && sockets.length > before, 'the first restore to be stuck on the cluster');
    const r2 = (await api('POST', '/restores', OPERATE, { restorePoint: 'latest', namespace: 'shop' })).body;
    expect((await cancel(r2.id)).out).toBe(`restore/${r2.id} cancelled\n`);
    expect((await cancel(r1.id)).out).toBe(`restore/${r1.id} cancelling (running; it is being interrupted)\n`);
    for (const s of sockets) s.destroy();
    await until(async () => (await api('GET', `/restores/${r1.id}`, READ)).body.job?.state !== 'running', 'the first restore to end');
    expect((await api('GET', `/restores/${r1.id}`, READ)).body.job).toMatchObject({ state: 'cancelled', cancelledBy: 'alice', error: expect.stringMatching(/^cancelled by alice/) });
    await until(async () => !!(await api('GET', `/restores/${r2.id}`, READ)).body.job?.finished, 'the second restore to be passed over');
    expect((await api('GET', `/restores/${r2.id}`, READ)).body.job).toMatchObject({ state: 'cancelled', error: 'cancelled by alice before it started' });
    expect((await api('GET', `/restores/${r2.id}`, READ)).body.job?.started).toBeUndefined();
  }, 120_000);

  it.each([
    [['no-such-backup'], /no on-demand backup no-such-backup/],
    [['restore-nope'], /no restore job restore-nope/],
    [[], /Cancel a backup or restore that coffer run is doing/],
  ])('coffer cancel %j', async (argv, message) => {
    const r = await cancel(...argv);
    expect(r.code).toBe(1);
    expect(`${r.out}${r.err}`).toMatch(message);
  });

  it('a declared restore registers under its run name; coffer cancel RUN stops it and it is recorded Cancelled', async () => {
    const source = await openSource({ source: repo, env: {} });
    const catalog = openCatalog({ source, cluster: 'demo', branch: 'coffer-catalog' });
    const { run: backupRun, rp } = backup({ cluster: 'demo', namespace: 'shop', policy: 'hourly', start: new Date(Date.now() - 1800_000) });
    rp.spec.repository.manifestSnapshot = 'e'.repeat(64);
    await catalog.recordBackup(backupRun, rp);
    const before = sockets.length;
    const client = new KubeClient(loadKubeConfig({ env: { KUBECONFIG: join(dir, 'kubeconfig') } }));
    const done = runDeclaredRestores({ source, client, plan: await compileTip(source), catalog, running });
    await until(async () => live.runningRuns().length > 0 && sockets.length > before, 'the declared restore to be stuck on the cluster');
    const [inFlight] = live.runningRuns();
    expect(inFlight).toMatchObject({ run: expect.stringMatching(/^restore-\d{8}-\d{6}-[0-9a-f]{6}$/), type: 'restore', policy: 'hourly', namespace: 'shop-held' });
    // Named like an API restore job: the CLI asks the restore jobs first, then the runs.
    const r = await cancel(inFlight!.run);
    expect(r).toEqual({ code: 0, out: `run/${inFlight!.run} cancelling (it is being interrupted; coffer describe run ${inFlight!.run} shows it once recorded)\n`, err: '' });
    for (const s of sockets) s.destroy();
    expect((await done).map((o) => [o.restore, o.phase])).toEqual([['held', 'Cancelled']]);
    expect(live.runningRuns()).toEqual([]);
    const runs = (await catalog.readRuns({ type: 'restore', since: new Date(0) })).filter((x) => x.metadata.name === inFlight!.run);
    expect(runs.map((x) => [x.status.phase, x.spec.restore])).toEqual([['Cancelled', 'held']]);
    expect(runs[0]!.status.error).toMatch(/^cancelled by alice/);
    const doc = parse(execFileSync('git', ['-C', repo, 'show', 'coffer-catalog:restores/demo/shop-held/held.yaml'], { encoding: 'utf8' })) as RestoreResultDoc;
    expect(doc.spec).toMatchObject({ restore: 'held', phase: 'Cancelled', errors: [expect.stringMatching(/^cancelled by alice/)] });
    // Recorded, so it is not run again by the next pass.
    expect(await runDeclaredRestores({ source, client, plan: await compileTip(source), catalog, running })).toEqual([]);
  }, 120_000);

  it('a run that is not in flight here is a 404; a standby without a job store to forward through too', async () => {
    const run = 'backup-20261207-010000-abcdef';
    expect((await cancel(run)).err).toBe(`error: ${base}: no run ${run} is in flight here (finished runs are in coffer get runs)\n`);
    live.onFollower('coffer-7d9f-xk2p');
    const r = await api('POST', `/runs/${run}/cancel`);
    expect(r.status).toBe(404);
    expect(r.body.error).toBe(`no run ${run} is in flight here (finished runs are in coffer get runs)`);
  });

  it('needs the operate role', async () => {
    const r = await api('POST', '/backups/x/cancel', READ);
    expect(r.status).toBe(403);
  });
});
