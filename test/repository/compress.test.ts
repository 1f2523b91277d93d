import { brotliCompressSync, constants as zc } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BROTLI_QUALITY, BROTLI_QUALITY_SPARSE, BROTLI_QUALITY_TEXT, brotliQuality, Compression, decompress, maybeCompress, maybeCompressSync } from '../../repository/compress.ts';
import { prng, text } from './helpers.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Which blobs are compressed, and how hard (0: stored raw). Cases are the shapes of the bench's workloads (test/bench/mover-dataset.ts):
 * random files, JSON logs, 1 MiB runs of either in one file (a disk image), and 1–8 KiB files.
 */
const cases: { name: string; data: Buffer; quality: number; atMost?: number }[] = [
  { name: 'random 1 MiB', data: prng(MiB, 1), quality: 0 },
  { name: 'JSON text 1 MiB', data: text(MiB), quality: BROTLI_QUALITY_TEXT, atMost: 0.3 },
  // a chunk across two 1 MiB runs: the histogram of all samples together was above 7.2 bits/byte, so it went raw
  { name: 'half random, half text', data: Buffer.concat([prng(MiB / 2, 2), text(MiB / 2)]), quality: BROTLI_QUALITY, atMost: 0.65 },
  { name: 'one eighth text in the middle', data: Buffer.concat([prng((7 * MiB) / 16, 3), text(MiB / 8), prng((7 * MiB) / 16, 4)]), quality: BROTLI_QUALITY_SPARSE, atMost: 0.95 },
  { name: 'three quarters text', data: Buffer.concat([prng(MiB / 4, 8), text((3 * MiB) / 4)]), quality: BROTLI_QUALITY, atMost: 0.5 },
  { name: 'text tail of 1/16', data: Buffer.concat([prng((15 * MiB) / 16, 5), text(MiB / 16)]), quality: BROTLI_QUALITY_SPARSE, atMost: 0.97 },
  { name: 'random 4 KiB file', data: prng(4 * KiB, 6), quality: 0 },
  { name: 'text 4 KiB file', data: text(4 * KiB), quality: BROTLI_QUALITY, atMost: 0.5 },
  { name: 'text 20 KiB (measured whole)', data: text(20 * KiB), quality: BROTLI_QUALITY, atMost: 0.5 },
  { name: '63 bytes of text (too small to pay)', data: text(63), quality: 0 },
  { name: 'zeros 64 KiB', data: Buffer.alloc(64 * KiB), quality: BROTLI_QUALITY_TEXT, atMost: 0.01 },
];

describe('compression', () => {
  it.each(cases)('$name: quality $quality', async ({ data, quality, atMost }) => {
    expect(brotliQuality(data)).toBe(quality);
    const compressed = quality > 0;
    const a = await maybeCompress(data);
    const b = maybeCompressSync(data);
    // the pool and the inline path store the same bytes
    expect(Buffer.compare(a.data, b.data)).toBe(0);
    expect(a.comp).toBe(compressed ? Compression.Brotli : Compression.None);
    if (atMost !== undefined) expect(a.data.length).toBeLessThanOrEqual(data.length * atMost);
    expect(Buffer.compare(await decompress(a.data, a.comp, data.length, 'blob'), data)).toBe(0);
  });

  it('reads blobs written at brotli quality 1 (repositories written before 2026-12-07)', async () => {
    const data = Buffer.concat([text(300 * KiB), prng(200 * KiB, 7)]);
    const old = brotliCompressSync(data, { params: { [zc.BROTLI_PARAM_QUALITY]: 1, [zc.BROTLI_PARAM_LGWIN]: 22, [zc.BROTLI_PARAM_SIZE_HINT]: data.length } });
    expect(Buffer.compare(await decompress(old, Compression.Brotli, data.length, 'blob'), data)).toBe(0);
  });

  it('refuses a wrong raw length and an unknown compression id', async () => {
    const { data } = maybeCompressSync(text(10 * KiB));
    await expect(decompress(data, Compression.Brotli, 10 * KiB + 1, 'blob x')).rejects.toMatchObject({ code: 'E_REPO_CORRUPT' });
    await expect(decompress(data, 9, 10 * KiB, 'blob x')).rejects.toMatchObject({ code: 'E_REPO_VERSION' });
  });
});
