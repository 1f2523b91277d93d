import { execFile } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, restore, type Repository } from '../../repository/index.ts';
import { newRepo, tempDir } from './helpers.ts';

const run = promisify(execFile);
const root = process.getuid?.() === 0;

/** Mode, owner and content of every file under `dir` (what a small file's create on a restore worker must get right). */
function files(dir: string): Record<string, { mode: string; uid: number; gid: number; body: string }> {
  const out: Record<string, { mode: string; uid: number; gid: number; body: string }> = {};
  for (const name of readdirSync(dir).sort()) {
    const st = lstatSync(path.join(dir, name));
    if (st.isFile()) out[name] = { mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid, body: readFileSync(path.join(dir, name), 'utf8') };
  }
  return out;
}

/**
 * Small files are created by the restore workers, with their final mode when nothing after the create could change
 * it and without a chown when they are created with their owner already (restore-files.ts, restore-workers.ts).
 * Each case here is one that must fall back to the fchown/fchmod: a mode the umask cuts, special bits, another
 * owner, a target whose default ACL (not the umask) decides a new file's mode, a setgid target of another group.
 */
describe('small files created on the restore workers get exactly their mode and owner', () => {
  const t = tempDir('rcreate');
  const src = path.join(t.dir, 'src');
  let repo: Repository;
  let snap: string;
  // mode, and [uid, gid] when root
  const cases: [string, number, [number, number]?][] = [
    ['plain-644', 0o644],
    ['umask-cut-664', 0o664],
    ['all-777', 0o777],
    ['private-600', 0o600],
    ['read-only-444', 0o444],
    ['exec-755', 0o755],
    ['setuid-4755', 0o4755],
    ['setgid-2750', 0o2750],
    ['sticky-1644', 0o1644],
    ['owned-640', 0o640, [1234, 5678]],
    ['owned-group-only-644', 0o644, [0, 5678]],
    ['owned-setuid-4711', 0o4711, [1234, 0]],
  ];

  beforeAll(async () => {
    mkdirSync(src, { recursive: true });
    for (const [name, mode, owner] of cases) {
      const p = path.join(src, name);
      writeFileSync(p, `${name}\n`.repeat(20));
      if (owner && root) chownSync(p, owner[0], owner[1]);
      chmodSync(p, mode);
    }
    ({ repo } = await newRepo(path.join(t.dir, 'repo')));
    snap = (await backup(repo, [src], { workers: 0 })).snapshotId;
  });
  afterAll(() => t.cleanup());

  it('into a new directory (umask 022 while it runs)', async () => {
    const old = process.umask(0o022);
    try {
      const s = await restore(repo, snap, path.join(t.dir, 'plain'), { workers: 2 });
      expect(s.errors).toEqual([]);
    } finally {
      process.umask(old);
    }
    expect(files(path.join(t.dir, 'plain/src'))).toEqual(files(src));
  });

  it('into a target with a default ACL, which decides new files\' modes instead of the umask', async () => {
    const target = path.join(t.dir, 'acl');
    mkdirSync(target);
    await run('setfacl', ['-d', '-m', 'u::rwx,g::---,o::---', target]);
    const s = await restore(repo, snap, target, { workers: 2 });
    expect(s.errors).toEqual([]);
    expect(files(path.join(target, 'src'))).toEqual(files(src));
  });

  it.runIf(root)('into a setgid target of another group, whose group new files inherit', async () => {
    const target = path.join(t.dir, 'setgid');
    mkdirSync(target);
    chownSync(target, 0, 4242);
    chmodSync(target, 0o2775);
    const s = await restore(repo, snap, target, { workers: 2 });
    expect(s.errors).toEqual([]);
    const got = files(path.join(target, 'src'));
    expect(got).toEqual(files(src));
    expect(got['plain-644']).toMatchObject({ gid: 0, mode: '644' });
  });
});
