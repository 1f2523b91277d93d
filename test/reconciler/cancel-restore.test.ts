/**
 * `coffer cancel RUN` of a declared restore (restores/ in Git), sent to a standby replica, as `coffer run --listen`
 * wires two replicas (startServing; the leader also runs the loop). One scheduled pass backs up the sample app, then
 * runs the Restore document into a new namespace; a blueprint's restore action holds it in a task pod that would
 * sleep for ten minutes, so the restore is provably mid-way when the cancel arrives. The standby forwards the cancel
 * (202, forwarded), the leader carries it out: the hold stops, the blueprint's `finally` phase runs, no mover or
 * cancel request is left in coffer-system, and the restore is recorded as Cancelled in Git.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_NAMESPACE } from '../../cli/demo-app.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import type { KubeClient } from '../../reconciler/kube/client.ts';
import { LeaseLock } from '../../reconciler/lease/index.ts';
import { runLoop } from '../../reconciler/loop.ts';
import type { ReconcileSummary } from '../../reconciler/reconcile.ts';
import { startServing } from '../../reconciler/server/serve.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { runCoffer } from '../cli-capture.ts';
import { startSampleLoop, waitFor } from './sample-app-fixture.ts';

const TOKEN = 'operate-token-0123456789abcdef';
const TARGET = 'shop-held';
const HOLD = `apiVersion: coffer.dev/v1alpha1
kind: Blueprint
metadata:
  name: hold-restore
spec:
  actions:
    restore:
      phases:
        - name: hold
          func: KubeTask
          args: { namespace: "{{ namespace }}", image: busybox, command: [sleep, "600"] }
      finally:
        - name: after
          func: KubeTask
          args: { namespace: "{{ namespace }}", image: busybox, command: ["true"] }
`;
const RESTORE = `apiVersion: coffer.dev/v1alpha1
kind: Restore
metadata:
  name: held
spec:
  source:
    namespace: ${DEMO_NAMESPACE}
    policy: hourly
  target:
    namespace: ${TARGET}
`;

let sb: Sandbox;
let client: KubeClient;
let work: string;
let repoDir: string;
const password = randomBytes(16).toString('hex');

beforeAll(async () => {
  ({ work, sb, client, repoDir } = await startSampleLoop('coffer-cancel-restore-', password, (files) => {
    files['policies/shop.yaml'] = `${files['policies/shop.yaml']!.trimEnd()}\n    - name: hold-restore\n      workloads: workload.kind == "Deployment" && workload.metadata.name == "web"\n`;
    files['blueprints/hold-restore.yaml'] = HOLD;
    files['restores/held.yaml'] = RESTORE;
  }));
  writeFileSync(join(work, 'tokens.csv'), `${TOKEN},alice,operate\n`);
}, 180_000);

afterAll(async () => {
  await sb?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const live = <T extends { metadata: { deletionTimestamp?: string } }>(items: T[]) => items.filter((i) => !i.metadata.deletionTimestamp);
const taskPods = async () => live(await client.list('v1', 'pods', TARGET, { labelSelector: 'coffer.dev/task=true' }));

describe('coffer cancel RUN of a declared restore, sent to the standby replica', () => {
  it('is forwarded to the leader: the restore stops, its finally phase runs, recorded Cancelled, nothing left behind', async () => {
    const source = await openSource({ source: repoDir, env: {} });
    const stop = new AbortController();
    const serve = (identity: string) =>
      startServing({ listen: '127.0.0.1:0', source, client, kubeConfig: sb.kubeConfig, leaseNamespace: 'coffer-system', identity, env: {}, apiTokensFile: join(work, 'tokens.csv'), log: () => {}, stop: stop.signal });
    const leader = await serve('cancel-leader');
    const standby = await serve('cancel-standby');
    standby.live.onFollower('cancel-leader'); // what its loop learns from the Lease
    let run = '';
    const summaries: ReconcileSummary[] = [];
    const loop = runLoop(
      leader.loopOptions({
        source,
        client,
        lock: new LeaseLock({ kubeConfig: sb.kubeConfig, namespace: 'coffer-system', identity: 'cancel-leader' }),
        signal: stop.signal,
        env: {},
        retention: false,
        log: (e) => {
          const m = e.event === 'log' ? /^restoring held into shop-held \(run (restore-\S+)\)$/.exec(e.message) : null;
          if (m) run = m[1]!;
        },
        onSummary: (s) => {
          summaries.push(s);
          stop.abort(); // one reconcile is enough
        },
      }),
    );
    try {
      await waitFor('the declared restore to hold in its task pod', async () => run !== '' && (await taskPods()).length > 0, 280_000);
      expect(run).toMatch(/^restore-\d{8}-\d{6}-[0-9a-f]{6}$/);
      const r = await runCoffer(['cancel', run], { env: { COFFER_SERVER: standby.url, COFFER_API_TOKEN: TOKEN } });
      expect(r).toEqual({ code: 0, out: `run/${run} cancelling (asked of cancel-leader, which runs it; coffer describe run ${run} shows it once recorded)\n`, err: '' });
      await loop;
    } finally {
      stop.abort();
      await loop.catch(() => undefined);
      await standby.close();
      await leader.close();
    }

    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.runs.map((x) => x.run.status.phase)).toEqual(['Succeeded']);
    expect(summaries[0]!.restores.map((x) => [x.restore, x.phase])).toEqual([['held', 'Cancelled']]);
    // Recorded in Git: the Run and the RestoreResult, Cancelled by alice; the finally phase ran.
    const catalog = openCatalog({ source, cluster: 'demo', branch: 'coffer-catalog' });
    const runs = (await catalog.readRuns({ type: 'restore', since: new Date(0) })).filter((x) => x.metadata.name === run);
    expect(runs.map((x) => x.status.phase)).toEqual(['Cancelled']);
    expect(runs[0]!.status.error).toMatch(/cancelled by alice/);
    expect(runs[0]!.status.log?.some((l) => /hold-restore\/restore finally phase after \(KubeTask\): Succeeded/.test(l))).toBe(true);
    const doc = parse(execFileSync('git', ['-C', repoDir, 'show', `coffer-catalog:restores/demo/${TARGET}/held.yaml`], { encoding: 'utf8' })) as { spec: { phase: string; errors?: string[] } };
    expect(doc.spec.phase).toBe('Cancelled');
    expect(doc.spec.errors?.[0]).toMatch(/^cancelled by alice/);
    // Nothing left: the hold's task pod, restore movers and their claims, the forwarded cancel request.
    await waitFor('the task pods to go', async () => (await taskPods()).length === 0);
    expect(live(await client.list('batch/v1', 'jobs', 'coffer-system')).map((j) => j.metadata.name)).toEqual([]);
    expect(live(await client.list('v1', 'pods', 'coffer-system')).map((p) => p.metadata.name)).toEqual([]);
    expect(live(await client.list('v1', 'persistentvolumeclaims', 'coffer-system')).map((p) => p.metadata.name)).toEqual([]);
    expect((await client.list('v1', 'configmaps', 'coffer-system', { labelSelector: 'app.kubernetes.io/component=run-cancel' })).map((c) => c.metadata.name)).toEqual([]);
  }, 400_000);
});
