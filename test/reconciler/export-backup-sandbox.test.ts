/**
 * The Kubernetes side of a whole backup run (`backupNamespace`) on the sandbox: selection, blueprint hooks that
 * quiesce a Deployment and dump SQLite, snapshots taken while quiesced, mover Jobs, the manifest bundle — then
 * everything read back from the repository.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { PlanBlueprint, PlanPolicy } from '../../compiler/plan/types.ts';
import { FileBackend, initRepository, restore, type Repository } from '../../repository/index.ts';
import { execInPod } from '../../reconciler/blueprint/index.ts';
import { backupNamespace } from '../../reconciler/export/index.ts';
import { pruneLocalSnapshots } from '../../reconciler/volumes/index.ts';
import type { KubeObject } from '../../reconciler/kube/index.ts';
import { createAll, randomName, sampleApp, startTestCluster, waitPodsReady, type TestCluster } from './kube-cluster.ts';
import { waitFor } from './sample-app-fixture.ts';

// Backups, mover Jobs and Pods on a loaded two-core machine take minutes, not the default 60 s (issue 19: the
// SIGTERM test timed out at load 8–11). Each test still fails on its own deadlines when something really hangs.
vi.setConfig({ testTimeout: 300_000 });

let cluster: TestCluster;
let ns: string;
let repo: Repository;
let repoDir: string;
const PASSWORD = 'pw-backup-run';

const policy = (over: Partial<PlanPolicy> = {}): PlanPolicy => ({
  name: 'databases-daily',
  paused: false,
  schedule: { source: '@daily', normalized: '0 0 * * *', timezone: 'UTC', nominalIntervalSeconds: 86400 } as PlanPolicy['schedule'],
  retention: { hourly: 0, daily: 7, weekly: 0, monthly: 0, yearly: 0 },
  selector: { namespaces: { source: 'true', env: 'namespace' }, excludeKinds: ['Endpoints', 'Event'], defaultExclusions: true, excludeControlled: true, includeClusterResources: true },
  profile: 'local',
  actions: { snapshot: { enabled: true, keepLocal: 0 }, export: { enabled: true, volumeData: true, parallelism: 9 } },
  blueprints: [{ blueprint: 'sqlite-dump', workloads: { source: "workload.kind == 'StatefulSet'", env: 'workload' } }, { blueprint: 'quiesce-web' }],
  warnings: [],
  ...over,
});

const blueprints: PlanBlueprint[] = [
  {
    name: 'sqlite-dump',
    actions: {
      backup: {
        phases: [{ name: 'dump', func: 'KubeExec', timeout: '1m', args: { namespace: '{{ namespace }}', workload: { kind: '{{ workload.kind }}', name: '{{ workload.name }}' }, command: ['sqlite3', '/data/app.db', '.dump'] } }],
        finally: [],
        outputArtifacts: { dump: { workload: '{{ workload.name }}', pod: '{{ phases.dump.output.pod }}' } },
        inputArtifacts: [],
      },
    },
  },
  {
    name: 'quiesce-web',
    actions: {
      backup: {
        phases: [{ name: 'down', func: 'ScaleWorkload', timeout: '1m', args: { namespace: '{{ namespace }}', kind: 'Deployment', name: 'web', replicas: 0 } }],
        finally: [{ name: 'up', func: 'ScaleWorkload', timeout: '1m', args: { namespace: '{{ namespace }}', kind: 'Deployment', name: 'web', replicas: '{{ phases.down.output.originalReplicas }}' } }],
        outputArtifacts: {},
        inputArtifacts: [],
      },
    },
  },
];

beforeAll(async () => {
  cluster = await startTestCluster();
  ns = randomName('run');
  await createAll(cluster.client, sampleApp(ns, 'unused.example.com').filter((o) => o.kind !== 'CustomResourceDefinition' && o.kind !== 'Widget'));
  await waitPodsReady(cluster.client, ns, 'app in (web,db)', 2);
  repoDir = join(cluster.dir, 'repository');
  mkdirSync(repoDir);
  repo = await initRepository(new FileBackend(repoDir), PASSWORD);
});

afterAll(async () => {
  await cluster?.client.delete('v1', 'namespaces', undefined, ns).catch(() => undefined);
  await cluster?.stop();
});

describe.skipIf(!!process.env.COFFER_TEST_KUBECONFIG)('backupNamespace', () => {
  it('produces a restorable restore point: manifests, SQLite dump and volume data all read back', async () => {
    const original = (await execInPod(cluster.client, ns, 'db-0', 'db', ['cat', '/data/app.db'])).stdout;
    const r = await backupNamespace({
      client: cluster.client,
      cluster: 'test',
      namespace: ns,
      policy: policy(),
      blueprints,
      restorePointId: 'rp-0001',
      repository: { repo, mover: { url: `file://${repoDir}`, password: PASSWORD, volume: { hostPath: repoDir } } },
    });
    expect(r.errors).toEqual([]);
    expect(r.phase).toBe('Succeeded');
    expect(r.manifestSnapshot).toMatch(/^[0-9a-f]{64}$/);
    expect(r.volumes).toHaveLength(1);
    expect(r.volumes[0]).toMatchObject({ pvc: 'data-db-0', phase: 'Succeeded', capacity: '1Gi' });
    expect(r.volumes[0]!.volumeSnapshot).toBeUndefined(); // keepLocal: 0
    expect(r.hooks.map((h) => `${h.blueprint}/${h.phase}:${h.phaseResult}`)).toEqual(['sqlite-dump/dump:Succeeded', 'quiesce-web/down:Succeeded', 'quiesce-web/up:Succeeded']);
    expect(r.artifacts).toEqual({ 'dump@StatefulSet/db': { workload: 'db', pod: 'db-0' } });
    expect(r.resources.find((k) => k.kind === 'Secret')!.names).toContain('db-credentials');
    expect(JSON.stringify({ ...r, export: undefined, actions: undefined })).not.toContain('hunter2');
    // Nothing temporary is left, the app is back up.
    expect((await cluster.client.list('snapshot.storage.k8s.io/v1', 'volumesnapshots', ns)).filter((s) => !s.metadata.deletionTimestamp)).toEqual([]);
    expect((await cluster.client.list('batch/v1', 'jobs', ns)).filter((s) => !s.metadata.deletionTimestamp)).toEqual([]);
    await waitPodsReady(cluster.client, ns, 'app=web', 1);

    const out = join(cluster.dir, 'manifests');
    await restore(repo, r.manifestSnapshot!, out);
    const dump = await readFile(join(out, 'hooks/sqlite-dump/StatefulSet-db/backup/dump.stdout'), 'utf8');
    expect(dump).toContain("INSERT INTO orders VALUES(2,'pear');");
    const secret = parse(await readFile(join(out, 'resources/secrets/namespaces', ns, 'db-credentials.yaml'), 'utf8')) as KubeObject;
    expect(Buffer.from((secret.data as { password: string }).password, 'base64').toString()).toBe('hunter2-never-in-git');
    const sts = parse(await readFile(join(out, 'resources/statefulsets.apps/namespaces', ns, 'db.yaml'), 'utf8')) as KubeObject;
    expect(sts.metadata.uid).toBeUndefined();
    // The Deployment was captured as declared (replicas 1), not as scaled down by the hook.
    const web = parse(await readFile(join(out, 'resources/deployments.apps/namespaces', ns, 'web.yaml'), 'utf8')) as KubeObject;
    expect((web.spec as { replicas: number }).replicas).toBe(1);

    const vol = join(cluster.dir, 'volume');
    await restore(repo, r.volumes[0]!.snapshotId!, vol);
    expect((await readFile(join(vol, 'data', 'app.db'))).equals(original)).toBe(true);
  });

  it('a failing hook fails the run before any snapshot or export, and the app is resumed', async () => {
    const broken: PlanBlueprint[] = [
      blueprints[1]!,
      { name: 'sqlite-dump', actions: { backup: { phases: [{ name: 'dump', func: 'KubeExec', timeout: '1m', args: { namespace: '{{ namespace }}', pod: 'db-0', command: ['sqlite3', '/data/missing-dir/x.db', '.dump'] } }], finally: [], outputArtifacts: {}, inputArtifacts: [] } } },
    ];
    const r = await backupNamespace({
      client: cluster.client,
      cluster: 'test',
      namespace: ns,
      policy: policy({ blueprints: [{ blueprint: 'quiesce-web' }, { blueprint: 'sqlite-dump' }] }),
      blueprints: broken,
      restorePointId: 'rp-0002',
      repository: { repo, mover: { url: `file://${repoDir}`, password: PASSWORD, volume: { hostPath: repoDir } } },
    });
    expect(r.phase).toBe('Failed');
    expect(r.errors[0]).toMatch(/sqlite-dump\/backup phase dump \(KubeExec\) failed/);
    expect(r.manifestSnapshot).toBeUndefined();
    expect(r.volumes).toEqual([]);
    expect(r.hooks.map((h) => `${h.blueprint}/${h.phase}:${h.phaseResult}`)).toEqual(['quiesce-web/down:Succeeded', 'sqlite-dump/dump:Failed', 'quiesce-web/up:Succeeded']);
    expect((await cluster.client.list('snapshot.storage.k8s.io/v1', 'volumesnapshots', ns, { labelSelector: 'coffer.dev/restorepoint=rp-0002' })).filter((s) => !s.metadata.deletionTimestamp)).toEqual([]);
    await waitPodsReady(cluster.client, ns, 'app=web', 1);
  });

  const VS = ['snapshot.storage.k8s.io/v1', 'volumesnapshots'] as const;
  const webReplicas = async () => ((await cluster.client.get('apps/v1', 'deployments', ns, 'web')).spec as { replicas: number }).replicas;
  const utcSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  /**
   * Starts a snapshot-only backup quiescing `web`, with a class of a driver the sandbox does not serve — the test plays
   * its external-snapshotter — and returns the run and its VolumeSnapshot once created.
   */
  const startUploadingRun = async (restorePointId: string) => {
    await cluster.client
      .create('snapshot.storage.k8s.io/v1', 'volumesnapshotclasses', undefined, { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', metadata: { name: 'uploading' }, driver: 'upload.csi.example.com', deletionPolicy: 'Delete' } as KubeObject)
      .catch((e: { status?: number }) => {
        if (e.status !== 409) throw e;
      });
    const running = backupNamespace({
      client: cluster.client,
      cluster: 'test',
      namespace: ns,
      policy: policy({ name: 'uploading', blueprints: [{ blueprint: 'quiesce-web' }], actions: { snapshot: { enabled: true, keepLocal: 1, volumeSnapshotClass: 'uploading' }, export: { enabled: false, volumeData: false, parallelism: 9 } } }),
      blueprints,
      restorePointId,
    });
    let name = '';
    await waitFor('the VolumeSnapshot', async () => !!(name = (await cluster.client.list(...VS, ns, { labelSelector: `coffer.dev/restorepoint=${restorePointId}` }))[0]?.metadata.name ?? ''));
    return { running, name };
  };

  // CSI: a driver that uploads answers CreateSnapshot with ready_to_use false once the snapshot is cut, and "the CO can
  // resume any workload that was quiesced" then (kubernetes-csi docs, "SnapshotStatus replaced with Boolean ReadyToUse").
  it('the finally phases run once the snapshot is cut (creationTime), while the storage still processes it', async () => {
    const replicas = await webReplicas();
    const { running, name } = await startUploadingRun('rp-0005');
    expect(await webReplicas()).toBe(0);
    await cluster.client.mergePatch(...VS, ns, name, { status: { boundVolumeSnapshotContentName: `snapcontent-${name}`, creationTime: utcSeconds(), readyToUse: false } }, 'status');
    // Cut, not ready: the application is resumed now, not when the upload ends.
    await waitFor('web scaled back up', async () => (await webReplicas()) === replicas);
    expect((await cluster.client.get(...VS, ns, name)).status).toMatchObject({ readyToUse: false });
    await cluster.client.mergePatch(...VS, ns, name, { status: { readyToUse: true, restoreSize: '1Gi' } }, 'status');
    const r = await running;
    expect(r.errors).toEqual([]);
    expect(r.phase).toBe('Succeeded');
    expect(r.hooks.map((h) => `${h.blueprint}/${h.phase}:${h.phaseResult}`)).toEqual(['quiesce-web/down:Succeeded', 'quiesce-web/up:Succeeded']);
    expect(r.volumes).toMatchObject([{ pvc: 'data-db-0', phase: 'Succeeded', volumeSnapshot: name }]);
    await cluster.client.delete(...VS, ns, name);
  });

  it('a snapshot that fails after its cut fails the run once the app is resumed, and is not kept', async () => {
    const { running, name } = await startUploadingRun('rp-0006');
    await cluster.client.mergePatch(...VS, ns, name, { status: { creationTime: utcSeconds(), readyToUse: false } }, 'status');
    await waitFor('the finally phase', async () => (await webReplicas()) > 0);
    await cluster.client.mergePatch(...VS, ns, name, { status: { error: { message: 'upload to the object store failed: quota exceeded', time: utcSeconds() } } }, 'status');
    const r = await running;
    expect(r.phase).toBe('Failed');
    expect(r.errors.join('\n')).toContain('upload to the object store failed: quota exceeded');
    expect(r.hooks.map((h) => `${h.blueprint}/${h.phase}:${h.phaseResult}`)).toEqual(['quiesce-web/down:Succeeded', 'quiesce-web/up:Succeeded']);
    expect((await cluster.client.list(...VS, ns, { labelSelector: 'coffer.dev/restorepoint=rp-0006' })).filter((s) => !s.metadata.deletionTimestamp)).toEqual([]);
  });

  it('a failing mover Job fails the run: no manifest snapshot, no kept VolumeSnapshot, a clear error', async () => {
    const r = await backupNamespace({
      client: cluster.client,
      cluster: 'test',
      namespace: ns,
      policy: policy({ blueprints: [], actions: { snapshot: { enabled: true, keepLocal: 3 }, export: { enabled: true, volumeData: true, parallelism: 9 } } }),
      blueprints,
      restorePointId: 'rp-0003',
      repository: { repo, mover: { url: `file://${repoDir}`, password: 'not the password', volume: { hostPath: repoDir } } },
    });
    expect(r.phase).toBe('Failed');
    expect(r.errors.join('\n')).toMatch(/volume data-db-0: mover job .* failed; last lines of its log:\n.*wrong password/s);
    expect(r.manifestSnapshot).toBeUndefined();
    expect(r.volumes[0]).toMatchObject({ pvc: 'data-db-0', phase: 'Failed' });
    expect(r.volumes[0]!.volumeSnapshot).toBeUndefined();
    expect((await cluster.client.list('snapshot.storage.k8s.io/v1', 'volumesnapshots', ns, { labelSelector: 'coffer.dev/restorepoint=rp-0003' })).filter((s) => !s.metadata.deletionTimestamp)).toEqual([]);
  });

  it('snapshot-only policy: keeps the VolumeSnapshot in the cluster and records it; an unbound PVC is a warning', async () => {
    await createAll(cluster.client, [{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'scratch', namespace: ns }, spec: { storageClassName: 'does-not-exist', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } as KubeObject]);
    const r = await backupNamespace({
      client: cluster.client,
      cluster: 'test',
      namespace: ns,
      policy: policy({ name: 'local-only', blueprints: [], actions: { snapshot: { enabled: true, keepLocal: 2 }, export: { enabled: false, volumeData: false, parallelism: 9 } } }),
      blueprints,
      restorePointId: 'rp-0004',
    });
    expect(r.errors).toEqual([]);
    expect(r.phase).toBe('Succeeded');
    expect(r.manifestSnapshot).toBeUndefined();
    expect(r.warnings.join('\n')).toMatch(/PVC scratch is Pending: its data is not captured/);
    expect(r.volumes).toHaveLength(1);
    expect(r.volumes[0]).toMatchObject({ pvc: 'data-db-0', phase: 'Succeeded' });
    const vs = await cluster.client.get('snapshot.storage.k8s.io/v1', 'volumesnapshots', ns, r.volumes[0]!.volumeSnapshot!);
    expect(vs.metadata.labels).toMatchObject({ 'coffer.dev/policy': 'local-only', 'coffer.dev/restorepoint': 'rp-0004' });
    expect(await pruneLocalSnapshots(cluster.client, { namespace: ns, policy: 'local-only', keep: 0 })).toEqual([vs.metadata.name]);
  });
});
