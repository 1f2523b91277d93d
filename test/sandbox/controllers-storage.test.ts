/**
 * Storage and CSI snapshot controllers against a real sandbox, checked with
 * the installed kubectl: a snapshot round trip that restores original bytes,
 * crash-consistent snapshots of a busy volume, pvc-protection and reclaim.
 */
import { describe, expect, it } from 'vitest';
import { eventually, sleeper, useTestCluster } from './runtime-harness.ts';

const { cluster, ok, apply, getJson } = useTestCluster();

describe('storage and CSI snapshots', () => {
  it('restores a PVC from a VolumeSnapshot with the original bytes', async () => {
    const classes = await getJson('storageclass');
    expect(classes.items.find((s: any) => s.metadata.name === 'sandbox-hostpath').metadata.annotations['storageclass.kubernetes.io/is-default-class']).toBe('true');
    const vsc = await getJson('volumesnapshotclass');
    expect(vsc.items[0]).toMatchObject({ driver: 'sandbox.csi.coffer.dev' });

    const podWith = (name: string, claim: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [sleeper('c', { volumeMounts: [{ name: 'v', mountPath: '/data' }] })], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: claim } }] },
    });
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'src' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    await apply(podWith('writer', 'src'));
    await ok(['wait', '--for=condition=Ready', 'pod/writer', '--timeout=60s']);
    await ok(['exec', 'writer', '--', 'sh', '-c', 'printf original > /data/payload; mkdir -p /data/sub; printf nested > /data/sub/n']);

    await apply({ apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name: 'snap1' }, spec: { source: { persistentVolumeClaimName: 'src' } } });
    await ok(['wait', '--for=jsonpath={.status.readyToUse}=true', 'volumesnapshot/snap1', '--timeout=60s']);
    const snap = await getJson('volumesnapshot', 'snap1');
    expect(snap.status.boundVolumeSnapshotContentName).toBeTruthy();
    expect(snap.status.restoreSize).toBe('14');
    const content = await getJson('volumesnapshotcontent', snap.status.boundVolumeSnapshotContentName);
    expect(content.spec.volumeSnapshotRef).toMatchObject({ name: 'snap1', uid: snap.metadata.uid });
    expect(content.status.readyToUse).toBe(true);

    // The live volume changes after the snapshot…
    await ok(['exec', 'writer', '--', 'sh', '-c', 'printf changed > /data/payload; rm -r /data/sub']);
    // …a claim restored from the snapshot still has the original bytes.
    await apply({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'restored' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'snap1' } },
    });
    await apply(podWith('reader', 'restored'));
    await ok(['wait', '--for=condition=Ready', 'pod/reader', '--timeout=60s']);
    expect(await ok(['exec', 'reader', '--', 'cat', '/data/payload', '/data/sub/n'])).toBe('originalnested');
    expect(await ok(['exec', 'writer', '--', 'cat', '/data/payload'])).toBe('changed');

    // deletionPolicy Delete: the content goes with the snapshot.
    await ok(['delete', 'volumesnapshot', 'snap1']);
    await eventually(async () => (await cluster().kubectl(['get', 'volumesnapshotcontent', snap.status.boundVolumeSnapshotContentName])).code !== 0, 30_000, 'content deletion');
  });

  it('cuts a crash-consistent snapshot while a pod keeps writing', async () => {
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'hot' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hot-writer' },
      spec: {
        containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /d/a.t; mv /d/a.t /d/a; head -c 65536 /dev/zero > /d/pad; echo $i > /d/b.t; mv /d/b.t /d/b; done'], volumeMounts: [{ name: 'v', mountPath: '/d' }] }],
        volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'hot' } }],
      },
    });
    await ok(['wait', '--for=condition=Ready', 'pod/hot-writer', '--timeout=60s']);
    await eventually(async () => Number((await ok(['exec', 'hot-writer', '--', 'cat', '/d/b'])).trim()) > 50, 30_000, 'writes');
    await apply({ apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name: 'hot-snap' }, spec: { source: { persistentVolumeClaimName: 'hot' } } });
    await ok(['wait', '--for=jsonpath={.status.readyToUse}=true', 'volumesnapshot/hot-snap', '--timeout=60s']);
    await apply({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'hot-copy' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, dataSourceRef: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'hot-snap' } },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hot-reader' },
      spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo $(cat /d/a) $(cat /d/b)'], volumeMounts: [{ name: 'v', mountPath: '/d' }] }], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'hot-copy' } }] },
    });
    await eventually(async () => (await getJson('pod', 'hot-reader')).status.phase === 'Succeeded', 60_000, 'reader');
    const [a, b] = (await ok(['logs', 'hot-reader'])).trim().split(' ').map(Number);
    // Files are replaced by rename, so each is whole; paused at one instant, b trails a by at most one step.
    expect(a! - b!).toBeGreaterThanOrEqual(0);
    expect(a! - b!).toBeLessThanOrEqual(1);
    // And it was resumed afterwards.
    const before = Number((await ok(['exec', 'hot-writer', '--', 'cat', '/d/b'])).trim());
    await eventually(async () => Number((await ok(['exec', 'hot-writer', '--', 'cat', '/d/b'])).trim()) > before, 30_000, 'writer resumed');
    await ok(['delete', 'pod', 'hot-writer', '--grace-period=0', '--force']).catch(() => {});
  });

  it('keeps a claim in use until its pod is gone, then reclaims the volume (Delete policy)', async () => {
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'busy' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'user' },
      spec: { containers: [sleeper('c', { volumeMounts: [{ name: 'v', mountPath: '/data' }] })], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'busy' } }] },
    });
    await ok(['wait', '--for=condition=Ready', 'pod/user', '--timeout=60s']);
    const pvc = await getJson('pvc', 'busy');
    expect(pvc.metadata.finalizers).toContain('kubernetes.io/pvc-protection');
    const pvName = pvc.spec.volumeName;
    const pv = await getJson('pv', pvName);
    const hostDir: string = pv.spec.csi.volumeAttributes.path;
    expect(hostDir.startsWith(cluster().dir)).toBe(true);
    await ok(['exec', 'user', '--', 'sh', '-c', 'echo x > /data/x']);
    const { existsSync } = await import('node:fs');
    expect(existsSync(`${hostDir}/x`)).toBe(true);

    await ok(['delete', 'pvc', 'busy', '--wait=false']);
    const terminating = await getJson('pvc', 'busy');
    expect(terminating.metadata.deletionTimestamp).toBeTruthy();
    expect(terminating.status.phase).toBe('Bound');

    await ok(['delete', 'pod', 'user', '--timeout=30s']);
    await eventually(async () => (await cluster().kubectl(['get', 'pvc', 'busy'])).code !== 0, 30_000, 'claim deletion');
    await eventually(async () => (await cluster().kubectl(['get', 'pv', pvName])).code !== 0 && !existsSync(hostDir), 30_000, 'volume reclaim');
  });
  // Kubernetes docs, "Persistent Volumes": Retain keeps a Released volume (with its data) that no claim may take
  // while its claimRef names the deleted claim; clearing the claimRef (here: pointing it at another claim, without a
  // uid — "Reserving a PersistentVolume") makes it Available for exactly that claim, which pre-binds via volumeName.
  it('Retain: a Released volume binds again only after its claimRef is cleared, to the claim it is reserved for', async () => {
    await ok(['create', 'namespace', 'pv-from']);
    await ok(['create', 'namespace', 'pv-to']);
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'first', namespace: 'pv-from' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'w', namespace: 'pv-from' }, spec: { containers: [sleeper('c', { volumeMounts: [{ name: 'v', mountPath: '/data' }] })], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'first' } }] } });
    await ok(['-n', 'pv-from', 'wait', '--for=condition=Ready', 'pod/w', '--timeout=60s']);
    await ok(['-n', 'pv-from', 'exec', 'w', '--', 'sh', '-c', 'printf kept > /data/f']);
    const pvName: string = (await getJson('-n', 'pv-from', 'pvc', 'first')).spec.volumeName;
    await ok(['patch', 'pv', pvName, '-p', '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}']);
    await ok(['-n', 'pv-from', 'delete', 'pod', 'w', '--timeout=30s']);
    await ok(['-n', 'pv-from', 'delete', 'pvc', 'first', '--timeout=30s']);
    await eventually(async () => (await getJson('pv', pvName)).status.phase === 'Released', 30_000, 'the volume to be Released');

    // Released, claimRef still naming the old claim: a claim that asks for the volume by name stays Pending.
    const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'second', namespace: 'pv-to' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'sandbox-hostpath', volumeName: pvName, resources: { requests: { storage: '1Gi' } } } };
    await apply(claim);
    await eventually(async () => (await ok(['-n', 'pv-to', 'get', 'events', '--field-selector', 'involvedObject.name=second', '-o', 'jsonpath={.items[*].message}'])).includes('already bound to a different claim'), 30_000, 'FailedBinding event');
    expect((await getJson('-n', 'pv-to', 'pvc', 'second')).status.phase).toBe('Pending');
    expect((await getJson('pv', pvName)).status.phase).toBe('Released');

    // Reserve it for the new claim: Available, then bound both ways, data intact.
    await ok(['patch', 'pv', pvName, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/claimRef', value: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: 'pv-to', name: 'second' } }])]);
    await eventually(async () => (await getJson('-n', 'pv-to', 'pvc', 'second')).status.phase === 'Bound', 30_000, 'the reserved claim to bind');
    const pv = await getJson('pv', pvName);
    expect(pv.status.phase).toBe('Bound');
    expect(pv.spec.claimRef).toMatchObject({ namespace: 'pv-to', name: 'second', uid: (await getJson('-n', 'pv-to', 'pvc', 'second')).metadata.uid });
    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'r', namespace: 'pv-to' }, spec: { containers: [sleeper('c', { volumeMounts: [{ name: 'v', mountPath: '/data' }] })], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'second' } }] } });
    await ok(['-n', 'pv-to', 'wait', '--for=condition=Ready', 'pod/r', '--timeout=60s']);
    expect(await ok(['-n', 'pv-to', 'exec', 'r', '--', 'cat', '/data/f'])).toBe('kept');

    // A claim naming a volume that does not satisfy it (another class) never binds to it.
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'third', namespace: 'pv-to' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'other', volumeName: pvName, resources: { requests: { storage: '1Gi' } } } });
    await eventually(async () => (await ok(['-n', 'pv-to', 'get', 'events', '--field-selector', 'involvedObject.name=third', '-o', 'jsonpath={.items[*].message}'])).includes('already bound to a different claim'), 30_000, 'FailedBinding event for a taken volume');
  });
});
