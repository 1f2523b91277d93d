/**
 * Volumes of a backup run: CSI VolumeSnapshots of the selected PVCs, then one mover Job per snapshot exporting its
 * data into the repository, with bounded concurrency and cleanup. The lead's run calls `snapshotVolumes` while the
 * application is quiesced (between the blueprint's phases and its finally phases) and `exportVolumes` after.
 */
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { mapLimit } from '../kube/wait.ts';
import { runMoverJob, type MoverRepository, type MoverResult } from './mover.ts';
import { deleteSnapshot, snapshotPvc, waitSnapshotReady, type TakenSnapshot } from './snapshot.ts';

export { snapshotPvc, waitSnapshotReady, snapshotIsCut, deleteSnapshot, pruneLocalSnapshots, resolveSnapshotClass, csiDriverOf, SnapshotError, DEFAULT_CLASS_ANNOTATION, type TakenSnapshot, type SnapshotOptions } from './snapshot.ts';
export { runMoverJob, moverObjects, parseMoverOutput, MoverError, DEFAULT_MOVER_IMAGE, DATA_PATH, REPOSITORY_MOUNT, RUN_LABEL, type MoverRepository, type MoverJobOptions, type MoverResult } from './mover.ts';
export { kubeName, labelValue } from './names.ts';

/** Default number of volumes moved at once (one Job each), as in K10. */
export const DEFAULT_PARALLELISM = 9;

/** One volume's outcome, shaped like a RestorePoint `spec.volumes[]` entry. */
export interface VolumeOutcome {
  pvc: string;
  storageClass?: string;
  capacity?: string;
  volumeSnapshot?: string;
  snapshotId?: string;
  sizeBytes?: number;
  bytesAdded?: number;
  phase: 'Succeeded' | 'Failed';
  error?: string;
}

export interface SnapshotVolumesOptions {
  namespace: string;
  pvcs: KubeObject[];
  volumeSnapshotClass?: string;
  labels?: Record<string, string>;
  runId: string;
  concurrency?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Return each snapshot once it is cut (see `SnapshotOptions.until`); `snapshotsReady` waits for the rest. */
  until?: 'cut' | 'ready';
}

type Taken = { pvc: KubeObject; snapshot?: TakenSnapshot; error?: string };

/** Snapshots every PVC (concurrently, bounded); each entry is the snapshot or the error for that PVC. */
export async function snapshotVolumes(client: KubeClient, opts: SnapshotVolumesOptions): Promise<Taken[]> {
  const settled = await mapLimit(opts.pvcs, opts.concurrency ?? DEFAULT_PARALLELISM, (pvc) =>
    snapshotPvc(client, { namespace: opts.namespace, pvc, volumeSnapshotClass: opts.volumeSnapshotClass, labels: opts.labels, runId: opts.runId, timeoutMs: opts.timeoutMs, signal: opts.signal, until: opts.until }),
  );
  return settled.map((s, i) => ({ pvc: opts.pvcs[i]!, ...(s.status === 'fulfilled' ? { snapshot: s.value } : { error: (s.reason as Error).message }) }));
}

/** Waits until every snapshot taken at its cut is ready to use; an entry whose snapshot failed meanwhile gets the error. */
export async function snapshotsReady(client: KubeClient, taken: Taken[], opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Taken[]> {
  const settled = await Promise.allSettled(taken.map((t) => (t.snapshot ? waitSnapshotReady(client, t.snapshot, opts) : Promise.resolve(undefined))));
  return settled.map((s, i) => (s.status === 'rejected' ? { pvc: taken[i]!.pvc, snapshot: taken[i]!.snapshot, error: (s.reason as Error).message } : { ...taken[i]!, ...(s.value ? { snapshot: s.value } : {}) }));
}

export interface ExportVolumesOptions {
  namespace: string;
  snapshots: { pvc: KubeObject; snapshot: TakenSnapshot }[];
  repository: MoverRepository;
  /** Common tags (cluster, namespace, policy, restorepoint); `pvc=NAME` is added per volume. */
  tags: Record<string, string>;
  runId: string;
  image?: string;
  parallelism?: number;
  /** Delete each VolumeSnapshot once exported (policy `keepLocal: 0`). */
  deleteSnapshots?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  log?: (m: string) => void;
  /** Each volume as its mover finishes (progress while the others still run). */
  onVolume?: (v: VolumeOutcome) => void;
  /** Bytes a volume's mover has read so far, while it runs. */
  onVolumeBytes?: (pvc: string, bytes: number) => void;
}

/**
 * Runs one mover Job per snapshot with at most `parallelism` (default 9) at once. Every volume is attempted; the
 * outcomes say which failed and why. Snapshots are deleted after export when asked, even if the export failed
 * (they would otherwise pile up); keeping some locally is the caller's retention decision.
 */
export async function exportVolumes(client: KubeClient, opts: ExportVolumesOptions): Promise<VolumeOutcome[]> {
  const settled = await mapLimit(opts.snapshots, opts.parallelism ?? DEFAULT_PARALLELISM, async ({ pvc, snapshot }) => {
    let result: MoverResult | undefined;
    let error: string | undefined;
    try {
      return (result = await runMoverJob(client, {
        namespace: opts.namespace,
        pvc,
        snapshot: snapshot.name,
        restoreSize: snapshot.restoreSize,
        repository: opts.repository,
        tags: { ...opts.tags, pvc: pvc.metadata.name },
        runId: opts.runId,
        image: opts.image,
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
        log: opts.log,
        ...(opts.onVolumeBytes ? { onBytes: (b: number) => opts.onVolumeBytes!(pvc.metadata.name, b) } : {}),
      }));
    } catch (e) {
      error = (e as Error).message;
      throw e;
    } finally {
      if (opts.deleteSnapshots) await deleteSnapshot(client, opts.namespace, snapshot.name).catch(() => undefined);
      opts.onVolume?.(volumeOutcome(pvc, snapshot, opts.deleteSnapshots ? undefined : snapshot.name, result, error));
    }
  });
  return settled.map((s, i) => {
    const { pvc, snapshot } = opts.snapshots[i]!;
    return volumeOutcome(pvc, snapshot, opts.deleteSnapshots ? undefined : snapshot.name, s.status === 'fulfilled' ? s.value : undefined, s.status === 'rejected' ? (s.reason as Error).message : undefined);
  });
}

/** RestorePoint volume entry from a PVC and what happened to it. */
export function volumeOutcome(pvc: KubeObject, snapshot: TakenSnapshot | undefined, keptSnapshot: string | undefined, result: MoverResult | undefined, error: string | undefined): VolumeOutcome {
  const spec = (pvc.spec ?? {}) as { storageClassName?: string; resources?: { requests?: { storage?: string } } };
  const stats = result?.stats ?? {};
  return {
    pvc: pvc.metadata.name,
    ...(spec.storageClassName ? { storageClass: spec.storageClassName } : {}),
    ...(spec.resources?.requests?.storage ? { capacity: spec.resources.requests.storage } : {}),
    ...(keptSnapshot ? { volumeSnapshot: keptSnapshot } : {}),
    ...(result ? { snapshotId: result.snapshotId } : {}),
    ...(stats.bytesProcessed !== undefined ? { sizeBytes: stats.bytesProcessed } : {}),
    ...(stats.bytesStored !== undefined ? { bytesAdded: stats.bytesStored } : {}),
    phase: result && !error ? 'Succeeded' : 'Failed',
    ...(error ? { error } : !snapshot ? { error: 'no snapshot' } : {}),
  };
}
