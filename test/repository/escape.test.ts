import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupEntries, restore, type Repository, type TreeNode } from '../../repository/index.ts';
import { newRepo, tempDir } from './helpers.ts';

/** Write a hand-made (hostile) snapshot straight into the repository, as an attacker with the key could. */
async function craft(repo: Repository, build: (blob: (data: Buffer, type: 'data' | 'tree') => Promise<string>) => Promise<TreeNode[]>): Promise<string> {
  const writer = repo.newPackWriter();
  const blob = async (data: Buffer, type: 'data' | 'tree') => {
    const id = await repo.crypto.blobId(data);
    if (!writer.has(id)) {
      writer.pending.add(id);
      await writer.add(id, type, await repo.crypto.seal(data), data.length, 0);
    }
    return id;
  };
  const nodes = await build(blob);
  const tree = await blob(Buffer.from(JSON.stringify({ nodes })), 'tree');
  await repo.writeIndex(await writer.finish());
  return repo.saveJSON('snapshots', { version: 1, time: new Date().toISOString(), tree, paths: ['/'], hostname: 'x', username: 'x', tags: {}, program: 'test' });
}

const now = (BigInt(Date.now()) * 1_000_000n).toString();
const file = (name: string, content: string[], size: number): TreeNode => ({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: now, size, content });

describe('restore refuses path escapes', () => {
  const t = tempDir('esc');
  let repo: Repository;
  const outside = () => path.join(t.dir, 'outside');

  beforeAll(async () => {
    ({ repo } = await newRepo(path.join(t.dir, 'repo')));
    mkdirSync(outside());
    writeFileSync(path.join(outside(), 'victim'), 'original');
  });
  afterAll(() => t.cleanup());

  for (const bad of ['..', '../outside/victim', '/etc/passwd', 'a/../../x', '.', '', 'nul\0byte']) {
    it(`entry named ${JSON.stringify(bad)} is refused before anything is written`, async () => {
      const snap = await craft(repo, async (blob) => {
        const id = await blob(Buffer.from('pwned'), 'data');
        return [file('fine.txt', [id], 5), file(bad, [id], 5)];
      });
      const target = path.join(t.dir, `t-${Math.random().toString(36).slice(2)}`);
      await expect(restore(repo, snap, target)).rejects.toMatchObject({ code: 'E_REPO_UNSAFE_PATH' });
      expect(existsSync(path.join(target, 'fine.txt'))).toBe(false);
      expect(readFileSync(path.join(outside(), 'victim'), 'utf8')).toBe('original');
    });
  }

  it('a directory named ".." deeper in the tree is refused', async () => {
    const snap = await craft(repo, async (blob) => {
      const id = await blob(Buffer.from('pwned'), 'data');
      const inner = await blob(Buffer.from(JSON.stringify({ nodes: [file('victim', [id], 5)] })), 'tree');
      const mid = await blob(Buffer.from(JSON.stringify({ nodes: [{ name: '..', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: now, subtree: inner }] })), 'tree');
      return [{ name: 'outside', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: now, subtree: mid }];
    });
    await expect(restore(repo, snap, path.join(t.dir, 'deep'))).rejects.toMatchObject({ code: 'E_REPO_UNSAFE_PATH' });
    expect(readFileSync(path.join(outside(), 'victim'), 'utf8')).toBe('original');
  });

  it('a symlink and a directory with the same name (write through the link) is refused', async () => {
    const snap = await craft(repo, async (blob) => {
      const id = await blob(Buffer.from('pwned'), 'data');
      const inner = await blob(Buffer.from(JSON.stringify({ nodes: [file('victim', [id], 5)] })), 'tree');
      return [
        { name: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: now, target: outside() },
        { name: 'link', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: now, subtree: inner },
      ];
    });
    await expect(restore(repo, snap, path.join(t.dir, 'dup'))).rejects.toMatchObject({ code: 'E_REPO_UNSAFE_PATH' });
    expect(readFileSync(path.join(outside(), 'victim'), 'utf8')).toBe('original');
  });

  it('symlinks already in the target are never followed: not for directories, not for files', async () => {
    const snap = (await backupEntries(repo, [
      { path: 'dir/victim', data: Buffer.from('pwned') },
      { path: 'victim-file', data: Buffer.from('pwned') },
    ])).snapshotId;
    const target = path.join(t.dir, 'planted');
    mkdirSync(target);
    symlinkSync(outside(), path.join(target, 'dir'));
    await expect(restore(repo, snap, target)).rejects.toMatchObject({ code: 'E_REPO_UNSAFE_PATH' });
    expect(readFileSync(path.join(outside(), 'victim'), 'utf8')).toBe('original');

    const target2 = path.join(t.dir, 'planted2');
    mkdirSync(target2);
    symlinkSync(path.join(outside(), 'victim'), path.join(target2, 'victim-file'));
    await restore(repo, snap, target2);
    // the planted link was replaced by a regular file; the file it pointed to is untouched
    expect(lstatSync(path.join(target2, 'victim-file')).isFile()).toBe(true);
    expect(readFileSync(path.join(target2, 'victim-file'), 'utf8')).toBe('pwned');
    expect(readFileSync(path.join(outside(), 'victim'), 'utf8')).toBe('original');
  });

  it('restored symlinks pointing outside are recreated as links, never written through', async () => {
    const snap = await craft(repo, async (blob) => {
      const id = await blob(Buffer.from('pwned'), 'data');
      return [{ name: 'escape', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: now, target: path.join(outside(), 'victim') }, file('zzz', [id], 5)];
    });
    const target = path.join(t.dir, 'links');
    await restore(repo, snap, target);
    expect(readlinkSync(path.join(target, 'escape'))).toBe(path.join(outside(), 'victim'));
    expect(readFileSync(path.join(outside(), 'victim'), 'utf8')).toBe('original');
  });

  it('--include with ".." is refused', async () => {
    await expect(restore(repo, 'latest', path.join(t.dir, 'inc'), { include: ['../outside'] })).rejects.toMatchObject({ code: 'E_REPO_UNSAFE_PATH' });
  });
});
