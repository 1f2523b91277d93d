import { storageId } from './crypto.ts';
import { acquireLock, staleTemporaryFiles } from './lock.ts';
import { decodeHeader } from './pack.ts';
import type { Repository } from './repo.ts';
import { listSnapshots, loadTree, type SnapshotInfo } from './tree.ts';
import { unseal } from './crypto.ts';

export interface DamagedPack {
  pack: string;
  reason: string;
  /** Snapshots that reference at least one blob stored in this pack. */
  snapshots: string[];
}

export interface CheckResult {
  ok: boolean;
  snapshots: number;
  packs: number;
  blobs: number;
  errors: string[];
  damaged: DamagedPack[];
  /** Packs no index lists (left by an interrupted backup): harmless, reused by the next backup or removed by prune. */
  unindexedPacks: string[];
  /** Temporary files of writes that never finished (killed processes): harmless, swept by the next prune. */
  staleTemporaryFiles: string[];
  packsRead: number;
}

export interface CheckOptions {
  readData?: boolean;
  onProgress?: (p: { packs: number; totalPacks: number }) => void;
}

/**
 * Verify the repository's structure (index, snapshots, trees, every
 * referenced blob indexed and its pack present) and, with `readData`, read
 * every pack, verify its hash and authenticate every blob. Damaged packs are
 * named with the snapshots they affect.
 */
export async function check(repo: Repository, opts: CheckOptions = {}): Promise<CheckResult> {
  const lock = await acquireLock(repo, false, 'check');
  try {
    const errors: string[] = [];
    const damaged = new Map<string, string>();
    try {
      await repo.loadIndex();
    } catch (e) {
      errors.push(`index: ${(e as Error).message}`);
    }
    const onDisk = new Map((await repo.backend.list('data')).map((f) => [f.name, f.size]));
    for (const p of repo.packs.keys()) if (!onDisk.has(p)) damaged.set(p, 'pack file is missing');
    const unindexedPacks = [...onDisk.keys()].filter((p) => !repo.packs.has(p));

    let snaps: SnapshotInfo[] = [];
    try {
      snaps = await listSnapshots(repo);
    } catch (e) {
      errors.push(`snapshots: ${(e as Error).message}`);
      for (const f of await repo.backend.list('snapshots')) {
        try {
          snaps.push({ ...(await repo.loadJSON('snapshots', f.name)), id: f.name } as SnapshotInfo);
        } catch (e2) {
          errors.push(`snapshot ${f.name.slice(0, 8)}: ${(e2 as Error).message}`);
        }
      }
    }
    const packSnaps = new Map<string, Set<string>>();
    const note = (id: string, snap: string): boolean => {
      const loc = repo.index.get(id);
      if (!loc) return false;
      let s = packSnaps.get(loc.pack);
      if (!s) packSnaps.set(loc.pack, (s = new Set()));
      s.add(snap);
      return true;
    };
    const treeOk = new Map<string, boolean>();
    for (const s of snaps) {
      const seen = new Set<string>();
      const visit = async (treeId: string, where: string): Promise<void> => {
        if (!note(treeId, s.id)) {
          errors.push(`snapshot ${s.id.slice(0, 8)}: tree ${treeId.slice(0, 16)} at "${where || '/'}" is not in the index`);
          return;
        }
        if (seen.has(treeId)) return;
        seen.add(treeId);
        let tree;
        try {
          tree = await loadTree(repo, treeId);
          treeOk.set(treeId, true);
        } catch (e) {
          const loc = repo.index.get(treeId)!;
          damaged.set(loc.pack, damaged.get(loc.pack) ?? (e as Error).message);
          errors.push(`snapshot ${s.id.slice(0, 8)}: tree at "${where || '/'}": ${(e as Error).message}`);
          return;
        }
        for (const n of tree.nodes) {
          const p = where ? `${where}/${n.name}` : n.name;
          for (const id of n.content ?? []) {
            if (!note(id, s.id)) errors.push(`snapshot ${s.id.slice(0, 8)}: "${p}" needs blob ${id.slice(0, 16)}, which is not in the index`);
          }
          if (n.subtree) await visit(n.subtree, p);
        }
      };
      await visit(s.tree, '');
    }

    let packsRead = 0;
    if (opts.readData) {
      const total = repo.packs.size;
      for (const [pack, entries] of repo.packs) {
        if (!onDisk.has(pack)) continue;
        opts.onProgress?.({ packs: packsRead, totalPacks: total });
        packsRead++;
        let data: Buffer;
        try {
          data = await repo.backend.get('data', pack);
        } catch (e) {
          damaged.set(pack, (e as Error).message);
          continue;
        }
        const problems: string[] = [];
        if (storageId(data) !== pack) problems.push('content hash does not match the pack name');
        try {
          const hl = data.readUInt32LE(data.length - 4);
          decodeHeader(unseal(repo.key.encrypt, data.subarray(data.length - 4 - hl, data.length - 4), `pack ${pack} header`), `pack ${pack}`);
        } catch (e) {
          problems.push(`header: ${(e as Error).message}`);
        }
        let bad = 0;
        for (const e of entries) {
          try {
            if (e.offset + e.length > data.length) throw new Error('blob lies beyond the end of the pack');
            await repo.openBlob(data.subarray(e.offset, e.offset + e.length), e, pack);
          } catch {
            bad++;
          }
        }
        if (bad) problems.push(`${bad} of ${entries.length} blob(s) fail authentication`);
        if (problems.length) damaged.set(pack, problems.join('; '));
      }
      opts.onProgress?.({ packs: packsRead, totalPacks: total });
    }

    const damagedList: DamagedPack[] = [...damaged].map(([pack, reason]) => ({ pack, reason, snapshots: [...(packSnaps.get(pack) ?? [])].sort() }));
    for (const d of damagedList) {
      errors.push(`pack ${d.pack} is damaged (${d.reason}); affects ${d.snapshots.length ? `snapshot(s) ${d.snapshots.map((s) => s.slice(0, 8)).join(', ')}` : 'no snapshot'}`);
    }
    return {
      ok: errors.length === 0,
      snapshots: snaps.length,
      packs: repo.packs.size,
      blobs: repo.index.size,
      errors,
      damaged: damagedList,
      unindexedPacks,
      staleTemporaryFiles: (await staleTemporaryFiles(repo, lock)).map((f) => f.path),
      packsRead,
    };
  } finally {
    await lock.release();
  }
}
