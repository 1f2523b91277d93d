/**
 * Copies a volume directory for snapshots and restores: coreutils `cp -a
 * --reflink=auto` (ownership, modes, xattrs, sparse files, and a reflink on
 * filesystems that support it), into a temporary name renamed into place so
 * a copy is either complete or absent.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, lchown, lstat, mkdir, readdir, rename, rm, utimes } from 'node:fs/promises';
import path from 'node:path';

export async function copyTree(src: string, dst: string): Promise<void> {
  const tmp = `${dst}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.dirname(dst), { recursive: true });
  try {
    await new Promise<void>((resolve, reject) =>
      execFile('cp', ['-a', '--reflink=auto', '--', src, tmp], (err, _out, stderr) => (err ? reject(new Error(`cp ${src}: ${stderr || err.message}`)) : resolve())),
    );
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await cp(src, tmp, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  }
  await rm(dst, { recursive: true, force: true });
  await rename(tmp, dst);
}

/** A change this close (ms) to when a file was stat'ed may share the kernel's coarse clock tick: recopy such files. */
const RACY_MS = 100;

interface Seen {
  /** Date.now() right after the lstat. */
  at: number;
  st: Stat;
}

type Stat = Awaited<ReturnType<typeof lstatBig>>;
const lstatBig = (p: string) => lstat(p, { bigint: true });
const same = (a: Stat, b: Stat) => a.dev === b.dev && a.ino === b.ino && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

/** Every entry under `root` (relative paths, directories before their contents) with its lstat; entries that vanish are skipped. */
async function walk(root: string): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  const visit = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(path.join(root, rel))).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw e;
    }
    // A directory's entries are stat'ed together: a database directory holds thousands, and the pause waits on this.
    const stats = await Promise.all(
      names.map(async (name) => {
        const r = rel ? `${rel}/${name}` : name;
        try {
          const st = await lstatBig(path.join(root, r));
          return { r, seen: { at: Date.now(), st } };
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw e;
        }
      }),
    );
    for (const x of stats) {
      if (!x) continue;
      out.set(x.r, x.seen);
      if (x.seen.st.isDirectory()) await visit(x.r);
    }
  };
  await visit('');
  return out;
}

/**
 * One pass bringing `copy` level with `src` as far as `before` (what `src` held when its entries were copied) tells:
 * entries new, changed (dev, inode, mode, owner, size, mtime, ctime — a process cannot set ctime back), racy (ctime
 * within RACY_MS of the earlier stat: a write in the same clock tick would leave it unchanged), or missing or of
 * another size in the copy, are copied again with `cp -a`; entries gone from `src` are removed; directory attributes
 * are set last. Returns what `src` held at this pass (stat'ed before anything was copied: the next pass's `before`).
 */
async function level(src: string, copy: string, before: ReadonlyMap<string, Seen>): Promise<{ now: Map<string, Seen>; recopied: number }> {
  const now = await walk(src);
  const inCopy = await walk(copy);
  const extra = [...inCopy].filter(([rel, c]) => {
    const s = now.get(rel);
    return !s || s.st.isDirectory() !== c.st.isDirectory();
  });
  for (const [rel] of extra.reverse()) await rm(path.join(copy, rel), { recursive: true, force: true });
  const again: string[] = [];
  const under = (rel: string) => again.length > 0 && again.some((a) => rel.startsWith(`${a}/`));
  for (const [rel, { st }] of now) {
    const b = before.get(rel);
    if (st.isDirectory()) {
      // New directories are copied whole; existing ones only need their attributes (below).
      if ((!b || !inCopy.has(rel)) && !under(rel)) again.push(rel);
      continue;
    }
    if (under(rel)) continue;
    const racy = b !== undefined && Number(b.st.ctimeNs / 1_000_000n) >= b.at - RACY_MS;
    const c = inCopy.get(rel)?.st;
    if (!b || racy || !same(b.st, st) || !c || (st.isFile() && c.size !== st.size)) again.push(rel);
  }
  for (const rel of again) await rm(path.join(copy, rel), { recursive: true, force: true });
  for (let i = 0; i < again.length; i += 256) {
    const batch = again.slice(i, i + 256);
    await new Promise<void>((resolve, reject) =>
      execFile('cp', ['-a', '--reflink=auto', '--parents', '-t', copy, '--', ...batch], { cwd: src }, (err, _o, stderr) => (err ? reject(new Error(`cp --parents in ${src}: ${stderr || err.message}`)) : resolve())),
    );
  }
  // Directory attributes last (adding and removing entries changed their mtimes), deepest first, then the root.
  const root = await lstatBig(src);
  for (const [rel, st] of [...[...now].filter(([, x]) => x.st.isDirectory()).map(([r, x]) => [r, x.st] as const).reverse(), ['', root] as const]) {
    const p = path.join(copy, rel);
    await chmod(p, Number(st.mode & 0o7777n)).catch(() => undefined);
    await lchown(p, Number(st.uid), Number(st.gid)).catch(() => undefined);
    await utimes(p, Number(st.atimeNs) / 1e9, Number(st.mtimeNs) / 1e9).catch(() => undefined);
  }
  return { now, recopied: again.length };
}

/**
 * A point-in-time copy of a directory that running processes write, with a short pause instead of a pause for the
 * whole copy (a CSI snapshot on a copy-on-write backend takes milliseconds; `cp` of a 2 GiB volume on ext4 takes tens
 * of seconds, during which a paused database blocks every client). Like a live migration's iterative pre-copy:
 * every entry is stat'ed, `cp -a` copies the tree while writers run, `level` passes copy again what changed meanwhile
 * (twice, still running: each pass has less to do), then `pause()` stops the writers for one last `level` and they
 * resume. The result is what a copy made entirely while paused holds, for processes that write with write(2) or
 * pwrite(2) (every database the sandbox runs). Not covered: writes through a shared writable mmap to pages already
 * dirty at the first stat (the kernel updates mtime only on the first write fault after writeback), and hard links
 * among files changed between passes (copied as separate files). Returns how long the writers were paused.
 */
export async function copyTreeLive(src: string, dst: string, pause: () => Promise<() => void>): Promise<{ pausedMs: number; recopied: number }> {
  const tmp = `${dst}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.dirname(dst), { recursive: true });
  let before = await walk(src);
  // Files that vanish or change while copied make cp complain; the passes below repair whatever it got wrong.
  await new Promise<void>((resolve) => execFile('cp', ['-a', '--reflink=auto', '--', src, tmp], () => resolve()));
  await mkdir(tmp, { recursive: true });
  for (let round = 0; round < 2; round++) before = (await level(src, tmp, before)).now;
  const resume = await pause();
  const t0 = performance.now();
  let recopied: number;
  try {
    recopied = (await level(src, tmp, before)).recopied;
  } finally {
    resume();
  }
  const pausedMs = Math.round(performance.now() - t0);
  await rm(dst, { recursive: true, force: true });
  await rename(tmp, dst);
  return { pausedMs, recopied };
}
