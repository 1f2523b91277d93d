import { describe, expect, it } from 'vitest';
import { kubeName, labelValue, moverObjects, parseMoverOutput, snapshotIsCut, volumeOutcome } from '../../reconciler/volumes/index.ts';
import { collectionPath, mapLimit, parseResourceList, type KubeObject } from '../../reconciler/kube/index.ts';
import { restoreMoverObjects } from '../../reconciler/restore/index.ts';
import { MOVER_RESOURCES } from '../../reconciler/volumes/mover.ts';
import { consumerPodSpec, MOVER_UID, moverIdentity, unreadableError, type PodSpecLike } from '../../reconciler/volumes/identity.ts';
import { boundClaim, stagingClaim } from '../../reconciler/volumes/handback.ts';
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

// CSI spec, CreateSnapshot: "ready_to_use SHOULD be set to false after the snapshot is cut but still being processed";
// VolumeSnapshotContent status.creationTime: "returned by the CSI driver after the snapshot is cut".
describe('snapshot cut', () => {
  it.each([
    { status: undefined, cut: false },
    { status: {}, cut: false },
    { status: { readyToUse: false }, cut: false },
    { status: { readyToUse: false, boundVolumeSnapshotContentName: 'snapcontent-1' }, cut: false },
    { status: { readyToUse: false, creationTime: '2026-12-07T03:00:00Z' }, cut: true },
    { status: { readyToUse: true, creationTime: '2026-12-07T03:00:00Z' }, cut: true },
    { status: { readyToUse: true }, cut: true },
  ])('$status → cut: $cut', ({ status, cut }) => {
    expect(snapshotIsCut(status)).toBe(cut);
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
    // libuv's pool, glibc's arenas and V8's young generation are sized before the mover's code runs: only the container's environment can
    // set them (mover.ts MOVER_ENV); the caller's env comes first and is kept
    expect((podSpec.containers[0] as unknown as { env: unknown }).env).toEqual([
      { name: 'COFFER_PROGRESS', value: 'json' },
      { name: 'UV_THREADPOOL_SIZE', value: '32' },
      { name: 'MALLOC_ARENA_MAX', value: '2' },
      { name: 'NODE_OPTIONS', value: '--max-semi-space-size=2' },
    ]);
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

  const spec = (job: KubeObject) => template(job).spec as { securityContext: Record<string, unknown>; containers: { securityContext: Record<string, unknown>; resources: unknown }[] };

  it('S3 and PVC repositories: backup and restore movers pass restricted, with requests and limits', () => {
    const pvcRepo = { url: 'file:///repo', password: 'pw', volume: { persistentVolumeClaim: 'repo' } };
    for (const repository of [s3, pvcRepo]) {
      for (const job of [moverObjects({ namespace: 'shop', pvc, snapshot: 's', repository, tags: {}, runId: 'r' }).job, restoreMoverObjects({ namespace: 'shop', pvc: 'data-db-0', snapshotId: 'abc', repository, runId: 'r' }).job]) {
        expect(reasons('restricted', job)).toEqual([]);
        expect(spec(job).containers[0]!.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
        expect(spec(job).containers[0]!.resources).toEqual(MOVER_RESOURCES);
      }
    }
    // Default identity (no workload known): the Coffer image's user; a restore needs an fsGroup to write the new volume's root.
    expect(spec(backup).securityContext).toEqual({ runAsNonRoot: true, runAsUser: MOVER_UID, runAsGroup: MOVER_UID, seccompProfile: { type: 'RuntimeDefault' } });
    expect(spec(restore).securityContext).toMatchObject({ runAsUser: MOVER_UID, fsGroup: MOVER_UID, fsGroupChangePolicy: 'OnRootMismatch' });
  });
  it('a hostPath repository keeps root movers with only the capabilities their job needs (it needs a privileged namespace anyway)', () => {
    const fsRepo = { url: 'file:///srv/repo', password: 'pw', volume: { hostPath: '/srv/repo' } };
    const caps = (job: KubeObject) => spec(job).containers[0]!.securityContext.capabilities;
    const b = moverObjects({ namespace: 'shop', pvc, snapshot: 's', repository: fsRepo, tags: {}, runId: 'r' }).job;
    const r = restoreMoverObjects({ namespace: 'shop', pvc: 'data-db-0', snapshotId: 'abc', repository: fsRepo, runId: 'r' }).job;
    expect(caps(b)).toEqual({ drop: ['ALL'], add: ['DAC_OVERRIDE'] });
    expect(caps(r)).toEqual({ drop: ['ALL'], add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'] });
    expect(reasons('restricted', r)).toEqual(['unrestricted capabilities', 'restricted volume types', 'runAsNonRoot != true', 'runAsUser=0']);
  });
  it('a hostPath repository (sandbox and single-node set-ups) also needs a privileged namespace', () => {
    const job = moverObjects({ namespace: 'shop', pvc, snapshot: 's', repository: { url: 'file:///srv/repo', password: 'pw', volume: { hostPath: '/srv/repo' } }, tags: {}, runId: 'r' }).job;
    expect(reasons('baseline', job)).toEqual(['hostPath volumes']);
  });
});

// Pod and container securityContext precedence: kubernetes.io/docs/tasks/configure-pod-container/security-context/
// ("the container's settings override the pod's"); fsGroup is pod-level only.
describe('moverIdentity: the mover acts as the workload that mounts the volume', () => {
  const mount = (sc?: Record<string, number>) => ({ volumeMounts: [{ name: 'v' }], ...(sc ? { securityContext: sc } : {}) });
  const podSpec = (pod: Record<string, number> | undefined, ...containers: ReturnType<typeof mount>[]): PodSpecLike => ({ ...(pod ? { securityContext: pod } : {}), containers, volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'data' } }] });
  const cases: [string, PodSpecLike | undefined, 'existing' | 'new', object][] = [
    ['no workload: the image user, no fsGroup for a backup', undefined, 'existing', { runAsUser: MOVER_UID, runAsGroup: MOVER_UID, source: 'default' }],
    ['no workload: a restore gets an fsGroup (the new volume root is root-owned)', undefined, 'new', { runAsUser: MOVER_UID, runAsGroup: MOVER_UID, fsGroup: MOVER_UID, source: 'default' }],
    ['pod-level uid, gid and fsGroup', podSpec({ runAsUser: 999, runAsGroup: 999, fsGroup: 2000 }, mount()), 'existing', { runAsUser: 999, runAsGroup: 999, fsGroup: 2000, source: 'workload' }],
    ['the container overrides the pod', podSpec({ runAsUser: 999, fsGroup: 2000 }, mount({ runAsUser: 1001, runAsGroup: 1002 })), 'existing', { runAsUser: 1001, runAsGroup: 1002, fsGroup: 2000, source: 'workload' }],
    ['no runAsGroup: the fsGroup is the primary group', podSpec({ runAsUser: 70, fsGroup: 70 }, mount()), 'new', { runAsUser: 70, runAsGroup: 70, fsGroup: 70, source: 'workload' }],
    ['uid without groups: backup adds no fsGroup', podSpec({ runAsUser: 1000 }, mount()), 'existing', { runAsUser: 1000, runAsGroup: 1000, source: 'workload' }],
    ['a root workload is not copied', podSpec({ runAsUser: 0, fsGroup: 0 }, mount()), 'existing', { runAsUser: MOVER_UID, runAsGroup: MOVER_UID, source: 'default' }],
  ];
  it.each(cases)('%s', (_name, podSpecIn, volume, want) => {
    expect(moverIdentity(podSpecIn, 'data', volume)).toEqual(want);
  });
  it('the container that mounts the claim decides, not the first one', () => {
    const s: PodSpecLike = { containers: [{ securityContext: { runAsUser: 5 } }, mount({ runAsUser: 6 })], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'data' } }] };
    expect(moverIdentity(s, 'data', 'existing').runAsUser).toBe(6);
  });
  it('consumerPodSpec ignores finished pods and pods of other claims', () => {
    const pod = (phase: string, claim: string, uid: number) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${phase}-${claim}` }, spec: podSpec({ runAsUser: uid }, mount()), status: { phase } }) as unknown as KubeObject;
    const pods = [pod('Succeeded', 'data', 1), { ...pod('Running', 'x', 2), spec: { volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'other' } }] } } as KubeObject, pod('Running', 'data', 3)];
    expect(consumerPodSpec(pods, 'data')?.securityContext).toEqual({ runAsUser: 3 });
  });
  it('unreadable paths fail the volume with who the mover was and what to change', () => {
    const id = moverIdentity(undefined, 'data', 'existing');
    expect(unreadableError([{ path: '/data/x', code: 'CHANGED_WHILE_READ' }], id)).toBeUndefined();
    const msg = unreadableError(['a', 'b', 'c', 'd'].map((n) => ({ path: `/data/${n}`, code: 'EACCES', message: 'permission denied' })), id)!;
    expect(msg).toBe(`the mover (uid ${MOVER_UID}, gid ${MOVER_UID}) could not read 4 path(s): /data/a, /data/b, /data/c and 1 more; the workload runs as root or names no runAsUser; give its pods a non-root runAsUser and fsGroup so the mover can act as it`);
  });
});

describe('hand-back claims (kubernetes.io/docs/concepts/storage/persistent-volumes/#reserving-a-persistentvolume)', () => {
  const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-db-0', namespace: 'shop', labels: { app: 'db' } }, spec: { accessModes: ['ReadWriteOncePod'], resources: { requests: { storage: '5Gi' } }, dataSource: { kind: 'VolumeSnapshot', name: 'x' } } } as KubeObject;
  it('the mover namespace claim copies class, modes and size, nothing else', () => {
    expect(stagingClaim({ ...claim, spec: { ...(claim.spec as object), storageClassName: 'fast', volumeMode: 'Filesystem' } }, 'coffer-system', 'coffer-restore-x', { l: 'v' })).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'coffer-restore-x', namespace: 'coffer-system', labels: { l: 'v' } },
      spec: { storageClassName: 'fast', accessModes: ['ReadWriteOncePod'], volumeMode: 'Filesystem', resources: { requests: { storage: '5Gi' } } },
    });
  });
  it('the target claim names the volume and takes its class (binding needs equal classes); data sources go', () => {
    const pv = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pvc-123' }, spec: { storageClassName: 'sandbox-hostpath' } } as KubeObject;
    expect(boundClaim(claim, pv).spec).toEqual({ accessModes: ['ReadWriteOncePod'], resources: { requests: { storage: '5Gi' } }, volumeName: 'pvc-123', storageClassName: 'sandbox-hostpath' });
    expect(boundClaim(claim, pv).metadata).toEqual(claim.metadata);
    expect((claim.spec as { volumeName?: string }).volumeName).toBeUndefined();
  });
});
