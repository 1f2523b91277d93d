/**
 * The start-up sweep against a real `coffer run`: the controller is killed (SIGKILL) while its mover Job runs in
 * coffer-system, leaving the Job, its credentials Secret, its PVC and the snapshot hand-off behind; a second
 * `coffer run` takes the Lease, removes all of them, and records the sweep as an Event and a log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_NAMESPACE } from '../../cli/demo-app.ts';
import type { KubeClient } from '../../reconciler/kube/client.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { RUN_LABEL } from '../../reconciler/volumes/mover.ts';
import { RECLAIM_ANNOTATION } from '../../reconciler/volumes/handback.ts';
import { LEFTOVER_SELECTOR, sweepLeftovers } from '../../reconciler/volumes/sweep.ts';
import { runIsAlive, runLeaseName, withRunLease } from '../../reconciler/volumes/run-lease.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { startSampleLoop, waitFor } from './sample-app-fixture.ts';

const password = randomBytes(16).toString('hex');
let sb: Sandbox;
let client: KubeClient;
let work: string;
let repoDir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ({ work, sb, client, repoDir } = await startSampleLoop('coffer-sweep-', password));
}, 180_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await sb?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** `coffer run` as a child process (async: the sandbox is served from this worker); its output collected. */
function coffer(...extra: string[]): { child: ChildProcess; output: () => string } {
  const cli = new URL('../../cli/coffer.js', import.meta.url).pathname;
  // a 3 s Lease: the second controller takes over from a killed first one without waiting out the default 15 s
  const child = spawn(process.execPath, [cli, 'run', '--source', repoDir, '--interval', '2s', '--leader-elect-lease-duration', '3s', '-o', 'json', ...extra], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out };
}

/** The address `coffer run --listen HOST:0 -o json` logged (its `listening` event). */
function listeningUrl(output: string): string {
  const line = output.split('\n').find((l) => l.includes('"event":"listening"'));
  if (!line) throw new Error(`no listening event in: ${output}`);
  return (JSON.parse(line) as { url: string }).url;
}

const SNAP = 'snapshot.storage.k8s.io/v1';
/** Every labelled Coffer object of one run in coffer-system, and its cluster-scoped hand-off contents and volumes. */
async function runObjects(runId: string): Promise<string[]> {
  const selector = { labelSelector: `${RUN_LABEL}=${runId}` };
  const out: string[] = [];
  for (const [api, plural, ns] of [['batch/v1', 'jobs', 'coffer-system'], ['v1', 'persistentvolumeclaims', 'coffer-system'], ['v1', 'secrets', 'coffer-system'], [SNAP, 'volumesnapshots', 'coffer-system'], [SNAP, 'volumesnapshotcontents', undefined], ['v1', 'persistentvolumes', undefined]] as const) {
    for (const o of await client.list(api, plural, ns, selector)) if (!o.metadata.deletionTimestamp) out.push(`${plural}/${o.metadata.name}`);
  }
  return out.sort();
}

describe('start-up sweep', () => {
  it('a controller killed mid-move leaves a Job, Secret, PVC and hand-off; the next one sweeps them and records it', { timeout: 300_000 }, async () => {
    const first = coffer();
    let job: KubeObject | undefined;
    await waitFor(`a mover Job in coffer-system; output: ${first.output()}`, async () => {
      [job] = await client.list('batch/v1', 'jobs', 'coffer-system', { labelSelector: LEFTOVER_SELECTOR });
      return !!job;
    });
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const runId = job!.metadata.labels![RUN_LABEL]!;
    const left = await runObjects(runId);
    // What the dead run left: the Job with what it mounts and reads, and the snapshot hand-off.
    expect(left.map((x) => x.split('/')[0])).toEqual(expect.arrayContaining(['jobs', 'persistentvolumeclaims', 'secrets', 'volumesnapshotcontents', 'volumesnapshots']));

    // The second one serves /metrics too: the sweep is counted there.
    const second = coffer('--listen', '127.0.0.1:0');
    try {
      await waitFor(`the sweep's log line; output: ${second.output()}`, async () => second.output().includes('swept leftovers'));
      const line = second.output().split('\n').find((l) => l.includes('swept leftovers'))!;
      expect(line).toContain(runId);
      expect(line).toMatch(/removed 1 secrets, 1 jobs, 1 persistentvolumeclaims, 1 volumesnapshots, 1 volumesnapshotcontents/);
      await waitFor('the leftovers to be gone', async () => (await runObjects(runId)).length === 0);
      type Ev = KubeObject & { reason: string; message: string; type: string; involvedObject: { kind: string; name: string }; reportingComponent: string };
      const events = ((await client.list('v1', 'events', 'coffer-system')) as Ev[]).filter((e) => e.reason === 'LeftoversSwept');
      expect(events).toHaveLength(1);
      // Through kube/events.ts: outside a pod there is no Deployment, so the mover namespace is what it is about.
      expect(events[0]).toMatchObject({ type: 'Normal', involvedObject: { kind: 'Namespace', name: 'coffer-system' }, reportingComponent: 'coffer', source: { component: 'coffer' }, count: 1 });
      expect(events[0]!.message).toContain(`interrupted run(s) ${runId}`);
      const metrics = await (await fetch(`${listeningUrl(second.output())}/metrics`)).text();
      for (const kind of ['secrets', 'jobs', 'persistentvolumeclaims', 'volumesnapshots', 'volumesnapshotcontents']) expect(metrics).toContain(`coffer_sweep_objects_removed_total{kind="${kind}"} 1\n`);
      expect(metrics).toContain('coffer_sweep_errors_total 0\n');
      expect(Number(/^coffer_sweep_last_timestamp_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(Date.parse('2026-01-01') / 1000);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => (second.child.exitCode !== null ? r(undefined) : second.child.once('exit', r)));
    }
  });
  it('a volume caught mid hand-back is discarded; one already bound to its target claim is kept and given its policy back', { timeout: 120_000 }, async () => {
    const labels = { 'app.kubernetes.io/managed-by': 'coffer', [RUN_LABEL]: 'restore-x' };
    const claim = (ns: string, name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...extra } }) as KubeObject;
    const boundVolume = async (ns: string, name: string) => {
      await client.create('v1', 'persistentvolumeclaims', ns, claim(ns, name));
      let pv = '';
      await waitFor(`${ns}/${name} bound`, async () => !!(pv = ((await client.get('v1', 'persistentvolumeclaims', ns, name)).spec as { volumeName?: string }).volumeName ?? ''));
      // What handback.ts does before it deletes the mover's claim.
      await client.mergePatch('v1', 'persistentvolumes', undefined, pv, { metadata: { labels, annotations: { [RECLAIM_ANNOTATION]: 'Delete' } }, spec: { persistentVolumeReclaimPolicy: 'Retain' } });
      await client.delete('v1', 'persistentvolumeclaims', ns, name);
      await waitFor(`${pv} Released`, async () => ((await client.get('v1', 'persistentvolumes', undefined, pv)).status as { phase?: string }).phase === 'Released');
      return pv;
    };
    const orphan = await boundVolume('coffer-system', 'coffer-restore-orphan');
    const handed = await boundVolume('coffer-system', 'coffer-restore-handed');
    await client.mergePatch('v1', 'persistentvolumes', undefined, handed, { spec: { claimRef: { namespace: DEMO_NAMESPACE, name: 'restored-x', uid: null, resourceVersion: null } } });
    await client.create('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, claim(DEMO_NAMESPACE, 'restored-x', { volumeName: handed, storageClassName: 'sandbox-hostpath' }));
    await waitFor('the handed-back claim to bind', async () => ((await client.get('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, 'restored-x')).status as { phase?: string }).phase === 'Bound');

    const r = await sweepLeftovers(client, 'coffer-system');
    expect(r).toMatchObject({ removed: { persistentvolumes: 1 }, runs: ['restore-x'], finished: [`${handed} → ${DEMO_NAMESPACE}/restored-x`], errors: [] });
    await waitFor(`${orphan} deleted`, async () => !(await client.find('v1', 'persistentvolumes', undefined, orphan)));
    const kept = await client.get('v1', 'persistentvolumes', undefined, handed);
    expect([(kept.spec as { persistentVolumeReclaimPolicy: string }).persistentVolumeReclaimPolicy, kept.metadata.labels?.[RUN_LABEL], kept.metadata.annotations?.[RECLAIM_ANNOTATION]]).toEqual(['Delete', undefined, undefined]);
    expect(((await client.get('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, 'restored-x')).status as { phase: string }).phase).toBe('Bound');
  });

  it('a run whose Lease is renewed (a workstation backup) keeps its objects; one whose holder stopped is swept with its Lease', { timeout: 120_000 }, async () => {
    const leftover = (run: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `coffer-${run}`, namespace: 'coffer-system', labels: { 'app.kubernetes.io/managed-by': 'coffer', [RUN_LABEL]: run } }, stringData: { password: 'x' } }) as KubeObject;
    for (const run of ['backup-live', 'backup-dead']) await client.create('v1', 'secrets', 'coffer-system', leftover(run));
    // A holder that died: its Lease was written once and never renewed.
    const now = new Date().toISOString().replace('Z', '000Z');
    await client.create('coordination.k8s.io/v1', 'leases', 'coffer-system', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: runLeaseName('backup-dead'), namespace: 'coffer-system' }, spec: { holderIdentity: 'laptop-gone', leaseDurationSeconds: 1, acquireTime: now, renewTime: now } } as KubeObject);
    const isAlive = (run: string) => runIsAlive({ client, namespace: 'coffer-system', run, pollMs: 100 });
    const r = await withRunLease({ client, namespace: 'coffer-system', run: 'backup-live', identity: 'laptop', durationSeconds: 2 }, () => sweepLeftovers(client, 'coffer-system', { isAlive }));
    expect(r).toMatchObject({ removed: { secrets: 1 }, runs: ['backup-dead'], kept: ['backup-live'], errors: [] });
    expect(await client.find('v1', 'secrets', 'coffer-system', 'coffer-backup-live')).toBeDefined();
    await waitFor('the dead run\'s Secret to be gone', async () => !(await client.find('v1', 'secrets', 'coffer-system', 'coffer-backup-dead')));
    // The dead run's Lease went with it; the live run deleted its own when it ended.
    for (const run of ['backup-dead', 'backup-live']) expect(await client.find('coordination.k8s.io/v1', 'leases', 'coffer-system', runLeaseName(run))).toBeUndefined();
    // Once the run is over (no Lease), its objects are leftovers like any other.
    expect(await sweepLeftovers(client, 'coffer-system', { isAlive })).toMatchObject({ removed: { secrets: 1 }, runs: ['backup-live'] });
  });

  it('coffer backup from a workstation holds a run Lease while it runs and deletes it after', { timeout: 240_000 }, async () => {
    const cli = new URL('../../cli/coffer.js', import.meta.url).pathname;
    const since = new Date().toISOString();
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    await promisify(execFile)(process.execPath, [cli, 'backup', '--policy', 'hourly', '-n', DEMO_NAMESPACE, '--source', repoDir], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath }, timeout: 200_000 });
    const leases = sb.server.audit.events().filter((e) => e.time >= since && e.resource === 'leases' && e.name !== 'coffer-reconciler' && e.code < 300);
    const created = leases.find((e) => e.verb === 'create');
    expect(created?.namespace).toBe('coffer-system');
    const name = leases.find((e) => e.verb === 'delete')?.name ?? '';
    expect(name).toMatch(/^coffer-run-backup-\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(await client.find('coordination.k8s.io/v1', 'leases', 'coffer-system', name)).toBeUndefined();
  });
});
