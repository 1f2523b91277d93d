/**
 * Workload controllers against a real sandbox, checked with the installed
 * kubectl: truthful Deployment status through scaling and rollouts,
 * StatefulSet volumes that survive pod restarts, Job success and failure with
 * `kubectl wait`, CronJob runs and DaemonSets.
 */
import { describe, expect, it } from 'vitest';
import { eventually, sleeper, useTestCluster } from './runtime-harness.ts';

const { cluster, ok, apply, getJson } = useTestCluster();

describe('workload controllers', () => {
  it('scales a Deployment 2 → 0 → 1 with truthful status and kubectl wait', async () => {
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [sleeper('web')] } } },
    });
    await ok(['wait', '--for=condition=Available', 'deployment/web', '--timeout=60s']);
    await ok(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    let d = await getJson('deployment', 'web');
    expect(d.status).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2, observedGeneration: d.metadata.generation });
    const rs = (await getJson('replicasets', '-l', 'app=web')).items;
    expect(rs).toHaveLength(1);
    expect(rs[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'Deployment', name: 'web', controller: true });
    const pods = (await getJson('pods', '-l', 'app=web')).items;
    expect(pods).toHaveLength(2);
    expect(pods.every((p: any) => p.metadata.ownerReferences[0].kind === 'ReplicaSet' && p.status.phase === 'Running')).toBe(true);

    await ok(['scale', 'deployment/web', '--replicas=0']);
    d = await eventually(async () => {
      const d = await getJson('deployment', 'web');
      const left = (await getJson('pods', '-l', 'app=web')).items.length;
      return d.status.observedGeneration === d.metadata.generation && (d.status.replicas ?? 0) === 0 && left === 0 && d;
    }, 60_000, 'scale to zero');
    expect(d.status.readyReplicas ?? 0).toBe(0);
    expect(d.status.conditions.find((x: any) => x.type === 'Available').status).toBe('True');

    await ok(['scale', 'deployment/web', '--replicas=1']);
    await ok(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    d = await getJson('deployment', 'web');
    expect(d.status).toMatchObject({ replicas: 1, readyReplicas: 1, availableReplicas: 1 });

    // Template change: a new ReplicaSet takes over, the old one is scaled to zero.
    await ok(['set', 'env', 'deployment/web', 'VERSION=2']);
    await ok(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    const sets = (await getJson('replicasets', '-l', 'app=web')).items;
    expect(sets).toHaveLength(2);
    expect(sets.map((s: any) => s.spec.replicas).sort()).toEqual([0, 1]);
    const live = (await getJson('pods', '-l', 'app=web')).items.filter((p: any) => !p.metadata.deletionTimestamp);
    expect(live).toHaveLength(1);
    expect(live[0].spec.containers[0].env).toEqual([{ name: 'VERSION', value: '2' }]);
  });

  it('reports a rollout stuck on an image outside the table (progressDeadlineSeconds)', async () => {
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'stuck' },
      spec: { replicas: 1, progressDeadlineSeconds: 2, selector: { matchLabels: { app: 'stuck' } }, template: { metadata: { labels: { app: 'stuck' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } } },
    });
    const r = await cluster().kubectl(['rollout', 'status', 'deployment/stuck', '--timeout=60s']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('exceeded its progress deadline');
    const d = await getJson('deployment', 'stuck');
    expect(d.status.conditions.find((x: any) => x.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(d.status.conditions.find((x: any) => x.type === 'Available').status).toBe('False');
    await ok(['delete', 'deployment', 'stuck']);
  });

  it('gives a StatefulSet per-ordinal PVCs whose files survive a pod restart', async () => {
    await apply({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db' },
      spec: {
        serviceName: 'db',
        replicas: 2,
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [sleeper('db', { volumeMounts: [{ name: 'data', mountPath: '/var/lib/db' }] })] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    });
    await ok(['rollout', 'status', 'statefulset/db', '--timeout=60s']);
    const claims = (await getJson('pvc', '-l', 'app=db')).items;
    expect(claims.map((p: any) => p.metadata.name).sort()).toEqual(['data-db-0', 'data-db-1']);
    expect(claims.every((p: any) => p.status.phase === 'Bound' && p.spec.storageClassName === 'sandbox-hostpath' && p.spec.volumeName)).toBe(true);
    const pv = await getJson('pv', claims[0].spec.volumeName);
    expect(pv.spec.claimRef.name).toBe(claims[0].metadata.name);
    expect(pv.status.phase).toBe('Bound');
    const pod0 = await getJson('pod', 'db-0');
    expect(pod0.spec.hostname).toBe('db-0');
    expect(pod0.metadata.labels['statefulset.kubernetes.io/pod-name']).toBe('db-0');

    await ok(['exec', 'db-0', '--', 'sh', '-c', 'echo persisted > /var/lib/db/file.txt']);
    const uid = pod0.metadata.uid;
    await ok(['delete', 'pod', 'db-0', '--timeout=30s']);
    await eventually(async () => {
      const p = await getJson('pod', 'db-0');
      return p.metadata.uid !== uid && p.status.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True');
    }, 60_000, 'db-0 to come back');
    expect(await ok(['exec', 'db-0', '--', 'cat', '/var/lib/db/file.txt'])).toBe('persisted\n');
    // The other ordinal has its own volume.
    expect((await cluster().kubectl(['exec', 'db-1', '--', 'cat', '/var/lib/db/file.txt'])).code).not.toBe(0);

    const sts = await getJson('statefulset', 'db');
    expect(sts.status).toMatchObject({ replicas: 2, readyReplicas: 2, currentReplicas: 2, updatedReplicas: 2, availableReplicas: 2 });
    expect(sts.status.currentRevision).toBe(sts.status.updateRevision);

    await ok(['scale', 'statefulset/db', '--replicas=0']);
    await eventually(async () => (await getJson('pods', '-l', 'app=db')).items.length === 0, 60_000, 'scale down');
    // Claims are retained on scale-down, as in Kubernetes.
    expect((await getJson('pvc', '-l', 'app=db')).items).toHaveLength(2);
  });

  it('runs Jobs to Complete and to Failed, with kubectl wait', async () => {
    await apply({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'ok-job' },
      spec: { completions: 2, parallelism: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'w', image: 'busybox', command: ['sh', '-c', 'echo working; sleep 0.3'] }] } } },
    });
    await ok(['wait', '--for=condition=complete', 'job/ok-job', '--timeout=60s']);
    const job = await getJson('job', 'ok-job');
    expect(job.status).toMatchObject({ succeeded: 2, active: 0 });
    expect(job.status.completionTime).toBeTruthy();
    const jobPods = (await getJson('pods', '-l', 'job-name=ok-job')).items;
    expect(jobPods).toHaveLength(2);
    expect(jobPods.every((p: any) => p.status.phase === 'Succeeded')).toBe(true);
    expect(await ok(['logs', 'job/ok-job'])).toBe('working\n');

    await apply({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'bad-job' },
      spec: { backoffLimit: 1, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'w', image: 'busybox', command: ['sh', '-c', 'exit 2'] }] } } },
    });
    await ok(['wait', '--for=condition=failed', 'job/bad-job', '--timeout=60s']);
    const bad = await getJson('job', 'bad-job');
    expect(bad.status.failed).toBe(2);
    expect(bad.status.conditions.find((x: any) => x.type === 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded' });
    const waitComplete = await cluster().kubectl(['wait', '--for=condition=complete', 'job/bad-job', '--timeout=1s']);
    expect(waitComplete.code).not.toBe(0);
  });

  it('starts a missed CronJob run and records it in status', async () => {
    await apply({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'tick' },
      spec: {
        schedule: '* * * * *',
        suspend: true,
        jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 't', image: 'busybox', command: ['echo', 'tick'] }] } } } },
      },
    });
    // Pretend the last run was five minutes ago, then resume: the current minute is due now.
    const past = new Date(Date.now() - 5 * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await ok(['patch', 'cronjob', 'tick', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { lastScheduleTime: past } })]);
    await ok(['patch', 'cronjob', 'tick', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    const job = await eventually(async () => (await getJson('jobs')).items.find((j: any) => j.metadata.ownerReferences?.[0]?.name === 'tick'), 30_000, 'a job from the cronjob');
    expect(job.metadata.name).toMatch(/^tick-\d+$/);
    await ok(['wait', '--for=condition=complete', `job/${job.metadata.name}`, '--timeout=60s']);
    const cj = await eventually(async () => {
      const cj = await getJson('cronjob', 'tick');
      return cj.status?.lastSuccessfulTime && cj;
    }, 30_000, 'lastSuccessfulTime');
    expect(Date.parse(cj.status.lastScheduleTime)).toBeGreaterThan(Date.parse(past));
    expect(cj.status.active ?? []).toEqual([]);
  });

  it('runs one DaemonSet pod on the node', async () => {
    await apply({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [sleeper('agent')] } } },
    });
    await ok(['rollout', 'status', 'daemonset/agent', '--timeout=60s']);
    const ds = await getJson('daemonset', 'agent');
    expect(ds.status).toMatchObject({ desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1 });
  });
});
