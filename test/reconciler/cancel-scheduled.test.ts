/**
 * `coffer cancel RUN` of a scheduled backup, wired as `coffer run --listen` wires it (startServing + runLoop) on a
 * sandbox cluster. The policy's blueprint quiesces the web Deployment (scale to 0), then holds the run in a task pod
 * that would sleep for ten minutes, so the run is provably mid-backup, with the app quiesced, when the cancel
 * arrives. Asserts what the issue asks: the app is scaled back (the blueprint's `finally` ran), no restore point and
 * no repository snapshot was made, the task pod is gone, and the run is recorded as Cancelled, naming who.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_NAMESPACE } from '../../cli/demo-app.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import type { KubeClient } from '../../reconciler/kube/client.ts';
import { LeaseLock } from '../../reconciler/lease/index.ts';
import { runLoop } from '../../reconciler/loop.ts';
import type { ReconcileSummary } from '../../reconciler/reconcile.ts';
import { startServing } from '../../reconciler/server/serve.ts';
import { FileBackend, listSnapshots, openRepository } from '../../repository/index.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { runCoffer } from '../cli-capture.ts';
import { startSampleLoop, waitFor } from './sample-app-fixture.ts';

const TOKEN = 'operate-token-0123456789abcdef';
const HOLD = `apiVersion: coffer.dev/v1alpha1
kind: Blueprint
metadata:
  name: hold-quiesced
spec:
  actions:
    backup:
      phases:
        - name: down
          func: ScaleWorkload
          args: { namespace: "{{ namespace }}", kind: "{{ workload.kind }}", name: "{{ workload.name }}", replicas: 0, waitForReady: true }
        - name: hold
          func: KubeTask
          args: { namespace: "{{ namespace }}", image: busybox, command: [sleep, "600"] }
      finally:
        - name: up
          func: ScaleWorkload
          args: { namespace: "{{ namespace }}", kind: "{{ workload.kind }}", name: "{{ workload.name }}", replicas: "{{ phases.down.output.originalReplicas }}", waitForReady: true }
`;

let sb: Sandbox;
let client: KubeClient;
let work: string;
let repoDir: string;
let repositoryPath: string;
const password = randomBytes(16).toString('hex');

beforeAll(async () => {
  ({ work, sb, client, repoDir, repositoryPath } = await startSampleLoop('coffer-cancel-scheduled-', password, (files) => {
    files['policies/shop.yaml'] = files['policies/shop.yaml']!.replace(/ {4}- name: sqlite\n.*\n/, '    - name: hold-quiesced\n      workloads: workload.kind == "Deployment" && workload.metadata.name == "web"\n');
    expect(files['policies/shop.yaml']).toContain('hold-quiesced');
    files['blueprints/hold-quiesced.yaml'] = HOLD;
  }));
  writeFileSync(join(work, 'tokens.csv'), `${TOKEN},alice,operate\n`);
}, 180_000);

afterAll(async () => {
  await sb?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const replicas = async () => (await client.get('apps/v1', 'deployments', DEMO_NAMESPACE, 'web')) as unknown as { spec: { replicas: number }; status?: { readyReplicas?: number } };
const taskPods = async () => (await client.list('v1', 'pods', DEMO_NAMESPACE, { labelSelector: 'coffer.dev/task=true' })).filter((p) => !p.metadata.deletionTimestamp);

describe('coffer cancel RUN of a scheduled backup', () => {
  it('stops it mid-backup: the app is scaled back, no restore point, the run recorded Cancelled', async () => {
    const source = await openSource({ source: repoDir, env: {} });
    const stop = new AbortController();
    const serving = await startServing({
      listen: '127.0.0.1:0',
      source,
      client,
      kubeConfig: sb.kubeConfig,
      leaseNamespace: 'coffer-system',
      identity: 'cancel-test',
      env: {},
      apiTokensFile: join(work, 'tokens.csv'),
      log: () => {},
      stop: stop.signal,
    });
    let run = '';
    const summaries: ReconcileSummary[] = [];
    const loop = runLoop(
      serving.loopOptions({
        source,
        client,
        lock: new LeaseLock({ kubeConfig: sb.kubeConfig, namespace: 'coffer-system', identity: 'cancel-test' }),
        signal: stop.signal,
        env: {},
        retention: false,
        log: (e) => {
          if (e.event === 'run-start') run = e.run;
        },
        onSummary: (s) => {
          summaries.push(s);
          stop.abort(); // one reconcile is enough
        },
      }),
    );
    try {
      // Quiesced and held: the web Deployment is at 0 and the hold phase's task pod runs.
      await waitFor('the run to quiesce the app and hold', async () => run !== '' && (await replicas()).spec.replicas === 0 && (await taskPods()).length > 0);
      expect(run).toMatch(/^backup-\d{8}-\d{6}-[0-9a-f]{6}$/);

      const r = await runCoffer(['cancel', run], { env: { COFFER_SERVER: serving.url, COFFER_API_TOKEN: TOKEN } });
      expect(r).toEqual({ code: 0, out: `run/${run} cancelling (it is being interrupted; coffer describe run ${run} shows it once recorded)\n`, err: '' });
      await loop;
      // Once recorded it is no longer in flight: a second cancel is a 404 that points at finished runs.
      const again = await runCoffer(['cancel', run], { env: { COFFER_SERVER: serving.url, COFFER_API_TOKEN: TOKEN } });
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/no run backup-\S+ is in flight here \(finished runs are in coffer get runs\)/);
    } finally {
      stop.abort();
      await loop.catch(() => undefined);
      await serving.close();
    }

    expect(summaries).toHaveLength(1);
    const outcome = summaries[0]!.runs[0]!;
    expect(outcome.run.metadata.name).toBe(run);
    expect(outcome.run.status.phase).toBe('Cancelled');
    expect(outcome.run.status.error).toMatch(/^cancelled by alice/);
    expect(outcome.restorePoint).toBeUndefined();
    // The finally phase scaled the app back and waited for it; the hold's task pod was deleted.
    const web = await replicas();
    expect(web.spec.replicas).toBe(1);
    expect(web.status?.readyReplicas).toBe(1);
    expect(await taskPods()).toEqual([]);
    expect(outcome.run.status.log?.some((l) => /hold-quiesced\/backup finally phase up \(ScaleWorkload\): Succeeded/.test(l))).toBe(true);
    // Recorded in Git as cancelled, with no restore point and no snapshot in the repository.
    const catalog = openCatalog({ source, cluster: 'demo', branch: 'coffer-catalog' });
    expect((await catalog.readRuns({ since: new Date(0) })).map((x) => [x.metadata.name, x.status.phase])).toEqual([[run, 'Cancelled']]);
    expect(await catalog.readRestorePoints()).toEqual([]);
    const subjects = execFileSync('git', ['-C', repoDir, 'log', '--format=%s', 'coffer-catalog'], { encoding: 'utf8' }).split('\n');
    expect(subjects.filter((l) => l.startsWith('backup: '))).toEqual([expect.stringMatching(/^backup: shop\/hourly \S+ cancelled: cancelled by alice/)]);
    expect(await listSnapshots(await openRepository(new FileBackend(repositoryPath), password))).toEqual([]);
  }, 300_000);
});
