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
const RACY_MS = 1000;

interface Seen {
  /** Date.now() just before the lstat. */
  at: number;
  dev: bigint;
  ino: bigint;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

type Stat = Awaited<ReturnType<typeof lstatBig>>;
const lstatBig = (p: string) => lstat(p, { bigint: true });
const same = (a: Seen, b: Stat) => a.dev === b.dev && a.ino === b.ino && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

/** Every entry under `root` (relative paths, directories before their contents) with its lstat, ENOENT skipped. */
async function walk(root: string, onEntry: (rel: string, st: Stat) => void): Promise<void> {
  const visit = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(path.join(root, rel));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw e;
    }
    for (const name of names.sort()) {
      const r = rel ? `${rel}/${name}` : name;
      let st: Stat;
      try {
        st = await lstatBig(path.join(root, r));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      onEntry(r, st);
      if (st.isDirectory()) await visit(r);
    }
  };
  await visit('');
}

/**
 * A point-in-time copy of a directory that running processes write, with a short pause instead of a pause for the
 * whole copy (what a CSI snapshot does on a copy-on-write backend takes milliseconds; `cp` of a 2 GiB volume on ext4
 * takes tens of seconds, during which a paused database blocks every client). Like a live migration's pre-copy:
 *
 * 1. every entry is lstat'ed (time of the stat noted), then `cp -a` copies the tree while writers run;
 * 2. `pause()` stops the writers; the tree is walked again and the copy is brought level: entries that are new,
 *    changed (any of dev, inode, mode, owner, size, mtime, ctime — ctime cannot be set back by a process), whose ctime
 *    lay within RACY_MS of their first stat (a write in the same clock tick would leave it unchanged), or missing or
 *    of another size in the copy, are copied again with `cp -a`; entries gone from the source are removed;
 * 3. writers resume.
 *
 * The result is what a copy made entirely while paused holds, for processes that write with write(2)/pwrite(2) (every
 * database the sandbox runs). Not covered: writes through a shared writable mmap to pages already dirty before the
 * first stat (the kernel updates mtime only on the first write fault after writeback), and hard links among files
 * changed between the two passes (they are copied as separate files). Returns how long the writers were paused.
 */
export async function copyTreeLive(src: string, dst: string, pause: () => Promise<() => void>): Promise<{ pausedMs: number; recopied: number }> {
  const tmp = `${dst}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.dirname(dst), { recursive: true });
  const seen = new Map<string, Seen>();
  const note = (rel: string, st: Stat) => seen.set(rel, { at: Date.now(), dev: st.dev, ino: st.ino, mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs });
  // Noted per entry just before its lstat, so a change after the stat shows as a different ctime (or a racy one).
  await walk(src, (rel, st) => note(rel, st));
  // Files that vanish or change while copied make cp complain; the second pass repairs whatever it got wrong.
  await new Promise<void>((resolve) => execFile('cp', ['-a', '--reflink=auto', '--', src, tmp], () => resolve()));
  await mkdir(tmp, { recursive: true });
  const resume = await pause();
  const t0 = performance.now();
  let recopied = 0;
  try {
    const now = new Map<string, Stat>();
    await walk(src, (rel, st) => now.set(rel, st));
    // Entries of the copy the source no longer has (or has as another type): removed, deepest first.
    const extra: string[] = [];
    await walk(tmp, (rel, st) => {
      const s = now.get(rel);
      if (!s || s.isDirectory() !== st.isDirectory()) extra.push(rel);
    });
    for (const rel of extra.reverse()) await rm(path.join(tmp, rel), { recursive: true, force: true });
    const again: string[] = [];
    for (const [rel, st] of now) {
      const before = seen.get(rel);
      if (st.isDirectory()) {
        // New directories are copied whole below; existing ones only need their attributes (set after the files).
        if (!before && !again.some((a) => rel.startsWith(`${a}/`))) again.push(rel);
        continue;
      }
      if (again.some((a) => rel.startsWith(`${a}/`))) continue;
      const racy = before !== undefined && Number(before.ctimeNs / 1_000_000n) >= before.at - RACY_MS;
      const copied = await lstatBig(path.join(tmp, rel)).catch(() => undefined);
      if (!before || racy || !same(before, st) || !copied || (st.isFile() && copied.size !== st.size)) again.push(rel);
    }
    for (const rel of again) await rm(path.join(tmp, rel), { recursive: true, force: true });
    for (let i = 0; i < again.length; i += 256) {
      const batch = again.slice(i, i + 256);
      await new Promise<void>((resolve, reject) =>
        execFile('cp', ['-a', '--reflink=auto', '--parents', '-t', tmp, '--', ...batch], { cwd: src }, (err, _o, stderr) => (err ? reject(new Error(`cp --parents in ${src}: ${stderr || err.message}`)) : resolve())),
      );
    }
    recopied = again.length;
    // Directory attributes last (adding and removing entries above changed their mtimes), deepest first.
    const root = await lstatBig(src);
    for (const [rel, st] of [...[...now].filter(([, s]) => s.isDirectory()).reverse(), ['', root] as [string, Stat]]) {
      const p = path.join(tmp, rel);
      await chmod(p, Number(st.mode & 0o7777n));
      await lchown(p, Number(st.uid), Number(st.gid)).catch(() => undefined);
      await utimes(p, Number(st.atimeNs) / 1e9, Number(st.mtimeNs) / 1e9);
    }
  } finally {
    resume();
  }
  const pausedMs = Math.round(performance.now() - t0);
  await rm(dst, { recursive: true, force: true });
  await rename(tmp, dst);
  return { pausedMs, recopied };
}
