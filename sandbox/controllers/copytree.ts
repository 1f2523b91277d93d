/**
 * Copies a volume directory for snapshots and restores: coreutils `cp -a
 * --reflink=auto` (ownership, modes, xattrs, sparse files, and a reflink on
 * filesystems that support it), into a temporary name renamed into place so
 * a copy is either complete or absent.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, rename, rm } from 'node:fs/promises';
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
