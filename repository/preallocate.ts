import { execFile } from 'node:child_process';
import { blobId } from './crypto.ts';
import type { BlobLocation, Repository } from './repo.ts';

/**
 * Preallocation of a restored file's data before it is written, as restic does (fallocate(2)): writes then land in
 * allocated (unwritten) extents and reserve no delayed-allocation clusters, so ext4 never makes the writer wait for
 * writeback of the whole filesystem (ext4_nonda_switch: once dirty delalloc clusters reach half the free space), which
 * a large file restored into a volume not much larger than it reached (FORMAT.md, "Restore: preallocation").
 * Only ranges that hold data are allocated: the all-zero blobs of a sparse file's holes stay holes.
 */

/**
 * Files below this size are not preallocated. Each run of `fallocate` is a child process, and the file's first write
 * waits for it: with 8 MiB, the twelve 8–64 MiB files (275 MiB) of the 512 MiB mixed restore cost 0.54–0.60 system
 * CPU-s instead of 0.35–0.39 and 1.25–1.75 s instead of 1.08–1.19 s (FORMAT.md, "Restore: preallocation").
 */
export const PREALLOC_MIN = 64 * 1024 * 1024;
/** At most this many `fallocate` runs per file: the largest data ranges are taken, the rest is written as before. */
export const PREALLOC_RANGES = 16;

/**
 * Allocate `length` bytes at `offset` of the open file `file` (a path); rejects with `code` 'ENOENT' (no tool),
 * 'ENOSPC' (no room), or anything else when the filesystem or tool refuses.
 */
export type Fallocate = (file: string, offset: number, length: number) => Promise<void>;

/**
 * util-linux `fallocate -o OFF -l LEN FILE` (Essential in Debian, so in the mover's node:22-bookworm-slim image): Node
 * has no fallocate and the image no compiler. A child process, no shell; its message read in the C locale.
 */
export function fallocateCli(bin = 'fallocate'): Fallocate {
  return (file, offset, length) =>
    new Promise((resolve, reject) => {
      execFile(bin, ['-o', String(offset), '-l', String(length), file], { env: { ...process.env, LC_ALL: 'C' } }, (e, _out, stderr) => {
        if (!e) return resolve();
        const err = e as NodeJS.ErrnoException;
        // spawn errors carry their errno code; a refusal is exit 1 and the tool's message
        if (typeof err.code !== 'string') err.code = /No space left/i.test(stderr) ? 'ENOSPC' : /not supported/i.test(stderr) ? 'EOPNOTSUPP' : 'EFALLOCATE';
        err.message = String(stderr).trim() || err.message;
        reject(err);
      });
    });
}

/** [offset, length] of each run of data. */
export type Range = [number, number];

/** The ranges of a file that hold data, from its blobs in order (`zero`: an all-zero blob, a hole): neighbouring data blobs merged, holes left out. Pure. */
export function dataRanges(blobs: readonly { length: number; zero: boolean }[]): Range[] {
  const out: Range[] = [];
  let at = 0;
  for (const b of blobs) {
    if (!b.zero && b.length > 0) {
      const last = out[out.length - 1];
      if (last && last[0] + last[1] === at) last[1] += b.length;
      else out.push([at, b.length]);
    }
    at += b.length;
  }
  return out;
}

/** The `max` largest of `ranges`, in file order: a file costs a bounded number of runs, its small ranges are written as before. Pure. */
export function largest(ranges: readonly Range[], max: number): Range[] {
  if (ranges.length <= max) return [...ranges];
  const keep = new Set([...ranges].sort((a, b) => b[1] - a[1]).slice(0, max));
  return ranges.filter((r) => keep.has(r));
}

/** Stored bytes (framing included) at or below which any blob may be zeros: zstd's frame of 64 B–128 KiB of zeros is 45–48. */
export const ZERO_STORED_MAX = 96;

/**
 * Tells all-zero blobs (holes) from data by id: the id of zeros of a length is computed once (HMAC over that many
 * zeros). Only likely candidates are hashed: the chunker's cut over zeros (the length every whole zero chunk has),
 * blobs stored at least 256 times smaller than their plaintext (zeros compress so; data, even logs, does not), and
 * blobs stored in ZERO_STORED_MAX bytes or less — zeros of any length up to 8 MiB store in 45–305 bytes (zstd) or ~51
 * (brotli), so a short zero chunk at a hole's end (the file's last, a few KiB) is not taken for data. At most
 * `maxLengths` lengths are hashed per restore, others count as data (allocated: never a wrong byte, at worst a filled hole).
 */
export class ZeroBlobs {
  private readonly ids = new Map<number, string>();
  constructor(
    private readonly repo: Pick<Repository, 'key' | 'chunker'>,
    private readonly maxLengths = 64,
  ) {}

  is(e: BlobLocation): boolean {
    if (e.rawLength !== this.repo.chunker.zeroCut() && e.length > ZERO_STORED_MAX && e.length * 256 >= e.rawLength) return false;
    let id = this.ids.get(e.rawLength);
    if (id === undefined) {
      if (this.ids.size >= this.maxLengths) return false;
      this.ids.set(e.rawLength, (id = blobId(this.repo.key, Buffer.alloc(e.rawLength))));
    }
    return id === e.id;
  }
}

/** How preallocating a file ended: done (every range), none (no tool or the filesystem refused), nospace. */
export type Preallocated = 'done' | 'none' | 'nospace';

/** Allocate each range of `file` in turn; stops at the first refusal. */
export async function preallocate(fallocate: Fallocate, file: string, ranges: readonly Range[]): Promise<Preallocated> {
  for (const [offset, length] of ranges) {
    try {
      await fallocate(file, offset, length);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOSPC' ? 'nospace' : 'none';
    }
  }
  return 'done';
}
