import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync, writeSync, chmodSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, restore, type Repository } from '../../repository/index.ts';
import { planReads } from '../../repository/restore.ts';
import type { TreeNode } from '../../repository/tree.ts';
import { describeTree, newRepo, prng, tempDir, text } from './helpers.ts';

const MiB = 1024 * 1024;

describe('parallel restore (worker threads, pack-ordered reads)', () => {
  const t = tempDir('prest');
  const src = path.join(t.dir, 'src');
  let repo: Repository;
  let snap: string;

  beforeAll(async () => {
    mkdirSync(path.join(src, 'app/config'), { recursive: true });
    mkdirSync(path.join(src, 'copies'), { recursive: true });
    writeFileSync(path.join(src, 'app/config/settings.json'), text(3 * MiB));
    writeFileSync(path.join(src, 'app/big.bin'), prng(14 * MiB, 5));
    // the same 5 MiB three times: every blob is read once and written to three files
    for (const n of ['a', 'b', 'c']) writeFileSync(path.join(src, 'copies', `${n}.bin`), prng(5 * MiB, 9));
    for (let i = 0; i < 40; i++) writeFileSync(path.join(src, 'app', `small-${i}.txt`), `file ${i}\n`.repeat(i * 50));
    writeFileSync(path.join(src, 'empty'), '');
    writeFileSync(path.join(src, 'script.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(path.join(src, 'script.sh'), 0o751);
    chmodSync(path.join(src, 'app/config'), 0o700);
    symlinkSync('app/config/settings.json', path.join(src, 'link-rel'));
    // sparse: 48 MiB with data only at 1 MiB and 40 MiB
    const fd = openSync(path.join(src, 'sparse.img'), 'w');
    writeSync(fd, Buffer.from('head'), 0, 4, MiB);
    writeSync(fd, Buffer.from('tail'), 0, 4, 40 * MiB);
    closeSync(fd);
    utimesSync(path.join(src, 'script.sh'), 1_600_000_000.123456, 1_600_000_000.123456);
    ({ repo } = await newRepo(path.join(t.dir, 'repo'), { packSize: 4 * MiB }));
    snap = (await backup(repo, [src], { workers: 0 })).snapshotId;
  });
  afterAll(() => t.cleanup());

  it('writes byte-identical trees with workers and on the main thread, sparse files staying sparse', async () => {
    const expected = describeTree(src);
    const single = await restore(repo, snap, path.join(t.dir, 'w0'), { workers: 0 });
    const parallel = await restore(repo, snap, path.join(t.dir, 'w2'), { workers: 2 });
    expect(single.workers).toBe(0);
    expect(parallel.workers).toBe(2);
    expect(describeTree(path.join(t.dir, 'w0/src'))).toEqual(expected);
    expect(describeTree(path.join(t.dir, 'w2/src'))).toEqual(expected);
    expect(parallel).toMatchObject({ files: single.files, dirs: single.dirs, symlinks: single.symlinks, bytes: single.bytes, errors: [] });
    for (const out of ['w0', 'w2']) {
      const st = statSync(path.join(t.dir, out, 'src/sparse.img'));
      expect(st.size).toBe(40 * MiB + 4);
      expect(st.blocks * 512).toBeLessThan(MiB);
    }
    for (const out of ['w0', 'w2']) expect(readdirSync(path.join(t.dir, out, 'src/app')).filter((n) => n.startsWith('.coffer-restore-'))).toEqual([]);
  });

  it('keeps sealed bytes in flight under the bound, and with one file open at a time gives the same result', async () => {
    const limit = 2 * MiB;
    const largestBlob = Math.max(...[...repo.index.values()].map((e) => e.length));
    const s = await restore(repo, snap, path.join(t.dir, 'tight'), { workers: 2, maxBytesInFlight: limit, maxOpenFiles: 1 });
    expect(s.peakBytesInFlight).toBeGreaterThan(0);
    expect(s.peakBytesInFlight).toBeLessThanOrEqual(Math.max(limit, largestBlob));
    expect(describeTree(path.join(t.dir, 'tight/src'))).toEqual(describeTree(src));
  });

  /**
   * What a restore holds per file lives only as long as its batch: a snapshot of many files is walked twice (once
   * to check and count, once to restore) instead of being kept whole, so the per-file state alive at once is two
   * batches at most however many files there are (the 200,000-file bench held ~5 KiB per file for the whole run).
   */
  it('holds per-file state for two batches at most, and restores over existing files the same way', async () => {
    const many = path.join(t.dir, 'many');
    for (let d = 0; d < 3; d++) {
      mkdirSync(path.join(many, `d${d}`), { recursive: true });
      for (let i = 0; i < 200; i++) writeFileSync(path.join(many, `d${d}`, `f${i}.txt`), `${d}/${i}\n`.repeat(1 + ((i * 37) % 300)));
    }
    writeFileSync(path.join(many, 'd1/large.json'), text(3 * MiB)); // several blobs: the main-thread path, mid-batch
    chmodSync(path.join(many, 'd2/f7.txt'), 0o4751);
    utimesSync(path.join(many, 'd0/f3.txt'), 1_500_000_000.654321, 1_500_000_000.654321);
    const { repo: r } = await newRepo(path.join(t.dir, 'repo-many'), { packSize: MiB });
    const id = (await backup(r, [many], { workers: 0 })).snapshotId;
    const expected = describeTree(many);
    const out = path.join(t.dir, 'many-out');
    for (const workers of [2, 0]) {
      // the second pass restores over the first: every name is taken, so files go through a temporary name
      const s = await restore(r, id, out, { workers, batchFiles: 40 });
      expect(s.files).toBe(601);
      expect(s.peakFilesHeld).toBeGreaterThanOrEqual(40);
      expect(s.peakFilesHeld).toBeLessThanOrEqual(80);
      expect(describeTree(path.join(out, 'many'))).toEqual(expected);
      for (let d = 0; d < 3; d++) expect(readdirSync(path.join(out, `many/d${d}`)).filter((n) => n.startsWith('.coffer-restore-'))).toEqual([]);
    }
    const whole = await restore(r, id, path.join(t.dir, 'many-one-batch'), { workers: 2 });
    expect(whole.peakFilesHeld).toBe(601);
  });

  it('refuses a damaged pack with workers: names the pack, writes no file and leaves no temporary file', async () => {
    const { repo: r2 } = await newRepo(path.join(t.dir, 'repo2'), { packSize: MiB });
    const dsrc = path.join(t.dir, 'dsrc');
    mkdirSync(dsrc);
    writeFileSync(path.join(dsrc, 'victim.bin'), prng(6 * MiB, 77));
    writeFileSync(path.join(dsrc, 'fine.json'), text(200_000));
    const id = (await backup(r2, [dsrc], { workers: 0 })).snapshotId;
    const tree = JSON.parse((await r2.loadBlob((await r2.loadJSON<{ tree: string }>('snapshots', id)).tree, 'tree')).toString()) as { nodes: TreeNode[] };
    const dir = JSON.parse((await r2.loadBlob(tree.nodes[0]!.subtree!, 'tree')).toString()) as { nodes: TreeNode[] };
    const victim = dir.nodes.find((n) => n.name === 'victim.bin')!;
    const pack = r2.index.get(victim.content![1]!)!.pack;
    const file = path.join(t.dir, 'repo2/data', pack.slice(0, 2), pack);
    const bytes = readFileSync(file);
    bytes[r2.index.get(victim.content![1]!)!.offset + 40] ^= 0x04;
    writeFileSync(file, bytes);
    for (const workers of [2, 0]) {
      const out = path.join(t.dir, `damaged-${workers}`);
      const err = await restore(r2, id, out, { workers }).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(err?.code).toBe('E_REPO_CORRUPT');
      expect(err?.message).toContain(pack);
      expect(err?.message).toContain('victim.bin');
      expect(readdirSync(path.join(out, 'dsrc'))).toEqual(['fine.json']);
      expect(readFileSync(path.join(out, 'dsrc/fine.json')).equals(text(200_000))).toBe(true);
    }
  });
});

describe('planReads (pure)', () => {
  const loc = (pack: string, offset: number, length: number) => ({ pack, offset, length, rawLength: length * 2, comp: 1, type: 'data' as const });
  const index = new Map([
    ['x1', { id: 'x1', ...loc('P', 0, 100) }],
    ['x2', { id: 'x2', ...loc('P', 100, 100) }],
    ['x3', { id: 'x3', ...loc('P', 5000, 100) }],
    ['y1', { id: 'y1', ...loc('Q', 0, 300) }],
  ]);
  const file = (name: string, content: string[]) => ({ rel: name, node: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: '0', content } as TreeNode });

  const cases: { name: string; files: ReturnType<typeof file>[]; runMax: number; gap: number; runs: [string, number, number, string[]][]; sizes: number[]; uses: number[] }[] = [
    {
      name: 'a blob used twice is read once, written to both places',
      files: [file('f', ['y1', 'x1', 'y1'])],
      runMax: 1 << 20,
      gap: 0,
      runs: [
        ['Q', 0, 300, ['y1']],
        ['P', 0, 100, ['x1']],
      ],
      sizes: [1400],
      uses: [3],
    },
    {
      name: 'neighbours merge into one read; a far blob reads alone unless the gap allows',
      files: [file('f', ['x1', 'x2', 'x3'])],
      runMax: 1 << 20,
      gap: 100,
      runs: [
        ['P', 0, 200, ['x1', 'x2']],
        ['P', 5000, 100, ['x3']],
      ],
      sizes: [600],
      uses: [3],
    },
    {
      name: 'a read never exceeds runMax',
      files: [file('f', ['x1', 'x2']), file('g', ['x3'])],
      runMax: 150,
      gap: 1 << 20,
      runs: [
        ['P', 0, 100, ['x1']],
        ['P', 100, 100, ['x2']],
        ['P', 5000, 100, ['x3']],
      ],
      sizes: [400, 200],
      uses: [2, 1],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planReads({ index }, c.files, c.runMax, c.gap);
      expect(plan.runs.map((r) => [r.pack, r.offset, r.length, r.blobs.map((b) => b.entry.id)])).toEqual(c.runs);
      expect(plan.sizes).toEqual(c.sizes);
      expect(plan.uses).toEqual(c.uses);
    });
  }

  it('y1 in "a blob used twice" targets both offsets of the file', () => {
    const plan = planReads({ index }, [file('f', ['y1', 'x1', 'y1'])], 1 << 20, 0);
    expect(plan.runs[0]!.blobs[0]!.targets).toEqual([
      [0, 0],
      [0, 800],
    ]);
  });

  it('blobs of 256 KiB or more are cut at largeRunMax (two runs under the gate), small ones merge up to runMax', () => {
    const big = new Map([...index, ['L1', { id: 'L1', ...loc('R', 0, 200_000) }], ['L2', { id: 'L2', ...loc('R', 200_000, 200_000) }], ['L3', { id: 'L3', ...loc('R', 400_000, 100_000) }]]);
    const plan = planReads({ index: big }, [file('f', ['x1', 'x2']), file('g', ['L1', 'L2', 'L3'])], 1 << 20, 0, 300_000);
    expect(plan.runs.map((r) => [r.pack, r.offset, r.length, r.blobs.map((b) => b.entry.id)])).toEqual([
      ['P', 0, 200, ['x1', 'x2']],
      ['R', 0, 200_000, ['L1']],
      ['R', 200_000, 300_000, ['L2', 'L3']],
    ]);
  });

  it('a file with a blob missing from the index is refused up front, the others planned', () => {
    const plan = planReads({ index }, [file('f', ['x1', 'zz']), file('g', ['x2'])]);
    expect(plan.failed[0]).toMatch(/blob zz is missing/);
    expect(plan.failed[1]).toBeUndefined();
    expect(plan.runs.flatMap((r) => r.blobs.map((b) => b.entry.id))).toEqual(['x2']);
  });
});
