import * as fsp from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { restore, type RestoreStats } from '../../repository/index.ts';
import { openCatalog } from '../catalog/index.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import { openProfileRepository } from '../profile-repository.ts';
import { RestoreError } from './errors.ts';
import { compileTip } from './run.ts';
import { selectRestorePoint, type RestorePointQuery } from './select.ts';

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
  to: string;
  cofferNamespace?: string;
  env?: NodeJS.ProcessEnv;
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
export async function restoreFiles(req: FilesRequest): Promise<{ restorePoint: string; snapshotId: string; written: string[]; stats: RestoreStats }> {
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
  const to = resolve(req.to);
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
