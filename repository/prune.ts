import { RepoError } from './errors.ts';
import { sweepTemporaryFiles, staleTemporaryFiles, withLock } from './lock.ts';
import type { PackEntry } from './pack.ts';
import type { Repository } from './repo.ts';
import type { RetentionCounts } from './retention.ts';
import { listSnapshots, loadTree, type SnapshotInfo } from './tree.ts';

export interface ForgetOptions {
  ids?: string[];
  keep?: RetentionCounts;
  /** Only snapshots carrying all these tags are considered. */
  tags?: Record<string, string>;
  timezone?: string;
  dryRun?: boolean;
}

export interface ForgetGroup {
  key: string;
  keep: { id: string; time: string; reasons: string[] }[];
  remove: { id: string; time: string }[];
}

/** Snapshots are grouped like restic (host + paths + tags) and retention applies per group. */
function groupKey(s: SnapshotInfo): string {
  return JSON.stringify({ host: s.hostname, paths: [...s.paths].sort(), tags: Object.entries(s.tags).sort() });
}

/**
 * Remove snapshot manifests by id or by GFS counts. Only manifests: their
 * data stays until `prune`. Takes the exclusive lock so a concurrent backup's
 * parent is never pulled away under it.
 */
export async function forget(repo: Repository, opts: ForgetOptions): Promise<{ groups: ForgetGroup[]; removed: string[] }> {
  if (!opts.ids?.length && !opts.keep) throw new RepoError('E_REPO_SNAPSHOT', 'forget needs snapshot ids or --keep-* counts');
  return withLock(repo, true, 'forget', async () => {
    const all = await listSnapshots(repo);
    const removed: string[] = [];
    const groups: ForgetGroup[] = [];
    if (opts.ids?.length) {
      const remove: { id: string; time: string }[] = [];
      for (const ref of opts.ids) {
        const m = all.filter((s) => s.id.startsWith(ref));
        if (m.length !== 1 || ref.length < 4) throw new RepoError('E_REPO_SNAPSHOT', m.length > 1 ? `snapshot prefix "${ref}" is ambiguous` : `no snapshot "${ref}"`);
        remove.push({ id: m[0]!.id, time: m[0]!.time });
      }
      groups.push({ key: 'by id', keep: [], remove });
    } else {
      const filtered = all.filter((s) => Object.entries(opts.tags ?? {}).every(([k, v]) => s.tags[k] === v));
      const byGroup = new Map<string, SnapshotInfo[]>();
      for (const s of filtered) {
        const k = groupKey(s);
        byGroup.set(k, [...(byGroup.get(k) ?? []), s]);
      }
      // loaded here only: the retention rules (and their time-zone tables) are not needed by any other command
      const { selectRetention } = await import('./retention.ts');
      for (const [key, snaps] of byGroup) {
        const r = selectRetention(snaps.map((s) => ({ id: s.id, time: new Date(s.time) })), opts.keep!, opts.timezone);
        const t = new Map(snaps.map((s) => [s.id, s.time]));
        groups.push({
          key,
          keep: r.keep.map((k) => ({ id: k.id, time: t.get(k.id)!, reasons: k.reasons })),
          remove: r.expire.map((id) => ({ id, time: t.get(id)! })),
        });
      }
    }
    for (const g of groups) {
      for (const r of g.remove) {
        if (!opts.dryRun) await repo.backend.delete('snapshots', r.id);
        removed.push(r.id);
      }
    }
    return { groups, removed };
  });
}

export interface PruneStats {
  packsBefore: number;
  packsDeleted: number;
  packsRepacked: number;
  packsKept: number;
  blobsRemoved: number;
  bytesFreed: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Stale `.tmp-*` files swept (with --dry-run: that would be swept). */
  temporaryFilesRemoved: number;
  dryRun: boolean;
}

/**
 * Remove data no snapshot references. Under the exclusive lock (no backup can
 * be adding references meanwhile): mark every blob reachable from a snapshot,
 * delete packs with nothing used, copy the used blobs out of partly used packs
 * (authenticated, not re-encrypted), write the new index, and only then delete
 * old indexes and packs — a crash at any step leaves a valid repository.
 */
export async function prune(repo: Repository, opts: { dryRun?: boolean } = {}): Promise<PruneStats> {
  return withLock(repo, true, 'prune', async (lock) => {
    // Killed backups and prunes leave temporary files `list` never shows; under the exclusive lock they are provably dead.
    const temporary = opts.dryRun ? await staleTemporaryFiles(repo, lock) : await sweepTemporaryFiles(repo, lock);
    await repo.loadIndex();
    await repo.recoverOrphanPacks();
    const used = new Set<string>();
    for (const s of await listSnapshots(repo)) {
      const visit = async (id: string) => {
        if (used.has(id)) return;
        used.add(id);
        const t = await loadTree(repo, id); // throws on damage: prune never guesses
        for (const n of t.nodes) {
          for (const c of n.content ?? []) used.add(c);
          if (n.subtree) await visit(n.subtree);
        }
      };
      await visit(s.tree);
    }
    for (const id of used) if (!repo.index.has(id)) throw new RepoError('E_REPO_CORRUPT', `blob ${id.slice(0, 16)} is referenced but missing; run "coffer repo check" — prune refuses to continue`);

    const sizes = new Map((await repo.backend.list('data')).map((f) => [f.name, f.size]));
    const keep: string[] = [];
    const del: string[] = [];
    const repack: [string, PackEntry[]][] = [];
    let blobsRemoved = 0;
    for (const [pack, entries] of repo.packs) {
      const live = entries.filter((e) => used.has(e.id) && repo.index.get(e.id)!.pack === pack);
      blobsRemoved += entries.length - live.length;
      if (live.length === entries.length) keep.push(pack);
      else if (live.length === 0) del.push(pack);
      else repack.push([pack, live]);
    }
    const bytesBefore = [...sizes.values()].reduce((a, b) => a + b, 0);
    const stats: PruneStats = {
      packsBefore: repo.packs.size,
      packsDeleted: del.length,
      packsRepacked: repack.length,
      packsKept: keep.length,
      blobsRemoved,
      bytesFreed: 0,
      bytesBefore,
      bytesAfter: bytesBefore,
      temporaryFilesRemoved: temporary.length,
      dryRun: !!opts.dryRun,
    };
    if (opts.dryRun || (!del.length && !repack.length && repo.indexFiles.size <= 1)) return stats;

    const writer = repo.newPackWriter();
    for (const [pack, live] of repack) {
      for (const e of live) {
        const sealed = await repo.backend.getRange('data', pack, e.offset, e.length);
        await repo.openBlob(sealed, e, pack); // never copy damaged data forward
        repo.index.delete(e.id);
        writer.pending.add(e.id);
        await writer.add(e.id, e.type, sealed, e.rawLength, e.comp);
      }
    }
    const newPacks = await writer.finish();
    const oldIndexes = [...repo.indexFiles.keys()];
    const newIndex = await repo.writeIndex([...keep, ...newPacks].sort(), oldIndexes);
    for (const name of oldIndexes) if (name !== newIndex) await repo.backend.delete('index', name);
    for (const p of [...del, ...repack.map(([p]) => p)]) await repo.backend.delete('data', p);
    const after = (await repo.backend.list('data')).reduce((a, f) => a + f.size, 0);
    stats.bytesAfter = after;
    stats.bytesFreed = bytesBefore - after;
    await repo.loadIndex();
    return stats;
  });
}
