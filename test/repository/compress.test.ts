import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompressSync, constants as zc } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BROTLI_AUTO, type Codec, Compression, contentSized, decompress, maybeCompress, maybeCompressSync, Tier, tier, writerCodec, ZSTD_AUTO, ZSTD_MAX, zstdAddon, zstdNapi } from '../../repository/compress.ts';
import { prng, tempDir, text } from './helpers.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * How compressible each blob looks (the tier picks the level; Raw: stored raw without trying). Cases are the shapes of
 * the bench's workloads (test/bench/mover-dataset.ts): random files, JSON logs, 1 MiB runs of either in one file (a
 * disk image), and 1–8 KiB files. `atMost`: the stored share under zstd 3 and brotli q2 alike.
 */
const cases: { name: string; data: Buffer; tier: Tier; atMost?: number }[] = [
  { name: 'random 1 MiB', data: prng(MiB, 1), tier: Tier.Raw },
  { name: 'JSON text 1 MiB', data: text(MiB), tier: Tier.Text, atMost: 0.3 },
  // a chunk across two 1 MiB runs: the histogram of all samples together was above 7.2 bits/byte, so it went raw
  { name: 'half random, half text', data: Buffer.concat([prng(MiB / 2, 2), text(MiB / 2)]), tier: Tier.Mostly, atMost: 0.65 },
  { name: 'one eighth text in the middle', data: Buffer.concat([prng((7 * MiB) / 16, 3), text(MiB / 8), prng((7 * MiB) / 16, 4)]), tier: Tier.Sparse, atMost: 0.95 },
  { name: 'three quarters text', data: Buffer.concat([prng(MiB / 4, 8), text((3 * MiB) / 4)]), tier: Tier.Mostly, atMost: 0.5 },
  { name: 'text tail of 1/16', data: Buffer.concat([prng((15 * MiB) / 16, 5), text(MiB / 16)]), tier: Tier.Sparse, atMost: 0.97 },
  { name: 'random 4 KiB file', data: prng(4 * KiB, 6), tier: Tier.Raw },
  { name: 'text 4 KiB file', data: text(4 * KiB), tier: Tier.Small, atMost: 0.5 },
  { name: 'text 20 KiB (measured whole)', data: text(20 * KiB), tier: Tier.Small, atMost: 0.5 },
  { name: '63 bytes of text (too small to pay)', data: text(63), tier: Tier.Raw },
  { name: 'zeros 64 KiB', data: Buffer.alloc(64 * KiB), tier: Tier.Text, atMost: 0.01 },
];

const codecs: { name: string; codec: Codec }[] = [
  { name: 'zstd (auto)', codec: { comp: Compression.Zstd, levels: ZSTD_AUTO } },
  { name: 'zstd (max)', codec: { comp: Compression.Zstd, levels: ZSTD_MAX } },
  { name: 'brotli (auto without the add-on)', codec: { comp: Compression.Brotli, levels: BROTLI_AUTO } },
];

describe('compression', () => {
  afterEach(() => {
    delete process.env.COFFER_ZSTD;
    delete process.env.COFFER_ZSTD_NAPI;
  });

  it.each(cases)('$name: tier $tier', ({ data, tier: want }) => {
    expect(tier(data)).toBe(want);
  });

  describe.each(codecs)('$name', ({ codec }) => {
    // zstd on this thread is libzstd's one-shot (zstd-napi), on the pool the add-on: each decodes, within 1% of the
    // other; where zstd-napi did not load both are the add-on's, byte for byte
    it.each(cases)('$name: round trip on the pool and on this thread', async ({ data, tier: t, atMost }) => {
      const a = await maybeCompress(data, codec);
      const b = maybeCompressSync(data, codec);
      for (const { data: stored, comp } of [a, b]) {
        expect(comp).toBe(t === Tier.Raw ? Compression.None : codec.comp);
        if (atMost !== undefined) expect(stored.length).toBeLessThanOrEqual(data.length * atMost);
        expect(Buffer.compare(await decompress(stored, comp, data.length, 'blob'), data)).toBe(0);
      }
      expect(Math.abs(a.data.length - b.data.length)).toBeLessThanOrEqual(a.data.length / 100);
      process.env.COFFER_ZSTD_NAPI = 'off';
      expect(Buffer.compare(maybeCompressSync(data, codec).data, a.data)).toBe(0);
    });
  });

  it('writes zstd where the add-on loads, brotli where it does not, nothing with off', () => {
    expect(zstdAddon()).not.toBeNull();
    expect(writerCodec()).toEqual({ comp: Compression.Zstd, levels: ZSTD_AUTO });
    expect(writerCodec('max')).toEqual({ comp: Compression.Zstd, levels: ZSTD_MAX });
    expect(maybeCompressSync(text(MiB), writerCodec('off')).comp).toBe(Compression.None);
    process.env.COFFER_ZSTD = 'off';
    expect(writerCodec()).toEqual({ comp: Compression.Brotli, levels: BROTLI_AUTO });
  });

  it('reads blobs written at brotli quality 1 (repositories written before 2026-12-07)', async () => {
    const data = Buffer.concat([text(300 * KiB), prng(200 * KiB, 7)]);
    const old = brotliCompressSync(data, { params: { [zc.BROTLI_PARAM_QUALITY]: 1, [zc.BROTLI_PARAM_LGWIN]: 22, [zc.BROTLI_PARAM_SIZE_HINT]: data.length } });
    expect(Buffer.compare(await decompress(old, Compression.Brotli, data.length, 'blob'), data)).toBe(0);
  });

  it('refuses a wrong raw length, a damaged zstd frame and an unknown compression id', async () => {
    const { data } = maybeCompressSync(text(10 * KiB), writerCodec());
    await expect(decompress(data, Compression.Zstd, 10 * KiB + 1, 'blob x')).rejects.toMatchObject({ code: 'E_REPO_CORRUPT' });
    await expect(decompress(Buffer.from('not zstd at all'), Compression.Zstd, 15, 'blob x')).rejects.toMatchObject({ code: 'E_REPO_CORRUPT', message: expect.stringMatching(/^blob x: not a zstd frame/) });
    await expect(decompress(data, 9, 10 * KiB, 'blob x')).rejects.toMatchObject({ code: 'E_REPO_VERSION' });
  });

  it('a reader with no zstd decoder refuses a zstd blob naming it and what to install, and still reads brotli', async () => {
    const raw = text(10 * KiB);
    const z = maybeCompressSync(raw, writerCodec());
    const b = maybeCompressSync(raw, { comp: Compression.Brotli, levels: BROTLI_AUTO });
    process.env.COFFER_ZSTD = 'off';
    await expect(decompress(z.data, z.comp, raw.length, 'blob 0123 in pack abcd')).rejects.toMatchObject({
      name: 'RepoError',
      code: 'E_REPO_CODEC',
      message: expect.stringMatching(/^blob 0123 in pack abcd: compressed with zstd, .*install zstd-napi or @toondepauw\/node-zstd .*Node ≥ 22\.15/),
    });
    expect(Buffer.compare(await decompress(b.data, b.comp, raw.length, 'blob'), raw)).toBe(0);
  });
});

/**
 * Every zstd frame says its content size, checked by the reference decoder — the zstd CLI (Debian's zstd package,
 * libzstd) — and by Coffer's: frames written by libzstd's one-shot (zstd-napi) and by the add-on with the header rewrite
 * (`contentSized`, where zstd-napi did not load), every Frame_Content_Size field width (RFC 8878 §3.1.1.1.4: 1 byte
 * below 256, 2 bytes for 256–65791 stored as size − 256, 4 bytes above), a blob larger than the add-on's 2 MiB window,
 * and the limit above which a frame keeps its window.
 */
describe('zstd frames carry their content size', () => {
  const t = tempDir('zstd-frames');
  afterAll(() => t.cleanup());
  afterEach(() => delete process.env.COFFER_ZSTD_NAPI);
  const run = promisify(execFile);
  const sizes = [200, 255, 256, 4096, 8 * KiB, 8 * KiB + 1, 65791, 65792, 200 * KiB, 3 * MiB];
  const zstd3: Codec = { comp: Compression.Zstd, levels: [0, 3, 3, 3, 3] };

  describe.each(['zstd-napi', 'the add-on'])('written by %s', (writer) => {
    it.each(sizes)('%i bytes: the CLI reads the size and decodes the frame', async (n) => {
      if (writer === 'the add-on') process.env.COFFER_ZSTD_NAPI = 'off';
      const raw = n < 65536 ? text(n) : Buffer.concat([text(n >> 1), prng(n - (n >> 1), n)]);
      const { data, comp } = maybeCompressSync(raw, zstd3);
      expect(comp).toBe(Compression.Zstd);
      // a Frame_Content_Size field: single segment (its 1-byte field), or a field size flag
      expect(data[4]! & 0x20 || data[4]! >> 6).not.toBe(0);
      const file = path.join(t.dir, `f-${writer.length}-${n}.zst`);
      writeFileSync(file, data);
      const listed = await run('zstd', ['-lv', file]);
      expect(listed.stdout).toMatch(new RegExp(`Decompressed Size: .*\\(${n} B\\)`));
      const out = await run('zstd', ['-d', '-c', file], { encoding: 'buffer', maxBuffer: 8 * MiB });
      expect(Buffer.compare(out.stdout, raw)).toBe(0);
      expect(Buffer.compare(await decompress(data, comp, n, 'blob'), raw)).toBe(0);
    });
  });

  // One context serves every blob a thread compresses: what one blob leaves in it must not change the next one's frame.
  it('a blob compressed on this thread is libzstd\'s one-shot frame, whatever was compressed before it', () => {
    const napi = zstdNapi()!.mod;
    const oneShot = (raw: Buffer, level: number) => {
      const out = Buffer.alloc(napi.compressBound(raw.length));
      return out.subarray(0, new napi.CCtx().compress(out, raw, level));
    };
    const blobs = [text(4 * KiB), text(30 * KiB), Buffer.concat([text(2 * KiB), prng(2 * KiB, 7)]), text(4 * KiB)];
    for (const level of [3, 1, 9]) {
      for (const raw of blobs) expect(maybeCompressSync(raw, { comp: Compression.Zstd, levels: [0, level, level, level, level] }).data).toEqual(oneShot(raw, level));
    }
    const { data } = maybeCompressSync(blobs[0]!, zstd3);
    expect(new (zstdAddon()!.mod.Decoder)().decodeSync(data)).toEqual(blobs[0]);
    // where zstd-napi did not load: the add-on's frame, made to carry its size
    process.env.COFFER_ZSTD_NAPI = 'off';
    const addon = maybeCompressSync(blobs[0]!, zstd3).data;
    expect(addon).toEqual(contentSized(new (zstdAddon()!.mod.Encoder)(3).encodeSync(blobs[0]!), 4 * KiB));
  });

  it('leaves a frame alone when it is above ZSTD_SIZED_MAX or not the add-on\'s shape', () => {
    const frame = new (zstdAddon()!.mod.Encoder)(1).encodeSync(text(1000));
    expect(contentSized(frame, 65 * MiB)).toBe(frame);
    const sized = contentSized(frame, 1000);
    expect(contentSized(sized, 1000)).toBe(sized);
    expect(contentSized(Buffer.from('not a frame'), 11).toString()).toBe('not a frame');
  });
});
