import type { RestorePoint, RunRecord } from '../../reconciler/catalog/index.ts';
import { restorePointName, runId } from '../../reconciler/catalog/index.ts';

export const PLAN_HASH = `sha256:${'ab'.repeat(32)}`;
export const COMMIT = 'c0ffee'.padEnd(40, '0');

/** A successful backup run and its restore point, as the backup run (the lead's code) will build them. */
export function backup(opts: { cluster?: string; namespace: string; policy: string; start: Date; volumes?: number; bytes?: number; suffix?: string }): { run: RunRecord; rp: RestorePoint } {
  const cluster = opts.cluster ?? 'dev';
  const end = new Date(opts.start.getTime() + 90_000);
  const name = restorePointName(opts.policy, opts.start);
  const volumes = Array.from({ length: opts.volumes ?? 1 }, (_, i) => ({
    pvc: `data-${i}`,
    phase: 'Succeeded' as const,
    sizeBytes: Math.floor((opts.bytes ?? 1024) / (opts.volumes ?? 1)),
    snapshotId: `snap${i}`.padEnd(64, 'f'),
  }));
  const rp: RestorePoint = {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'RestorePoint',
    metadata: { name, labels: { 'coffer.dev/namespace': opts.namespace, 'coffer.dev/policy': opts.policy } },
    spec: {
      cluster,
      namespace: opts.namespace,
      policy: opts.policy,
      planHash: PLAN_HASH,
      sourceCommit: COMMIT,
      trigger: 'schedule',
      startTime: opts.start.toISOString(),
      endTime: end.toISOString(),
      phase: 'Succeeded',
      repository: { profile: 'local', location: 'file:///var/backups/coffer' },
      resources: [{ apiVersion: 'v1', kind: 'ConfigMap', count: 1, names: ['settings'] }],
      volumes,
      stats: { bytesRead: opts.bytes ?? 1024, bytesAdded: 10, durationSeconds: 90 },
    },
  };
  const run: RunRecord = {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Run',
    metadata: { name: runId('backup', opts.start, opts.suffix ?? (opts.namespace === 'shop' && opts.policy === 'databases-daily' ? 'a1b2c3' : `${opts.namespace}-${opts.policy}`)) },
    spec: { type: 'backup', cluster, namespace: opts.namespace, policy: opts.policy, trigger: 'schedule', scheduledFor: opts.start.toISOString(), sourceCommit: COMMIT, planHash: PLAN_HASH },
    status: { phase: 'Succeeded', startTime: opts.start.toISOString(), endTime: end.toISOString() },
  };
  return { run, rp };
}

export function failedRun(opts: { cluster?: string; namespace: string; policy: string; start: Date; error: string }): RunRecord {
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Run',
    metadata: { name: runId('backup', opts.start, 'fa11ed') },
    spec: { type: 'backup', cluster: opts.cluster ?? 'dev', namespace: opts.namespace, policy: opts.policy, trigger: 'schedule', scheduledFor: opts.start.toISOString() },
    status: { phase: 'Failed', startTime: opts.start.toISOString(), endTime: new Date(opts.start.getTime() + 5000).toISOString(), error: opts.error },
  };
}
