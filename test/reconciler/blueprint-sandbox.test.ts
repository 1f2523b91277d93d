import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FUNCTIONS, PhaseError, runAction, toHookRecords, type ActionSpec, type FunctionContext } from '../../reconciler/blueprint/index.ts';
import { createAll, randomName, sampleApp, startTestCluster, waitPodsReady, type TestCluster } from './kube-cluster.ts';

// Backups, mover Jobs and Pods on a loaded two-core machine take minutes, not the default 60 s (issue 19: the
// SIGTERM test timed out at load 8–11). Each test still fails on its own deadlines when something really hangs.
vi.setConfig({ testTimeout: 300_000 });

let cluster: TestCluster;
let ns: string;
let ctx: FunctionContext;
const logs: string[] = [];

beforeAll(async () => {
  cluster = await startTestCluster();
  ns = randomName('hooks');
  // The app without its CRD/CR: hooks only need the workloads.
  const objs = sampleApp(ns, 'unused.example.com').filter((o) => o.kind !== 'CustomResourceDefinition' && o.kind !== 'Widget');
  await createAll(cluster.client, objs);
  await waitPodsReady(cluster.client, ns, 'app in (web,db)', 2);
  ctx = { client: cluster.client, signal: new AbortController().signal, log: (m) => logs.push(m) };
});

afterAll(async () => {
  await cluster?.client.delete('v1', 'namespaces', undefined, ns).catch(() => undefined);
  await cluster?.stop();
});

describe('KubeExec', () => {
  it('dumps the SQLite database inside the StatefulSet pod', async () => {
    const r = await FUNCTIONS.KubeExec!.run({ namespace: ns, workload: { kind: 'StatefulSet', name: 'db' }, command: ['sqlite3', '/data/app.db', '.dump'] }, ctx);
    const dump = r.stdout!.toString();
    expect(dump).toContain('CREATE TABLE orders');
    expect(dump).toContain("INSERT INTO orders VALUES(3,'plum');");
    expect(r.output.pod).toBe('db-0');
  });

  it('turns coffer-output lines into phase output', async () => {
    const r = await FUNCTIONS.KubeExec!.run({ namespace: ns, pod: 'db-0', command: ['sh', '-c', 'echo hello; echo "coffer-output rows=$(sqlite3 /data/app.db "select count(*) from orders")"'] }, ctx);
    expect(r.output.rows).toBe('3');
  });

  it('a non-zero exit fails with the exit code and the output tail', async () => {
    const err = await FUNCTIONS.KubeExec!.run({ namespace: ns, pod: 'db-0', command: ['sh', '-c', 'echo partial; echo "database is locked" >&2; exit 3'] }, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PhaseError);
    expect((err as Error).message).toMatch(/exited with 3/);
    expect((err as Error).message).toContain('database is locked');
  });

  it('a container that does not exist is named, with the containers of the pod', async () => {
    const err = (await FUNCTIONS.KubeExec!.run({ namespace: ns, pod: 'db-0', container: 'nope', command: ['true'] }, ctx).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(PhaseError);
    expect(err.message).toMatch(/container "nope" not found in pod .*\/db-0 \(containers: db\)/);
  });

  it('a workload without ready pods is a clear error', async () => {
    await expect(FUNCTIONS.KubeExec!.run({ namespace: ns, workload: { kind: 'Deployment', name: 'missing' }, command: ['true'] }, ctx)).rejects.toThrow(`Deployment ${ns}/missing not found`);
  });
});

describe('KubeTask', () => {
  it('runs a pod to completion with the PVC mounted, collects its log, deletes it', async () => {
    const r = await FUNCTIONS.KubeTask!.run({ namespace: ns, image: 'busybox', command: ['sh', '-c', 'ls /data; echo "coffer-output size=$(wc -c < /data/app.db)"'], volumes: [{ claimName: 'data-db-0', mountPath: '/data', readOnly: true }] }, ctx);
    expect(r.stdout!.toString()).toContain('app.db');
    expect(Number(r.output.size)).toBeGreaterThan(0);
    // Deleted: gone, or (graceful deletion on a loaded node) marked for deletion.
    const left = await cluster.client.find('v1', 'pods', ns, r.output.pod!);
    expect(left === undefined || !!left.metadata.deletionTimestamp).toBe(true);
  });

  it('a failing task reports its exit code and log, and is deleted too', async () => {
    const err = (await FUNCTIONS.KubeTask!.run({ namespace: ns, image: 'busybox', command: ['sh', '-c', 'echo cannot reach backup target; exit 7'] }, ctx).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(PhaseError);
    expect(err.message).toMatch(/failed with exit code 7/);
    expect(err.message).toContain('cannot reach backup target');
    const left = await cluster.client.list('v1', 'pods', ns, { labelSelector: 'coffer.dev/task=true' });
    expect(left.filter((p) => !p.metadata.deletionTimestamp)).toEqual([]);
  });
});

describe('ScaleWorkload and Wait', () => {
  it('scales down to no pods, remembers the original count, scales back up and waits for ready', async () => {
    const down = await FUNCTIONS.ScaleWorkload!.run({ namespace: ns, kind: 'Deployment', name: 'web', replicas: 0 }, ctx);
    expect(down.output.originalReplicas).toBe('1');
    expect(await cluster.client.list('v1', 'pods', ns, { labelSelector: 'app=web' })).toEqual([]);
    await FUNCTIONS.ScaleWorkload!.run({ namespace: ns, kind: 'Deployment', name: 'web', replicas: 1 }, ctx);
    await FUNCTIONS.Wait!.run({ timeout: '60s', object: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: ns }, condition: 'has(object.status.readyReplicas) && object.status.readyReplicas == 1' }, ctx);
  });

  it('Wait times out with the last state it saw', async () => {
    await expect(FUNCTIONS.Wait!.run({ timeout: '1s', object: { kind: 'ConfigMap', name: 'settings', namespace: ns }, condition: "object.data.mode == 'maintenance'" }, ctx)).rejects.toThrow(/timed out after 1s waiting for ConfigMap .*settings.*condition was false/);
  });
});

describe('phase runner', () => {
  const blueprint: ActionSpec = {
    phases: [
      { name: 'quiesce', func: 'ScaleWorkload', args: { namespace: '{{ namespace }}', kind: 'Deployment', name: 'web', replicas: 0 } },
      { name: 'dump', func: 'KubeExec', args: { namespace: '{{ namespace }}', workload: { kind: 'StatefulSet', name: 'db' }, command: ['sh', '-c', 'sqlite3 /data/app.db .dump; echo "coffer-output rp={{ restorePoint.id }}"'] } },
    ],
    finally: [{ name: 'resume', func: 'ScaleWorkload', args: { namespace: '{{ namespace }}', kind: 'Deployment', name: 'web', replicas: '{{ phases.quiesce.output.originalReplicas }}' } }],
    outputArtifacts: { sqlite: { restorePoint: '{{ phases.dump.output.rp }}' } },
  };

  it('runs phases with templates, snapshots while quiesced, always resumes, records artifacts', async () => {
    let podsDuringSnapshot = -1;
    const r = await runAction({
      blueprint: 'sqlite',
      action: 'backup',
      spec: blueprint,
      context: { namespace: ns, restorePoint: { id: 'rp-42' } },
      ctx,
      beforeFinally: async () => {
        podsDuringSnapshot = (await cluster.client.list('v1', 'pods', ns, { labelSelector: 'app=web' })).length;
      },
    });
    expect(r.ok).toBe(true);
    expect(r.phases.map((p) => [p.phase, p.phaseResult, p.deferred])).toEqual([
      ['quiesce', 'Succeeded', false],
      ['dump', 'Succeeded', false],
      ['resume', 'Succeeded', true],
    ]);
    expect(podsDuringSnapshot).toBe(0);
    expect(r.phases[1]!.stdout!.toString()).toContain("INSERT INTO orders VALUES(1,'apple');");
    expect(r.artifacts).toEqual({ sqlite: { restorePoint: 'rp-42' } });
    expect((await cluster.client.get('apps/v1', 'deployments', ns, 'web')).spec).toMatchObject({ replicas: 1 });
    const hooks = toHookRecords(r);
    expect(hooks[0]).toMatchObject({ blueprint: 'sqlite', action: 'backup', phase: 'quiesce', func: 'ScaleWorkload', phaseResult: 'Succeeded', output: { originalReplicas: '1', replicas: '0' } });
  });

  it('stops at the first failure, skips the rest, still runs finally, reports the failing output', async () => {
    const failing: ActionSpec = {
      phases: [
        blueprint.phases![0]!,
        { name: 'check', func: 'KubeExec', args: { namespace: '{{ namespace }}', pod: 'db-0', command: ['sh', '-c', 'echo integrity check failed >&2; exit 2'] } },
        blueprint.phases![1]!,
      ],
      finally: blueprint.finally,
    };
    const r = await runAction({ blueprint: 'sqlite', action: 'backup', spec: failing, context: { namespace: ns, restorePoint: { id: 'rp-43' } }, ctx });
    expect(r.ok).toBe(false);
    expect(r.phases.map((p) => [p.phase, p.phaseResult])).toEqual([
      ['quiesce', 'Succeeded'],
      ['check', 'Failed'],
      ['dump', 'Skipped'],
      ['resume', 'Succeeded'],
    ]);
    expect(r.error).toMatch(/phase check \(KubeExec\) failed: .*exited with 2/s);
    expect(r.error).toContain('integrity check failed');
    expect(r.artifacts).toEqual({});
    await waitPodsReady(cluster.client, ns, 'app=web', 1);
  });

  it('an interrupted run stops the running phase, skips the rest and still runs finally (the workload resumes)', async () => {
    const interrupt = new AbortController();
    logs.length = 0;
    const spec: ActionSpec = {
      phases: [blueprint.phases![0]!, { name: 'hang', func: 'KubeExec', args: { namespace: '{{ namespace }}', pod: 'db-0', command: ['sleep', '30'] } }, blueprint.phases![1]!],
      finally: blueprint.finally,
    };
    const running = runAction({ blueprint: 'sqlite', action: 'backup', spec, context: { namespace: ns, restorePoint: { id: 'rp-44' } }, ctx: { ...ctx, signal: interrupt.signal } });
    await vi.waitFor(() => expect(logs.some((m) => m.includes('phase quiesce (ScaleWorkload): Succeeded'))).toBe(true), { timeout: 20_000 });
    interrupt.abort(new Error('interrupted: shutdown deadline passed'));
    const r = await running;
    expect(r.phases.map((p) => [p.phase, p.phaseResult])).toEqual([
      ['quiesce', 'Succeeded'],
      ['hang', 'Failed'],
      ['dump', 'Skipped'],
      ['resume', 'Succeeded'],
    ]);
    expect(r.error).toContain('phase hang (KubeExec) failed');
    expect((await cluster.client.get('apps/v1', 'deployments', ns, 'web')).spec).toMatchObject({ replicas: 1 });
  });

  it('a phase timeout aborts the function and fails the phase', async () => {
    const r = await runAction({
      blueprint: 'slow',
      action: 'backup',
      spec: { phases: [{ name: 'hang', func: 'KubeExec', timeout: '1s', args: { namespace: ns, pod: 'db-0', command: ['sleep', '30'] } }] },
      context: { namespace: ns },
      ctx,
    });
    expect(r.ok).toBe(false);
    expect(r.phases[0]!.error).toMatch(/timed out after 1s/);
    expect(r.phases[0]!.durationMs).toBeLessThan(30_000); // aborted: `sleep 30` did not run to its end
  });

  it('invalid rendered arguments fail the phase without touching the cluster', async () => {
    const r = await runAction({ blueprint: 'bad', action: 'backup', spec: { phases: [{ name: 'x', func: 'ScaleWorkload', args: { namespace: ns, kind: 'CronJob', name: 'web', replicas: 1 } }] }, context: { namespace: ns }, ctx });
    expect(r.ok).toBe(false);
    expect(r.phases[0]!.error).toMatch(/ScaleWorkload: invalid arguments: \/kind must be equal to one of the allowed values/);
  });
});
