import type { KubeClient } from '../kube/client.ts';
import { WELL_KNOWN } from '../kube/discovery.ts';
import type { KubeObject } from '../kube/types.ts';
import { TimeoutError, waitFor } from '../kube/wait.ts';
import { kubeName, labelValue } from './names.ts';

const VS = WELL_KNOWN.VolumeSnapshot!;
const VSC = WELL_KNOWN.VolumeSnapshotClass!;
export const DEFAULT_CLASS_ANNOTATION = 'snapshot.storage.kubernetes.io/is-default-class';

/** A snapshot could not be taken or did not become ready; the message names the PVC and the cause. */
export class SnapshotError extends Error {
  readonly code = 'E_SNAPSHOT';
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

/** The CSI driver behind a PVC: its bound PV's `spec.csi.driver`, else its StorageClass's provisioner. */
export async function csiDriverOf(client: KubeClient, pvc: KubeObject): Promise<string | undefined> {
  const spec = (pvc.spec ?? {}) as { volumeName?: string; storageClassName?: string };
  if (spec.volumeName) {
    const pv = await client.find('v1', 'persistentvolumes', undefined, spec.volumeName);
    const driver = (pv?.spec as { csi?: { driver?: string } } | undefined)?.csi?.driver;
    if (driver) return driver;
  }
  if (spec.storageClassName) {
    const sc = await client.find('storage.k8s.io/v1', 'storageclasses', undefined, spec.storageClassName);
    if (sc) return sc.provisioner as string | undefined;
  }
  return undefined;
}

/**
 * The VolumeSnapshotClass for a PVC: the policy's if given (it must exist), else the class of the PVC's CSI driver
 * annotated as default, else the only class of that driver — like the CSI snapshot controller's own default rule.
 */
export async function resolveSnapshotClass(client: KubeClient, pvc: KubeObject, explicit?: string): Promise<string> {
  const ref = `${pvc.metadata.namespace}/${pvc.metadata.name}`;
  if (explicit) {
    if (!(await client.find(VSC.apiVersion, VSC.plural, undefined, explicit))) throw new SnapshotError(`VolumeSnapshotClass "${explicit}" (from the policy) does not exist; needed for PVC ${ref}`);
    return explicit;
  }
  const driver = await csiDriverOf(client, pvc);
  const classes = await client.list(VSC.apiVersion, VSC.plural).catch((e: Error) => {
    throw new SnapshotError(`cannot list VolumeSnapshotClasses (is the CSI snapshot CRD installed?): ${e.message}`);
  });
  const forDriver = classes.filter((c) => !driver || c.driver === driver);
  const defaults = forDriver.filter((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  if (defaults.length === 1) return defaults[0]!.metadata.name;
  if (defaults.length === 0 && forDriver.length === 1) return forDriver[0]!.metadata.name;
  if (!driver) throw new SnapshotError(`PVC ${ref} has no CSI driver (unbound, or no StorageClass) and no snapshot class was configured`);
  throw new SnapshotError(
    forDriver.length === 0
      ? `no VolumeSnapshotClass for CSI driver ${driver} (PVC ${ref}); create one or set actions.snapshot.volumeSnapshotClass`
      : `${defaults.length || forDriver.length} VolumeSnapshotClasses for driver ${driver} and no single default; set actions.snapshot.volumeSnapshotClass (PVC ${ref})`,
  );
}

export interface SnapshotOptions {
  namespace: string;
  /** The PVC as read (the export step's `pvcs`), or its name. */
  pvc: KubeObject | string;
  volumeSnapshotClass?: string;
  /** Labels put on the VolumeSnapshot (restore point id, policy) so it can be found and expired later. */
  labels?: Record<string, string>;
  /** Unique suffix of this run, part of the snapshot's name. */
  runId: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * `cut`: return once the storage has taken the point-in-time copy (`status.creationTime` set), while it may still
   * be processing it (uploading) — the moment a quiesced application can resume; `waitSnapshotReady` then waits for
   * `readyToUse`. Default `ready`: return when it is ready to use.
   */
  until?: 'cut' | 'ready';
}

export interface TakenSnapshot {
  name: string;
  namespace: string;
  pvc: string;
  className: string;
  /** From `status.restoreSize` (a quantity like 1Gi). */
  restoreSize?: string;
  contentName?: string;
  creationTime?: string;
}

type SnapshotStatus = { readyToUse?: boolean; error?: { message?: string }; restoreSize?: string; boundVolumeSnapshotContentName?: string; creationTime?: string };

/**
 * Takes a CSI VolumeSnapshot of one PVC and waits until it is cut or `readyToUse` (`opts.until`). An error the
 * snapshot controller reports in `status.error` fails at once with its message; a timeout deletes the half-made
 * snapshot.
 */
export async function snapshotPvc(client: KubeClient, opts: SnapshotOptions): Promise<TakenSnapshot> {
  const pvc = typeof opts.pvc === 'string' ? await client.find('v1', 'persistentvolumeclaims', opts.namespace, opts.pvc) : opts.pvc;
  const pvcName = typeof opts.pvc === 'string' ? opts.pvc : opts.pvc.metadata.name;
  if (!pvc) throw new SnapshotError(`PVC ${opts.namespace}/${pvcName} not found`);
  const className = await resolveSnapshotClass(client, pvc, opts.volumeSnapshotClass);
  const name = kubeName(`coffer-${pvcName}`, opts.runId);
  await client.create(VS.apiVersion, VS.plural, opts.namespace, {
    apiVersion: VS.apiVersion,
    kind: 'VolumeSnapshot',
    metadata: { name, namespace: opts.namespace, labels: { 'app.kubernetes.io/managed-by': 'coffer', 'coffer.dev/pvc': labelValue(pvcName), ...opts.labels } },
    spec: { volumeSnapshotClassName: className, source: { persistentVolumeClaimName: pvcName } },
  });
  const taken: TakenSnapshot = { name, namespace: opts.namespace, pvc: pvcName, className };
  try {
    return await waitStatus(client, taken, opts.until ?? 'ready', opts);
  } catch (e) {
    await client.delete(VS.apiVersion, VS.plural, opts.namespace, name).catch(() => undefined);
    throw e;
  }
}

/**
 * Waits until a snapshot returned at its cut (`until: 'cut'`) is `readyToUse`; an error the controller reports fails
 * with its message. The snapshot is kept either way: the caller's clean-up decides.
 */
export function waitSnapshotReady(client: KubeClient, taken: TakenSnapshot, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<TakenSnapshot> {
  return waitStatus(client, taken, 'ready', opts);
}

/**
 * CSI's CreateSnapshot answers `ready_to_use: false` once the snapshot is cut but still processed (uploaded), and the
 * external-snapshotter then sets `status.creationTime` ("the point-in-time snapshot is taken by the underlying storage
 * system"): from then on the application need not stay quiesced.
 */
export function snapshotIsCut(s: SnapshotStatus | undefined): boolean {
  return s?.readyToUse === true || !!s?.creationTime;
}

async function waitStatus(client: KubeClient, taken: TakenSnapshot, until: 'cut' | 'ready', opts: { timeoutMs?: number; signal?: AbortSignal }): Promise<TakenSnapshot> {
  const { name, namespace, pvc } = taken;
  let last = 'no status yet';
  try {
    const st = await waitFor(
      async () => {
        const s = (await client.get(VS.apiVersion, VS.plural, namespace, name)).status as SnapshotStatus | undefined;
        if (s?.error?.message) throw new SnapshotError(`VolumeSnapshot ${namespace}/${name} of PVC ${pvc} failed: ${s.error.message}`);
        last = JSON.stringify(s ?? {});
        return (until === 'cut' ? snapshotIsCut(s) : s?.readyToUse === true) ? s! : undefined;
      },
      // While waiting for the cut the application is quiesced: every poll interval of lag is time it stays blocked.
      { timeoutMs: opts.timeoutMs ?? 10 * 60_000, ...(until === 'cut' ? { maxIntervalMs: 200 } : {}), signal: opts.signal, what: `VolumeSnapshot ${namespace}/${name} of PVC ${pvc} to be ${until === 'cut' ? 'cut (creationTime)' : 'readyToUse'}`, describe: () => last },
    );
    return { ...taken, restoreSize: st.restoreSize ?? taken.restoreSize, contentName: st.boundVolumeSnapshotContentName ?? taken.contentName, creationTime: st.creationTime ?? taken.creationTime };
  } catch (e) {
    if (e instanceof TimeoutError) throw new SnapshotError(e.message);
    throw e;
  }
}

/** Deletes VolumeSnapshots (after export, or when the policy keeps none locally). Missing ones are fine. */
export async function deleteSnapshot(client: KubeClient, namespace: string, name: string): Promise<void> {
  await client.delete(VS.apiVersion, VS.plural, namespace, name);
}

/**
 * Local snapshot retention (policy `actions.snapshot.keepLocal`): keeps the newest `keep` ready VolumeSnapshots Coffer
 * took for this policy and PVC in the namespace, deletes older ones. Returns the names deleted.
 */
export async function pruneLocalSnapshots(client: KubeClient, opts: { namespace: string; policy: string; keep: number; pvc?: string }): Promise<string[]> {
  const sel = [`app.kubernetes.io/managed-by=coffer`, `coffer.dev/policy=${labelValue(opts.policy)}`, ...(opts.pvc ? [`coffer.dev/pvc=${labelValue(opts.pvc)}`] : [])].join(',');
  const all = (await client.list(VS.apiVersion, VS.plural, opts.namespace, { labelSelector: sel })).filter((s) => !s.metadata.deletionTimestamp);
  const byPvc = new Map<string, KubeObject[]>();
  for (const s of all) {
    const k = s.metadata.labels?.['coffer.dev/pvc'] ?? '';
    byPvc.set(k, [...(byPvc.get(k) ?? []), s]);
  }
  const deleted: string[] = [];
  for (const list of byPvc.values()) {
    list.sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') || b.metadata.name.localeCompare(a.metadata.name));
    for (const s of list.slice(Math.max(0, opts.keep))) {
      await deleteSnapshot(client, opts.namespace, s.metadata.name);
      deleted.push(s.metadata.name);
    }
  }
  return deleted.sort();
}
