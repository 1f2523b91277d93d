import { closeSync, openSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Compression, decompress, maybeCompressSync, writerCodec, ZSTD_BUILTIN_FROM, zstdReader } from '../../repository/compress.ts';
import { blobId, newMasterKey, seal } from '../../repository/crypto.ts';
import { RestoreWorkers, type RestoreBlob } from '../../repository/restore-workers.ts';
import { prng, tempDir, text } from './helpers.ts';

/**
 * A restore worker decodes zstd blobs of ZSTD_BUILTIN_FROM bytes or more with Node's own zstd where it has one (Node ≥
 * 22.15, the mover image) and smaller ones with the add-on (compress.ts). Blobs on both sides of the limit, in one job,
 * come out byte for byte; a malformed frame and a frame of another length are refused with the same messages on both
 * sides. On Node 20 every blob takes the add-on: the same expectations hold (run this file under Node 22 to cover both).
 */
// each path twice: with libzstd's decoder (zstd-napi, the reader's first choice) and with the fallbacks it stands in
// front of (COFFER_ZSTD_NAPI=off: as where it did not build)
describe.each([['libzstd (zstd-napi)', undefined], ['the fallbacks', 'off']])('zstd blobs on both decoders of a restore worker: %s', (_name, dctx) => {
  beforeAll(() => {
    if (dctx) process.env.COFFER_ZSTD_NAPI = dctx;
  });
  afterAll(() => {
    delete process.env.COFFER_ZSTD_NAPI;
  });
  const t = tempDir('zstd-decoders');
  afterAll(() => t.cleanup());
  const L = ZSTD_BUILTIN_FROM;

  it('says which decoders this Node has', () => {
    expect(zstdReader().builtin).toBe(typeof (zlib as unknown as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function');
    expect(zstdReader().path).toBeDefined();
    expect(zstdReader().dctx === undefined).toBe(dctx === 'off');
  });

  it('decompress (the main thread) takes the same two paths with the same outcomes', async () => {
    for (const raw of [text(L - 1), text(L), text(3 * L + 5)]) {
      const { data } = maybeCompressSync(raw, writerCodec());
      expect((await decompress(data, Compression.Zstd, raw.length, 'blob x')).equals(raw)).toBe(true);
      await expect(decompress(data, Compression.Zstd, raw.length + 1, 'blob x')).rejects.toMatchObject({ code: 'E_REPO_CORRUPT', message: `blob x: decompressed to ${raw.length} bytes, expected ${raw.length + 1}` });
      // an index entry shorter than the frame: the length is named (libzstd's decoder cannot say by how much)
      await expect(decompress(data, Compression.Zstd, raw.length - 1, 'blob x')).rejects.toMatchObject({ code: 'E_REPO_CORRUPT', message: expect.stringMatching(new RegExp(`^blob x: decompressed to (?:more than ${raw.length - 1}|${raw.length}) bytes, expected ${raw.length - 1}$`)) });
    }
    for (const rawLength of [L - 1, 4 * L]) await expect(decompress(Buffer.from('not a zstd frame at all'), Compression.Zstd, rawLength, 'blob x')).rejects.toMatchObject({ code: 'E_REPO_CORRUPT', message: expect.stringMatching(/^blob x: not a zstd frame \(/) });
  });

  // one decoder: a worker thread; two: a worker thread and this thread (the job split between them, restore-split.ts)
  it.each([1, 2])('writes blobs below and above the limit byte for byte and refuses damaged ones alike (%i decoders)', async (decoders) => {
    const key = newMasterKey();
    const zstd = writerCodec();
    expect(zstd.comp).toBe(Compression.Zstd);
    // compressible text around the limit and far above it (several MiB: the add-on's output vector grew by doubling)
    const good = [text(L - 1), text(L), text(L + 1), text(100), Buffer.concat([text(2 * L), prng(L, 7)]), text(5 * 1024 * 1024 + 3), text(3 * 1024)];
    type Case = { raw: Buffer; rawLength: number; data: Buffer; comp: number; id: string; expect: RegExp | null };
    const cases: Case[] = good.map((raw) => {
      const { data, comp } = maybeCompressSync(raw, zstd);
      expect(comp).toBe(Compression.Zstd);
      return { raw, rawLength: raw.length, data, comp, id: blobId(key, raw), expect: null };
    });
    // authentic (sealed with the key) but not zstd, on each side of the limit
    for (const rawLength of [L - 1, 4 * L]) cases.push({ raw: Buffer.alloc(rawLength), rawLength, data: Buffer.from('not a zstd frame at all'), comp: Compression.Zstd, id: '0'.repeat(64), expect: /: not a zstd frame \(/ });
    // a sound frame whose index entry says another length, on each side of the limit
    for (const n of [L - 1000, 2 * L]) {
      const raw = text(n);
      cases.push({ raw: Buffer.alloc(n + 1), rawLength: n + 1, data: maybeCompressSync(raw, zstd).data, comp: Compression.Zstd, id: blobId(key, raw), expect: new RegExp(`: decompressed to ${n} bytes, expected ${n + 1}$`) });
      cases.push({ raw: Buffer.alloc(n - 1), rawLength: n - 1, data: maybeCompressSync(raw, zstd).data, comp: Compression.Zstd, id: blobId(key, raw), expect: new RegExp(`: decompressed to (?:more than ${n - 1}|${n}) bytes, expected ${n - 1}$`) });
    }
    const sealed = cases.map((c) => seal(key.encrypt, c.data));
    const buf = new Uint8Array(new SharedArrayBuffer(sealed.reduce((a, s) => a + s.length, 0)));
    const out = path.join(t.dir, 'out.bin');
    const fd = openSync(out, 'w');
    const blobs: RestoreBlob[] = [];
    let at = 0;
    let pos = 0;
    cases.forEach((c, i) => {
      buf.set(sealed[i]!, at);
      blobs.push({ id: c.id, at, length: sealed[i]!.length, rawLength: c.rawLength, comp: c.comp, targets: [[fd, pos]] });
      at += sealed[i]!.length;
      pos += c.rawLength;
    });
    const workers = new RestoreWorkers(key, decoders);
    try {
      expect(workers.size).toBe(decoders);
      const { results } = await workers.run('pack', buf, blobs);
      expect(workers.rangesSplit).toBe(decoders - 1);
      cases.forEach((c, i) => {
        if (c.expect) expect(results[i]?.message, `case ${i}`).toMatch(c.expect);
        else expect(results[i], `case ${i} (${c.rawLength} bytes)`).toBeNull();
      });
    } finally {
      closeSync(fd);
      await workers.close();
    }
    const got = readFileSync(out);
    pos = 0;
    for (const c of cases) {
      // nothing is written for a refused blob: its place stays a hole (zeros), or past the end of the file
      const place = Buffer.alloc(c.rawLength);
      if (pos < got.length) got.copy(place, 0, pos, Math.min(got.length, pos + c.rawLength));
      expect(place.equals(c.expect ? Buffer.alloc(c.rawLength) : c.raw), `${c.rawLength} bytes`).toBe(true);
      pos += c.rawLength;
    }
  });
});
