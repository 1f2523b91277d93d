/**
 * CSI snapshots for the sandbox driver: a default VolumeSnapshotClass; a
 * VolumeSnapshot of a bound claim gets a VolumeSnapshotContent whose handle
 * names a point-in-time copy of the volume's directory (copied to a temporary
 * directory and renamed, so a content is either complete or absent). Deleting
 * honours deletionPolicy. Pre-provisioned contents (snapshotHandle) bind too.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { copyTreeLive } from './copytree.ts';
import path from 'node:path';
import { isConflict, type ApiClient, type KubeObject } from './client.ts';
import type { EventRecorder } from './events.ts';
import { type Informer, WorkQueue, keyOf } from './informer.ts';
import { DRIVER } from './storage.ts';
import { persistentVolumeDir } from '../runtime/volumes.ts';

export const SNAPSHOT_CLASS = 'sandbox-snapshots';
const GROUP = '/apis/snapshot.storage.k8s.io/v1';
const DEFAULT_ANNOTATION = 'snapshot.storage.kubernetes.io/is-default-class';

export interface SnapshotOptions {
  api: ApiClient;
  snapshots: Informer;
  contents: Informer;
  classes: Informer;
  pvcs: Informer;
  pvs: Informer;
  events: EventRecorder;
  dataDir: string;
  log: (line: string) => void;
  /** Pauses every process that has `hostDir` mounted; returns the function that resumes them. */
  quiesce?: (hostDir: string) => Promise<() => void>;
}

/** Bytes used by a directory tree (the snapshot's restoreSize). */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    if (e.isFile()) total += (await lstat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}

function quantity(bytes: number): string {
  for (const [suffix, m] of [['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) if (bytes >= m && bytes % m === 0) return `${bytes / m}${suffix}`;
  return String(bytes);
}

export class SnapshotController {
  private readonly snapQueue: WorkQueue;
  private readonly contentQueue: WorkQueue;

  constructor(private readonly o: SnapshotOptions) {
    this.snapQueue = new WorkQueue((k) => this.syncSnapshot(k), o.log);
    this.contentQueue = new WorkQueue((k) => this.syncContent(k), o.log);
    o.snapshots.on((type, snap) => {
      if (type === 'DELETED') return this.onSnapshotGone(snap);
      this.snapQueue.add(keyOf(snap));
    });
    o.contents.on((type, c) => {
      if (type === 'DELETED') {
        if (c.spec?.driver === DRIVER && c.status?.snapshotHandle && c.spec?.deletionPolicy !== 'Retain') void this.removeData(c.status.snapshotHandle);
        return;
      }
      this.contentQueue.add(keyOf(c));
      const ref = c.spec?.volumeSnapshotRef;
      if (ref?.namespace && ref?.name) this.snapQueue.add(`${ref.namespace}/${ref.name}`);
    });
    o.pvcs.on((_t, pvc) => {
      for (const s of o.snapshots.list((s) => s.metadata.namespace === pvc.metadata.namespace && s.spec?.source?.persistentVolumeClaimName === pvc.metadata.name && !s.status?.readyToUse)) this.snapQueue.add(keyOf(s));
    });
  }

  async ensureDefaults(): Promise<void> {
    try {
      await this.o.api.post(`${GROUP}/volumesnapshotclasses`, {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshotClass',
        metadata: { name: SNAPSHOT_CLASS, annotations: { [DEFAULT_ANNOTATION]: 'true' } },
        driver: DRIVER,
        deletionPolicy: 'Delete',
      });
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }

  stop(): void {
    this.snapQueue.stop();
    this.contentQueue.stop();
  }

  private dataDir(handle: string): string {
    return path.join(this.o.dataDir, 'snapshots', handle);
  }

  private async removeData(handle: string): Promise<void> {
    if (!/^[A-Za-z0-9._-]+$/.test(handle)) return;
    await rm(this.dataDir(handle), { recursive: true, force: true });
  }

  private snapshotClass(snap: KubeObject): KubeObject | undefined {
    const name = snap.spec?.volumeSnapshotClassName;
    const classes = this.o.classes.list();
    if (name) return classes.find((c) => c.metadata.name === name);
    return classes.find((c) => c.metadata.annotations?.[DEFAULT_ANNOTATION] === 'true' && c.driver === DRIVER);
  }

  private async setSnapshotStatus(snap: KubeObject, status: Record<string, unknown>): Promise<void> {
    const p = `${GROUP}/namespaces/${snap.metadata.namespace}/volumesnapshots/${encodeURIComponent(snap.metadata.name!)}/status`;
    const same = Object.entries(status).every(([k, v]) => JSON.stringify(snap.status?.[k]) === JSON.stringify(v));
    if (!same) await this.o.api.patch(p, { status });
  }

  private async syncSnapshot(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const snap = this.o.snapshots.get(ns, name);
    if (!snap || snap.metadata.deletionTimestamp) {
      if (snap?.metadata.deletionTimestamp) await this.finalizeSnapshot(snap);
      return;
    }
    if (snap.status?.readyToUse === true && snap.status?.boundVolumeSnapshotContentName) return;
    const api = this.o.api;
    // Pre-provisioned: bind to the named content.
    const preContent = snap.spec?.source?.volumeSnapshotContentName;
    if (preContent) {
      const c = this.o.contents.get(undefined, preContent);
      if (!c) return this.setSnapshotStatus(snap, { readyToUse: false, error: { message: `VolumeSnapshotContent ${preContent} not found`, time: new Date().toISOString() } });
      if (!c.spec?.volumeSnapshotRef?.uid) {
        await api.patch(`${GROUP}/volumesnapshotcontents/${encodeURIComponent(preContent)}`, { spec: { volumeSnapshotRef: { ...c.spec?.volumeSnapshotRef, kind: 'VolumeSnapshot', apiVersion: 'snapshot.storage.k8s.io/v1', namespace: ns, name, uid: snap.metadata.uid } } });
      }
      if (c.status?.readyToUse) {
        return this.setSnapshotStatus(snap, {
          boundVolumeSnapshotContentName: preContent,
          readyToUse: true,
          restoreSize: quantity(Number(c.status.restoreSize ?? 0)),
          creationTime: new Date(Number(c.status.creationTime ?? Date.now() * 1e6) / 1e6).toISOString().replace(/\.\d+Z$/, 'Z'),
        });
      }
      return;
    }
    const claimName = snap.spec?.source?.persistentVolumeClaimName;
    if (!claimName) return;
    const cls = this.snapshotClass(snap);
    if (!cls) {
      const msg = snap.spec?.volumeSnapshotClassName ? `volumesnapshotclass.snapshot.storage.k8s.io "${snap.spec.volumeSnapshotClassName}" not found` : 'cannot find default snapshot class';
      this.o.events.record(snap, 'Warning', 'SnapshotContentCreationFailed', msg);
      return this.setSnapshotStatus(snap, { readyToUse: false, error: { message: msg, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } });
    }
    if (cls.driver !== DRIVER) return; // another driver's snapshot
    const pvc = this.o.pvcs.get(ns, claimName);
    const pv = pvc?.spec?.volumeName ? this.o.pvs.get(undefined, pvc.spec.volumeName) : undefined;
    const dir = pv ? persistentVolumeDir(pv) : undefined;
    if (!pvc || !dir) {
      const msg = pvc ? `the PVC ${claimName} is not yet bound to a PV, will not attempt to take a snapshot` : `failed to get input parameters to create snapshot ${name}: "persistentvolumeclaim \\"${claimName}\\" not found"`;
      return this.setSnapshotStatus(snap, { readyToUse: false, error: { message: msg, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } });
    }
    const contentName = `snapcontent-${snap.metadata.uid}`;
    let content = this.o.contents.get(undefined, contentName);
    if (!content) {
      try {
        content = await api.post(`${GROUP}/volumesnapshotcontents`, {
          apiVersion: 'snapshot.storage.k8s.io/v1',
          kind: 'VolumeSnapshotContent',
          metadata: { name: contentName },
          spec: {
            deletionPolicy: cls.deletionPolicy ?? 'Delete',
            driver: DRIVER,
            source: { volumeHandle: pv!.spec?.csi?.volumeHandle ?? pv!.metadata.name },
            sourceVolumeMode: pv!.spec?.volumeMode ?? 'Filesystem',
            volumeSnapshotClassName: cls.metadata.name,
            volumeSnapshotRef: { kind: 'VolumeSnapshot', apiVersion: 'snapshot.storage.k8s.io/v1', namespace: ns, name, uid: snap.metadata.uid, resourceVersion: snap.metadata.resourceVersion },
          },
        });
      } catch (e) {
        if (!isConflict(e)) throw e;
        content = await api.get(`${GROUP}/volumesnapshotcontents/${contentName}`);
      }
      await this.setSnapshotStatus(snap, { boundVolumeSnapshotContentName: contentName, readyToUse: false });
    }
    // Cut (creationTime, not yet ready) first, as the external-snapshotter reports a CSI driver that still processes.
    if (!content!.status?.readyToUse) await this.cut(content!, dir, (creationTime) => this.setSnapshotStatus(snap, { boundVolumeSnapshotContentName: contentName, readyToUse: false, creationTime }));
    const fresh = (await api.get(`${GROUP}/volumesnapshotcontents/${contentName}`)) as KubeObject;
    if (fresh.status?.readyToUse) {
      const created = new Date(Number(fresh.status.creationTime) / 1e6).toISOString().replace(/\.\d+Z$/, 'Z');
      await this.setSnapshotStatus(snap, { boundVolumeSnapshotContentName: contentName, readyToUse: true, restoreSize: quantity(Number(fresh.status.restoreSize ?? 0)), creationTime: created });
      this.o.events.record(snap, 'Normal', 'SnapshotReady', `Snapshot ${ns}/${name} is ready to use.`);
    }
  }

  /**
   * The point-in-time copy: to a temporary directory first, renamed into place when complete. `onCut` gets the time
   * the copy stands for as soon as it is fixed; measuring it is the "processing" before readyToUse.
   */
  private async cut(content: KubeObject, sourceDir: string, onCut: (creationTime: string) => Promise<void>): Promise<void> {
    const handle = `snap-${randomUUID()}`;
    const target = this.dataDir(handle);
    await mkdir(path.dirname(target), { recursive: true });
    // Crash consistency: a point-in-time copy. The tree is copied while the pod runs, then every process using the
    // volume is paused only while the copy is brought level with what changed meanwhile (copytree.ts copyTreeLive).
    let createdNs = 0n;
    const { pausedMs, recopied } = await copyTreeLive(sourceDir, target, async () => {
      const release = (await this.o.quiesce?.(sourceDir)) ?? (() => {});
      createdNs = BigInt(Date.now()) * 1_000_000n;
      return release;
    });
    this.o.log?.(`snapshot ${content.metadata.name}: writers paused ${pausedMs} ms (${recopied} entries copied again)`);
    await onCut(new Date(Number(createdNs / 1_000_000n)).toISOString().replace(/\.\d+Z$/, 'Z'));
    const bytes = await treeBytes(target);
    await this.o.api.patch(`${GROUP}/volumesnapshotcontents/${encodeURIComponent(content.metadata.name!)}/status`, {
      status: { snapshotHandle: handle, readyToUse: true, restoreSize: bytes, creationTime: Number(createdNs) },
    });
  }

  private async syncContent(name: string): Promise<void> {
    const c = this.o.contents.get(undefined, name);
    if (!c || c.spec?.driver !== DRIVER) return;
    // Pre-provisioned content: ready when its handle exists on disk.
    const handle = c.spec?.source?.snapshotHandle;
    if (handle && !c.status?.readyToUse) {
      const exists = await stat(this.dataDir(handle)).then(() => true, () => false);
      if (exists) {
        await this.o.api.patch(`${GROUP}/volumesnapshotcontents/${encodeURIComponent(name)}/status`, {
          status: { snapshotHandle: handle, readyToUse: true, restoreSize: await treeBytes(this.dataDir(handle)), creationTime: Date.now() * 1e6 },
        });
      }
    }
    // Orphaned dynamic content: its snapshot is gone.
    const ref = c.spec?.volumeSnapshotRef;
    if (ref?.uid && !c.metadata.deletionTimestamp) {
      const snap = this.o.snapshots.get(ref.namespace, ref.name);
      if (!snap || snap.metadata.uid !== ref.uid) {
        if ((c.spec?.deletionPolicy ?? 'Delete') === 'Delete') await this.o.api.delete(`${GROUP}/volumesnapshotcontents/${encodeURIComponent(name)}`);
      }
    }
  }

  private async finalizeSnapshot(snap: KubeObject): Promise<void> {
    const contentName = snap.status?.boundVolumeSnapshotContentName;
    if (contentName) {
      const c = this.o.contents.get(undefined, contentName);
      if (c && (c.spec?.deletionPolicy ?? 'Delete') === 'Delete') await this.o.api.delete(`${GROUP}/volumesnapshotcontents/${encodeURIComponent(contentName)}`);
    }
  }

  private onSnapshotGone(snap: KubeObject): void {
    const contentName = snap.status?.boundVolumeSnapshotContentName ?? `snapcontent-${snap.metadata.uid}`;
    const c = this.o.contents.get(undefined, contentName);
    if (c && (c.spec?.deletionPolicy ?? 'Delete') === 'Delete' && c.spec?.volumeSnapshotRef?.uid === snap.metadata.uid) {
      void this.o.api.delete(`${GROUP}/volumesnapshotcontents/${encodeURIComponent(contentName)}`).catch((e) => this.o.log(`delete ${contentName}: ${(e as Error).message}`));
    }
  }
}
