import { Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBackend, initRepository, listSnapshots, openRepository, restore } from '../../repository/index.ts';
import { openBackend } from '../../repository/backend/open.ts';
import { startS3Server } from '../repository/s3-server.ts';
import { execInPod } from '../../reconciler/blueprint/index.ts';
import { exportVolumes, MoverError, pruneLocalSnapshots, RUN_LABEL, runMoverJob, snapshotPvc, snapshotVolumes, SnapshotError, type MoverRepository } from '../../reconciler/volumes/index.ts';
import type { KubeObject } from '../../reconciler/kube/index.ts';
import { populateAndHandBack } from '../../reconciler/volumes/handback.ts';
import { MOVER_UID, moverIdentity } from '../../reconciler/volumes/identity.ts';
import { restoreMoverName, runRestoreMover } from '../../reconciler/restore/volume.ts';
import { createAll, randomName, sampleApp, startTestCluster, waitPodsReady, type TestCluster } from './kube-cluster.ts';

// Backups, mover Jobs and Pods on a loaded two-core machine take minutes, not the default 60 s (issue 19: the
// SIGTERM test timed out at load 8–11). Each test still fails on its own deadlines when something really hangs.
vi.setConfig({ testTimeout: 300_000 });

let cluster: TestCluster;
let ns: string;
let pvc: KubeObject;
let repoDir: string;
let repository: MoverRepository;
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  cluster = await startTestCluster();
  ns = randomName('vol');
  const objs = sampleApp(ns, 'unused.example.com').filter((o) => ['Namespace', 'StatefulSet'].includes(o.kind));
  await createAll(cluster.client, objs);
  await waitPodsReady(cluster.client, ns, 'app=db', 1);
  pvc = await cluster.client.get('v1', 'persistentvolumeclaims', ns, 'data-db-0');
  repoDir = join(cluster.dir, 'repository');
  mkdirSync(repoDir);
  await initRepository(new FileBackend(repoDir), PASSWORD);
  repository = { url: `file://${repoDir}`, password: PASSWORD, volume: { hostPath: repoDir } };
});

afterAll(async () => {
  await cluster?.client.delete('v1', 'namespaces', undefined, ns).catch(() => undefined);
  await cluster?.stop();
});

async function leftovers(runId: string): Promise<string[]> {
  const out: string[] = [];
  for (const [api, plural] of [['batch/v1', 'jobs'], ['v1', 'persistentvolumeclaims'], ['v1', 'secrets']] as const) {
    for (const o of await cluster.client.list(api, plural, ns, { labelSelector: `${RUN_LABEL}=${runId}` })) if (!o.metadata.deletionTimestamp) out.push(`${plural}/${o.metadata.name}`);
  }
  return out;
}

let hasSnapshots = false;
beforeAll(async () => {
  hasSnapshots = (await cluster.client.list('snapshot.storage.k8s.io/v1', 'volumesnapshotclasses').catch(() => [])).length > 0;
});

// Any cluster with the CSI snapshot API and a VolumeSnapshotClass.
describe('volume snapshots', () => {
  beforeEach((c) => {
    if (!hasSnapshots) c.skip();
  });
  it('snapshots the PVC with the default class and waits until ready', async () => {
    const s = await snapshotPvc(cluster.client, { namespace: ns, pvc, runId: 'snap1', labels: { 'coffer.dev/restorepoint': 'rp1' } });
    expect(s.className).toBeTruthy();
    const vs = await cluster.client.get('snapshot.storage.k8s.io/v1', 'volumesnapshots', ns, s.name);
    expect((vs.status as { readyToUse?: boolean }).readyToUse).toBe(true);
    expect(vs.metadata.labels).toMatchObject({ 'coffer.dev/restorepoint': 'rp1', 'coffer.dev/pvc': 'data-db-0' });
  });

  it('keepLocal: prunes the policy\'s older snapshots per PVC, keeps the newest, leaves other policies alone', async () => {
    for (const i of [1, 2, 3]) await snapshotPvc(cluster.client, { namespace: ns, pvc, runId: `keep${i}`, labels: { 'coffer.dev/policy': 'hourly' } });
    const other = await snapshotPvc(cluster.client, { namespace: ns, pvc, runId: 'other', labels: { 'coffer.dev/policy': 'weekly' } });
    const deleted = await pruneLocalSnapshots(cluster.client, { namespace: ns, policy: 'hourly', keep: 1 });
    expect(deleted).toHaveLength(2);
    const left = (await cluster.client.list('snapshot.storage.k8s.io/v1', 'volumesnapshots', ns, { labelSelector: 'coffer.dev/policy=hourly' })).filter((s) => !s.metadata.deletionTimestamp);
    expect(left).toHaveLength(1);
    expect(await cluster.client.find('snapshot.storage.k8s.io/v1', 'volumesnapshots', ns, other.name)).toBeDefined();
    await pruneLocalSnapshots(cluster.client, { namespace: ns, policy: 'hourly', keep: 0 });
    await pruneLocalSnapshots(cluster.client, { namespace: ns, policy: 'weekly', keep: 0 });
  });

  it('an unknown snapshot class is a clear error', async () => {
    await expect(snapshotPvc(cluster.client, { namespace: ns, pvc, runId: 'bad', volumeSnapshotClass: 'gold' })).rejects.toThrow(SnapshotError);
    await expect(snapshotPvc(cluster.client, { namespace: ns, pvc, runId: 'bad', volumeSnapshotClass: 'gold' })).rejects.toThrow(/VolumeSnapshotClass "gold" \(from the policy\) does not exist/);
  });

});

// Mover Jobs write to a hostPath (or loopback S3) repository: sandbox only.
describe.skipIf(!!process.env.COFFER_TEST_KUBECONFIG)('mover Jobs (sandbox: hostPath / loopback S3 repository)', () => {
  it('a mover Job backs the snapshot up into the repository; the data reads back byte-for-byte; nothing is left behind', async () => {
    const original = (await execInPod(cluster.client, ns, 'db-0', 'db', ['cat', '/data/app.db'])).stdout;
    expect(original.length).toBeGreaterThan(0);
    const [taken] = await snapshotVolumes(cluster.client, { namespace: ns, pvcs: [pvc], runId: 'run1' });
    expect(taken!.error).toBeUndefined();
    // The app keeps writing after the snapshot: the backup must hold the snapshot's bytes, not these.
    await execInPod(cluster.client, ns, 'db-0', 'db', ['sqlite3', '/data/app.db', "insert into orders(item) values ('late')"]);
    // While the Job runs, its Secret and PVC are owned by it (a crashed reconciler's leftovers go with the Job).
    let owners: Promise<string[]> | undefined;
    const log = (m: string) => {
      if (m.startsWith('mover job')) {
        owners = Promise.all(
          (['secrets', 'persistentvolumeclaims'] as const).map(async (plural) => {
            const [o] = await cluster.client.list('v1', plural, ns, { labelSelector: `${RUN_LABEL}=run1` });
            return (o?.metadata.ownerReferences ?? []).map((r) => `${plural}:${r.kind}`).join(',');
          }),
        );
      }
    };
    const [outcome] = await exportVolumes(cluster.client, { namespace: ns, snapshots: [{ pvc, snapshot: taken!.snapshot! }], repository, tags: { namespace: ns, restorepoint: 'rp1' }, runId: 'run1', deleteSnapshots: true, log });
    expect(await owners).toEqual(['secrets:Job', 'persistentvolumeclaims:Job']);
    expect(outcome).toMatchObject({ pvc: 'data-db-0', phase: 'Succeeded' });
    expect(outcome!.snapshotId).toMatch(/^[0-9a-f]{8,}/);
    expect(outcome!.volumeSnapshot).toBeUndefined();
    expect(await cluster.client.find('snapshot.storage.k8s.io/v1', 'volumesnapshots', ns, taken!.snapshot!.name)).toBeUndefined();
    expect(await leftovers('run1')).toEqual([]);

    const repo = await openRepository(new FileBackend(repoDir), PASSWORD);
    const snaps = await listSnapshots(repo);
    const snap = snaps.find((s) => s.id.startsWith(outcome!.snapshotId!) || outcome!.snapshotId!.startsWith(s.id));
    expect(snap).toBeDefined();
    expect(JSON.stringify(snap)).toContain('restorepoint');
    const target = join(cluster.dir, 'restored');
    await restore(repo, outcome!.snapshotId!, target);
    const restored = await readFile(join(target, 'data', 'app.db'));
    expect(restored.equals(original)).toBe(true);
    // …and not the live bytes written after the snapshot.
    const live = (await execInPod(cluster.client, ns, 'db-0', 'db', ['cat', '/data/app.db'])).stdout;
    expect(live.equals(original)).toBe(false);
  });

  it('with a mover namespace, the snapshot is handed off there: no Secret, PVC or Job ever exists in the app namespace', async () => {
    const movers = randomName('movers');
    await cluster.client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: movers } });
    const original = (await execInPod(cluster.client, ns, 'db-0', 'db', ['cat', '/data/app.db'])).stdout;
    // Every Secret event in the app namespace from before the snapshot to after the cleanup.
    const seen: string[] = [];
    const req = await new Watch(cluster.client.kc).watch(`/api/v1/namespaces/${ns}/secrets`, {}, (type, o: KubeObject) => seen.push(`${type} ${o.metadata.name}`), () => undefined);
    try {
      const [taken] = await snapshotVolumes(cluster.client, { namespace: ns, pvcs: [pvc], runId: 'away1' });
      const [outcome] = await exportVolumes(cluster.client, { namespace: ns, snapshots: [{ pvc, snapshot: taken!.snapshot! }], repository: { ...repository, namespace: movers }, tags: { restorepoint: 'rp-away' }, runId: 'away1', deleteSnapshots: true });
      expect(outcome).toMatchObject({ pvc: 'data-db-0', phase: 'Succeeded' });
      const target = join(cluster.dir, 'restored-away');
      await restore(await openRepository(new FileBackend(repoDir), PASSWORD), outcome!.snapshotId!, target);
      expect((await readFile(join(target, 'data', 'app.db'))).equals(original)).toBe(true);
      // The watch sees what it should: a Secret made now shows up, and is the only one it ever saw.
      await cluster.client.create('v1', 'secrets', ns, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'watch-probe', namespace: ns } });
      for (const until = Date.now() + 30_000; !seen.includes('ADDED watch-probe') && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    } finally {
      req.abort();
    }
    expect(seen).toEqual(['ADDED watch-probe']);
    expect(await leftovers('away1')).toEqual([]);
    const gone = async (api: string, plural: string, namespace?: string) => (await cluster.client.list(api, plural, namespace, { labelSelector: `${RUN_LABEL}=away1` })).filter((o) => !o.metadata.deletionTimestamp).map((o) => `${plural}/${o.metadata.name}`);
    expect([
      ...(await gone('batch/v1', 'jobs', movers)),
      ...(await gone('v1', 'persistentvolumeclaims', movers)),
      ...(await gone('v1', 'secrets', movers)),
      ...(await gone('snapshot.storage.k8s.io/v1', 'volumesnapshots', movers)),
      ...(await gone('snapshot.storage.k8s.io/v1', 'volumesnapshotcontents')),
    ]).toEqual([]);
  });

  it('a failing mover Job gives a clear error with its log tail and leaves nothing behind', async () => {
    const [taken] = await snapshotVolumes(cluster.client, { namespace: ns, pvcs: [pvc], runId: 'run2' });
    const err = (await runMoverJob(cluster.client, {
      namespace: ns,
      pvc,
      snapshot: taken!.snapshot!.name,
      repository: { ...repository, password: 'wrong password' },
      tags: { restorepoint: 'rp2' },
      runId: 'run2',
    }).catch((e: unknown) => e)) as MoverError;
    expect(err).toBeInstanceOf(MoverError);
    expect(err.message).toMatch(/mover job .* for PVC data-db-0 failed; last lines of its log:/);
    expect(err.logTail).toMatch(/password/i);
    expect(await leftovers('run2')).toEqual([]);
  });

  it('a namespace enforcing the restricted Pod Security level refuses mover pods: the error says so at once', async () => {
    const label = (v: string | null) => cluster.client.mergePatch('v1', 'namespaces', undefined, ns, { metadata: { labels: { 'pod-security.kubernetes.io/enforce': v } } });
    const [taken] = await snapshotVolumes(cluster.client, { namespace: ns, pvcs: [pvc], runId: 'run4' });
    await label('restricted');
    try {
      const err = (await runMoverJob(cluster.client, { namespace: ns, pvc, snapshot: taken!.snapshot!.name, repository, tags: { restorepoint: 'rp4' }, runId: 'run4' }).catch((e: unknown) => e)) as MoverError;
      expect(err).toBeInstanceOf(MoverError);
      expect(err.message).toMatch(/^mover job .* cannot create its pod: pods "coffer-data-db-0-run4-[a-z0-9]+" is forbidden: violates PodSecurity "restricted:latest": /);
      expect(err.message).toContain('runAsNonRoot != true');
    } finally {
      await label(null);
    }
    expect(await leftovers('run4')).toEqual([]);
  });

  it('a mover Job exports to an S3 repository (s3rver on loopback) with credentials from the run Secret', async () => {
    const s3 = await startS3Server();
    try {
      const url = s3.url('coffer-kube');
      const s3repo = await initRepository(openBackend(url, s3.env), PASSWORD);
      const original = (await execInPod(cluster.client, ns, 'db-0', 'db', ['cat', '/data/app.db'])).stdout;
      const [taken] = await snapshotVolumes(cluster.client, { namespace: ns, pvcs: [pvc], runId: 'run3' });
      const [outcome] = await exportVolumes(cluster.client, { namespace: ns, snapshots: [{ pvc, snapshot: taken!.snapshot! }], repository: { url, password: PASSWORD, env: s3.env }, tags: { restorepoint: 'rp3' }, runId: 'run3', deleteSnapshots: true });
      expect(outcome).toMatchObject({ pvc: 'data-db-0', phase: 'Succeeded' });
      const target = join(cluster.dir, 'restored-s3');
      await restore(s3repo, outcome!.snapshotId!, target);
      expect((await readFile(join(target, 'data', 'app.db'))).equals(original)).toBe(true);
      expect(await leftovers('run3')).toEqual([]);
    } finally {
      await s3.close();
    }
  });
  it('restricted mover namespace, S3: a backup and a restore (volume filled there, handed back) never put a credential in an app namespace', async () => {
    const s3 = await startS3Server();
    const movers = randomName('movers');
    const target = randomName('tgt');
    await cluster.client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: movers, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
    await cluster.client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: target } });
    const secretValues = [PASSWORD, ...Object.values(s3.env)];
    const s3repo: MoverRepository = { url: s3.url('coffer-handback'), password: PASSWORD, env: s3.env, namespace: movers };
    await initRepository(openBackend(s3repo.url, s3.env), PASSWORD);
    const original = (await execInPod(cluster.client, ns, 'db-0', 'db', ['cat', '/data/app.db'])).stdout;
    // Every Secret event in both application namespaces, through a real watch, from before the snapshot to after the hand-back.
    const seen: string[] = [];
    const carried: string[] = [];
    const watches = await Promise.all(
      [ns, target].map((n) =>
        new Watch(cluster.client.kc).watch(`/api/v1/namespaces/${n}/secrets`, {}, (type, o: KubeObject & { data?: Record<string, string> }) => {
          seen.push(`${type} ${n}/${o.metadata.name}`);
          for (const v of Object.values(o.data ?? {})) if (secretValues.some((x) => Buffer.from(v, 'base64').toString().includes(x))) carried.push(`${n}/${o.metadata.name}`);
        }, () => undefined),
      ),
    );
    let pvName = '';
    try {
      const [taken] = await snapshotVolumes(cluster.client, { namespace: ns, pvcs: [pvc], runId: 'hb1' });
      const [outcome] = await exportVolumes(cluster.client, { namespace: ns, snapshots: [{ pvc, snapshot: taken!.snapshot! }], repository: s3repo, tags: { restorepoint: 'rp-hb' }, runId: 'hb1', deleteSnapshots: true });
      expect(outcome).toMatchObject({ pvc: 'data-db-0', phase: 'Succeeded' });

      const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'restored', namespace: target }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } as KubeObject;
      const name = restoreMoverName(`${target}-restored`, 'hb2');
      const { result, claim: bound } = await populateAndHandBack(cluster.client, {
        claim,
        moverNamespace: movers,
        name,
        labels: { [RUN_LABEL]: 'hb2' },
        fill: (staging) => runRestoreMover(cluster.client, { namespace: movers, pvc: staging, name, snapshotId: outcome!.snapshotId!, repository: s3repo, runId: 'hb2' }),
      });
      expect(result.files).toBeGreaterThan(0);
      pvName = (bound.spec as { volumeName: string }).volumeName;
      // Pods of the target namespace read the restored bytes from the handed-back volume.
      await cluster.client.create('v1', 'pods', target, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: target }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'r', image: 'busybox', command: ['sh', '-c', 'exec sleep 100000'], volumeMounts: [{ name: 'v', mountPath: '/data' }] }], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'restored' } }] } });
      await waitPodsReady(cluster.client, target, '', 1);
      expect((await execInPod(cluster.client, target, 'reader', 'r', ['cat', '/data/app.db'])).stdout.equals(original)).toBe(true);
      // Written by a restricted (non-root) mover: files belong to its uid/fsGroup (README "Pod Security").
      expect((await execInPod(cluster.client, target, 'reader', 'r', ['stat', '-c', '%u:%g', '/data/app.db'])).stdout.toString().trim()).toBe(`${MOVER_UID}:${MOVER_UID}`);
      for (const n of [ns, target]) await cluster.client.create('v1', 'secrets', n, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'watch-probe-hb', namespace: n } });
      for (const until = Date.now() + 30_000; seen.filter((x) => x.endsWith('/watch-probe-hb')).length < 2 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    } finally {
      for (const w of watches) w.abort();
      await s3.close();
    }
    // (A watch without a resourceVersion first lists what exists: the earlier test's probe may show up too.)
    expect(seen).toEqual(expect.arrayContaining([`ADDED ${ns}/watch-probe-hb`, `ADDED ${target}/watch-probe-hb`]));
    expect(seen.filter((x) => !/\/watch-probe(-hb)?$/.test(x))).toEqual([]);
    expect(carried).toEqual([]);
    // The volume belongs to the target claim with its class's reclaim policy again; nothing of either run is left.
    const pv = await cluster.client.get('v1', 'persistentvolumes', undefined, pvName);
    expect((pv.spec as { persistentVolumeReclaimPolicy: string; claimRef: { namespace: string; name: string } }).persistentVolumeReclaimPolicy).toBe('Delete');
    expect((pv.spec as { claimRef: { namespace: string; name: string } }).claimRef).toMatchObject({ namespace: target, name: 'restored' });
    expect(pv.metadata.labels?.[RUN_LABEL]).toBeUndefined();
    for (const plural of ['jobs', 'persistentvolumeclaims', 'secrets'] as const) {
      expect((await cluster.client.list(plural === 'jobs' ? 'batch/v1' : 'v1', plural, movers)).filter((o) => !o.metadata.deletionTimestamp && o.metadata.labels?.[RUN_LABEL]).map((o) => o.metadata.name)).toEqual([]);
    }
    await cluster.client.delete('v1', 'namespaces', undefined, target);
  });
  it('restricted movers act as the workload: a uid-1000/fsGroup-2000 app\'s 0600 files back up and restore with their owner; a root app\'s 0600 file fails the volume by name', async () => {
    const s3 = await startS3Server();
    const movers = randomName('movers');
    const app = randomName('nonroot');
    await cluster.client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: movers, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
    await cluster.client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: app, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
    try {
      const s3repo: MoverRepository = { url: s3.url('identity'), password: PASSWORD, env: s3.env, namespace: movers };
      await initRepository(openBackend(s3repo.url, s3.env), PASSWORD);
      const podSpec = {
        // OnRootMismatch: with the default (Always) the kubelet itself adds group rw to every file at each mount.
        securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } },
        containers: [{ name: 'app', image: 'busybox', command: ['sh', '-c', 'exec sleep 100000'], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, volumeMounts: [{ name: 'v', mountPath: '/data' }] }],
        volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'data' } }],
        terminationGracePeriodSeconds: 1,
      };
      await cluster.client.create('v1', 'persistentvolumeclaims', app, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: app }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } as KubeObject);
      await cluster.client.create('v1', 'pods', app, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app', namespace: app }, spec: podSpec } as KubeObject);
      await waitPodsReady(cluster.client, app, '', 1);
      await execInPod(cluster.client, app, 'app', 'app', ['sh', '-c', 'umask 077; mkdir /data/private && printf secret > /data/private/key && printf open > /data/readme']);
      const appPvc = await cluster.client.get('v1', 'persistentvolumeclaims', app, 'data');
      const [taken] = await snapshotVolumes(cluster.client, { namespace: app, pvcs: [appPvc], runId: 'id1' });
      // The mover finds the app pod and runs as uid 1000 with fsGroup 2000, so the 0700 directory and 0600 file read.
      const [outcome] = await exportVolumes(cluster.client, { namespace: app, snapshots: [{ pvc: appPvc, snapshot: taken!.snapshot! }], repository: s3repo, tags: {}, runId: 'id1', deleteSnapshots: true });
      expect([outcome!.phase, outcome!.error]).toEqual(['Succeeded', undefined]);

      const name = restoreMoverName(`${app}-copy`, 'id2');
      await populateAndHandBack(cluster.client, {
        claim: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'copy', namespace: app }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } as KubeObject,
        moverNamespace: movers,
        name,
        labels: { [RUN_LABEL]: 'id2' },
        fill: (staging) => runRestoreMover(cluster.client, { namespace: movers, pvc: staging, name, snapshotId: outcome!.snapshotId!, repository: s3repo, runId: 'id2', identity: moverIdentity(podSpec, 'data', 'new') }),
      });
      await cluster.client.create('v1', 'pods', app, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'copy', namespace: app }, spec: { ...podSpec, volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'copy' } }] } } as KubeObject);
      await waitPodsReady(cluster.client, app, '', 2);
      const stat = (await execInPod(cluster.client, app, 'copy', 'app', ['sh', '-c', 'cd /data && stat -c "%n %u:%g %a" private private/key readme && cat private/key'])).stdout.toString();
      // Owners (uid 1000; group 2000, the fsGroup the app's files had), modes and content as the app wrote them.
      expect(stat.trim().split('\n')).toEqual(['private 1000:2000 2700', 'private/key 1000:2000 600', 'readme 1000:2000 600', 'secret']);

      // A root app's 0600 file: the default identity (uid 65532) cannot read it, and the volume fails, naming it.
      await execInPod(cluster.client, ns, 'db-0', 'db', ['sh', '-c', 'printf x > /data/root-only && chmod 600 /data/root-only']);
      try {
        const [rootTaken] = await snapshotVolumes(cluster.client, { namespace: ns, pvcs: [pvc], runId: 'id3' });
        const [failed] = await exportVolumes(cluster.client, { namespace: ns, snapshots: [{ pvc, snapshot: rootTaken!.snapshot! }], repository: s3repo, tags: {}, runId: 'id3', deleteSnapshots: true });
        expect(failed!.phase).toBe('Failed');
        expect(failed!.error).toContain(`the mover (uid ${MOVER_UID}, gid ${MOVER_UID}) could not read 1 path(s): /data/root-only; the workload runs as root`);
      } finally {
        await execInPod(cluster.client, ns, 'db-0', 'db', ['rm', '-f', '/data/root-only']);
      }
    } finally {
      await s3.close();
      await cluster.client.delete('v1', 'namespaces', undefined, app);
    }
  });
});
