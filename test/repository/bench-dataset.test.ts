import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { brotliCompressSync, constants } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMutation, parseSize, planDataset, planLargeFile, planLargeMutation, planMutation, planSmallFiles, writeDataset } from '../bench/mover-dataset.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('bench dataset plan (pure)', () => {
  const files = planDataset({ totalBytes: GiB, seed: 42 });

  it('is deterministic and sums to the requested size, 60% incompressible', () => {
    expect(planDataset({ totalBytes: GiB, seed: 42 })).toEqual(files);
    expect(planDataset({ totalBytes: GiB, seed: 43 })).not.toEqual(files);
    const bin = files.filter((f) => f.kind === 'bin').reduce((a, f) => a + f.size, 0);
    const total = files.reduce((a, f) => a + f.size, 0);
    expect(total).toBe(GiB);
    expect(bin / total).toBeCloseTo(0.6, 3);
  });

  it('has mixed sizes from 4 KiB to 64 MiB, unique paths', () => {
    const sizes = files.map((f) => f.size);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(4 * KiB);
    expect(Math.max(...sizes)).toBe(64 * MiB);
    expect(sizes.filter((s) => s < 64 * KiB).length).toBeGreaterThan(10);
    expect(sizes.filter((s) => s > 8 * MiB).length).toBeGreaterThan(5);
    expect(new Set(files.map((f) => f.path)).size).toBe(files.length);
  });

  it('mutates ~10% of the files, inserting mid-file into the three largest', () => {
    const muts = planMutation(files, 42);
    expect(muts.length).toBe(Math.round(files.length * 0.1));
    const largest = [...files].sort((a, b) => b.size - a.size).slice(0, 3);
    for (const f of largest) {
      const m = muts.find((x) => x.path === f.path)!;
      expect(m.op).toBe('insert');
      expect(m.offset).toBeGreaterThan(f.size / 4);
      expect(m.offset).toBeLessThan((f.size * 3) / 4);
    }
    expect(planMutation(files, 42)).toEqual(muts);
  });

  it.each([
    ['1GiB', GiB],
    ['256MiB', 256 * MiB],
    ['64M', 64 * MiB],
    ['512 KiB', 512 * KiB],
    ['1e6', 1e6],
  ])('parseSize(%s) = %d', (s, n) => {
    expect(parseSize(s)).toBe(n);
  });
  it('parseSize refuses nonsense', () => {
    expect(() => parseSize('big')).toThrow(/--size/);
  });
});

describe('bench workloads: one large file, many small files (pure)', () => {
  it('the large file is one mixed file, and its change overwrites ~10% in 64 places inside it', () => {
    const files = planLargeFile(4 * GiB, 42);
    expect(files).toEqual([{ path: 'large/volume.img', kind: 'mixed', size: 4 * GiB, seed: 42 }]);
    const muts = planLargeMutation(files, 42);
    expect(muts).toHaveLength(64);
    expect(muts.every((m) => m.op === 'overwrite' && m.offset >= 0 && m.offset + m.length <= 4 * GiB)).toBe(true);
    const changed = muts.reduce((a, m) => a + m.length, 0);
    expect(changed / (4 * GiB)).toBeCloseTo(0.1, 2);
    // regions do not overlap (one per 1/64 of the file)
    const sorted = [...muts].sort((x, y) => x.offset - y.offset);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.offset).toBeGreaterThanOrEqual(sorted[i - 1]!.offset + sorted[i - 1]!.length);
    expect(planLargeMutation(files, 42)).toEqual(muts);
  });

  it('200,000 small files of 1–8 KiB, 1000 per directory, unique paths, ~10% changed', () => {
    const files = planSmallFiles(200_000, 42);
    expect(files).toHaveLength(200_000);
    expect(files.every((f) => f.size >= KiB && f.size <= 8 * KiB)).toBe(true);
    expect(new Set(files.map((f) => f.path)).size).toBe(200_000);
    expect(new Set(files.map((f) => path.dirname(f.path))).size).toBe(200);
    expect(planSmallFiles(200_000, 42)).toEqual(files);
    expect(planMutation(files, 42)).toHaveLength(20_000);
  });
});

describe('bench dataset on disk', () => {
  let a: string;
  let b: string;
  const files = planDataset({ totalBytes: 6 * MiB, seed: 7 });
  beforeAll(async () => {
    a = await mkdtemp(path.join(tmpdir(), 'ds-a-'));
    b = await mkdtemp(path.join(tmpdir(), 'ds-b-'));
    await writeDataset(a, [...files, ...planLargeFile(8 * MiB, 5), ...planSmallFiles(20, 5)]);
    await writeDataset(b, [...files, ...planLargeFile(8 * MiB, 5), ...planSmallFiles(20, 5)]);
  });
  afterAll(async () => {
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  });
  const hash = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

  it('writes the same bytes from the same seed, text compressible and binary not', async () => {
    for (const f of [...files, ...planLargeFile(8 * MiB, 5), ...planSmallFiles(20, 5)]) expect(await hash(path.join(a, f.path)), f.path).toBe(await hash(path.join(b, f.path)));
    // the large file mixes both: compressible overall, far less than text alone
    const mixed = brotliCompressSync(await readFile(path.join(a, 'large/volume.img')), { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
    expect(mixed.length / (8 * MiB)).toBeLessThan(0.97);
    expect(mixed.length / (8 * MiB)).toBeGreaterThan(0.3);
    const text = files.filter((f) => f.kind === 'text').sort((x, y) => y.size - x.size)[0]!;
    const bin = files.filter((f) => f.kind === 'bin').sort((x, y) => y.size - x.size)[0]!;
    const ratio = async (p: string) => {
      const buf = await readFile(path.join(a, p));
      return buf.length / brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } }).length;
    };
    expect(await ratio(text.path)).toBeGreaterThan(3);
    expect(await ratio(bin.path)).toBeLessThan(1.01);
  });

  it('an insertion keeps the bytes around it, shifted', async () => {
    const muts = planMutation(files, 7).filter((m) => m.op === 'insert');
    expect(muts.length).toBeGreaterThan(0);
    const m = muts[0]!;
    const before = await readFile(path.join(b, m.path));
    await applyMutation(b, [m]);
    const after = await readFile(path.join(b, m.path));
    expect(after.length).toBe(before.length + m.length);
    expect(after.subarray(0, m.offset).equals(before.subarray(0, m.offset))).toBe(true);
    expect(after.subarray(m.offset + m.length).equals(before.subarray(m.offset))).toBe(true);
  });
});
