import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, restore, type Repository } from '../../repository/index.ts';
import type { TreeNode } from '../../repository/tree.ts';
import { nextFlush } from '../../repository/restore-files.ts';
import { newRepo, prng, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;

/**
 * One large file's pack ranges are split between both restore workers (restore-split.ts `splitBlobs`): each writes
 * its blobs at their offsets through the same descriptor, holes stay holes, and the file is finished (size, mode,
 * times, rename) only once every part is written — a refused blob in any part fails the whole file.
 */
describe('one large file restored by both workers at once', () => {
  const t = tempDir('lsplit');
  const src = path.join(t.dir, 'src');
  const file = path.join(src, 'disk.img');
  let repo: Repository;
  let snap: string;
  let content: string[];

  beforeAll(async () => {
    mkdirSync(src);
    // 6 MiB of data, a 16 MiB hole, 6 MiB of data, a 4 MiB hole at the end (the final truncate gives the size)
    const fd = openSync(file, 'w');
    writeSync(fd, prng(6 * MiB, 21), 0, 6 * MiB, 0);
    writeSync(fd, prng(6 * MiB, 22), 0, 6 * MiB, 22 * MiB);
    closeSync(fd);
    const size = 32 * MiB;
    const tail = openSync(file, 'r+');
    writeSync(tail, Buffer.alloc(1), 0, 1, size - 1);
    closeSync(tail);
    ({ repo } = await newRepo(path.join(t.dir, 'repo'), { packSize: 8 * MiB }));
    snap = (await backup(repo, [src], { workers: 0 })).snapshotId;
    const root = JSON.parse((await repo.loadBlob((await repo.loadJSON<{ tree: string }>('snapshots', snap)).tree, 'tree')).toString()) as { nodes: TreeNode[] };
    const dir = JSON.parse((await repo.loadBlob(root.nodes[0]!.subtree!, 'tree')).toString()) as { nodes: TreeNode[] };
    content = dir.nodes.find((n) => n.name === 'disk.img')!.content!;
  });
  afterAll(() => t.cleanup());

  it('is byte-identical, keeps its holes and its mode and time, with its ranges split', async () => {
    const out = path.join(t.dir, 'out');
    // flushed every MiB: fdatasync on the pool while the workers write through the same descriptor
    const s = await restore(repo, snap, out, { workers: 2, flushBytes: MiB, flushAlways: true });
    expect(s.errors).toEqual([]);
    expect(s.rangesSplit).toBeGreaterThan(0);
    const restored = path.join(out, 'src/disk.img');
    expect(readFileSync(restored).equals(readFileSync(file))).toBe(true);
    const [a, b] = [statSync(file), statSync(restored)];
    expect(b.size).toBe(32 * MiB);
    expect(b.mode).toBe(a.mode);
    expect(Math.floor(b.mtimeMs)).toBe(Math.floor(a.mtimeMs));
    // 12 MiB of data and 20 MiB of holes: the zero blobs were not written
    expect(b.blocks * 512).toBeLessThan(14 * MiB);
    expect(b.blocks * 512).toBeGreaterThanOrEqual(12 * MiB);
    expect(readdirSync(path.join(out, 'src'))).toEqual(['disk.img']);
  });

  it('fails the file with its path when one part is refused: no file claims to be complete, no temporary file stays', async () => {
    // damage the last data blob that shares its pack with the blob before it: it sits in the second part of a split range
    const shares = (i: number) => i > 0 && content[i] !== content[i - 1] && repo.index.get(content[i]!)!.pack === repo.index.get(content[i - 1]!)!.pack && repo.index.get(content[i]!)!.rawLength > 64 * 1024;
    const at = content.map((_, i) => i).filter(shares).at(-1) ?? -1;
    expect(at).toBeGreaterThan(0);
    const victim = repo.index.get(content[at]!)!;
    const packFile = path.join(t.dir, 'repo/data', victim.pack.slice(0, 2), victim.pack);
    const saved = readFileSync(packFile);
    const bytes = Buffer.from(saved);
    bytes[victim.offset + 40] ^= 0x10;
    writeFileSync(packFile, bytes);
    try {
      for (const workers of [2, 0]) {
        const out = path.join(t.dir, `damaged-${workers}`);
        const err = await restore(repo, snap, out, { workers, flushBytes: MiB, flushAlways: true }).then(
          () => undefined,
          (e: unknown) => e as { code: string; message: string; stats: { rangesSplit: number } },
        );
        expect(err?.code).toBe('E_REPO_CORRUPT');
        expect(err?.message).toContain('src/disk.img');
        expect(err?.message).toContain(victim.pack);
        if (workers === 2) expect(err?.stats.rangesSplit).toBeGreaterThan(0);
        expect(readdirSync(path.join(out, 'src'))).toEqual([]);
      }
    } finally {
      writeFileSync(packFile, saved);
    }
  });
});

describe('nextFlush: a file is flushed as written where ext4 would otherwise stall its writers', () => {
  // ext4_nonda_switch (fs/ext4/inode.c): writeback of the whole filesystem, waited for, once the delayed-allocation
  // backlog reaches half the free blocks; the bench's restore volume is 1.25× the data plus 256 MiB
  it.each([
    ['4 GiB into the bench\'s 5.25 GiB volume: every quarter of the free space', 4 * 1024, 5.25 * 1024, 5.25 * 256],
    ['the same near its end, 1.3 GiB free', 4 * 1024, 1.3 * 1024, 1.3 * 256],
    ['1 GiB into 1.53 GiB', 1024, 1.53 * 1024, 1.53 * 256],
    ['at least every 64 MiB', 1024, 100, 64],
    ['1 GiB with 2 GiB free: the page cache takes it', 1024, 2048, undefined],
    ['64 MiB with 10 GiB free', 64, 10 * 1024, undefined],
    ['free space unknown (statfs failed)', 1024, Infinity, undefined],
  ])('%s', (_, sizeMiB, availMiB, everyMiB) => {
    const at = nextFlush(sizeMiB * MiB, availMiB * MiB);
    if (everyMiB === undefined) expect(at).toBeUndefined();
    else expect(at! / MiB).toBeCloseTo(everyMiB, 3);
  });
});
