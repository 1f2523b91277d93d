import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backup, check, restore, type Repository } from '../../repository/index.ts';
import { runCoffer } from '../cli-capture.ts';
import { describeTree, newRepo, prng, tempDir, text } from './helpers.ts';

/** Blobs per compression id in the index. */
function comps(repo: Repository): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [, loc] of repo.index) out[loc.comp] = (out[loc.comp] ?? 0) + 1;
  return out;
}

/**
 * One repository written by a process without the zstd add-on (brotli, as every repository before 2026-12-07) and
 * then by one with it (zstd): every reader path decodes both — restore on the workers and on the main thread,
 * `check --read-data` — and a reader with no zstd decoder refuses with E_REPO_CODEC instead of writing anything.
 */
describe('brotli and zstd blobs in one repository', () => {
  const t = tempDir('codecs');
  const srcOld = path.join(t.dir, 'old');
  const srcNew = path.join(t.dir, 'new');
  let repo: Repository;
  const snaps: string[] = [];

  const fill = (dir: string, seed: number) => {
    mkdirSync(path.join(dir, 'small'), { recursive: true });
    writeFileSync(path.join(dir, 'log.json'), text(2 * 1024 * 1024 + seed)); // compressible, several chunks
    writeFileSync(path.join(dir, 'disk.img'), Buffer.concat([prng(1024 * 1024, seed), text(1024 * 1024 + seed)])); // part random
    for (let i = 0; i < 80; i++) writeFileSync(path.join(dir, 'small', `f${i}`), i % 4 ? text(500 + 97 * i + seed) : prng(3000, seed + i)); // small files, past the batch threshold
  };

  beforeAll(async () => {
    fill(srcOld, 1);
    fill(srcNew, 2);
    ({ repo } = await newRepo(path.join(t.dir, 'repo')));
    process.env.COFFER_ZSTD = 'off';
    snaps.push((await backup(repo, [srcOld], { parent: null })).snapshotId);
    expect(comps(repo)).toMatchObject({ 0: expect.any(Number), 1: expect.any(Number) });
    expect(comps(repo)[2]).toBeUndefined();
    delete process.env.COFFER_ZSTD;
    snaps.push((await backup(repo, [srcNew], { parent: null })).snapshotId);
    expect(comps(repo)[2]).toBeGreaterThan(10);
  });
  afterEach(() => {
    delete process.env.COFFER_ZSTD;
  });
  afterAll(() => t.cleanup());

  it.each([2, 0])('restores both snapshots byte for byte (%i workers)', async (workers) => {
    for (const [i, src] of [srcOld, srcNew].entries()) {
      const out = path.join(t.dir, `out-${workers}-${i}`);
      const stats = await restore(repo, snaps[i]!, out, { workers });
      expect(stats.errors).toEqual([]);
      expect(describeTree(path.join(out, path.basename(src)))).toEqual(describeTree(src));
    }
  });

  it.each([2, 0])('check --read-data is clean (%i workers)', async (workers) => {
    const r = await check(repo, { readData: true, workers });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('a reader without a zstd decoder still restores the brotli snapshot, refuses the zstd one with E_REPO_CODEC, and check names the blobs', async () => {
    process.env.COFFER_ZSTD = 'off';
    const old = path.join(t.dir, 'out-nozstd-old');
    expect((await restore(repo, snaps[0]!, old)).errors).toEqual([]);
    expect(describeTree(path.join(old, 'old'))).toEqual(describeTree(srcOld));
    // the snapshot's trees are zstd blobs too: refused before any file is written
    const out = path.join(t.dir, 'out-nozstd-new');
    await expect(restore(repo, snaps[1]!, out)).rejects.toMatchObject({ code: 'E_REPO_CODEC', message: expect.stringMatching(/^blob [0-9a-f]{16} in pack [0-9a-f]+: compressed with zstd.*install zstd-napi or @toondepauw\/node-zstd/) });
    for (const workers of [2, 0]) {
      const r = await check(repo, { readData: true, workers });
      expect(r.ok).toBe(false);
      expect(r.errors.some((e) => /blob [0-9a-f]{16} in pack [0-9a-f]+.*compressed with zstd.*install zstd-napi or @toondepauw\/node-zstd/.test(e))).toBe(true);
    }
  });
});

describe('coffer repo backup --compression', () => {
  const t = tempDir('codecs-cli');
  afterAll(() => t.cleanup());
  const run = (argv: string[]) => runCoffer(['repo', ...argv], { cwd: t.dir, env: { COFFER_PASSWORD: 'pw' } });

  it('off stores every blob raw, max less than auto; a bad value is refused naming the flag', async () => {
    // files ≤ 32 KiB: one blob each, so the repositories' own chunk boundaries (keyed per repository) play no part
    mkdirSync(path.join(t.dir, 'a.json'));
    const words = prng(20_000, 5);
    for (let i = 0; i < 40; i++) {
      const lines = Array.from({ length: 300 }, (_, j) => JSON.stringify({ i, j, level: ['info', 'warn', 'error'][words[i * 300 + j]! % 3], user: `u${words[i * 300 + j + 1]}`, ms: words[i * 400 + j]! * 3 }));
      writeFileSync(path.join(t.dir, 'a.json', `f${i}.log`), lines.join('\n'));
    }
    const stored: Record<string, number> = {};
    for (const mode of ['off', 'auto', 'max']) {
      const repo = path.join(t.dir, `repo-${mode}`);
      expect((await run(['init', '--repo', repo])).code).toBe(0);
      const r = await run(['backup', 'a.json', '--compression', mode, '--repo', repo, '-o', 'json']);
      expect(r.code).toBe(0);
      stored[mode] = JSON.parse(r.out).stats.bytesStored;
    }
    expect(stored.off).toBeGreaterThan(40 * 300 * 40);
    expect(stored.auto).toBeLessThan(stored.off! / 2);
    expect(stored.max).toBeLessThan(stored.auto!);
    const bad = await run(['backup', 'a.json', '--compression', 'fast', '--repo', path.join(t.dir, 'repo-auto')]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('--compression "fast": expected auto, max or off');
  });
});
