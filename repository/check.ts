import { storageId } from './crypto.ts';
import { acquireLock, staleTemporaryFiles } from './lock.ts';
import { decodeHeader } from './pack.ts';
import { listSnapshots, loadTree, type SnapshotInfo } from './tree.ts';
import { unseal } from './crypto.ts';
import { collectNow, DEFAULT_BUDGET, paceHeap, planMemory } from './memory.ts';
import { mapLimit, type Repository } from './repo.ts';
import { defaultRestoreWorkers, type RestoreBlob, RestoreWorkers } from './restore-workers.ts';
import type { PackEntry } from './pack.ts';

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
  /** Worker threads that verify packs for --read-data (0 = main thread); default as restore's. */
  workers?: number;
  /** Bytes --read-data may spend on packs in flight (memory.ts `planMemory`). */
  memoryBudget?: number;
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
  const stopHeapPacer = paceHeap(planMemory(opts.memoryBudget ?? DEFAULT_BUDGET, repo.config.chunker, repo.config.packSize, 0).heapGrowth);
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
      // the walk's trees are garbage now: collected before pack buffers and workers join them
      collectNow();
      // pack ids only: each pack's entries are built from the index when it is verified, not all at once
      const packs = [...repo.packs.keys()].filter((pack) => onDisk.has(pack));
      const total = repo.packs.size;
      opts.onProgress?.({ packs: 0, totalPacks: total });
      const plan = planMemory(opts.memoryBudget ?? DEFAULT_BUDGET, repo.config.chunker, repo.config.packSize, 0);
      const workerCount = opts.workers ?? defaultRestoreWorkers();
      // each worker's young generation is small (memory.ts configureWorkerHeaps): it holds only per-blob garbage
      const workers = workerCount > 0 ? new RestoreWorkers(repo.key, workerCount, plan.gcEvery) : undefined;
      // One pack buffer per pack in flight, reused: a fresh SharedArrayBuffer per pack lived until GC (866 MiB RSS).
      const free: Buffer[] = [];
      const take = (n: number): Buffer => {
        const b = free.find((x) => x.length >= n);
        if (b) free.splice(free.indexOf(b), 1);
        return (b ?? (workers ? Buffer.from(new SharedArrayBuffer(Math.max(n, repo.config.packSize + 1024 * 1024))) : Buffer.allocUnsafeSlow(Math.max(n, repo.config.packSize + 1024 * 1024)))).subarray(0, n);
      };
      try {
        // Packs are read and verified `checkPacksInFlight` at a time: reads overlap the workers' AES-GCM,
        // brotli and HMAC of other packs (one pack at a time on the main thread was 0.66x restic's speed).
        await mapLimit(packs, plan.checkPacksInFlight, async (pack) => {
          const buf = take(onDisk.get(pack)!);
          const problems = await verifyPack(repo, workers, pack, repo.packs.get(pack)!, buf).finally(() => free.push(Buffer.from(buf.buffer, 0, buf.buffer.byteLength)));
          packsRead++;
          opts.onProgress?.({ packs: packsRead, totalPacks: total });
          if (problems.length) damaged.set(pack, problems.join('; '));
        });
      } finally {
        await workers?.close();
      }
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
    stopHeapPacer();
    await lock.release();
  }
}

/**
 * Read one whole pack and verify it: its SHA-256 against its name, its header, and every indexed blob
 * (authenticated, decompressed, id recomputed) — on a worker when there are workers. Returns the problems found.
 */
async function verifyPack(repo: Repository, workers: RestoreWorkers | undefined, pack: string, entries: PackEntry[], data: Buffer): Promise<string[]> {
  try {
    // read into `data` (shared memory with workers, so they read the pack without a copy)
    if (repo.backend.getRangeInto) await repo.backend.getRangeInto('data', pack, 0, data);
    else {
      const got = await repo.backend.get('data', pack);
      if (got.length !== data.length) throw new Error(`pack is ${got.length} bytes, listed as ${data.length}`);
      got.copy(data);
    }
  } catch (e) {
    return [(e as Error).message];
  }
  const problems: string[] = [];
  try {
    const hl = data.readUInt32LE(data.length - 4);
    decodeHeader(unseal(repo.key.encrypt, data.subarray(data.length - 4 - hl, data.length - 4), `pack ${pack} header`), `pack ${pack}`);
  } catch (e) {
    problems.push(`header: ${(e as Error).message}`);
  }
  const inside = entries.filter((e) => e.offset + e.length <= data.length);
  let bad = entries.length - inside.length;
  if (workers) {
    const specs: RestoreBlob[] = inside.map((e) => ({ id: e.id, at: e.offset, length: e.length, rawLength: e.rawLength, comp: e.comp, targets: [] }));
    // One pack is verified by every worker at once (each opens a share of its blobs, one also hashes the whole pack,
    // so it gets a third of the blob bytes to the other's two): with one pack buffer in flight both cores still work.
    const cut = workers.size > 1 ? splitAt(specs, 1 / 3) : specs.length;
    const [{ results, hash }, rest] = await Promise.all([workers.verifyPack(pack, data, specs.slice(0, cut)), cut < specs.length ? workers.run(pack, data, specs.slice(cut)) : { results: [] }]);
    if (hash !== pack) problems.unshift('content hash does not match the pack name');
    bad += results.filter((r) => r !== null).length + rest.results.filter((r) => r !== null).length;
  } else {
    if (storageId(data) !== pack) problems.unshift('content hash does not match the pack name');
    for (const e of inside) {
      try {
        await repo.openBlob(data.subarray(e.offset, e.offset + e.length), e, pack);
      } catch {
        bad++;
      }
    }
  }
  if (bad) problems.push(`${bad} of ${entries.length} blob(s) fail authentication`);
  return problems;
}

/** How many of `blobs` (in pack order) hold about `share` of their bytes. */
function splitAt(blobs: readonly { length: number }[], share: number): number {
  const total = blobs.reduce((a, b) => a + b.length, 0);
  let sum = 0;
  let i = 0;
  while (i < blobs.length && sum + blobs[i]!.length <= total * share) sum += blobs[i++]!.length;
  return i;
}
