/**
 * Dynamic provisioning for the sandbox: a default StorageClass, and for every
 * pending claim (of a WaitForFirstConsumer class: once the scheduler has named
 * its node, which the volume is then pinned to) a PersistentVolume backed by a host directory under
 * DIR/volumes, pre-filled from a VolumeSnapshot or a source PVC when the claim
 * asks for one. Released volumes are reclaimed per their reclaim policy.
 */
import { mkdir, rm } from 'node:fs/promises';
import { copyTree } from './copytree.ts';
import path from 'node:path';
import { isConflict, type ApiClient, type KubeObject } from './client.ts';
import type { EventRecorder } from './events.ts';
import { type Informer, WorkQueue, keyOf } from './informer.ts';
import { persistentVolumeDir } from '../runtime/volumes.ts';
import { hostnameAffinity } from './scheduler/nodeaffinity.ts';
import { SELECTED_NODE } from './scheduler/volumes.ts';

export const DRIVER = 'sandbox.csi.coffer.dev';
export const STORAGE_CLASS = 'sandbox-hostpath';
const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
export const PVC_PROTECTION = 'kubernetes.io/pvc-protection';

export interface StorageOptions {
  api: ApiClient;
  pods: Informer;
  pvcs: Informer;
  pvs: Informer;
  classes: Informer;
  snapshots: Informer;
  contents: Informer;
  events: EventRecorder;
  dataDir: string;
  log: (line: string) => void;
}

/** Kubernetes quantity → bytes (enough for storage sizes: plain, decimal and binary suffixes). */
export function quantityBytes(q: string | number | undefined): number {
  if (q === undefined) return 0;
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const mult: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, m: 1e-3 };
  return Math.round(Number(m[1]) * (mult[m[2]!] ?? 1));
}

/** The StorageClass that applies to a claim: its own, else the default one (nil class), none for "". */
export function claimClass(pvc: KubeObject, classes: KubeObject[]): KubeObject | undefined {
  const name = pvc.spec?.storageClassName;
  if (name === '') return undefined;
  if (name) return classes.find((c) => c.metadata.name === name);
  return classes.find((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
}

/**
 * Why a volume cannot serve a claim, or undefined when it can — the PV controller's checkVolumeSatisfyClaim: the
 * requested size fits, the storage classes are equal ("" and unset both mean none), the volume modes are equal, and
 * the volume offers every access mode the claim asks for.
 */
export function volumeMismatch(pv: KubeObject, pvc: KubeObject): string | undefined {
  const requested = quantityBytes(pvc.spec?.resources?.requests?.storage);
  if (quantityBytes(pv.spec?.capacity?.storage) < requested) return `requested PV is too small`;
  if ((pv.spec?.storageClassName ?? '') !== (pvc.spec?.storageClassName ?? '')) return `storageClassName does not match`;
  if ((pv.spec?.volumeMode ?? 'Filesystem') !== (pvc.spec?.volumeMode ?? 'Filesystem')) return `incompatible volumeMode`;
  const offered: string[] = pv.spec?.accessModes ?? [];
  if (!((pvc.spec?.accessModes ?? []) as string[]).every((m) => offered.includes(m))) return `incompatible accessMode`;
  return undefined;
}

export class StorageController {
  private readonly claims: WorkQueue;
  private readonly volumes: WorkQueue;

  constructor(private readonly o: StorageOptions) {
    this.claims = new WorkQueue((k) => this.syncClaim(k), o.log);
    this.volumes = new WorkQueue((k) => this.syncVolume(k), o.log);
    o.pvcs.on((type, obj) => {
      this.claims.add(keyOf(obj));
      if (type === 'DELETED' && obj.spec?.volumeName) this.volumes.add(obj.spec.volumeName);
    });
    o.pvs.on((type, obj) => {
      if (type === 'DELETED') {
        if (obj.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] === DRIVER) void rm(this.volumeDir(obj.metadata.name!), { recursive: true, force: true });
        return;
      }
      this.volumes.add(keyOf(obj));
    });
    // A claim waiting for a snapshot to become ready is retried when the snapshot changes.
    o.snapshots.on((_t, snap) => {
      for (const pvc of o.pvcs.list((p) => p.metadata.namespace === snap.metadata.namespace && !p.spec?.volumeName)) this.claims.add(keyOf(pvc));
    });
    // pvc-protection: a claim being deleted waits for the last pod using it.
    o.pods.on((_t, pod) => {
      for (const v of pod.spec?.volumes ?? []) {
        const claim = v.persistentVolumeClaim?.claimName;
        if (claim && o.pvcs.get(pod.metadata.namespace, claim)?.metadata.deletionTimestamp) this.claims.add(`${pod.metadata.namespace}/${claim}`);
      }
    });
    o.classes.on(() => {
      for (const pvc of o.pvcs.list((p) => !p.spec?.volumeName)) this.claims.add(keyOf(pvc));
    });
  }

  /** Creates the default StorageClass unless a class with that name already exists. */
  async ensureDefaults(): Promise<void> {
    const sc = {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: STORAGE_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
      provisioner: DRIVER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
      allowVolumeExpansion: true,
    };
    try {
      await this.o.api.post('/apis/storage.k8s.io/v1/storageclasses', sc);
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }

  stop(): void {
    this.claims.stop();
    this.volumes.stop();
  }

  private volumeDir(name: string): string {
    return path.join(this.o.dataDir, 'volumes', name);
  }

  private async syncClaim(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const pvc = this.o.pvcs.get(ns, name);
    if (!pvc) return;
    const api = this.o.api;
    const pvcPath = `/api/v1/namespaces/${ns}/persistentvolumeclaims/${encodeURIComponent(name)}`;
    const finalizers: string[] = pvc.metadata.finalizers ?? [];
    if (pvc.metadata.deletionTimestamp) {
      if (finalizers.includes(PVC_PROTECTION) && !this.claimInUse(ns, name)) {
        await api.patch(pvcPath, { metadata: { resourceVersion: pvc.metadata.resourceVersion, finalizers: finalizers.filter((f) => f !== PVC_PROTECTION) } });
      }
      return;
    }
    if (!finalizers.includes(PVC_PROTECTION)) {
      await api.patch(pvcPath, { metadata: { resourceVersion: pvc.metadata.resourceVersion, finalizers: [...finalizers, PVC_PROTECTION] } });
      return; // the update comes back through the informer
    }
    if (pvc.spec?.volumeName) {
      const pv = this.o.pvs.get(undefined, pvc.spec.volumeName);
      const ref = pv?.spec?.claimRef;
      if (pv && ref?.uid === pvc.metadata.uid) {
        // Bound in spec: make sure status says so.
        if (pvc.status?.phase !== 'Bound') await api.patch(`${pvcPath}/status`, { status: { phase: 'Bound', accessModes: pv.spec.accessModes, capacity: pv.spec.capacity } });
        return;
      }
      // A claim that names its volume (pre-bound, the "Reserving a PersistentVolume" recipe): it binds to that volume
      // when the volume is free or reserved for it and satisfies it, and to nothing else (syncUnboundClaim).
      const reason = !pv
        ? undefined
        : ref && !(ref.namespace === ns && ref.name === name && !ref.uid)
          ? `volume "${pv.metadata.name}" already bound to a different claim.`
          : volumeMismatch(pv, pvc) && `Cannot bind to requested volume "${pv.metadata.name}": ${volumeMismatch(pv, pvc)}`;
      if (pv && !reason) return this.bind(pvc, pv, false);
      if (reason) this.o.events.record(pvc, 'Warning', 'FailedBinding', reason);
      if (pvc.status?.phase !== 'Pending') await api.patch(`${pvcPath}/status`, { status: { phase: 'Pending' } });
      return;
    }
    // WaitForFirstConsumer: nothing binds until the scheduler has picked the first pod's node.
    const selectedNode = pvc.metadata.annotations?.[SELECTED_NODE];
    if (claimClass(pvc, this.o.classes.list())?.volumeBindingMode === 'WaitForFirstConsumer' && !selectedNode) {
      this.o.events.record(pvc, 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding');
      if (pvc.status?.phase !== 'Pending') await api.patch(`${pvcPath}/status`, { status: { phase: 'Pending' } });
      return;
    }
    // Static binding first: an Available PV pre-bound to this claim, or one that matches.
    const candidates = this.o.pvs.list((pv) => {
      if (pv.status?.phase && pv.status.phase !== 'Available' && pv.status.phase !== 'Pending') return false;
      const ref = pv.spec?.claimRef;
      if (ref) return ref.namespace === ns && ref.name === name && (!ref.uid || ref.uid === pvc.metadata.uid);
      if (pvc.spec?.volumeName) return pv.metadata.name === pvc.spec.volumeName;
      const cls = pvc.spec?.storageClassName ?? '';
      return (pv.spec?.storageClassName ?? '') === cls && quantityBytes(pv.spec?.capacity?.storage) >= quantityBytes(pvc.spec?.resources?.requests?.storage);
    });
    const prebound = candidates.find((pv) => pv.spec?.claimRef);
    const staticPV = prebound ?? (pvc.spec?.storageClassName !== undefined && !pvc.spec?.dataSource && !pvc.spec?.dataSourceRef ? candidates[0] : undefined);
    if (staticPV) return this.bind(pvc, staticPV, false);

    const sc = claimClass(pvc, this.o.classes.list());
    if (!sc) {
      if (pvc.spec?.storageClassName) this.o.events.record(pvc, 'Warning', 'ProvisioningFailed', `storageclass.storage.k8s.io "${pvc.spec.storageClassName}" not found`);
      else if (pvc.status?.phase !== 'Pending') await api.patch(`${pvcPath}/status`, { status: { phase: 'Pending' } });
      return;
    }
    if (sc.provisioner !== DRIVER) {
      this.o.events.record(pvc, 'Normal', 'ExternalProvisioning', `Waiting for a volume to be created either by the external provisioner '${sc.provisioner}' or manually by the system administrator`);
      return;
    }
    const pvName = `pvc-${pvc.metadata.uid}`;
    const dir = this.volumeDir(pvName);
    let restoreBytes = 0;
    const source = pvc.spec?.dataSourceRef ?? pvc.spec?.dataSource;
    if (source) {
      const from = await this.sourceDir(pvc, source);
      if (from === 'wait') {
        if (pvc.status?.phase !== 'Pending') await api.patch(`${pvcPath}/status`, { status: { phase: 'Pending' } });
        return;
      }
      if (from) {
        await copyTree(from.dir, dir);
        restoreBytes = from.bytes;
      }
    }
    await mkdir(dir, { recursive: true });
    const requested = quantityBytes(pvc.spec?.resources?.requests?.storage);
    const capacity = requested >= restoreBytes ? (pvc.spec?.resources?.requests?.storage ?? '1Gi') : String(restoreBytes);
    const pv: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: {
        name: pvName,
        annotations: { 'pv.kubernetes.io/provisioned-by': DRIVER, 'volume.kubernetes.io/provisioner-deletion-secret-name': '', 'volume.kubernetes.io/provisioner-deletion-secret-namespace': '' },
        finalizers: ['kubernetes.io/pv-protection'],
      },
      spec: {
        capacity: { storage: capacity },
        accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? 'Delete',
        storageClassName: sc.metadata.name,
        volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
        claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: ns, name, uid: pvc.metadata.uid, resourceVersion: pvc.metadata.resourceVersion },
        csi: { driver: DRIVER, volumeHandle: pvName, fsType: 'ext4', volumeAttributes: { path: dir, 'storage.kubernetes.io/csiProvisionerIdentity': `sandbox-${DRIVER}` } },
        ...(selectedNode ? { nodeAffinity: hostnameAffinity(selectedNode) } : {}),
      },
    };
    let created: KubeObject;
    try {
      created = await api.post('/api/v1/persistentvolumes', pv);
    } catch (e) {
      if (!isConflict(e)) throw e;
      created = (await api.get(`/api/v1/persistentvolumes/${pvName}`)) as KubeObject;
    }
    this.o.events.record(pvc, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${pvName}`);
    await this.bind(pvc, created, true);
  }

  /** A claim is in use while a pod that is not finished mounts it (the pvc-protection rule). */
  private claimInUse(ns: string, claim: string): boolean {
    return this.o.pods
      .list((p) => p.metadata.namespace === ns)
      .some((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && (p.spec?.volumes ?? []).some((v: any) => v.persistentVolumeClaim?.claimName === claim));
  }

  /** Where a claim's initial content comes from; 'wait' while the snapshot is not ready yet. */
  private async sourceDir(pvc: KubeObject, src: any): Promise<{ dir: string; bytes: number } | 'wait' | undefined> {
    const ns = src.namespace ?? pvc.metadata.namespace;
    if (src.kind === 'VolumeSnapshot' && (src.apiGroup ?? '') === 'snapshot.storage.k8s.io') {
      const snap = this.o.snapshots.get(ns, src.name);
      if (!snap || snap.status?.readyToUse !== true || !snap.status?.boundVolumeSnapshotContentName) {
        this.o.events.record(pvc, 'Normal', 'Provisioning', `waiting for VolumeSnapshot ${ns}/${src.name} to become ready to use`);
        return 'wait';
      }
      const content = this.o.contents.get(undefined, snap.status.boundVolumeSnapshotContentName);
      const handle = content?.status?.snapshotHandle;
      if (!handle) return 'wait';
      return { dir: path.join(this.o.dataDir, 'snapshots', handle), bytes: Number(content?.status?.restoreSize ?? 0) };
    }
    if (src.kind === 'PersistentVolumeClaim' && !src.apiGroup) {
      const srcPvc = this.o.pvcs.get(ns, src.name);
      const pv = srcPvc?.spec?.volumeName ? this.o.pvs.get(undefined, srcPvc.spec.volumeName) : undefined;
      const dir = pv ? persistentVolumeDir(pv) : undefined;
      if (!dir) return 'wait';
      return { dir, bytes: quantityBytes(pv?.spec?.capacity?.storage) };
    }
    this.o.events.record(pvc, 'Warning', 'ProvisioningFailed', `unsupported data source ${src.apiGroup ?? ''}/${src.kind} ${src.name}`);
    return 'wait';
  }

  /** Two-sided binding as the PV controller does it: PV.claimRef + phase, then PVC.volumeName + status. */
  private async bind(pvc: KubeObject, pv: KubeObject, provisioned: boolean): Promise<void> {
    const api = this.o.api;
    const ns = pvc.metadata.namespace!;
    const name = pvc.metadata.name!;
    const pvPath = `/api/v1/persistentvolumes/${encodeURIComponent(pv.metadata.name!)}`;
    if (!pv.spec?.claimRef?.uid) {
      await api.patch(pvPath, { spec: { claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: ns, name, uid: pvc.metadata.uid, resourceVersion: pvc.metadata.resourceVersion } } });
    }
    await api.patch(`${pvPath}/status`, { status: { phase: 'Bound' } });
    const pvcPath = `/api/v1/namespaces/${ns}/persistentvolumeclaims/${encodeURIComponent(name)}`;
    await api.patch(pvcPath, {
      metadata: {
        annotations: {
          'pv.kubernetes.io/bind-completed': 'yes',
          ...(provisioned ? { 'pv.kubernetes.io/bound-by-controller': 'yes', 'volume.beta.kubernetes.io/storage-provisioner': DRIVER, 'volume.kubernetes.io/storage-provisioner': DRIVER } : {}),
        },
      },
      spec: { volumeName: pv.metadata.name },
    });
    await api.patch(`${pvcPath}/status`, { status: { phase: 'Bound', accessModes: pv.spec?.accessModes, capacity: pv.spec?.capacity } });
  }

  /** Released volumes: Delete removes data and object, Retain leaves a Released PV behind. */
  private async syncVolume(name: string): Promise<void> {
    const pv = this.o.pvs.get(undefined, name);
    if (!pv) return;
    const api = this.o.api;
    const pvPath = `/api/v1/persistentvolumes/${encodeURIComponent(name)}`;
    if (pv.metadata.deletionTimestamp) {
      // pv-protection: release the finalizer once no claim uses the volume.
      const ref = pv.spec?.claimRef;
      const claim = ref ? this.o.pvcs.get(ref.namespace, ref.name) : undefined;
      if (!claim || claim.metadata.uid !== ref?.uid) {
        if (pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] === DRIVER) await rm(this.volumeDir(name), { recursive: true, force: true });
        if (pv.metadata.finalizers?.includes('kubernetes.io/pv-protection')) {
          await api.patch(pvPath, { metadata: { finalizers: pv.metadata.finalizers.filter((f) => f !== 'kubernetes.io/pv-protection') } });
        }
      }
      return;
    }
    const ref = pv.spec?.claimRef;
    // Free, or reserved for a claim (claimRef without uid: pre-bound by an administrator, or a Released volume whose
    // claimRef was cleared for reuse): Available, as the PV controller's syncVolume sets it.
    if (!ref?.uid) {
      if (pv.status?.phase !== 'Available') await api.patch(`${pvPath}/status`, { status: { phase: 'Available' } });
      const claim = ref ? this.o.pvcs.get(ref.namespace, ref.name) : undefined;
      if (claim) this.claims.add(keyOf(claim));
      return;
    }
    const claim = this.o.pvcs.get(ref.namespace, ref.name);
    if (claim && (!ref.uid || claim.metadata.uid === ref.uid)) {
      if (!claim.spec?.volumeName && pv.status?.phase !== 'Bound') this.claims.add(keyOf(claim));
      return;
    }
    // The claim is gone: release and reclaim.
    const policy = pv.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
    if (policy === 'Delete') {
      this.o.log(`reclaiming ${name} (claim ${ref.namespace}/${ref.name} deleted)`);
      await api.delete(pvPath);
    } else if (pv.status?.phase !== 'Released') {
      await api.patch(`${pvPath}/status`, { status: { phase: 'Released', message: `claim ${ref.namespace}/${ref.name} was deleted` } });
    }
  }
}
