import { describe, expect, it } from 'vitest';
import { kubeName, labelValue, moverObjects, parseMoverOutput, volumeOutcome } from '../../reconciler/volumes/index.ts';
import { collectionPath, mapLimit, parseResourceList, type KubeObject } from '../../reconciler/kube/index.ts';
import { restoreMoverObjects } from '../../reconciler/restore/index.ts';
import { DEFAULT_CHECKS } from '../../sandbox/api/podsecurity/checks/index.ts';
import { LATEST } from '../../sandbox/api/podsecurity/helpers.ts';
import { aggregate, newEvaluator } from '../../sandbox/api/podsecurity/registry.ts';

const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-db-0', namespace: 'shop' }, spec: { storageClassName: 'fast', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } } } } as KubeObject;

describe('object names', () => {
  const table: [string, string, string][] = [
    ['coffer-data-db-0', 'r1a2', 'coffer-data-db-0-r1a2'],
    ['Coffer_Data.DB', 'X', 'coffer-data-db-x'],
  ];
  for (const [p, s, want] of table) it(`${p} + ${s}`, () => expect(kubeName(p, s)).toBe(want));
  it('long names are cut to 63 characters and stay unique', () => {
    const a = kubeName(`coffer-${'a'.repeat(80)}-one`, 'run1');
    const b = kubeName(`coffer-${'a'.repeat(80)}-two`, 'run1');
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(a).not.toBe(b);
    expect(a.endsWith('-run1')).toBe(true);
  });
});

describe('label values', () => {
  const table: [string, string][] = [
    ['backup-20261125t214500z-a1b2c3', 'backup-20261125t214500z-a1b2c3'],
    ['shop/db:2026-11-24T01:00Z', 'shop-db-2026-11-24T01-00Z'],
    ['-x-', 'x'],
    ['a'.repeat(70) + '_', 'a'.repeat(63)],
  ];
  for (const [input, want] of table) it(JSON.stringify(input).slice(0, 40), () => expect(labelValue(input)).toBe(want));
});

describe('mover objects', () => {
  it('S3 repository: URL and credentials in the run Secret, snapshot-backed PVC, one-shot Job', () => {
    const { secret, pvc: tmp, job } = moverObjects({
      namespace: 'shop',
      pvc,
      snapshot: 'coffer-data-db-0-r1',
      restoreSize: '5Gi',
      repository: { url: 's3://bucket/coffer', password: 'pw', env: { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' } },
      tags: { cluster: 'c1', namespace: 'shop', restorepoint: 'rp1' },
      runId: 'r1',
    });
    expect(secret.stringData).toEqual({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', COFFER_REPOSITORY: 's3://bucket/coffer', COFFER_PASSWORD: 'pw' });
    expect(tmp.spec).toEqual({ storageClassName: 'fast', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'coffer-data-db-0-r1' } });
    const podSpec = (job.spec as { backoffLimit: number; template: { spec: Record<string, unknown> } }).template.spec as { containers: { args: string[]; envFrom: unknown; volumeMounts: unknown[] }[]; volumes: unknown[]; restartPolicy: string };
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 21600, ttlSecondsAfterFinished: 86400 });
    expect(podSpec.restartPolicy).toBe('Never');
    expect(podSpec.containers[0]!.args).toEqual(['repo', 'backup', '/data', '--tag', 'cluster=c1', '--tag', 'namespace=shop', '--tag', 'restorepoint=rp1', '--output', 'json']);
    expect(podSpec.containers[0]!.envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
    expect(podSpec.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: tmp.metadata.name, readOnly: true } }]);
    // Secret, PVC and Job share one name and the run label, so leftovers are findable.
    expect(new Set([secret.metadata.name, tmp.metadata.name, job.metadata.name]).size).toBe(1);
    expect(job.metadata.labels).toMatchObject({ 'coffer.dev/run': 'r1', 'coffer.dev/pvc': 'data-db-0' });
  });
  it('filesystem repository: mounted at /repository from its volume', () => {
    const { secret, job } = moverObjects({ namespace: 'shop', pvc, snapshot: 's', repository: { url: 'file:///srv/repo', password: 'pw', volume: { hostPath: '/srv/repo' } }, tags: {}, runId: 'r2' });
    expect(secret.stringData).toMatchObject({ COFFER_REPOSITORY: '/repository' });
    const spec = (job.spec as { template: { spec: { volumes: unknown[]; containers: { volumeMounts: unknown[] }[] } } }).template.spec;
    expect(spec.volumes[1]).toEqual({ name: 'repository', hostPath: { path: '/srv/repo', type: 'Directory' } });
    expect(spec.containers[0]!.volumeMounts[1]).toEqual({ name: 'repository', mountPath: '/repository' });
  });
  it('temporary PVC size falls back to the claim request', () => {
    expect((moverObjects({ namespace: 'shop', pvc, snapshot: 's', repository: { url: 'x', password: 'p' }, tags: {}, runId: 'r' }).pvc.spec as { resources: unknown }).resources).toEqual({ requests: { storage: '5Gi' } });
  });
});

describe('mover output', () => {
  it('takes the last JSON line carrying a snapshot id', () => {
    const log = 'starting\n{"progress":0.5}\n{"snapshotId":"abc","stats":{"bytesProcessed":10}}\n{"snapshotId":"def","stats":{"bytesProcessed":20,"bytesStored":5}}\n{"trunc';
    expect(parseMoverOutput(log)).toEqual({ snapshotId: 'def', stats: { bytesProcessed: 20, bytesStored: 5 } });
    expect(parseMoverOutput('error: no repository\n')).toBeUndefined();
    const pretty = `scanning /data\n${JSON.stringify({ snapshotId: 'abc', stats: { bytesProcessed: 7, nested: { a: 1 } } }, null, 2)}\n`;
    expect(parseMoverOutput(pretty)).toEqual({ snapshotId: 'abc', stats: { bytesProcessed: 7, nested: { a: 1 } } });
  });
  it('volume outcome is a RestorePoint volumes[] entry', () => {
    expect(volumeOutcome(pvc, { name: 's1', namespace: 'shop', pvc: 'data-db-0', className: 'c' }, 's1', { snapshotId: 'abc', stats: { bytesProcessed: 100, bytesStored: 40 }, job: 'j', raw: {} }, undefined)).toEqual({
      pvc: 'data-db-0',
      storageClass: 'fast',
      capacity: '5Gi',
      volumeSnapshot: 's1',
      snapshotId: 'abc',
      sizeBytes: 100,
      bytesAdded: 40,
      phase: 'Succeeded',
    });
    expect(volumeOutcome(pvc, undefined, undefined, undefined, 'boom')).toEqual({ pvc: 'data-db-0', storageClass: 'fast', capacity: '5Gi', phase: 'Failed', error: 'boom' });
  });
});

describe('kube helpers', () => {
  it('discovery documents: subresources dropped, group/version split', () => {
    const r = parseResourceList({
      groupVersion: 'apps/v1',
      resources: [
        { name: 'deployments', kind: 'Deployment', namespaced: true, verbs: ['list', 'create'] },
        { name: 'deployments/scale', kind: 'Scale', namespaced: true, verbs: ['get'] },
      ],
    });
    expect(r).toEqual([{ group: 'apps', version: 'v1', apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true, verbs: ['list', 'create'] }]);
    expect(parseResourceList({ groupVersion: 'v1', resources: [{ name: 'pods', kind: 'Pod', namespaced: true, verbs: [] }] })[0]).toMatchObject({ group: '', apiVersion: 'v1' });
  });
  it('collection paths', () => {
    expect(collectionPath('v1', 'pods', 'shop')).toBe('/api/v1/namespaces/shop/pods');
    expect(collectionPath('apps/v1', 'deployments')).toBe('/apis/apps/v1/deployments');
  });
  it('mapLimit keeps order, bounds concurrency, settles every item', async () => {
    let inFlight = 0;
    let peak = 0;
    const r = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((res) => setImmediate(res));
      inFlight--;
      if (n === 4) throw new Error('four');
      return n * 10;
    });
    expect(peak).toBe(3);
    expect(r.map((x) => (x.status === 'fulfilled' ? x.value : (x.reason as Error).message))).toEqual([10, 20, 30, 'four', 50, 60, 70]);
  });
});

describe('mover pods and Pod Security (evaluated by the sandbox PSA, kubernetes.io/docs/concepts/security/pod-security-standards/)', () => {
  const psa = newEvaluator(DEFAULT_CHECKS);
  const template = (job: KubeObject) => (job.spec as { template: { metadata?: object; spec: object } }).template;
  const reasons = (level: 'baseline' | 'restricted', job: KubeObject) => aggregate(psa.evaluatePod({ level, version: LATEST }, template(job).metadata ?? {}, template(job).spec)).reasons;
  const s3 = { url: 's3://b/p', password: 'pw' };
  const backup = moverObjects({ namespace: 'shop', pvc, snapshot: 's', repository: s3, tags: {}, runId: 'r' }).job;
  const restore = restoreMoverObjects({ namespace: 'shop', pvc: 'data-db-0', snapshotId: 'abc', repository: s3, runId: 'r' }).job;

  it('backup and restore movers pass baseline; restricted refuses them for root and capabilities only', () => {
    for (const job of [backup, restore]) {
      expect(reasons('baseline', job)).toEqual([]);
      expect(reasons('restricted', job)).toEqual(['unrestricted capabilities', 'runAsNonRoot != true', 'runAsUser=0']);
    }
  });
  it('a backup mover only reads (DAC_OVERRIDE); a restore mover may set owners and modes', () => {
    const caps = (job: KubeObject) => (template(job).spec as { containers: { securityContext: { capabilities: unknown } }[] }).containers[0]!.securityContext.capabilities;
    expect(caps(backup)).toEqual({ drop: ['ALL'], add: ['DAC_OVERRIDE'] });
    expect(caps(restore)).toEqual({ drop: ['ALL'], add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'] });
  });
  it('a hostPath repository (sandbox and single-node set-ups) also needs a privileged namespace', () => {
    const job = moverObjects({ namespace: 'shop', pvc, snapshot: 's', repository: { url: 'file:///srv/repo', password: 'pw', volume: { hostPath: '/srv/repo' } }, tags: {}, runId: 'r' }).job;
    expect(reasons('baseline', job)).toEqual(['hostPath volumes']);
  });
});
