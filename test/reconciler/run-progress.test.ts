/**
 * Live progress of a backup run: the throttle (pure, with a clock passed in), then one real on-demand backup of the
 * demo app on the sandbox watched over `coffer run`'s real `GET /api/v1/events` stream — its `run-progress` events
 * come before the run's end, in phase order, with counts that never go down and end at what the run recorded.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_NAMESPACE, demoPolicyRepo } from '../../cli/demo-app.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import { ProgressTracker, type RunPhase, type RunProgress, type RunProgressUpdate } from '../../reconciler/run-progress.ts';
import { startServing, type BackupJob, type Serving } from '../../reconciler/server/index.ts';
import { moverProgressBytes } from '../../reconciler/volumes/mover.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { runCoffer } from '../cli-capture.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';
import { deploySampleApp, waitFor } from './sample-app-fixture.ts';

const PHASES: RunPhase[] = ['export', 'hooks', 'volumes', 'manifests', 'commit'];

describe('ProgressTracker: at most one update per interval, every phase change at once', () => {
  // [case, updates as [clock ms, update], emitted as [phase, objects, bytes]]
  const cases: Array<[string, Array<[number, RunProgressUpdate]>, Array<[RunPhase, number, number]>]> = [
    ['the first update goes out', [[0, { phase: 'export' }]], [['export', 0, 0]]],
    ['counts within the interval are kept, not emitted', [[0, { phase: 'export' }], [10, { objects: 5 }], [999, { objects: 5 }]], [['export', 0, 0]]],
    ['a count after the interval is emitted with all counts so far', [[0, { phase: 'export' }], [10, { objects: 5 }], [1000, { objects: 1 }]], [['export', 0, 0], ['export', 6, 0]]],
    ['a phase change is emitted at once, with the counts the last phase ended with', [[0, { phase: 'export' }], [5, { objects: 7 }], [6, { phase: 'hooks' }], [7, { phase: 'volumes', volumesTotal: 2 }]], [['export', 0, 0], ['hooks', 7, 0], ['volumes', 7, 0]]],
    ['bytes add up across volumes and the bundle', [[0, { phase: 'volumes' }], [2000, { bytes: 100, volumesDone: 1 }], [2001, { phase: 'manifests' }], [2002, { bytes: 20 }], [4000, { phase: 'commit' }]], [['volumes', 0, 0], ['volumes', 0, 100], ['manifests', 0, 100], ['commit', 0, 120]]],
  ];
  it.each(cases)('%s', (_, updates, want) => {
    const out: RunProgress[] = [];
    let t = 0;
    const tracker = new ProgressTracker((p) => out.push(p), 1000, () => t);
    for (const [at, u] of updates) {
      t = at;
      tracker.update(u);
    }
    expect(out.map((p) => [p.phase, p.objects, p.bytes])).toEqual(want);
  });
});

describe("a mover's bytes so far, from its log", () => {
  // The lines `coffer repo backup` writes with COFFER_PROGRESS=json (cli/repo.ts), as a pod log's tail holds them.
  it.each([
    ['no progress line yet', '', undefined],
    ['the newest line wins', '{"progress":{"files":1,"totalFiles":9,"bytes":10,"totalBytes":90}}\n{"progress":{"files":2,"totalFiles":9,"bytes":40,"totalBytes":90}}\n', 40],
    ['a line cut off by the tail is skipped', '{"progress":{"bytes":40}}\n{"progress":{"byt', 40],
    ['the result line and warnings are not progress', '{"progress":{"bytes":7}}\nwarning: /data/x: not backed up\n{"snapshotId":"abc","stats":{"bytesProcessed":9}}', 7],
    ['negative or non-numeric bytes are ignored', '{"progress":{"bytes":-1}}\n{"progress":{"bytes":"5"}}', undefined],
  ])('%s', (_, log, want) => {
    expect(moverProgressBytes(log)).toBe(want);
  });

  it('`coffer repo backup` with COFFER_PROGRESS=json writes progress lines on stderr, the last one at the total, and keeps stdout the result', async () => {
    const work = tempDir('progress-cli');
    try {
      fs.mkdirSync(join(work, 'src'));
      fs.writeFileSync(join(work, 'src', 'a.bin'), randomBytes(300_000));
      fs.writeFileSync(join(work, 'src', 'b.txt'), 'hello\n');
      const env = { COFFER_REPOSITORY: join(work, 'repo'), COFFER_PASSWORD: 'pw', COFFER_BACKUP_WORKERS: '0' };
      expect((await runCoffer(['repo', 'init'], { cwd: work, env })).code).toBe(0);
      const r = await runCoffer(['repo', 'backup', 'src', '-o', 'json'], { cwd: work, env: { ...env, COFFER_PROGRESS: 'json' } });
      expect(r.code, r.err).toBe(0);
      const result = JSON.parse(r.out) as { stats: { bytesProcessed: number } };
      const lines = r.err.trim().split('\n').map((l) => JSON.parse(l) as { progress: { bytes: number } });
      expect(lines.length).toBeGreaterThanOrEqual(1);
      const bytes = lines.map((l) => l.progress.bytes);
      expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
      expect(bytes.at(-1)).toBe(result.stats.bytesProcessed);
      expect(moverProgressBytes(r.err)).toBe(300_006);
      // Without it: nothing on stderr (the mover's older contract, and scripts reading -o json).
      const quiet = await runCoffer(['repo', 'backup', 'src', '-o', 'json'], { cwd: work, env });
      expect(quiet.err).toBe('');
    } finally {
      cleanup(work);
    }
  });
});

describe('run-progress over the event stream of a real backup', () => {
  const OPERATE = `operate-${randomBytes(12).toString('hex')}`;
  let sb: Sandbox;
  let work: string;
  let serving: Serving;

  beforeAll(async () => {
    work = tempDir('run-progress');
    sb = await startSandbox({ dir: join(work, 'sandbox') });
    const client = new KubeClient(sb.kubeConfig);
    await deploySampleApp(client, randomBytes(16).toString('hex'));
    fs.mkdirSync(join(work, 'repository'));
    const repoDir = makePolicyRepo(join(work, 'policy-repo'), demoPolicyRepo(join(work, 'repository'), fs.readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
    const tokens = join(work, 'tokens.csv');
    fs.writeFileSync(tokens, `${OPERATE},alice,operate\n`);
    // No loop: the one backup here is asked for over the API, so the stream carries only its events.
    serving = await startServing({ listen: '127.0.0.1:0', source: await openSource({ source: repoDir, env: {} }), client, kubeConfig: sb.kubeConfig, leaseNamespace: 'coffer-system', identity: 'progress', env: {}, apiTokensFile: tokens, log: () => undefined });
  }, 240_000);

  afterAll(async () => {
    await serving?.close();
    await sb?.stop();
    if (work) cleanup(work);
  }, 120_000);

  it('streams phases in order with growing counts before the run ends, ending at the recorded totals', async () => {
    // 64 MiB of incompressible data on the app's volume, so its mover usually reports bytes while it runs (mover.ts
    // reads its log tail once a second); whether it does depends on speed, so only order and growth are asserted.
    const claim = await new KubeClient(sb.kubeConfig).get('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, 'data-db-0');
    const fd = fs.openSync(join(work, 'sandbox', 'volumes', (claim.spec as { volumeName: string }).volumeName, 'big.bin'), 'w');
    for (let i = 0; i < 8; i++) fs.writeSync(fd, randomBytes(8 << 20));
    fs.closeSync(fd);
    const controller = new AbortController();
    const res = await fetch(`${serving.url}/api/v1/events`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${OPERATE}` }, signal: controller.signal });
    expect(res.status).toBe(200);
    const seen: Array<{ type: string; data: Record<string, unknown> }> = [];
    const reading = (async () => {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i).split('\n');
          buf = buf.slice(i + 2);
          const type = block.find((l) => l.startsWith('event: '))?.slice(7);
          const data = block.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (type && data) seen.push({ type, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
    })();

    const post = await fetch(`${serving.url}/api/v1/backups`, { method: 'POST', headers: { authorization: `Bearer ${OPERATE}` }, body: JSON.stringify({ policy: 'hourly', namespace: DEMO_NAMESPACE }) });
    expect(post.status).toBe(202);
    const job = (await post.json()) as BackupJob;
    const ended = () => seen.find((e) => e.type === 'run' && e.data.namespace === DEMO_NAMESPACE && e.data.phase !== 'Running');
    await waitFor('the run end on the event stream', async () => ended() !== undefined, 240_000);
    controller.abort();
    await reading;

    const end = ended()!;
    expect(end.data).toMatchObject({ policy: 'hourly', phase: 'Succeeded' });
    expect(serving.live.job(job.id)?.runs).toEqual([expect.objectContaining({ phase: 'Succeeded' })]);
    const progress = seen.slice(0, seen.indexOf(end)).filter((e) => e.type === 'run-progress').map((e) => e.data as unknown as RunProgress & { namespace: string; policy: string; run: string });
    expect(seen.slice(seen.indexOf(end)).filter((e) => e.type === 'run-progress')).toEqual([]);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(new Set(progress.map((p) => `${p.namespace}/${p.policy}`))).toEqual(new Set([`${DEMO_NAMESPACE}/hourly`]));
    expect(new Set(progress.map((p) => p.run)).size).toBe(1);
    expect(progress[0]!.run).toMatch(/^backup-/);
    for (let i = 1; i < progress.length; i++) {
      const [a, b] = [progress[i - 1]!, progress[i]!];
      expect(PHASES.indexOf(b.phase), `phase order at ${i}`).toBeGreaterThanOrEqual(PHASES.indexOf(a.phase));
      expect(b.objects, `objects at ${i}`).toBeGreaterThanOrEqual(a.objects);
      expect(b.bytes, `bytes at ${i}`).toBeGreaterThanOrEqual(a.bytes);
      expect(b.volumesDone, `volumes at ${i}`).toBeGreaterThanOrEqual(a.volumesDone);
    }
    // Every phase of this backup was seen (each change is emitted at once); the demo app has one volume.
    expect([...new Set(progress.map((p) => p.phase))]).toEqual(PHASES);
    const last = progress.at(-1)!;
    expect(last).toMatchObject({ phase: 'commit', volumesDone: 1, volumesTotal: 1 });
    // The counts end at what the run recorded.
    expect(last.objects).toBe(end.data.objects);
    expect(last.bytes).toBe(end.data.bytes);
    expect(last.bytes).toBeGreaterThan(64 << 20);
  }, 300_000);
});
