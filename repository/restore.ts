import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { constants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { RepoError } from './errors.ts';
import { acquireLock } from './lock.ts';
import type { BlobLocation, Repository } from './repo.ts';
import { type BlobOutcome, defaultRestoreWorkers, type RestoreBlob, RestoreWorkers } from './restore-workers.ts';
import { findSnapshot, loadTree, safeName, SPECIAL_TYPES, type TreeNode } from './tree.ts';
import { ByteGate } from './byte-gate.ts';
import { writeXattrs } from './xattr.ts';
import { DEFAULT_BUDGET, planMemory } from './memory.ts';

export interface RestoreProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
  elapsedMs: number;
}

export interface RestoreOptions {
  /** Slash-separated paths inside the snapshot; only these (and everything under them) are restored. */
  include?: string[];
  onProgress?: (p: RestoreProgress) => void;
  /** Restore uid/gid (default: only when running as root). */
  owner?: boolean;
  /** Worker threads that open and write blobs (0 = all on the main thread); default one per core up to 2, or COFFER_RESTORE_WORKERS. */
  workers?: number;
  /** Bound on sealed bytes read but not yet written (default 32 MiB): restore memory does not grow with the snapshot. */
  maxBytesInFlight?: number;
  /** Files kept open at once (default 256). */
  maxOpenFiles?: number;
  /** Bytes the run may spend on buffers: sets maxBytesInFlight when that is not given (memory.ts `planMemory`). */
  memoryBudget?: number;
}

export interface RestoreStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** Second and later paths of hard-linked files, linked to the first. */
  hardlinks: number;
  /** FIFOs and device nodes made. */
  specials: number;
  /** Nodes skipped without harm to the rest (a device node where mknod is not permitted). */
  warnings: string[];
  bytes: number;
  errors: string[];
  seconds: number;
  /** Most sealed bytes held at once (≤ maxBytesInFlight, or one blob larger than that alone). */
  peakBytesInFlight: number;
  /** Worker threads that opened and wrote blobs (0: the main thread did). */
  workers: number;
}

interface Job {
  rel: string;
  node: TreeNode;
}

function normInclude(p: string): string[] {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.some((x) => x === '..')) throw new RepoError('E_REPO_UNSAFE_PATH', `--include "${p}" must not contain ".."`);
  return parts;
}

/**
 * Node's utimes takes seconds as a double (±0.24 µs at today's epoch) and libuv truncates to ns, so
 * we aim at the middle of the microsecond: restored mtimes are exact to the microsecond, never off by one.
 */
function nsToDate(ns: string): number {
  const us = BigInt(ns) / 1000n;
  return Number(us / 1_000_000n) + (Number(us % 1_000_000n) + 0.5) / 1e6;
}

/** mkdir that never follows a symlink planted at `p`: an existing non-directory is refused. */
async function ensureDir(p: string): Promise<void> {
  try {
    await fsp.mkdir(p, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await fsp.lstat(p);
  if (!st.isDirectory()) throw new RepoError('E_REPO_UNSAFE_PATH', `${p} exists and is not a directory (a symlink here could redirect the restore); refusing`);
}

/**
 * Restore a snapshot (or the `include`d parts of it) under `target`.
 * Every name is checked (`..`, `/`, NUL refused), directories are verified
 * with lstat before descending, files are written to a temporary name opened
 * with O_NOFOLLOW|O_EXCL and renamed into place only when every blob has
 * been authenticated, so damaged data never lands as a restored file.
 */
export async function restore(repo: Repository, snapRef: string, target: string, opts: RestoreOptions = {}): Promise<RestoreStats> {
  const started = Date.now();
  // Workers start first: their start-up (~30 ms each) overlaps the lock, the index and the tree walk.
  const workerCount = opts.workers ?? defaultRestoreWorkers();
  const mem = planMemory(opts.memoryBudget ?? DEFAULT_BUDGET, repo.config.chunker, repo.config.packSize, 0);
  const workers = workerCount > 0 ? new RestoreWorkers(repo.key, workerCount, mem.gcEvery) : undefined;
  let lock: Awaited<ReturnType<typeof acquireLock>> | undefined;
  try {
    lock = await acquireLock(repo, false, 'restore');
    await repo.loadIndex();
    const snap = await findSnapshot(repo, snapRef);
    const includes = (opts.include ?? []).map(normInclude);
    const owner = opts.owner ?? process.getuid?.() === 0;
    const root = path.resolve(target);
    await fsp.mkdir(root, { recursive: true });
    const stats: RestoreStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, specials: 0, warnings: [], bytes: 0, errors: [], seconds: 0, peakBytesInFlight: 0, workers: 0 };

    /** A filesystem without user xattrs (or a platform without the add-on) loses them, not the file: a warning. */
    const restoreXattrs = (p: string, job: Job) => {
      try {
        writeXattrs(p, job.node.xattrs!);
      } catch (e) {
        stats.warnings.push(`${job.rel}: ${(e as Error).message}`);
      }
    };

    // 1. Plan: walk the tree, pick included nodes, validate names.
    const dirs: Job[] = [];
    const files: Job[] = [];
    const links: Job[] = [];
    const specials: Job[] = [];
    /** Later paths of a hard-link group, with the first restored path of their group. */
    const hardlinks: { job: Job; first: Job }[] = [];
    const linkGroups = new Map<string, Job>();
    const matched = new Set<number>();
    const visit = async (treeId: string, rel: string[], inside: boolean) => {
      const t = await loadTree(repo, treeId);
      const seen = new Set<string>();
      for (const node of t.nodes) {
        if (!safeName(node.name)) throw new RepoError('E_REPO_UNSAFE_PATH', `snapshot ${snap.id.slice(0, 8)}: entry "${[...rel, node.name].join('/')}" would escape the target; refusing to restore it`);
        if (seen.has(node.name)) throw new RepoError('E_REPO_UNSAFE_PATH', `snapshot ${snap.id.slice(0, 8)}: duplicate entry "${[...rel, node.name].join('/')}"`);
        seen.add(node.name);
        const r = [...rel, node.name];
        let take = inside || includes.length === 0;
        let descend = take;
        if (!take) {
          for (let i = 0; i < includes.length; i++) {
            const inc = includes[i]!;
            const prefixOk = r.every((x, j) => j >= inc.length || inc[j] === x);
            if (!prefixOk) continue;
            if (r.length >= inc.length) {
              take = true;
              matched.add(i);
            } else descend = true;
          }
        }
        const job = { rel: r.join('/'), node };
        if (node.type === 'dir') {
          if (take) dirs.push(job);
          if ((take || descend) && node.subtree) await visit(node.subtree, r, take);
          else if (descend && !take) dirs.push(job);
        } else if (!take) continue;
        else if (node.type === 'file') {
          const key = (node.links ?? 1) > 1 && node.device !== undefined && node.inode !== undefined ? `${node.device}:${node.inode}` : undefined;
          const first = key ? linkGroups.get(key) : undefined;
          if (first) hardlinks.push({ job, first });
          else {
            if (key) linkGroups.set(key, job);
            files.push(job);
          }
        } else if (SPECIAL_TYPES.has(node.type)) specials.push(job);
        else if (node.type === 'symlink') links.push(job);
        else throw new RepoError('E_REPO_VERSION', `snapshot ${snap.id.slice(0, 8)}: "${job.rel}" has node type "${node.type}", which this version cannot restore`);
      }
    };
    await visit(snap.tree, [], false);
    includes.forEach((inc, i) => {
      if (!matched.has(i)) throw new RepoError('E_REPO_PATH', `--include "${inc.join('/')}" matches nothing in snapshot ${snap.id.slice(0, 8)}`);
    });

    const progress: RestoreProgress = { files: 0, totalFiles: files.length, bytes: 0, totalBytes: files.reduce((s, f) => s + (f.node.size ?? 0), 0), elapsedMs: 0 };
    let last = 0;
    const tick = (force = false) => {
      if (!opts.onProgress) return;
      const now = Date.now();
      if (!force && now - last < 200) return;
      last = now;
      progress.elapsedMs = now - started;
      opts.onProgress(progress);
    };

    // 2. Directories (parents before children: the walk is pre-order).
    const dirsDone = new Set<string>();
    const parentOf = async (rel: string): Promise<string> => {
      const parts = rel.split('/').slice(0, -1);
      let cur = root;
      let acc = '';
      for (const p of parts) {
        cur = path.join(cur, p);
        acc = acc ? `${acc}/${p}` : p;
        if (!dirsDone.has(acc)) {
          await ensureDir(cur);
          dirsDone.add(acc);
        }
      }
      return cur;
    };
    for (const d of dirs) {
      await parentOf(d.rel + '/x');
      stats.dirs++;
    }

    // 3. Files, pack by pack: each needed pack range is read once, its blobs are authenticated,
    //    decompressed, verified and written to every place that uses them (restore-workers.ts).
    const limit = Math.max(1, opts.maxBytesInFlight ?? mem.restoreBytesInFlight);
    const plan = planReads(repo, files, Math.min(RUN_MAX, limit));
    stats.workers = workerCount;
    const gate = new ByteGate(limit);
    const buffers = new BufferPool(RUN_MAX, workers !== undefined);
    const fds = new OpenFiles(opts.maxOpenFiles ?? MAX_OPEN_FILES);
    const states: FileState[] = files.map((job, i) => ({ job, size: plan.sizes[i]!, left: plan.uses[i]!, pins: 0, failed: plan.failed[i] }));
    const finishing: Promise<void>[] = [];

    const finalize = async (f: FileState) => {
      f.finalized = true;
      let ok = false;
      try {
        if (f.failed) return;
        const fd = await fds.acquire(f, parentOf);
        try {
          await fsc.ftruncate(fd, f.size);
          await fsc.fchmod(fd, f.job.node.mode & 0o7777);
          if (owner) await fsc.fchown(fd, f.job.node.uid, f.job.node.gid).catch(() => undefined);
        } finally {
          fds.release(f);
        }
        await fds.close(f);
        await fsp.rename(f.tmp!, f.final!);
        if (f.job.node.xattrs) restoreXattrs(f.final!, f.job);
        // chmod again after chown: chown clears setuid bits.
        if (owner) await fsp.chmod(f.final!, f.job.node.mode & 0o7777);
        await fsp.utimes(f.final!, nsToDate(f.job.node.mtime), nsToDate(f.job.node.mtime));
        ok = true;
        stats.files++;
        stats.bytes += f.size;
        progress.files++;
        tick();
      } catch (e) {
        f.failed ??= (e as Error).message;
      } finally {
        if (!ok) {
          stats.errors.push(`${f.job.rel}: ${f.failed}`);
          await fds.close(f).catch(() => undefined);
          if (f.tmp) await fsp.rm(f.tmp, { force: true });
        }
      }
    };
    const settle = (f: FileState) => {
      if (--f.left === 0) finishing.push(finalize(f));
    };
    for (const f of states) if (f.left === 0) finishing.push(finalize(f));

    const runRead = async (run: Run, lease: Buffer) => {
      let outcomes: BlobOutcome[];
      try {
        if (repo.backend.getRangeInto) await repo.backend.getRangeInto('data', run.pack, run.offset, lease);
        else lease.set(await repo.backend.getRange('data', run.pack, run.offset, run.length));
      } catch (e) {
        const message = `pack ${run.pack}: ${(e as Error).message}`;
        outcomes = run.blobs.map(() => ({ message }));
        return finishRun(run, outcomes, []);
      }
      // Files are opened (and pinned, so the open-file cache cannot close them) before their blobs are written.
      const specs: RestoreBlob[] = [];
      const pinned: FileState[] = [];
      for (const b of run.blobs) {
        const targets: [number, number][] = [];
        for (const [fi, at] of b.targets) {
          const f = states[fi]!;
          if (f.failed) continue;
          try {
            targets.push([await fds.acquire(f, parentOf), at]);
            pinned.push(f);
          } catch (e) {
            f.failed ??= (e as Error).message;
            fds.release(f);
          }
        }
        specs.push({ id: b.entry.id, at: b.entry.offset - run.offset, length: b.entry.length, rawLength: b.entry.rawLength, comp: b.entry.comp, targets });
      }
      try {
        outcomes = workers ? await workers.run(run.pack, lease, specs) : await openAndWriteInline(repo, run.pack, lease, run.blobs, specs);
      } catch (e) {
        // a worker died: nothing about these blobs is known, so none of their files is kept
        const message = `pack ${run.pack}: ${(e as Error).message}`;
        outcomes = run.blobs.map(() => ({ message }));
      }
      return finishRun(run, outcomes, pinned);
    };
    /** Book the outcome of a run: unpin, fail the files of refused blobs, finish files whose last blob this was. */
    const finishRun = (run: Run, outcomes: BlobOutcome[], pinned: FileState[]) => {
      for (const f of pinned) fds.release(f);
      run.blobs.forEach((b, i) => {
        const out = outcomes[i];
        for (const [fi] of b.targets) {
          const f = states[fi]!;
          if (out) f.failed ??= out.message;
          else if (!f.failed) {
            progress.bytes += b.entry.rawLength;
            tick();
          }
          settle(f);
        }
      });
    };

    try {
      const inFlight = new Set<Promise<void>>();
      let failure: unknown;
      for (const run of plan.runs) {
        if (failure) break;
        await gate.acquire(run.length);
        stats.peakBytesInFlight = Math.max(stats.peakBytesInFlight, gate.used);
        const lease = buffers.take(run.length);
        const p: Promise<void> = runRead(run, lease)
          .catch((e: unknown) => {
            failure ??= e;
          })
          .finally(() => {
            buffers.give(lease);
            gate.release(run.length);
            inFlight.delete(p);
          });
        inFlight.add(p);
      }
      await Promise.all(inFlight);
      await Promise.all(finishing);
      if (failure) throw failure;
    } finally {
      await fds.closeAll();
      // an unexpected failure stopped the run: no half-written file stays behind under a temporary name
      for (const f of states) if (!f.finalized && f.tmp) await fsp.rm(f.tmp, { force: true });
    }

    // 4. Symlinks, created only now (nothing is ever written through them) and never followed.
    for (const l of links) {
      const dir = await parentOf(l.rel);
      const final = path.join(dir, l.node.name);
      await fsp.rm(final, { force: true });
      await fsp.symlink(l.node.target ?? '', final);
      if (owner) await fsp.lchown(final, l.node.uid, l.node.gid).catch(() => undefined);
      await fsp.lutimes(final, nsToDate(l.node.mtime), nsToDate(l.node.mtime)).catch(() => undefined);
      stats.symlinks++;
    }

    // 4b. Hard links: the later paths of a group become links to the first, once it is in place.
    const failedFiles = new Set(states.filter((f) => f.failed).map((f) => f.job.rel));
    for (const { job, first } of hardlinks) {
      if (failedFiles.has(first.rel)) {
        stats.errors.push(`${job.rel}: not linked, its first path ${first.rel} failed`);
        continue;
      }
      const final = path.join(await parentOf(job.rel), job.node.name);
      await fsp.rm(final, { force: true });
      await fsp.link(path.join(root, ...first.rel.split('/')), final);
      stats.hardlinks++;
    }

    // 4c. FIFOs and device nodes: Node has no mknod(2), so coreutils' mknod makes them (rare, one process each).
    for (const sp of specials) {
      const final = path.join(await parentOf(sp.rel), sp.node.name);
      try {
        await makeSpecial(final, sp.node);
        if (owner) await fsp.lchown(final, sp.node.uid, sp.node.gid);
        await fsp.chmod(final, sp.node.mode & 0o7777);
        await fsp.utimes(final, nsToDate(sp.node.mtime), nsToDate(sp.node.mtime));
        stats.specials++;
      } catch (e) {
        // an unprivileged container may not make device nodes (no CAP_MKNOD): the rest of the restore stands
        stats.warnings.push(`${sp.rel}: ${sp.node.type} not restored: ${(e as Error).message.trim()}`);
      }
    }

    // 5. Directory modes and times last, deepest first, so writing children does not disturb them.
    for (const d of [...dirs].reverse()) {
      const p = path.join(root, ...d.rel.split('/'));
      const st = await fsp.lstat(p);
      if (!st.isDirectory()) continue;
      if (owner) await fsp.chown(p, d.node.uid, d.node.gid).catch(() => undefined);
      if (d.node.xattrs) restoreXattrs(p, d);
      try {
        await fsp.chmod(p, d.node.mode & 0o7777);
        await fsp.utimes(p, nsToDate(d.node.mtime), nsToDate(d.node.mtime));
      } catch (e) {
        // An unprivileged restore into an existing directory it does not own (a volume's root, owned by root and
        // given to the pod's fsGroup by the kubelet) may not set its mode or times; its contents are restored.
        if (owner || (e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
        stats.warnings.push(`${d.rel || '.'}: mode and times not restored (not its owner): ${(e as Error).message}`);
      }
    }
    stats.seconds = (Date.now() - started) / 1000;
    tick(true);
    if (stats.errors.length) {
      throw Object.assign(new RepoError('E_REPO_CORRUPT', `restore of snapshot ${snap.id.slice(0, 8)} skipped ${stats.errors.length} damaged file(s):\n  ${stats.errors.join('\n  ')}`), { stats });
    }
    return stats;
  } finally {
    await workers?.close();
    await lock?.release();
  }
}

/** Linux's dev_t encoding (glibc's major()/minor()). */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  return { major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n)), minor: Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n)) };
}

async function makeSpecial(final: string, node: TreeNode): Promise<void> {
  await fsp.rm(final, { force: true });
  const args = node.type === 'fifo' ? [final, 'p'] : (() => {
    const { major, minor } = devNumbers(node.rdev ?? 0);
    return [final, node.type === 'chardev' ? 'c' : 'b', String(major), String(minor)];
  })();
  await execFileAsync('mknod', ['-m', '0600', ...args]);
}

const execFileAsync = promisify(execFile);
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

/** The single-threaded path (one core, `workers: 0`, small restores): Repository.openBlob, then positioned writes. */
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
  fchmod: promisify(fs.fchmod),
  fchown: promisify(fs.fchown),
};

/** A pack range read in one request: consecutive needed blobs, at most this long (one larger blob reads alone). */
const RUN_MAX = 8 * 1024 * 1024 + 64 * 1024;
/** Needed blobs closer than this are read in one request, the bytes between them discarded. */
const RUN_GAP = 256 * 1024;
/** Files kept open between writes; beyond it the least recently used unpinned one is closed (and reopened on demand). */
const MAX_OPEN_FILES = 256;

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
 * the zero runs of sparse files, duplicated files. Pure over the index.
 */
export function planReads(repo: Pick<Repository, 'index'>, files: readonly { rel: string; node: TreeNode }[], runMax = RUN_MAX, gap = RUN_GAP): ReadPlan {
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
      if (cur && b.entry.offset - (cur.offset + cur.length) <= gap && end - cur.offset <= runMax) {
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

/** Read buffers reused across runs (shared memory when workers read them): no page faults per pack, RSS bounded by the gate. */
class BufferPool {
  private free: Buffer[] = [];
  constructor(
    private readonly size: number,
    private readonly sharedMemory: boolean,
  ) {}
  take(n: number): Buffer {
    if (n > this.size) return this.alloc(n);
    return (this.free.pop() ?? this.alloc(this.size)).subarray(0, n);
  }
  give(b: Buffer): void {
    if (b.buffer.byteLength === this.size) this.free.push(Buffer.from(b.buffer, 0, this.size));
  }
  private alloc(n: number): Buffer {
    return this.sharedMemory ? Buffer.from(new SharedArrayBuffer(n)) : Buffer.allocUnsafeSlow(n);
  }
}

interface FileState {
  job: Job;
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
}

/**
 * Descriptors of the files being restored. A file is created on first use under a temporary name
 * (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) and renamed into place once complete; beyond `max` open
 * files the least recently used one without writes in flight is closed and reopened
 * (O_NOFOLLOW) when needed, so a restore of many interleaved files stays under the fd limit.
 */
class OpenFiles {
  private readonly open = new Set<FileState>();
  constructor(private readonly max: number) {}

  /** Pin and return the file's descriptor, creating the file on first use. */
  async acquire(f: FileState, parentOf: (rel: string) => Promise<string>): Promise<number> {
    f.pins++;
    this.open.delete(f);
    this.open.add(f);
    if (f.fd !== undefined) return f.fd;
    if (!f.opening) {
      f.opening = (async () => {
        if (!f.tmp) {
          const dir = await parentOf(f.job.rel);
          f.final = path.join(dir, f.job.node.name);
          const tmp = path.join(dir, `.coffer-restore-${randomBytes(6).toString('hex')}`);
          const fd = await fsc.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          f.tmp = tmp;
          return fd;
        }
        return fsc.open(f.tmp, constants.O_WRONLY | constants.O_NOFOLLOW);
      })();
      f.opening.then(
        (fd) => {
          f.fd = fd;
          f.opening = undefined;
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

  private evict(): void {
    let count = 0;
    for (const f of this.open) if (f.fd !== undefined) count++;
    for (const f of this.open) {
      if (count <= this.max) break;
      if (f.fd === undefined || f.pins > 0) continue;
      void this.close(f).catch(() => undefined);
      count--;
    }
  }

  async close(f: FileState): Promise<void> {
    this.open.delete(f);
    if (f.opening) await f.opening.catch(() => undefined);
    const fd = f.fd;
    f.fd = undefined;
    if (fd !== undefined) await fsc.close(fd);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open].map((f) => this.close(f).catch(() => undefined)));
  }
}
