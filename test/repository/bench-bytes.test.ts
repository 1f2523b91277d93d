import { mkdirSync, openSync, readSync, closeSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backup } from '../../repository/index.ts';
import { cofferBreakdown } from '../bench/mover-bytes.ts';
import { newRepo, prng, tempDir, text } from './helpers.ts';

/**
 * The bench's byte breakdown (test/bench/mover-bytes.ts) against the repository's files read directly: pack
 * headers from each pack's trailing length field, blob counts and payload from the packs' sizes.
 */
describe('bench byte breakdown', () => {
  const t = tempDir('bytes');
  afterAll(() => t.cleanup());

  it('splits a repository into payload, framing, headers and metadata that match its files', async () => {
    const src = path.join(t.dir, 'src');
    mkdirSync(path.join(src, 'd'), { recursive: true });
    writeFileSync(path.join(src, 'random.bin'), prng(3 * 1024 * 1024, 3));
    writeFileSync(path.join(src, 'd/log.json'), text(2 * 1024 * 1024));
    for (let i = 0; i < 50; i++) writeFileSync(path.join(src, `d/small-${i}.txt`), text(1000 + i * 37));
    const dir = path.join(t.dir, 'repo');
    const { repo } = await newRepo(dir, { packSize: 1024 * 1024 });
    await backup(repo, [src]);
    const b = await cofferBreakdown(dir, 'test-password');

    let headers = 0;
    let packBytes = 0;
    const packDirs = readdirSync(path.join(dir, 'data'));
    for (const sub of packDirs) {
      for (const f of readdirSync(path.join(dir, 'data', sub))) {
        const p = path.join(dir, 'data', sub, f);
        const size = statSync(p).size;
        const fd = openSync(p, 'r');
        const tail = Buffer.alloc(4);
        readSync(fd, tail, 0, 4, size - 4);
        closeSync(fd);
        headers += tail.readUInt32LE(0) + 4;
        packBytes += size;
      }
    }
    expect(b.packHeaders).toBe(headers);
    expect(b.dataPayload + b.treePayload + b.blobFraming).toBe(packBytes - headers);
    expect(b.blobs.data).toBeGreaterThanOrEqual(52); // 50 small files, the text, the random file's chunks
    expect(b.blobFraming).toBe((b.blobs.data + b.blobs.tree) * 28);
    expect(b.raw.data).toBe(3 * 1024 * 1024 + 2 * 1024 * 1024 + Array.from({ length: 50 }, (_, i) => 1000 + i * 37).reduce((a, n) => a + n, 0));
    expect(b.index).toBeGreaterThan(0);
    expect(b.snapshots).toBeGreaterThan(0);
    expect(b.unaccounted).toBe(0);
    // the text compressed, the random file not: payload well under the raw bytes, above the random part
    expect(b.dataPayload).toBeLessThan(b.raw.data * 0.75);
    expect(b.dataPayload).toBeGreaterThan(3 * 1024 * 1024);
  });
});
