/**
 * fsGroup volume ownership, as the kubelet applies it (pkg/volume/volume_linux.go
 * SetVolumeOwnership): every file and directory of the volume gets group
 * fsGroup and group read/write (read-only volumes: read), directories also
 * group execute and setgid so new files inherit the group. With
 * `fsGroupChangePolicy: OnRootMismatch` the walk is skipped when the volume's
 * root already has that group and those bits.
 */
import { chmod, lchown, lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

const RW = 0o660;
const RO = 0o440;
const EXEC = 0o110;
const SETGID = 0o2000;

/** Whether OnRootMismatch must still walk the volume. */
async function rootMismatch(root: string, fsGroup: number, readOnly: boolean): Promise<boolean> {
  const st = await stat(root);
  if (st.gid !== fsGroup || !st.isDirectory()) return true;
  const want = (readOnly ? RO : RW) | EXEC;
  return (st.mode & want) !== want || (st.mode & SETGID) === 0;
}

async function own(p: string, fsGroup: number, readOnly: boolean): Promise<void> {
  const st = await lstat(p);
  await lchown(p, -1, fsGroup);
  if (st.isSymbolicLink()) return;
  let mask = readOnly ? RO : RW;
  if (st.isDirectory()) mask |= SETGID | EXEC;
  await chmod(p, (st.mode & 0o7777) | mask);
  if (st.isDirectory()) for (const e of await readdir(p)) await own(path.join(p, e), fsGroup, readOnly);
}

export async function applyFsGroup(root: string, fsGroup: number, opts: { readOnly: boolean; policy?: string }): Promise<void> {
  if (opts.policy === 'OnRootMismatch' && !(await rootMismatch(root, fsGroup, opts.readOnly))) return;
  await own(root, fsGroup, opts.readOnly);
}
