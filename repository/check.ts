import { createHash } from 'node:crypto';
import { acquireLock, staleTemporaryFiles } from './lock.ts';
import { decodeHeader } from './pack.ts';
import { listSnapshots, loadTree, type SnapshotInfo } from './tree.ts';
import { unseal } from './crypto.ts';
import { collectNow, DEFAULT_BUDGET, paceHeap, planMemory } from './memory.ts';
import { mapLimit, type Repository } from './repo.ts';
import { ByteRing, lend } from './byte-ring.ts';
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
  /** The memory budget: --read-data reads pack runs into a ring of at most a sixteenth of it (memory.ts `planMemory`). */
  memoryBudget?: number;
  onProgress?: (p: { packs: number; totalPacks: number }) => void;
  /** Bytes of a pack --read-data reads at once (`CHECK_RUN_BYTES`; tests use small ones to cut packs into many runs). */
  runBytes?: number;
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
      // each worker's young generation is small (memory.ts workerHeapLimits): it holds only per-blob garbage. Every
      // decoder is a thread: the main thread hashes each pack here, and as a decoder too it made check 10–30% slower
      const workers = workerCount > 0 ? new RestoreWorkers(repo.key, workerCount, plan.gcEvery, { onThisThread: false }) : undefined;
      // shared memory when workers read the runs: no copy crosses threads
      const alloc = (n: number): Buffer => (workers ? Buffer.from(new SharedArrayBuffer(n)) : Buffer.allocUnsafeSlow(n));
      const runBytes = opts.runBytes ?? CHECK_RUN_BYTES;
      let largest = 0;
      for (const pack of packs) for (const e of repo.packs.get(pack)!) largest = Math.max(largest, e.length);
      const reader: RunReader = { ring: new ByteRing(checkRingBytes(plan.checkBytesInFlight, runBytes, largest), alloc), alloc, runBytes };
      try {
        // Two packs at a time: the next pack's first runs are read while the last runs of the one before are verified.
        await mapLimit(packs, 2, async (pack) => {
          const problems = await verifyPack(repo, workers, reader, pack, repo.packs.get(pack)!, onDisk.get(pack)!);
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

/** Bytes of a pack read at once by check --read-data (whole blobs: one larger blob is read alone). */
export const CHECK_RUN_BYTES = 512 * 1024;

/**
 * Bytes of pack runs read and not yet verified (the ring's size): four runs, or the largest stored blob and a run
 * beside it, at most `max` (memory.ts `checkBytesInFlight`; a larger blob is then read alone) but never under four
 * runs. Sized to the repository because every byte of the ring becomes resident: 30,000 small files peaked at 122 MiB
 * with a 10 MiB ring, 111 with 4, 103 with 2 (the whole 17 MiB pack before: 122–127). 8 MiB chunks get 8.5 MiB.
 */
export function checkRingBytes(max: number, runBytes: number, largestBlob: number): number {
  return Math.min(Math.max(4 * runBytes, largestBlob + runBytes), Math.max(4 * runBytes, max));
}

/**
 * One read of a pack: bytes `[start, readEnd)` hold `blobs` (whole); `[start, end)` is its share of the pack's
 * SHA-256, fed in order (`end` is the next run's `start`, the last run's is the pack's size, so every byte of the
 * pack — gaps, unindexed blobs, the header — is hashed exactly once). `readEnd` passes `end` only where the index
 * lists overlapping blobs, which a sound pack never has.
 */
export interface PackRun {
  start: number;
  end: number;
  readEnd: number;
  blobs: PackEntry[];
}

/**
 * Cut a pack of `size` bytes into runs of whole blobs of about `runBytes` each (`entries` inside the pack, any order).
 * Pure; the last run holds the header and its length.
 */
export function planRuns(entries: readonly PackEntry[], size: number, runBytes: number): PackRun[] {
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  const runs: PackRun[] = [];
  let cur: PackRun = { start: 0, end: 0, readEnd: 0, blobs: [] };
  for (const e of sorted) {
    if (cur.blobs.length > 0 && e.offset > cur.start && e.offset + e.length - cur.start > runBytes) {
      cur.end = e.offset;
      runs.push(cur);
      cur = { start: e.offset, end: 0, readEnd: e.offset, blobs: [] };
    }
    cur.blobs.push(e);
    cur.readEnd = Math.max(cur.readEnd, e.offset + e.length);
  }
  cur.end = size;
  cur.readEnd = Math.max(cur.readEnd, size);
  runs.push(cur);
  return runs;
}

/** Shared between the packs in flight: the ring their runs are read into. */
interface RunReader {
  ring: ByteRing;
  /** A buffer for a run larger than the ring (`lend`). */
  alloc: (n: number) => Buffer;
  runBytes: number;
}

/**
 * Reads `[offset, offset + into.length)` of a pack. A backend without `getRangeInto` (S3) is asked for the whole pack
 * once (one request, not one per run), which is then copied from.
 */
function packReader(repo: Repository, pack: string, size: number): (offset: number, into: Buffer) => Promise<void> {
  const backend = repo.backend;
  if (backend.getRangeInto) return (offset, into) => backend.getRangeInto!('data', pack, offset, into);
  let whole: Promise<Buffer> | undefined;
  return async (offset, into) => {
    const got = await (whole ??= backend.get('data', pack));
    if (got.length !== size) throw new Error(`pack is ${got.length} bytes, listed as ${size}`);
    got.copy(into, 0, offset, offset + into.length);
  };
}

/**
 * Verify one pack: its SHA-256 against its name, its header, and every indexed blob (authenticated, decompressed,
 * id recomputed). Read in runs of whole blobs (`planRuns`) into reused buffers: the main thread feeds each run to the
 * pack's SHA-256 in order and hands its blobs to the least busy worker, then reads the next while the workers
 * verify (the whole-pack buffer before 2026-12-07 left a core idle during each read and cost 17 MiB of RSS).
 * Returns the problems found.
 */
async function verifyPack(repo: Repository, workers: RestoreWorkers | undefined, reader: RunReader, pack: string, entries: PackEntry[], size: number): Promise<string[]> {
  const inside = entries.filter((e) => e.offset >= 0 && e.length >= 0 && e.offset + e.length <= size);
  let bad = entries.length - inside.length;
  const runs = planRuns(inside, size, reader.runBytes);
  const read = packReader(repo, pack, size);
  const hash = createHash('sha256');
  const problems: string[] = [];
  const verifying: Promise<number>[] = [];
  let readError: string | undefined;
  let failure = false;
  for (const run of runs) {
    // a worker that died fails every run: stop reading (the error is thrown below)
    if (failure) break;
    const { buf, free: done } = await lend(reader.ring, run.readEnd - run.start, reader.alloc);
    try {
      await read(run.start, buf);
    } catch (e) {
      done();
      readError = (e as Error).message;
      break;
    }
    hash.update(buf.subarray(0, run.end - run.start));
    if (run.end === size) {
      const header = headerProblem(repo, pack, buf.subarray(0, size - run.start));
      if (header) problems.push(`header: ${header}`);
    }
    const verified = verifyBlobs(repo, workers, pack, buf, run).finally(done);
    // handled now, thrown by the Promise.all below: a rejection left unhandled until then would end the process
    verified.catch(() => (failure = true));
    verifying.push(verified);
  }
  // every run read is verified before its buffer goes back, even after a read failed
  const failed = (await Promise.all(verifying)).reduce((a, b) => a + b, 0);
  if (readError !== undefined) return [readError];
  if (hash.digest('hex') !== pack) problems.unshift('content hash does not match the pack name');
  bad += failed;
  if (bad) problems.push(`${bad} of ${entries.length} blob(s) fail authentication`);
  return problems;
}

/**
 * The pack's header, from the tail of its last run (`tail` ends at the pack's end). A sound header lies after every
 * blob, so inside the last run; a length reaching past it is damage.
 */
function headerProblem(repo: Repository, pack: string, tail: Buffer): string | undefined {
  try {
    if (tail.length < 4) throw new Error('too short for a header length');
    const hl = tail.readUInt32LE(tail.length - 4);
    if (hl + 4 > tail.length) throw new Error(`a header of ${hl} bytes would overlap the indexed blobs`);
    decodeHeader(unseal(repo.key.encrypt, tail.subarray(tail.length - 4 - hl, tail.length - 4), `pack ${pack} header`), `pack ${pack}`);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The blobs of one run, on the least busy worker (or this thread): how many fail. */
async function verifyBlobs(repo: Repository, workers: RestoreWorkers | undefined, pack: string, buf: Buffer, run: PackRun): Promise<number> {
  if (workers) {
    const specs: RestoreBlob[] = run.blobs.map((e) => ({ id: e.id, at: e.offset - run.start, length: e.length, rawLength: e.rawLength, comp: e.comp, targets: [] }));
    const { results } = await workers.verify(pack, buf, specs);
    return results.filter((r) => r !== null).length;
  }
  let bad = 0;
  for (const e of run.blobs) {
    try {
      await repo.openBlob(buf.subarray(e.offset - run.start, e.offset - run.start + e.length), e, pack);
    } catch {
      bad++;
    }
  }
  return bad;
}
