import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, FileBackend, initRepository, restore, type Repository } from '../../repository/index.ts';
import { dataRanges, type Fallocate, fallocateCli, largest, ZeroBlobs } from '../../repository/preallocate.ts';
import { blobId, newMasterKey } from '../../repository/crypto.ts';
import { Chunker, gearTable } from '../../repository/chunker.ts';
import { Compression, maybeCompressSync, writerCodec } from '../../repository/compress.ts';
import { FAST_KDF, prng, tempDir, text } from './helpers.ts';

const MiB = 1024 * 1024;
const KiB = 1024;
/** A small chunker: holes of a few MiB are whole zero chunks, and a data range's edges are at most one chunk off. */
const CHUNKER = { min: 64 * KiB, avg: 128 * KiB, max: 512 * KiB, normalization: 0 as const };

describe('dataRanges / largest: what a file preallocates', () => {
  // blob layouts as restore.ts sees them (lengths in order, zero = the id of that many zeros)
  it.each([
    ['data only: one range', [[4, false], [3, false]], [[0, 7]]],
    ['a hole in the middle stays out', [[4, false], [8, true], [2, false]], [[0, 4], [12, 2]]],
    ['leading and trailing holes', [[8, true], [2, false], [1, false], [5, true]], [[8, 3]]],
    ['all holes: nothing', [[8, true], [8, true]], []],
    ['empty blobs are no range', [[0, false], [2, false]], [[0, 2]]],
  ] as [string, [number, boolean][], [number, number][]][])('%s', (_name, blobs, want) => {
    expect(dataRanges(blobs.map(([length, zero]) => ({ length, zero })))).toEqual(want);
  });
  it('tells zero blobs of every length from data, as the writer stores them (a hole\'s short last chunk included)', () => {
    const key = newMasterKey();
    const chunker = new Chunker(gearTable(randomBytes(32)), { min: 64 * KiB, avg: 128 * KiB, max: 512 * KiB, normalization: 0 });
    for (const codec of [writerCodec(), { comp: Compression.Brotli, levels: [0, 1, 2, 2, 2] as const }]) {
      const zeros = new ZeroBlobs({ key, chunker });
      // as a pack entry records a blob: its id, plaintext length and stored length (12-byte nonce and 16-byte tag included)
      const entry = (raw: Buffer) => ({ id: blobId(key, raw), rawLength: raw.length, length: maybeCompressSync(raw, codec as ReturnType<typeof writerCodec>).data.length + 28, pack: 'p', offset: 0, comp: 0, type: 'data' as const });
      for (const n of [1, 40, 64, 100, 5000, 12 * KiB, 40 * KiB, chunker.zeroCut(), 700 * KiB]) expect(zeros.is(entry(Buffer.alloc(n)))).toBe(true);
      const oneByte = Buffer.alloc(5000);
      oneByte[4999] = 1;
      for (const data of [Buffer.from('x'), prng(100, 1), text(5000), oneByte, prng(64 * KiB, 2)]) expect(zeros.is(entry(data))).toBe(false);
    }
  });
  it('keeps the largest ranges in file order when there are more than the bound', () => {
    expect(largest([[0, 1], [10, 5], [20, 2], [30, 4]], 2)).toEqual([[10, 5], [30, 4]]);
    expect(largest([[0, 1]], 2)).toEqual([[0, 1]]);
  });
});

/**
 * A larger file's data is preallocated with util-linux `fallocate` (preallocate.ts) before its first write; holes stay
 * holes; without the tool the restore is the same; on a full filesystem the restore fails as it did without it.
 */
describe('a larger file is preallocated before it is written', () => {
  const t = tempDir('prealloc');
  const src = path.join(t.dir, 'src');
  const file = path.join(src, 'disk.img');
  const SIZE = 24 * MiB;
  let repo: Repository;
  let snap: string;

  beforeAll(async () => {
    mkdirSync(src);
    // 6 MiB of data, an 8 MiB hole, 6 MiB of data, a 4 MiB hole at the end
    const fd = openSync(file, 'w');
    writeSync(fd, prng(6 * MiB, 31), 0, 6 * MiB, 0);
    writeSync(fd, prng(6 * MiB, 32), 0, 6 * MiB, 14 * MiB);
    writeSync(fd, Buffer.alloc(1), 0, 1, SIZE - 1);
    closeSync(fd);
    repo = await initRepository(new FileBackend(path.join(t.dir, 'repo')), 'test-password', { scrypt: FAST_KDF, packSize: 8 * MiB, chunker: CHUNKER });
    snap = (await backup(repo, [src], { workers: 0 })).snapshotId;
  });
  afterAll(() => t.cleanup());

  /** The real tool, with the file's allocated bytes looked at right after each run (before any write: the file's open waits for it). */
  const watched = () => {
    const calls: { offset: number; length: number; allocated: number; error?: string }[] = [];
    const real = fallocateCli();
    const run: Fallocate = async (f, offset, length) => {
      try {
        await real(f, offset, length);
      } catch (e) {
        calls.push({ offset, length, allocated: -1, error: (e as NodeJS.ErrnoException).code });
        throw e;
      }
      const fd = openSync(f, 'r');
      calls.push({ offset, length, allocated: fstatSync(fd).blocks * 512 });
      closeSync(fd);
    };
    return { calls, run };
  };

  it('allocates the data ranges before writing them, and the file is byte-identical', async () => {
    const { calls, run } = watched();
    const out = path.join(t.dir, 'out');
    const s = await restore(repo, snap, out, { workers: 2, fallocate: run, preallocateMin: MiB });
    expect(s.errors).toEqual([]);
    expect(s.preallocated).toBe(1);
    expect(readFileSync(path.join(out, 'src/disk.img')).equals(readFileSync(file))).toBe(true);
    // two data ranges, each its 6 MiB and at most a chunk of the hole beside it
    expect(calls.length).toBe(2);
    const allocated = calls.reduce((a, c) => a + c.length, 0);
    expect(allocated).toBeGreaterThanOrEqual(12 * MiB);
    expect(allocated).toBeLessThanOrEqual(12 * MiB + 3 * CHUNKER.max);
    expect(calls[0]!.offset).toBe(0);
    expect(calls[1]!.offset).toBeGreaterThan(6 * MiB);
    expect(calls[1]!.offset).toBeLessThanOrEqual(14 * MiB);
    // the blocks were there after the last run, before the first write
    expect(calls.at(-1)!.allocated).toBeGreaterThanOrEqual(allocated);
  });

  it('leaves holes as holes: allocated blocks within a chunk per hole edge of a restore without preallocation', async () => {
    const plain = path.join(t.dir, 'plain');
    const pre = path.join(t.dir, 'pre');
    expect((await restore(repo, snap, plain, { workers: 2, fallocate: false, preallocateMin: MiB })).preallocated).toBe(0);
    expect((await restore(repo, snap, pre, { workers: 2, preallocateMin: MiB })).preallocated).toBe(1);
    const [a, b] = [statSync(path.join(plain, 'src/disk.img')), statSync(path.join(pre, 'src/disk.img'))];
    expect(b.size).toBe(SIZE);
    expect(a.blocks * 512).toBeLessThan(13 * MiB);
    expect(b.blocks * 512).toBeGreaterThanOrEqual(a.blocks * 512);
    expect(b.blocks * 512).toBeLessThanOrEqual(a.blocks * 512 + 3 * CHUNKER.max);
  });

  it('restores byte-identically without the tool (not installed): nothing preallocated, nothing else changes', async () => {
    const out = path.join(t.dir, 'no-tool');
    const s = await restore(repo, snap, out, { workers: 2, fallocate: fallocateCli(path.join(t.dir, 'no-such-dir/fallocate')), preallocateMin: MiB, flushBytes: MiB, flushAlways: true });
    expect(s.errors).toEqual([]);
    expect(s.preallocated).toBe(0);
    expect(s.notPreallocated).toBe(1);
    expect(readFileSync(path.join(out, 'src/disk.img')).equals(readFileSync(file))).toBe(true);
    expect(statSync(path.join(out, 'src/disk.img')).blocks * 512).toBeLessThan(13 * MiB + 3 * CHUNKER.max);
  });

  /** A tmpfs of its own (mount needs root, as bench:mover's loop volumes do): fallocate refuses with ENOSPC there. */
  describe('on a full filesystem', () => {
    const mnt = path.join(t.dir, 'small');
    let mounted = false;
    beforeAll(async () => {
      mkdirSync(mnt, { recursive: true });
      mounted = await promisify(execFile)('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]).then(
        () => true,
        () => false,
      );
    });
    afterAll(async () => {
      if (mounted) await promisify(execFile)('umount', [mnt]);
    });

    it('fails the file with the same error as without preallocation, and leaves no partial file', async (ctx) => {
      if (!mounted) ctx.skip(); // not root: no mount
      const fail = async (name: string, fallocate?: Fallocate | false) => {
        const out = path.join(mnt, name);
        const err = await restore(repo, snap, out, { workers: 2, fallocate, preallocateMin: MiB }).then(
          () => undefined,
          (e: unknown) => e as { code: string; message: string; stats: { preallocated: number; notPreallocated: number } },
        );
        expect(readdirSync(path.join(out, 'src'))).toEqual([]);
        return err;
      };
      const plain = await fail('plain', false);
      const { calls, run } = watched();
      const pre = await fail('pre', run);
      expect(plain?.code).toBe('E_RESTORE_TARGET');
      expect(plain?.message).toContain('src/disk.img: ENOSPC: no space left on device');
      // the tool was asked and refused for want of room; the writes then failed as before
      expect(calls.map((c) => c.error)).toContain('ENOSPC');
      expect(pre?.stats.notPreallocated).toBe(1);
      expect(pre?.code).toBe(plain?.code);
      const same = (m: string | undefined, name: string) => m?.replace(/ [0-9a-f]{8}/, '').replace(path.join(mnt, name), 'TARGET');
      expect(same(pre?.message, 'pre')).toBe(same(plain?.message, 'plain'));
    });
  });
});
