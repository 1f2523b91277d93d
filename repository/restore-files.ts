import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { constants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ByteGate } from './byte-gate.ts';
import type { BlobLocation, Repository } from './repo.ts';
import { dataRanges, type Fallocate, fallocateCli, largest, PREALLOC_MIN, PREALLOC_RANGES, preallocate, ZeroBlobs } from './preallocate.ts';
import type { BlobOutcome, FileOutcome, RestoreBlob, RestoreWorkers, WholeFile } from './restore-workers.ts';
import type { TreeNode } from './tree.ts';

/** A file to restore: its slash-separated path under the target and its node. */
export interface FileJob {
  rel: string;
  node: TreeNode;
}

/**
 * Node's utimes takes seconds as a double (±0.24 µs at today's epoch) and libuv truncates to ns, so
 * we aim at the middle of the microsecond: restored mtimes are exact to the microsecond, never off by one.
 */
export function nsToSeconds(ns: string): number {
  const us = BigInt(ns) / 1000n;
  return Number(us / 1_000_000n) + (Number(us % 1_000_000n) + 0.5) / 1e6;
}

const ZERO = Buffer.alloc(64 * 1024);

/** Write `data` at `at`, leaving 64 KiB runs of zeros as holes (the final truncate sets the size), so sparse files stay sparse. */
async function writeSparse(fd: number, data: Buffer, at: number): Promise<void> {
  const writeAll = async (off: number, len: number, pos: number) => {
    while (len > 0) {
      const n = await fsc.write(fd, data, off, len, pos);
      off += n;
      len -= n;
      pos += n;
    }
  };
  let runStart = -1;
  for (let o = 0; o < data.length; o += ZERO.length) {
    const n = Math.min(ZERO.length, data.length - o);
    const zero = data.compare(ZERO, 0, n, o, o + n) === 0;
    if (!zero && runStart < 0) runStart = o;
    if (zero && runStart >= 0) {
      await writeAll(runStart, o - runStart, at + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await writeAll(runStart, data.length - runStart, at + runStart);
}

/** The single-threaded path (one core, `workers: 0`): Repository.openBlob, then positioned writes. */
async function openAndWriteInline(repo: Repository, pack: string, buf: Buffer, blobs: PlannedBlob[], specs: RestoreBlob[]): Promise<BlobOutcome[]> {
  const out: BlobOutcome[] = [];
  for (let i = 0; i < blobs.length; i++) {
    const spec = specs[i]!;
    try {
      const raw = await repo.openBlob(buf.subarray(spec.at, spec.at + spec.length), blobs[i]!.entry, pack);
      for (const [fd, at] of spec.targets) await writeSparse(fd, raw, at);
      out.push(null);
    } catch (e) {
      out.push({ message: (e as Error).message });
    }
  }
  return out;
}

/** Promisified fd calls (numeric fds: the restore workers write to the same descriptors). */
const fsc = {
  open: promisify(fs.open),
  close: promisify(fs.close),
  write: (fd: number, b: Buffer, off: number, len: number, pos: number) =>
    new Promise<number>((resolve, reject) => fs.write(fd, b, off, len, pos, (e, n) => (e ? reject(e) : resolve(n)))),
  ftruncate: promisify(fs.ftruncate),
  fdatasync: promisify(fs.fdatasync),
  fchmod: promisify(fs.fchmod),
  fchown: promisify(fs.fchown),
  futimes: promisify(fs.futimes),
};

const MiB = 1024 * 1024;
/** A pack range read in one request: consecutive needed blobs, at most this long (one larger blob reads alone). */
const RUN_MAX = 8 * 1024 * 1024 + 64 * 1024;
/** Needed blobs closer than this are read in one request, the bytes between them discarded. */
const RUN_GAP = 256 * 1024;
/** Blobs at least this long are cut into runs of `largeRunMax` (planReads). */
const LARGE_BLOB = 256 * 1024;
/**
 * A file written through descriptors and not preallocated (preallocate.ts: no `fallocate` tool, or a filesystem
 * without it) is looked at after this many bytes: on a filesystem with less than twice its size free it is flushed
 * (fdatasync, on the libuv pool while the workers write on) whenever a quarter of the space then free was written
 * (`nextFlush`). ext4 makes a writer wait for writeback of the whole filesystem once its delayed-allocation backlog
 * reaches half the free space (ext4_nonda_switch), which a large file restored into a volume not much larger than it
 * reaches: one 4 GiB file into 5.25 GiB stalled both workers for seconds at a time (FORMAT.md, "Restore: one large
 * file"). With room to spare nothing is flushed: the page cache takes the writes as before.
 */
export const FLUSH_BYTES = 64 * 1024 * 1024;

/**
 * Bytes to write before the next flush of a file of `size` bytes, `avail` bytes free on its filesystem now, or
 * undefined when it needs none (twice its size free). A quarter of the free space keeps the backlog under half of it.
 */
export function nextFlush(size: number, avail: number, min = FLUSH_BYTES): number | undefined {
  return size * 2 > avail ? Math.max(min, Math.floor(avail / 4)) : undefined;
}
/** Files kept open between writes; beyond it the least recently used unpinned one is closed (and reopened on demand). */
export const MAX_OPEN_FILES = 256;

interface PlannedBlob {
  entry: BlobLocation;
  /** [file index, offset in that file] for every use of this blob. */
  targets: [number, number][];
}

interface Run {
  pack: string;
  offset: number;
  length: number;
  blobs: PlannedBlob[];
}

interface ReadPlan {
  runs: Run[];
  /** Per file: its size, how many blob writes it waits for, and why it cannot be restored (missing blobs). */
  sizes: number[];
  uses: number[];
  failed: (string | undefined)[];
  storedBytes: number;
}

/**
 * Which pack ranges to read, in which order: packs in the order files first need them (so files
 * complete early and stay few at a time), within a pack by offset, neighbouring blobs merged into
 * one read. Every blob is read and opened once however many files (or places in a file) use it —
 * the zero runs of sparse files, duplicated files. A read grows to `runMax`, or `largeRunMax` when the blob it
 * would take in is LARGE_BLOB or longer. Pure over the index.
 */
export function planReads(repo: { index: Pick<Repository['index'], 'get' | 'has'> }, files: readonly { rel: string; node: TreeNode }[], runMax = RUN_MAX, gap = RUN_GAP, largeRunMax = runMax): ReadPlan {
  const byPack = new Map<string, Map<string, PlannedBlob>>();
  const sizes: number[] = [];
  const uses: number[] = [];
  const failed: (string | undefined)[] = [];
  files.forEach((f, fi) => {
    const content = f.node.content ?? [];
    const missing = content.find((id) => !repo.index.has(id));
    if (missing) {
      sizes.push(0);
      uses.push(0);
      failed.push(`blob ${missing.slice(0, 16)} is missing from the repository`);
      return;
    }
    let offset = 0;
    for (const id of content) {
      const entry = repo.index.get(id)!;
      let blobs = byPack.get(entry.pack);
      if (!blobs) byPack.set(entry.pack, (blobs = new Map()));
      let b = blobs.get(id);
      if (!b) blobs.set(id, (b = { entry, targets: [] }));
      b.targets.push([fi, offset]);
      offset += entry.rawLength;
    }
    sizes.push(offset);
    uses.push(content.length);
    failed.push(undefined);
  });
  const runs: Run[] = [];
  let storedBytes = 0;
  for (const [pack, blobMap] of byPack) {
    const blobs = [...blobMap.values()].sort((a, b) => a.entry.offset - b.entry.offset);
    let cur: Run | undefined;
    for (const b of blobs) {
      const end = b.entry.offset + b.entry.length;
      if (cur && b.entry.offset - (cur.offset + cur.length) <= gap && end - cur.offset <= (b.entry.rawLength >= LARGE_BLOB ? largeRunMax : runMax)) {
        cur.length = end - cur.offset;
        cur.blobs.push(b);
      } else {
        if (cur) runs.push(cur);
        cur = { pack, offset: b.entry.offset, length: b.entry.length, blobs: [b] };
      }
    }
    if (cur) runs.push(cur);
  }
  for (const r of runs) storedBytes += r.length;
  return { runs, sizes, uses, failed, storedBytes };
}

/**
 * Read buffers reused across runs (shared memory when workers read them): no page faults per pack. Each is sized to
 * its run in whole MiB and the smallest free one that fits is reused; the bytes of every buffer kept stay within
 * `cap` (the gate's limit and one largest run), so what is resident follows the gate. Buffers of RUN_MAX each let
 * many small runs leave as many 8 MiB buffers behind, touched a little more at every reuse: restore of 512 MiB mixed
 * held 58 MiB of buffers under a 32 MiB gate.
 */
class BufferPool {
  private readonly free: Buffer[] = [];
  /** Bytes of all buffers made and not let go (in use or free). */
  private held = 0;
  constructor(
    private readonly cap: number,
    private readonly sharedMemory: boolean,
  ) {}
  take(n: number): Buffer {
    let best: Buffer | undefined;
    for (const b of this.free) if (b.length >= n && (!best || b.length < best.length)) best = b;
    if (best) {
      this.free.splice(this.free.indexOf(best), 1);
      return best.subarray(0, n);
    }
    const size = Math.ceil(n / MiB) * MiB;
    // room for it: the largest free buffers go first (the garbage collector frees them)
    this.free.sort((a, b) => a.length - b.length);
    while (this.free.length && this.held + size > this.cap) this.held -= this.free.pop()!.length;
    this.held += size;
    return (this.sharedMemory ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size)).subarray(0, n);
  }
  give(lease: Buffer): void {
    const b = Buffer.from(lease.buffer, 0, lease.buffer.byteLength);
    if (this.held > this.cap) this.held -= b.length;
    else this.free.push(b);
  }
}

interface FileState {
  job: FileJob;
  size: number;
  /** Blob writes still to come. */
  left: number;
  /** Writes in flight on the open descriptor: while > 0 it is never closed. */
  pins: number;
  failed?: string;
  tmp?: string;
  final?: string;
  fd?: number;
  opening?: Promise<number>;
  /** Renamed into place or cleaned up. */
  finalized?: boolean;
  /** Bytes written since the last flush, and how many start the next (undefined: never, room to spare); the flush in flight. */
  unflushed: number;
  flushAt?: number;
  flushing?: Promise<void>;
}

/** A directory being restored into, made and checked (restore.ts). */
export interface RestoreDir {
  path: string;
  /** Its group: when it is this process's, a file created in it gets that group under any rule (setgid, grpid). */
  gid: number;
  /**
   * Its owner. A file created in a directory that is not this process's own keeps its fchown: on a filesystem that
   * maps the creator (NFS root_squash, idmapped mounts) a directory this restore made shows it, and the chown then
   * fails loudly instead of a file silently keeping the mapped owner.
   */
  uid: number;
  /** No default ACL applies to files created in it: their mode is the create mode less the umask. */
  plain: boolean;
}

/** How a file ended: `error` unset when it is in place. */
export type FileDone = (job: FileJob, bytes: number, error?: string) => void;

export interface FileWriterOptions {
  /** Bound on sealed bytes read and not yet written. */
  limit: number;
  maxOpenFiles: number;
  owner: boolean;
  root: string;
  /** The directory that holds `rel`, made and checked (sync once made: every file's is, before files are written). */
  dirOf: (rel: string) => RestoreDir | Promise<RestoreDir>;
  onFile: FileDone;
  /** Plaintext bytes written (progress). */
  onBytes: (n: number) => void;
  /** Bytes written to a file through descriptors between flushes (default FLUSH_BYTES). */
  flushBytes?: number;
  /** Flush whatever the free space (tests: a filesystem of their own would need a mount). */
  flushAlways?: boolean;
  /** How to preallocate a larger file's data (default util-linux `fallocate`); false: never. */
  fallocate?: Fallocate | false;
  /** Files of at least this many bytes are preallocated (default PREALLOC_MIN). */
  preallocateMin?: number;
  /** A file's xattrs, set on its final path (main thread: the add-on is not loaded in workers). */
  restoreXattrs: (p: string, job: FileJob) => void;
}

/**
 * Writes files' contents, batch by batch: each batch is planned (`planReads`) and run against shared
 * limits — sealed bytes in flight, open descriptors, read buffers — so what the restore holds per file
 * lives only as long as its batch (restore.ts walks the snapshot again instead of keeping every file).
 * A file whose blobs are all in one pack range is created and finished by the worker that writes it
 * (restore-workers.ts): a small file costs the main thread no file-system call. Others are created here
 * under a temporary name, written by the workers through their descriptors, and renamed when complete.
 */
export class FileWriter {
  readonly gate: ByteGate;
  private readonly buffers: BufferPool;
  private readonly fds: OpenFiles;
  /** Temporary names: `.coffer-restore-<random per restore>-<n>`, created with O_EXCL. */
  private readonly tmpPrefix = `.coffer-restore-${randomBytes(6).toString('hex')}-`;
  private tmpSeq = 0;
  /** Per-file states alive at once (tests assert this stays bounded by the batch size, not the snapshot). */
  filesHeld = 0;
  peakFilesHeld = 0;
  peakBytesInFlight = 0;

  constructor(
    private readonly repo: Repository,
    private readonly workers: RestoreWorkers | undefined,
    private readonly o: FileWriterOptions,
  ) {
    this.gate = new ByteGate(o.limit);
    this.buffers = new BufferPool(o.limit + RUN_MAX, workers !== undefined);
    this.fds = new OpenFiles(o.maxOpenFiles);
    this.fallocate = o.fallocate === false ? undefined : (o.fallocate ?? fallocateCli());
  }

  /** This process's user, group and umask: what a file created here gets without a chown or chmod. */
  private readonly uid = process.geteuid?.() ?? -1;
  private readonly gid = process.getegid?.() ?? -1;
  private readonly umask = process.umask();

  tmpName(dir: string): string {
    return path.join(dir, this.tmpPrefix + (this.tmpSeq++).toString(36));
  }

  /** Unset once `fallocate` is missing or refused: the rest of this restore does without (and flushes instead). */
  private fallocate: Fallocate | undefined;
  private zeros?: ZeroBlobs;
  /** Files preallocated (every data range); files written without preallocation where it was tried (stats, tests). */
  preallocated = 0;
  notPreallocated = 0;

  /**
   * A larger file just created, before its first write: its data ranges allocated, and no flushes needed then. The
   * tool is given the descriptor's /proc path, never the name: nothing planted at the name can redirect it. Out of
   * room, the partial allocation is dropped and the restore goes on: its writes then fail with today's ENOSPC error.
   */
  async created(f: FileState, fd: number): Promise<void> {
    if (!this.fallocate || f.size < (this.o.preallocateMin ?? PREALLOC_MIN)) return;
    const zeros = (this.zeros ??= new ZeroBlobs(this.repo));
    const all = dataRanges((f.job.node.content ?? []).map((id) => {
      const e = this.repo.index.get(id)!;
      return { length: e.rawLength, zero: zeros.is(e) };
    }));
    const ranges = largest(all, PREALLOC_RANGES);
    if (!ranges.length) return;
    const got = await preallocate(this.fallocate, `/proc/${process.pid}/fd/${fd}`, ranges);
    if (got === 'done') {
      this.preallocated++;
      if (ranges.length === all.length) f.flushAt = undefined;
      return;
    }
    this.notPreallocated++;
    if (got === 'none') this.fallocate = undefined;
    else await fsc.ftruncate(fd, 0).catch(() => undefined);
  }

  /**
   * Write and finish every file of `files`. Files that cannot be restored (a damaged blob, a failed write) are
   * reported through `onFile` and leave nothing behind; an unexpected failure (a worker died) throws, after the
   * batch's temporary files are removed.
   */
  async write(files: readonly FileJob[]): Promise<void> {
    const { fds, o } = this;
    // runs of large blobs at most a third of the gate, so three are in flight: with halves (two in flight, one read
    // while one is decoded) each restore worker waited for its next job a quarter of the time on one 4 GiB file (thread
    // states sampled every 5 ms); thirds: 4 GiB median 9.60 → 8.76 s, 1 GiB 1.89 → 1.76, 512 MiB mixed
    // 1.08 → 0.97, peak RSS +0–5 MiB (quarters: +14 MiB on mixed). At 12 MiB, 8 MiB runs went one at a time, one core
    // idle (mixed 1.36 → 1.0 s). Runs of small blobs stay long: mostly whole files created on the workers, where
    // halving them cost 20 MiB RSS (FORMAT.md).
    const plan = planReads(this.repo, files, Math.min(RUN_MAX, o.limit), RUN_GAP, Math.min(RUN_MAX, Math.floor(o.limit / 3)));
    const states: FileState[] = files.map((job, i) => ({ job, size: plan.sizes[i]!, left: plan.uses[i]!, pins: 0, failed: plan.failed[i], unflushed: 0, flushAt: o.flushBytes ?? FLUSH_BYTES }));
    this.filesHeld += states.length;
    this.peakFilesHeld = Math.max(this.peakFilesHeld, this.filesHeld);
    const finishing: Promise<void>[] = [];

    const done = (f: FileState, ok: boolean) => {
      f.finalized = true;
      o.onFile(f.job, f.size, ok ? undefined : (f.failed ?? 'not restored'));
    };
    const finalize = async (f: FileState) => {
      f.finalized = true;
      let ok = false;
      try {
        await f.flushing;
        if (f.failed) return;
        const fd = await fds.acquire(f, o.dirOf, this);
        try {
          await fsc.ftruncate(fd, f.size);
          // chown before chmod: chown clears setuid bits
          if (o.owner) await fsc.fchown(fd, f.job.node.uid, f.job.node.gid).catch(() => undefined);
          await fsc.fchmod(fd, f.job.node.mode & 0o7777);
          const t = nsToSeconds(f.job.node.mtime);
          await fsc.futimes(fd, t, t);
        } finally {
          fds.release(f);
        }
        await fds.close(f);
        await fsp.rename(f.tmp!, f.final!);
        if (f.job.node.xattrs) o.restoreXattrs(f.final!, f.job);
        ok = true;
      } catch (e) {
        f.failed ??= (e as Error).message;
      } finally {
        if (!ok) {
          await fds.close(f).catch(() => undefined);
          if (f.tmp) await fsp.rm(f.tmp, { force: true });
        }
        done(f, ok);
      }
    };
    const settle = (f: FileState) => {
      if (--f.left === 0) finishing.push(finalize(f));
    };
    /** Look at `f` once flushAt bytes were written since the last flush, and flush it if nextFlush says so (pinned meanwhile). */
    const flushSome = (f: FileState, n: number) => {
      f.unflushed += n;
      if (f.flushAt === undefined || f.unflushed < f.flushAt || f.flushing || f.fd === undefined || f.left <= 1) return;
      f.unflushed = 0;
      f.pins++;
      const fd = f.fd;
      const min = o.flushBytes ?? FLUSH_BYTES;
      f.flushing = (async () => {
        // a filesystem that cannot say its free space is not flushed: the restore does not fail for want of a hint
        const avail = await fsp.statfs(path.dirname(f.final!)).then((st) => st.bavail * st.bsize, () => Infinity);
        f.flushAt = o.flushAlways ? min : nextFlush(f.size, avail, min);
        if (f.flushAt !== undefined) await fsc.fdatasync(fd);
      })()
        .catch((e: unknown) => void (f.failed ??= (e as Error).message))
        .finally(() => {
          fds.release(f);
          f.flushing = undefined;
        });
    };
    for (const f of states) if (f.left === 0) finishing.push(finalize(f));

    const runRead = async (run: Run, lease: Buffer) => {
      try {
        if (this.repo.backend.getRangeInto) await this.repo.backend.getRangeInto('data', run.pack, run.offset, lease);
        else lease.set(await this.repo.backend.getRange('data', run.pack, run.offset, run.length));
      } catch (e) {
        const message = `pack ${run.pack}: ${(e as Error).message}`;
        return finishRun(run, run.blobs.map(() => ({ message })), [], new Map(), []);
      }
      // Files whose every blob is in this run are created and finished on the worker; the others are opened
      // (and pinned, so the open-file cache cannot close them) before their blobs are written.
      const whole = new Map<number, number>();
      const wholeFiles: WholeFile[] = [];
      if (this.workers) {
        const count = new Map<number, number>();
        for (const b of run.blobs) for (const [fi] of b.targets) count.set(fi, (count.get(fi) ?? 0) + 1);
        for (const [fi, n] of count) {
          const f = states[fi]!;
          if (f.failed || n !== f.left || f.tmp || f.job.node.xattrs) continue;
          const d = o.dirOf(f.job.rel);
          const dir = d instanceof Promise ? await d : d;
          const node = f.job.node;
          const mode = node.mode & 0o7777;
          // no fchown when the file is created with its owner already, no fchmod when created with its final mode
          const chown = o.owner && (node.uid !== this.uid || node.gid !== this.gid || dir.gid !== this.gid || dir.uid !== this.uid);
          const direct = !chown && dir.plain && (mode & (0o7000 | this.umask)) === 0;
          whole.set(fi, wholeFiles.length);
          wholeFiles.push({ blobs: n, final: `${dir.path}/${node.name}`, size: f.size, mode, chown, direct, uid: node.uid, gid: node.gid, mtime: nsToSeconds(node.mtime) });
        }
      }
      const specs: RestoreBlob[] = [];
      const pinned: FileState[] = [];
      for (const b of run.blobs) {
        const targets: [number, number][] = [];
        const inWorker: [number, number][] = [];
        for (const [fi, at] of b.targets) {
          const f = states[fi]!;
          const j = whole.get(fi);
          if (j !== undefined) {
            inWorker.push([j, at]);
            continue;
          }
          if (f.failed) continue;
          try {
            targets.push([await fds.acquire(f, o.dirOf, this), at]);
            pinned.push(f);
          } catch (e) {
            f.failed ??= (e as Error).message;
            fds.release(f);
          }
        }
        specs.push({ id: b.entry.id, at: b.entry.offset - run.offset, length: b.entry.length, rawLength: b.entry.rawLength, comp: b.entry.comp, targets, files: inWorker.length ? inWorker : undefined });
      }
      let outcomes: BlobOutcome[];
      let fileOutcomes: FileOutcome[] = [];
      try {
        if (this.workers) ({ results: outcomes, files: fileOutcomes } = await this.workers.run(run.pack, lease, specs, wholeFiles, this.tmpName('')));
        else outcomes = await openAndWriteInline(this.repo, run.pack, lease, run.blobs, specs);
      } catch (e) {
        // a dead worker is not a damaged blob: the restore stops with its typed error
        for (const f of pinned) fds.release(f);
        throw e;
      }
      return finishRun(run, outcomes, pinned, whole, fileOutcomes);
    };
    /** Book the outcome of a run: unpin, fail the files of refused blobs, finish files whose last blob this was. */
    const finishRun = (run: Run, outcomes: BlobOutcome[], pinned: FileState[], whole: Map<number, number>, fileOutcomes: FileOutcome[]) => {
      for (const f of pinned) fds.release(f);
      run.blobs.forEach((b, i) => {
        const out = outcomes[i];
        for (const [fi] of b.targets) {
          const f = states[fi]!;
          if (out) f.failed ??= out.message;
          else if (!f.failed) o.onBytes(b.entry.rawLength);
          if (whole.has(fi)) continue;
          if (!out && !f.failed) flushSome(f, b.entry.rawLength);
          settle(f);
        }
      });
      for (const [fi, j] of whole) {
        const f = states[fi]!;
        f.left = 0;
        const why = fileOutcomes[j];
        if (why) f.failed ??= why;
        done(f, !why);
      }
    };

    let failure: unknown;
    try {
      const inFlight = new Set<Promise<void>>();
      for (const run of plan.runs) {
        if (failure) break;
        await this.gate.acquire(run.length);
        this.peakBytesInFlight = Math.max(this.peakBytesInFlight, this.gate.used);
        const lease = this.buffers.take(run.length);
        const p: Promise<void> = runRead(run, lease)
          .catch((e: unknown) => {
            failure ??= e;
          })
          .finally(() => {
            this.buffers.give(lease);
            this.gate.release(run.length);
            inFlight.delete(p);
          });
        inFlight.add(p);
      }
      await Promise.all(inFlight);
      await Promise.all(finishing);
    } catch (e) {
      failure ??= e;
    } finally {
      this.filesHeld -= states.length;
      if (failure) {
        // an unexpected failure stopped the run: no half-written file stays behind under a temporary name
        for (const f of states) {
          if (f.finalized) continue;
          await f.flushing;
          await fds.close(f).catch(() => undefined);
          if (f.tmp) await fsp.rm(f.tmp, { force: true });
        }
      }
    }
    if (failure) throw failure;
  }

  async close(): Promise<void> {
    await this.fds.closeAll();
  }
}

/**
 * Descriptors of the files being restored. A file is created on first use under a temporary name
 * (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) and renamed into place once complete; beyond `max` open
 * files the least recently used one without writes in flight is closed and reopened
 * (O_NOFOLLOW) when needed, so a restore of many interleaved files stays under the fd limit.
 */
class OpenFiles {
  private readonly open = new Set<FileState>();
  private count = 0;
  constructor(private readonly max: number) {}

  /** Pin and return the file's descriptor, creating the file on first use under a name from `names`. */
  async acquire(f: FileState, dirOf: (rel: string) => RestoreDir | Promise<RestoreDir>, names: { tmpName(dir: string): string; created(f: FileState, fd: number): Promise<void> }): Promise<number> {
    f.pins++;
    this.open.delete(f);
    this.open.add(f);
    if (f.fd !== undefined) return f.fd;
    if (!f.opening) {
      f.opening = (async () => {
        if (!f.tmp) {
          const dir = (await dirOf(f.job.rel)).path;
          f.final = path.join(dir, f.job.node.name);
          const tmp = names.tmpName(dir);
          const fd = await fsc.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          f.tmp = tmp;
          await names.created(f, fd);
          return fd;
        }
        return fsc.open(f.tmp, constants.O_WRONLY | constants.O_NOFOLLOW);
      })();
      f.opening.then(
        (fd) => {
          f.fd = fd;
          f.opening = undefined;
          this.count++;
          this.evict();
        },
        () => {
          f.opening = undefined;
        },
      );
    }
    return f.opening;
  }

  release(f: FileState): void {
    if (f.pins > 0) f.pins--;
  }

  /** Close least recently used unpinned files until at most `max` are open (counted, not recounted: O(1) per open). */
  private evict(): void {
    if (this.count <= this.max) return;
    let over = this.count - this.max;
    for (const f of this.open) {
      if (over <= 0) break;
      if (f.fd === undefined || f.pins > 0) continue;
      void this.close(f).catch(() => undefined);
      over--;
    }
  }

  async close(f: FileState): Promise<void> {
    this.open.delete(f);
    if (f.opening) await f.opening.catch(() => undefined);
    const fd = f.fd;
    f.fd = undefined;
    if (fd !== undefined) {
      this.count--;
      await fsc.close(fd);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open].map((f) => this.close(f).catch(() => undefined)));
  }
}
