import { closeSync, openSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decompress, maybeCompressSync } from '../../repository/compress.ts';
import { blobId, newMasterKey, seal, unseal } from '../../repository/crypto.ts';
import { RestoreWorkers, type RestoreBlob } from '../../repository/restore-workers.ts';
import { SealWorkers, shared } from '../../repository/seal-workers.ts';
import { DEFAULT_CHUNKER } from '../../repository/chunker.ts';
import { prng, tempDir, text } from './helpers.ts';

/**
 * The workers collect a blob's garbage only once the blob is done with (restore/check: after its plaintext is written
 * and dropped; seal: after the sealed buffer is sent), so a collection never moves a live blob's buffers to the old
 * generation (FORMAT.md, "Peak RSS, second pass"). With a 1-byte pace every blob is followed by a collection: the
 * results must be byte for byte those of the plain path.
 */
describe('worker garbage collected between blobs', () => {
  const t = tempDir('garbage');
  afterAll(() => t.cleanup());
  const K = 64 * 1024;
  // large first, then smaller; raw and compressed; a damaged one in the middle
  const inputs = [prng(3 * K + 17, 1), text(2 * K + 5), prng(K + 1, 2), prng(K, 3), text(K - 1), prng(5 * 1024 * 1024 + 3, 5), text(100)];

  it('restore worker: every blob written whole, a damaged one refused with nothing written', async () => {
    const key = newMasterKey();
    const sealed = inputs.map((raw) => {
      const { data, comp } = maybeCompressSync(raw);
      return { raw, comp, sealed: seal(key.encrypt, data) };
    });
    expect(new Set(sealed.map((s) => s.comp)).size).toBe(2);
    const bad = 2;
    sealed[bad]!.sealed[12 + K]! ^= 1;
    const buf = new Uint8Array(new SharedArrayBuffer(sealed.reduce((a, s) => a + s.sealed.length, 0)));
    const out = path.join(t.dir, 'out.bin');
    const fd = openSync(out, 'w');
    const blobs: RestoreBlob[] = [];
    let at = 0;
    let pos = 0;
    for (const s of sealed) {
      buf.set(s.sealed, at);
      blobs.push({ id: blobId(key, s.raw), at, length: s.sealed.length, rawLength: s.raw.length, comp: s.comp, targets: [[fd, pos]] });
      at += s.sealed.length;
      pos += s.raw.length;
    }
    const workers = new RestoreWorkers(key, 1, 1);
    try {
      const { results } = await workers.run('pack', buf, blobs);
      expect(results.map((r) => r === null)).toEqual(inputs.map((_, i) => i !== bad));
      expect(results[bad]!.message).toMatch(/authentication failed/);
    } finally {
      closeSync(fd);
      await workers.close();
    }
    const got = readFileSync(out);
    pos = 0;
    inputs.forEach((raw, i) => {
      expect(got.subarray(pos, pos + raw.length).equals(i === bad ? Buffer.alloc(raw.length) : raw), `blob ${i} (${raw.length} bytes)`).toBe(true);
      pos += raw.length;
    });
  });

  it('seal worker: every blob opens to its input', async () => {
    const key = newMasterKey();
    const workers = new SealWorkers(key, { gear: new Uint32Array(256), params: DEFAULT_CHUNKER }, 1, 1);
    try {
      const done = await Promise.all(inputs.map((raw) => workers.seal(shared(raw))));
      for (const [i, { sealed, comp }] of done.entries()) {
        const plain = await decompress(unseal(key.encrypt, sealed, `blob ${i}`), comp, inputs[i]!.length, `blob ${i}`);
        expect(plain.equals(inputs[i]!), `blob ${i}`).toBe(true);
      }
    } finally {
      await workers.close();
    }
  });
});
