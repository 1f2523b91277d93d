import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { RepoError } from './errors.ts';
import { acquireLock } from './lock.ts';
import type { Repository } from './repo.ts';
import { defaultRestoreWorkers, RestoreWorkers } from './restore-workers.ts';
import { type FileJob, FileWriter, MAX_OPEN_FILES, nsToSeconds, type RestoreDir } from './restore-files.ts';
import type { Fallocate } from './preallocate.ts';
import { findSnapshot, loadTree, safeName, SPECIAL_TYPES, type TreeNode } from './tree.ts';
import { hasDefaultAcl, writeXattrs } from './xattr.ts';
import { collectNow, DEFAULT_BUDGET, paceHeap, planMemory } from './memory.ts';

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
  /** Files planned and restored together (default 512); at most two batches' per-file state is alive at once. */
  batchFiles?: number;
  /** A larger file not preallocated, on a nearly full filesystem, is flushed (fdatasync) after at least this many bytes written (default 64 MiB, restore-files.ts FLUSH_BYTES). */
  flushBytes?: number;
  /** Flush every flushBytes whatever the free space (tests). */
  flushAlways?: boolean;
  /** How a larger file's data is preallocated before it is written (default util-linux `fallocate`, preallocate.ts); false: never. */
  fallocate?: Fallocate | false;
  /** Files of at least this many bytes are preallocated (default 64 MiB, preallocate.ts PREALLOC_MIN). */
  preallocateMin?: number;
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
  /** Most files whose restore state was held at once: two batches at most, however many files the snapshot has. */
  peakFilesHeld: number;
  /** Pack ranges whose blobs were split between the workers (restore-split.ts): small files, or parts of larger ones. */
  rangesSplit: number;
  /** Larger files whose data was preallocated before it was written; those where it was tried and refused (no tool, no room). */
  preallocated: number;
  notPreallocated: number;
}

/**
 * Files per batch: their plan and states are what a restore holds per file (a few KiB each). 30,000 small files,
 * paired (FORMAT.md, restore 2026-12-07): 4096 peak RSS 148–156 MiB; 1024 128–134; 512 114–123 at the same CPU-s
 * (fewer live objects, cheaper scavenges). Each batch reads its own pack ranges: one more ranged read per 512 files.
 */
const BATCH_FILES = 512;

type Job = FileJob;

export { planReads } from './restore-files.ts';

function normInclude(p: string): string[] {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.some((x) => x === '..')) throw new RepoError('E_REPO_UNSAFE_PATH', `--include "${p}" must not contain ".."`);
  return parts;
}

/** mkdir that never follows a symlink planted at `p`: an existing non-directory is refused. Whether it made it, and its lstat. */
async function ensureDir(p: string): Promise<{ created: boolean; st: Stats }> {
  let created = true;
  try {
    await fsp.mkdir(p, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    created = false;
  }
  const st = await fsp.lstat(p);
  if (!st.isDirectory()) throw new RepoError('E_REPO_UNSAFE_PATH', `${p} exists and is not a directory (a symlink here could redirect the restore); refusing`);
  return { created, st };
}

/**
 * What a file created in the directory gets without further calls. `plain`: no default ACL can apply (this restore
 * made the directory under one without, or it has none), so its mode is exactly the create mode less the umask.
 */
function restoreDir(p: string, st: Stats, created: boolean, parent?: RestoreDir): RestoreDir {
  return { path: p, gid: st.gid, uid: st.uid, plain: created && parent ? parent.plain : hasDefaultAcl(p) === false };
}

/**
 * Restore a snapshot (or the `include`d parts of it) under `target`.
 * Every name is checked (`..`, `/`, NUL refused) before anything is written, directories are verified
 * with lstat before descending, and no file is written through an existing path: a one-blob file is created
 * with O_CREAT|O_EXCL|O_NOFOLLOW once its blob is authenticated, others under a temporary name renamed into
 * place when every blob has been, so damaged data never lands as a restored file (restore-files.ts).
 */
export async function restore(repo: Repository, snapRef: string, target: string, opts: RestoreOptions = {}): Promise<RestoreStats> {
  const started = Date.now();
  // Workers start first: their start-up (~30 ms each) overlaps the lock, the index and the tree walk.
  const workerCount = opts.workers ?? defaultRestoreWorkers();
  const mem = planMemory(opts.memoryBudget ?? DEFAULT_BUDGET, repo.config.chunker, repo.config.packSize, 0);
  const workers = workerCount > 0 ? new RestoreWorkers(repo.key, workerCount, mem.gcEvery) : undefined;
  const stopHeapPacer = paceHeap(mem.heapGrowth);
  let lock: Awaited<ReturnType<typeof acquireLock>> | undefined;
  try {
    lock = await acquireLock(repo, false, 'restore');
    await repo.loadIndex();
    const snap = await findSnapshot(repo, snapRef);
    const includes = (opts.include ?? []).map(normInclude);
    const owner = opts.owner ?? process.getuid?.() === 0;
    const root = path.resolve(target);
    await fsp.mkdir(root, { recursive: true });
    const stats: RestoreStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, specials: 0, warnings: [], bytes: 0, errors: [], seconds: 0, peakBytesInFlight: 0, workers: 0, peakFilesHeld: 0, rangesSplit: 0, preallocated: 0, notPreallocated: 0 };

    /** A filesystem without user xattrs (or a platform without the add-on) loses them, not the file: a warning. */
    const restoreXattrs = (p: string, job: Job) => {
      try {
        writeXattrs(p, job.node.xattrs!);
      } catch (e) {
        stats.warnings.push(`${job.rel}: ${(e as Error).message}`);
      }
    };

    // 1. Survey: walk every tree once to validate names and types, match the includes and count, before anything
    //    is written. Files are not kept (step 3 walks again): what a restore holds does not grow with the file count.
    const dirs: Job[] = [];
    const links: Job[] = [];
    const specials: Job[] = [];
    /** Later paths of a hard-link group, with the first restored path of their group. */
    const hardlinks: { job: Job; first: string }[] = [];
    const matched = new Set<number>();
    const progress: RestoreProgress = { files: 0, totalFiles: 0, bytes: 0, totalBytes: 0, elapsedMs: 0 };
    /** Visit every included node; `onFile` gets each file that is restored as a file (not a later hard link). */
    const walk = async (onFile: (job: Job) => void | Promise<void>, survey: boolean) => {
      const linkGroups = new Map<string, string>();
      const visit = async (treeId: string, rel: string, inside: boolean) => {
        const t = await loadTree(repo, treeId);
        const seen = survey ? new Set<string>() : undefined;
        for (const node of t.nodes) {
          const r = rel ? `${rel}/${node.name}` : node.name;
          if (seen) {
            if (!safeName(node.name)) throw new RepoError('E_REPO_UNSAFE_PATH', `snapshot ${snap.id.slice(0, 8)}: entry "${r}" would escape the target; refusing to restore it`);
            if (seen.has(node.name)) throw new RepoError('E_REPO_UNSAFE_PATH', `snapshot ${snap.id.slice(0, 8)}: duplicate entry "${r}"`);
            seen.add(node.name);
          }
          let take = inside || includes.length === 0;
          let descend = take;
          if (!take) {
            const parts = r.split('/');
            for (let i = 0; i < includes.length; i++) {
              const inc = includes[i]!;
              if (!parts.every((x, k) => k >= inc.length || inc[k] === x)) continue;
              if (parts.length >= inc.length) {
                take = true;
                matched.add(i);
              } else descend = true;
            }
          }
          const job = { rel: r, node };
          if (node.type === 'dir') {
            if (survey && take) dirs.push(job);
            if ((take || descend) && node.subtree) await visit(node.subtree, r, take);
            else if (survey && descend && !take) dirs.push(job);
          } else if (!take) continue;
          else if (node.type === 'file') {
            const key = (node.links ?? 1) > 1 && node.device !== undefined && node.inode !== undefined ? `${node.device}:${node.inode}` : undefined;
            const first = key ? linkGroups.get(key) : undefined;
            if (first !== undefined) {
              if (survey) hardlinks.push({ job, first });
              continue;
            }
            if (key) linkGroups.set(key, r);
            await onFile(job);
          } else if (!survey) continue;
          else if (SPECIAL_TYPES.has(node.type)) specials.push(job);
          else if (node.type === 'symlink') links.push(job);
          else throw new RepoError('E_REPO_VERSION', `snapshot ${snap.id.slice(0, 8)}: "${r}" has node type "${node.type}", which this version cannot restore`);
        }
      };
      await visit(snap.tree, '', false);
    };
    await walk((job) => {
      progress.totalFiles++;
      progress.totalBytes += job.node.size ?? 0;
    }, true);
    includes.forEach((inc, i) => {
      if (!matched.has(i)) throw new RepoError('E_REPO_PATH', `--include "${inc.join('/')}" matches nothing in snapshot ${snap.id.slice(0, 8)}`);
    });
    // The index files' text and every tree of the survey are garbage now; V8 would let them sit in an old
    // generation sized by the machine's memory, not by the budget: −60 MiB peak RSS at 200,000 files (FORMAT.md).
    collectNow();

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
    const rootDir = restoreDir(root, await fsp.lstat(root), false);
    const dirsDone = new Map<string, RestoreDir>([['', rootDir]]);
    const parentOf = async (rel: string): Promise<RestoreDir> => {
      const parts = rel.split('/').slice(0, -1);
      let cur = rootDir;
      let acc = '';
      for (const p of parts) {
        acc = acc ? `${acc}/${p}` : p;
        let d = dirsDone.get(acc);
        if (!d) {
          const abs = path.join(cur.path, p);
          const { created, st } = await ensureDir(abs);
          dirsDone.set(acc, (d = restoreDir(abs, st, created, cur)));
        }
        cur = d;
      }
      return cur;
    };
    /** Every file's directory is made before files are written (below): a map look-up, no promise per file. */
    const dirOf = (rel: string): RestoreDir | Promise<RestoreDir> => dirsDone.get(rel.slice(0, Math.max(0, rel.lastIndexOf('/')))) ?? parentOf(rel);
    for (const d of dirs) {
      await parentOf(d.rel + '/x');
      stats.dirs++;
    }

    // 3. Files, walked again and restored a batch at a time (restore-files.ts): within a batch each needed pack range
    //    is read once, its blobs are authenticated, decompressed, verified and written to every place that uses
    //    them (restore-workers.ts). Two batches run at once, so the pipeline does not drain between them.
    stats.workers = workerCount;
    /** First paths of hard-link groups that failed: their later paths are not linked. */
    const failedFiles = new Set<string>();
    const failures: RestoreFailure[] = [];
    const failed = (f: RestoreFailure) => {
      failures.push(f);
      stats.errors.push(failureLine(f));
    };
    const writer = new FileWriter(repo, workers, {
      limit: Math.max(1, opts.maxBytesInFlight ?? mem.restoreBytesInFlight),
      maxOpenFiles: opts.maxOpenFiles ?? MAX_OPEN_FILES,
      flushBytes: opts.flushBytes,
      flushAlways: opts.flushAlways,
      fallocate: opts.fallocate,
      preallocateMin: opts.preallocateMin,
      owner,
      root,
      dirOf,
      restoreXattrs,
      onBytes: (n) => {
        progress.bytes += n;
        tick();
      },
      onFile: (job, bytes, error) => {
        if (error !== undefined) {
          failed({ rel: job.rel, error });
          if ((job.node.links ?? 1) > 1) failedFiles.add(job.rel);
          return;
        }
        stats.files++;
        stats.bytes += bytes;
        progress.files++;
        tick();
      },
    });
    const batchFiles = Math.max(1, opts.batchFiles ?? BATCH_FILES);
    let batch: Job[] = [];
    let running: Promise<void>[] = [];
    let failure: unknown;
    const flush = async () => {
      const b = batch;
      batch = [];
      running.push(writer.write(b).catch((e: unknown) => void (failure ??= e)));
      if (running.length > 1) await running.shift();
      if (failure) throw failure;
    };
    try {
      await walk(async (job) => {
        batch.push(job);
        if (batch.length >= batchFiles) await flush();
      }, false);
      if (batch.length) await flush();
    } catch (e) {
      failure ??= e;
    } finally {
      await Promise.all(running);
      await writer.close();
    }
    if (failure) throw failure;
    stats.peakBytesInFlight = writer.peakBytesInFlight;
    stats.peakFilesHeld = writer.peakFilesHeld;
    stats.rangesSplit = workers?.rangesSplit ?? 0;
    stats.preallocated = writer.preallocated;
    stats.notPreallocated = writer.notPreallocated;

    // 4. Symlinks, created only now (nothing is ever written through them) and never followed.
    for (const l of links) {
      const dir = (await parentOf(l.rel)).path;
      const final = path.join(dir, l.node.name);
      await fsp.rm(final, { force: true });
      await fsp.symlink(l.node.target ?? '', final);
      if (owner) await fsp.lchown(final, l.node.uid, l.node.gid).catch(() => undefined);
      await fsp.lutimes(final, nsToSeconds(l.node.mtime), nsToSeconds(l.node.mtime)).catch(() => undefined);
      stats.symlinks++;
    }

    // 4b. Hard links: the later paths of a group become links to the first, once it is in place.
    for (const { job, first } of hardlinks) {
      if (failedFiles.has(first)) {
        failed({ rel: job.rel, follows: first });
        continue;
      }
      const final = path.join((await parentOf(job.rel)).path, job.node.name);
      await fsp.rm(final, { force: true });
      await fsp.link(path.join(root, ...first.split('/')), final);
      stats.hardlinks++;
    }

    // 4c. FIFOs and device nodes: Node has no mknod(2), so coreutils' mknod makes them (rare, one process each).
    for (const sp of specials) {
      const final = path.join((await parentOf(sp.rel)).path, sp.node.name);
      try {
        await makeSpecial(final, sp.node);
        if (owner) await fsp.lchown(final, sp.node.uid, sp.node.gid);
        await fsp.chmod(final, sp.node.mode & 0o7777);
        await fsp.utimes(final, nsToSeconds(sp.node.mtime), nsToSeconds(sp.node.mtime));
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
        await fsp.utimes(p, nsToSeconds(d.node.mtime), nsToSeconds(d.node.mtime));
      } catch (e) {
        // An unprivileged restore into an existing directory it does not own (a volume's root, owned by root and
        // given to the pod's fsGroup by the kubelet) may not set its mode or times; its contents are restored.
        if (owner || (e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
        stats.warnings.push(`${d.rel || '.'}: mode and times not restored (not its owner): ${(e as Error).message}`);
      }
    }
    stats.seconds = (Date.now() - started) / 1000;
    tick(true);
    if (failures.length) throw Object.assign(restoreFailed(snap.id, root, failures), { stats });
    return stats;
  } finally {
    stopHeapPacer();
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

/** A file the restore left out: why (its own error), or the first path of its hard-link group that failed. */
export type RestoreFailure = { rel: string; error: string } | { rel: string; follows: string };

/** The failure as `RestoreStats.errors` and the CLI list it. */
export function failureLine(f: RestoreFailure): string {
  return 'error' in f ? `${f.rel}: ${f.error}` : `${f.rel}: not linked, its first path ${f.follows} failed`;
}

/**
 * An error the target's filesystem gave (Node's message starts with the errno), not the repository: full, over quota,
 * file too large, read-only, not writable by this user (a volume's root owned by another uid), a name longer than the
 * target allows. The repository's own failures never start so: they name their blob or pack first.
 */
const TARGET_REFUSED = /^(ENOSPC|EDQUOT|EFBIG|EROFS|EACCES|EPERM|ENAMETOOLONG): /;

/**
 * The error of a restore that left files out: a full or read-only target is not a damaged repository, and an operator
 * told "damaged" would distrust a good backup, so the code and the wording follow what refused the files (told from
 * each file's own error, never from its name; later hard links follow their first path's cause).
 */
export function restoreFailed(snapId: string, root: string, failures: readonly RestoreFailure[]): RepoError {
  const own = failures.filter((f): f is { rel: string; error: string } => 'error' in f);
  const refused = own.filter((f) => TARGET_REFUSED.test(f.error)).length;
  const head = `restore of snapshot ${snapId.slice(0, 8)}`;
  const list = `:\n  ${failures.map(failureLine).join('\n  ')}`;
  if (refused === own.length) return new RepoError('E_RESTORE_TARGET', `${head} could not write ${refused} file(s) into ${root} (its filesystem refused them)${list}`);
  const damaged = own.length - refused;
  const what = refused ? `${damaged} damaged file(s) and ${refused} its target refused` : `${damaged} damaged file(s)`;
  return new RepoError('E_REPO_CORRUPT', `${head} skipped ${what}${list}`);
}
