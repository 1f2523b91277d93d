import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { restore, type RestoreStats } from '../../repository/index.ts';
import { openCatalog, runId as makeRunId } from '../catalog/index.ts';
import type { PlanProfile } from '../../compiler/plan/types.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import { DEFAULT_COFFER_NAMESPACE, openProfileRepository } from '../profile-repository.ts';
import { RestoreError } from './errors.ts';
import { compileTip } from './run.ts';
import { selectRestorePoint, type RestorePointQuery } from './select.ts';
import { EXISTS_MARKER, runRestoreMover } from './volume.ts';
import { consumerPodSpec, moverIdentity } from '../volumes/identity.ts';
import { copyIntoPvc } from './copy-in.ts';
import { withRunLease } from '../volumes/run-lease.ts';

/** What `--into-pvc` does with paths that already exist in the PVC: `fail` (default) writes nothing; `update` overwrites them. */
export type FilesExisting = 'fail' | 'update';
export const FILES_EXISTING: readonly FilesExisting[] = ['fail', 'update'];

export interface IntoPvc {
  /** An existing PVC; each path is written at the same path inside it. */
  name: string;
  /** Default: the restore point's namespace. */
  namespace?: string;
  existing?: FilesExisting;
  moverImage?: string;
  timeoutMs?: number;
  log?: (m: string) => void;
}

export interface FilesRequest {
  source: GitSource;
  /** Reads the profile's key Secret (the cluster holding Coffer's Secrets); nothing in the cluster is changed. */
  client: KubeClient;
  restorePoint: RestorePointQuery;
  sourceCluster?: string;
  /** The PVC, as named in the restore point. */
  volume: string;
  /** Paths inside the volume (`/` = all of it). */
  paths: string[];
  /** Local directory to put them in; each path lands as `to/<its last segment>`. Nothing existing is overwritten. */
  to?: string;
  /** Instead of `to`: write the paths into an existing PVC of the cluster through a restore mover Job. */
  intoPvc?: IntoPvc;
  cofferNamespace?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * `--into-pvc` from a workstation (not under the reconciler Lease): hold run Lease `coffer-run-<run>` in the Coffer
   * namespace as this identity while the movers exist, so a controller's start-up sweep keeps them (volumes/run-lease.ts).
   */
  runLease?: { identity: string };
}

/** `/a/b/` → `a/b`; `..` segments are refused (a restore never writes outside its target). */
export function volumePath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw new RestoreError('E_RESTORE_ARGS', `--path ${p}: ".." is not allowed`);
  return parts.join('/');
}

/**
 * Granular file restore: single files or directories of one volume backup, read straight from the repository into a
 * local directory — no PVC, no Job, no change to the cluster (like `velero`'s file-level restore or K10's "restore
 * files"). The mover stores a volume under `data/`, so `--path /app.db` is `data/app.db` in the snapshot.
 */
export interface FilesOutcome {
  restorePoint: string;
  snapshotId: string;
  /** Local paths (`--to`) or `<namespace>/<pvc>:/<path>` (`--into-pvc`). */
  written: string[];
  stats: Pick<RestoreStats, 'files' | 'bytes'> & Partial<RestoreStats>;
  /** The restore mover Job (`--into-pvc`); it and its Secret are deleted afterwards. */
  job?: string;
}

export async function restoreFiles(req: FilesRequest): Promise<FilesOutcome> {
  if (!req.to === !req.intoPvc) throw new RestoreError('E_RESTORE_ARGS', 'give exactly one of --to LOCALDIR or --into-pvc NAME');
  const plan = await compileTip(req.source);
  const catalog = openCatalog({ source: req.source, cluster: plan.config.cluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path });
  const points = await catalog.readRestorePoints({ cluster: req.sourceCluster ?? plan.config.cluster, ...(req.restorePoint.namespace ? { namespace: req.restorePoint.namespace } : {}), ...(req.restorePoint.policy ? { policy: req.restorePoint.policy } : {}) });
  const rp = selectRestorePoint(points, req.restorePoint).doc;
  const vol = (rp.spec.volumes ?? []).find((v) => v.pvc === req.volume);
  if (!vol) throw new RestoreError('E_RESTORE_ARGS', `--volume ${req.volume}: restore point ${rp.metadata.name} has no such volume (has: ${(rp.spec.volumes ?? []).map((v) => v.pvc).join(', ') || 'none'})`);
  if (!vol.snapshotId) throw new RestoreError('E_RESTORE_DATA', `volume ${req.volume} of ${rp.metadata.name} was not exported to the repository (phase ${vol.phase}); only whole-volume restore from its VolumeSnapshot is possible`);
  const profile = plan.profiles.find((p) => p.name === rp.spec.repository.profile);
  if (!profile) throw new RestoreError('E_RESTORE_POINT', `restore point ${rp.metadata.name} is stored with profile "${rp.spec.repository.profile}", which the policy repository no longer defines`);
  const rels = req.paths.map(volumePath);
  if (req.intoPvc) return restoreIntoPvc(req, req.intoPvc, rp.metadata.name, rp.spec.namespace, vol.snapshotId, rels, profile);
  const to = resolve(req.to!);
  await fsp.mkdir(to, { recursive: true });
  const dest = (rel: string) => (rel === '' ? to : join(to, basename(rel)));
  for (const rel of rels) {
    if (rel === '') {
      if ((await fsp.readdir(to)).length) throw new RestoreError('E_RESTORE_ARGS', `--to ${req.to} must be empty to restore the whole volume into it`);
    } else if (await fsp.lstat(dest(rel)).then(() => true, () => false)) {
      throw new RestoreError('E_RESTORE_ARGS', `${dest(rel)} exists; nothing was overwritten (choose another --to)`);
    }
  }
  const repo = await openProfileRepository(req.client, profile, { ...(req.cofferNamespace ? { cofferNamespace: req.cofferNamespace } : {}), ...(req.env ? { env: req.env } : {}) });
  // Restored next to the target first, then moved into place: a failed read leaves `--to` as it was.
  const tmp = await fsp.mkdtemp(join(dirname(to), `.${basename(to)}.coffer-restore-`));
  try {
    let stats: RestoreStats;
    try {
      stats = await restore(repo.repo, vol.snapshotId, tmp, { include: rels.map((r) => (r ? `data/${r}` : 'data')), owner: false });
    } catch (e) {
      throw new RestoreError('E_RESTORE_DATA', `cannot restore from snapshot ${vol.snapshotId.slice(0, 12)}: ${(e as Error).message}`);
    }
    for (const rel of rels) {
      if (!(await fsp.lstat(join(tmp, 'data', rel)).then(() => true, () => false))) throw new RestoreError('E_RESTORE_ARGS', `--path /${rel}: not in volume ${req.volume} of ${rp.metadata.name}`);
    }
    const written: string[] = [];
    for (const rel of rels) {
      const from = join(tmp, 'data', rel);
      if (rel === '') {
        for (const name of await fsp.readdir(from)) await fsp.rename(join(from, name), join(to, name));
        written.push(to);
      } else {
        await fsp.rename(from, dest(rel));
        written.push(dest(rel));
      }
    }
    return { restorePoint: rp.metadata.name, snapshotId: vol.snapshotId, written, stats };
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
    await repo.close().catch(() => undefined);
  }
}

/**
 * `--into-pvc`: the same paths, written in place into an existing PVC: restored in the mover namespace and copied in by
 * a Job without credentials (copy-in.ts), or, without a mover namespace, by a restore mover Job with an include list. Default `fail`: when any path exists there the Job stops before writing, so a live volume is
 * never overwritten without `--existing update`. Files of the PVC outside the paths are never touched; `update` does
 * not delete files that were added inside a restored directory after the backup.
 */
async function restoreIntoPvc(req: FilesRequest, into: IntoPvc, restorePoint: string, sourceNamespace: string, snapshotId: string, rels: string[], profile: PlanProfile): Promise<FilesOutcome> {
  const ns = into.namespace ?? sourceNamespace;
  const existing = into.existing ?? 'fail';
  const pvc = await req.client.find('v1', 'persistentvolumeclaims', ns, into.name);
  if (!pvc) throw new RestoreError('E_RESTORE_ARGS', `--into-pvc ${into.name}: no PersistentVolumeClaim ${ns}/${into.name} (create it first, or restore to a local directory with --to)`);
  if (pvc.metadata.deletionTimestamp) throw new RestoreError('E_RESTORE_ARGS', `--into-pvc ${into.name}: PersistentVolumeClaim ${ns}/${into.name} is being deleted`);
  const includes = [...new Set(rels.map((r) => (r ? `data/${r}` : 'data')))];
  const repo = await openProfileRepository(req.client, profile, { ...(req.cofferNamespace ? { cofferNamespace: req.cofferNamespace } : {}), ...(req.env ? { env: req.env } : {}) });
  const runId = makeRunId('restore-files', new Date(), randomBytes(3).toString('hex'));
  const moverNamespace = repo.mover.namespace;
  const move = async (): Promise<FilesOutcome> => {
    try {
      // With a mover namespace the credentials stay there: restored there, copied in by a Job without them (copy-in.ts).
      const r = moverNamespace && moverNamespace !== ns
        ? await copyIntoPvc(req.client, {
            pvc,
            snapshotId,
            include: includes,
            refuseExisting: existing === 'fail',
            repository: { ...repo.mover, namespace: moverNamespace },
            runId,
            ...(into.moverImage ? { image: into.moverImage } : {}),
            ...(into.timeoutMs ? { timeoutMs: into.timeoutMs } : {}),
            ...(into.log ? { log: into.log } : {}),
          })
        : await runRestoreMover(req.client, {
            namespace: ns,
            pvc: into.name,
            snapshotId,
            repository: repo.mover,
            runId,
            include: includes,
            refuseExisting: existing === 'fail',
            // A volume in use: write as the workload that mounts it, and never give it a new fsGroup (README "Pod Security").
            identity: moverIdentity(consumerPodSpec(await req.client.list('v1', 'pods', ns), into.name), into.name, 'existing'),
            ...(into.moverImage ? { image: into.moverImage } : {}),
            ...(into.timeoutMs ? { timeoutMs: into.timeoutMs } : {}),
            ...(into.log ? { log: into.log } : {}),
          });
      return { restorePoint, snapshotId, written: rels.map((rel) => `${ns}/${into.name}:/${rel}`), stats: { files: r.files, bytes: r.bytes }, job: r.job };
    } catch (e) {
      const msg = (e as Error).message;
      const exists = [...msg.matchAll(new RegExp(`${EXISTS_MARKER} (.+)`, 'g'))].map((m) => m[1]!);
      if (exists.length) throw new RestoreError('E_RESTORE_ARGS', `PVC ${ns}/${into.name} already has ${exists.map((x) => (x === '/' ? 'data (it is not empty)' : x)).join(', ')}; nothing was written (pass --existing update to overwrite)`);
      const missing = /--include "data\/?([^"]*)" matches nothing/.exec(msg);
      if (missing) throw new RestoreError('E_RESTORE_ARGS', `--path /${missing[1]}: not in volume ${req.volume} of ${restorePoint}; nothing was written`);
      throw new RestoreError('E_RESTORE_DATA', `restore into PVC ${ns}/${into.name} failed: ${msg}`);
    }
  };
  try {
    // Taken before anything moves: a Lease that cannot be taken (RBAC) fails the run with nothing written.
    return req.runLease ? await withRunLease({ client: req.client, namespace: req.cofferNamespace ?? DEFAULT_COFFER_NAMESPACE, run: runId, identity: req.runLease.identity }, move) : await move();
  } finally {
    await repo.close().catch(() => undefined);
  }
}
