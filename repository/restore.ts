import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { RepoError } from './errors.ts';
import { acquireLock } from './lock.ts';
import type { Repository } from './repo.ts';
import { findSnapshot, loadTree, safeName, type TreeNode } from './tree.ts';

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
}

export interface RestoreStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  errors: string[];
  seconds: number;
}

interface Job {
  rel: string;
  node: TreeNode;
}

const IN_FLIGHT_BLOBS = 6;

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
  const lock = await acquireLock(repo, false, 'restore');
  try {
    await repo.loadIndex();
    const snap = await findSnapshot(repo, snapRef);
    const includes = (opts.include ?? []).map(normInclude);
    const owner = opts.owner ?? process.getuid?.() === 0;
    const root = path.resolve(target);
    await fsp.mkdir(root, { recursive: true });
    const stats: RestoreStats = { files: 0, dirs: 0, symlinks: 0, bytes: 0, errors: [], seconds: 0 };

    // 1. Plan: walk the tree, pick included nodes, validate names.
    const dirs: Job[] = [];
    const files: Job[] = [];
    const links: Job[] = [];
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
        } else if (take) (node.type === 'file' ? files : links).push(job);
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

    // Blobs used more than once (zero runs of sparse files, duplicated files) are loaded once while in use.
    const uses = new Map<string, number>();
    for (const f of files) for (const id of f.node.content ?? []) uses.set(id, (uses.get(id) ?? 0) + 1);
    const shared = new Map<string, { data: Promise<Buffer>; left: number; size: number }>();
    let sharedBytes = 0;
    const SHARED_MAX = 64 * 1024 * 1024; // bounded: two copies of a huge directory must not pin the first in memory
    const cachedBlob = async (id: string): Promise<Buffer> => {
      let e = shared.get(id);
      if (!e) {
        const size = repo.index.get(id)?.rawLength ?? 0;
        if ((uses.get(id) ?? 0) < 2 || sharedBytes + size > SHARED_MAX) return repo.loadBlob(id, 'data');
        shared.set(id, (e = { data: repo.loadBlob(id, 'data'), left: uses.get(id)!, size }));
        sharedBytes += size;
      }
      if (--e.left === 0) {
        shared.delete(id);
        sharedBytes -= e.size;
      }
      return e.data;
    };

    // 3. Files: blobs fetched with bounded concurrency, written positionally; all-zero blobs become holes.
    let active = 0;
    const waiters: (() => void)[] = [];
    const slot = async () => {
      while (active >= IN_FLIGHT_BLOBS) await new Promise<void>((r) => waiters.push(r));
      active++;
    };
    const free = () => {
      active--;
      waiters.shift()?.();
    };
    const restoreFile = async (job: Job) => {
      const dir = await parentOf(job.rel);
      const final = path.join(dir, job.node.name);
      const tmp = path.join(dir, `.coffer-restore-${randomBytes(6).toString('hex')}`);
      const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      let ok = false;
      try {
        let offset = 0;
        const writes: Promise<void>[] = [];
        let failure: unknown;
        for (const id of job.node.content ?? []) {
          const loc = repo.index.get(id);
          if (!loc) throw new RepoError('E_REPO_CORRUPT', `${job.rel}: blob ${id.slice(0, 16)} is missing from the repository`);
          const at = offset;
          offset += loc.rawLength;
          if (failure) break;
          await slot();
          writes.push(
            (async () => {
              try {
                const data = await cachedBlob(id);
                await writeSparse(fh, data, at);
                progress.bytes += data.length;
                tick();
              } catch (e) {
                failure ??= e;
              } finally {
                free();
              }
            })(),
          );
        }
        await Promise.all(writes);
        if (failure) throw failure;
        await fh.truncate(offset);
        await fh.chmod(job.node.mode & 0o7777);
        if (owner) await fh.chown(job.node.uid, job.node.gid).catch(() => undefined);
        await fh.close();
        await fsp.rename(tmp, final);
        // chmod again after chown: chown clears setuid bits.
        if (owner) await fsp.chmod(final, job.node.mode & 0o7777);
        await fsp.utimes(final, nsToDate(job.node.mtime), nsToDate(job.node.mtime));
        ok = true;
        stats.files++;
        stats.bytes += offset;
        progress.files++;
      } catch (e) {
        stats.errors.push(`${job.rel}: ${(e as Error).message}`);
      } finally {
        if (!ok) {
          await fh.close().catch(() => undefined);
          await fsp.rm(tmp, { force: true });
        }
      }
    };
    const fileWorkers: Promise<void>[] = [];
    let nextFile = 0;
    const runFiles = async () => {
      while (nextFile < files.length) await restoreFile(files[nextFile++]!);
    };
    for (let i = 0; i < 3; i++) fileWorkers.push(runFiles());
    await Promise.all(fileWorkers);

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

    // 5. Directory modes and times last, deepest first, so writing children does not disturb them.
    for (const d of [...dirs].reverse()) {
      const p = path.join(root, ...d.rel.split('/'));
      const st = await fsp.lstat(p);
      if (!st.isDirectory()) continue;
      if (owner) await fsp.chown(p, d.node.uid, d.node.gid).catch(() => undefined);
      await fsp.chmod(p, d.node.mode & 0o7777);
      await fsp.utimes(p, nsToDate(d.node.mtime), nsToDate(d.node.mtime));
    }
    stats.seconds = (Date.now() - started) / 1000;
    tick(true);
    if (stats.errors.length) {
      throw Object.assign(new RepoError('E_REPO_CORRUPT', `restore of snapshot ${snap.id.slice(0, 8)} skipped ${stats.errors.length} damaged file(s):\n  ${stats.errors.join('\n  ')}`), { stats });
    }
    return stats;
  } finally {
    await lock.release();
  }
}

const ZERO = Buffer.alloc(64 * 1024);

/** Write `data` at `at`, leaving 64 KiB runs of zeros as holes (the final truncate sets the size), so sparse files stay sparse. */
async function writeSparse(fh: fsp.FileHandle, data: Buffer, at: number): Promise<void> {
  let runStart = -1;
  for (let o = 0; o < data.length; o += ZERO.length) {
    const n = Math.min(ZERO.length, data.length - o);
    const zero = data.compare(ZERO, 0, n, o, o + n) === 0;
    if (!zero && runStart < 0) runStart = o;
    if (zero && runStart >= 0) {
      await fh.write(data, runStart, o - runStart, at + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await fh.write(data, runStart, data.length - runStart, at + runStart);
}
