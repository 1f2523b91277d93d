import { brotliCompress, brotliCompressSync, brotliDecompress, constants as zc } from 'node:zlib';
import { promisify } from 'node:util';
import { RepoError } from './errors.ts';

/** Stored in each pack entry; the repository must decode every value on Node 20, 22 and 24. */
export const enum Compression {
  None = 0,
  Brotli = 1,
}

const compressAsync = promisify(brotliCompress);
const decompressAsync = promisify(brotliDecompress);

/** Bits per byte of `buf[from, to)` from its byte histogram. */
function entropy(buf: Uint8Array, from: number, to: number, counts: Uint32Array): number {
  counts.fill(0);
  for (let i = from; i < to; i++) counts[buf[i]!]!++;
  const total = to - from;
  let e = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c) {
      const p = c / total;
      e -= p * Math.log2(p);
    }
  }
  return e;
}

export const ENTROPY_SKIP = 7.2;
/** Slices sampled from a blob larger than SAMPLE_SLICES × SAMPLE_SLICE bytes (a smaller one is measured whole). */
export const SAMPLE_SLICES = 16;
export const SAMPLE_SLICE = 2048;

/**
 * Brotli's quality for `buf`, or 0 to store it raw without trying.
 *
 * What is tried: a blob up to 32 KiB (a small file) is measured whole; a larger one is sampled in 16 slices of
 * 2 KiB spread over it, and one slice at or below 7.2 bits/byte is enough (random data measures ~7.9 even in
 * 2 KiB, text 4.5–5.5). Why per slice: one histogram over all the slices (the rule until 2026-12-07) mixes a
 * blob's text and random parts into one distribution above 7.2, so a ~1 MiB chunk holding half a text run and
 * half a random one was stored raw — 169 MB of the 256 MiB one-large-file workload, 1.059× restic's bytes.
 *
 * How hard: q2 for small blobs and for larger ones at least half compressible, q1 for those less than half (q1
 * skips random data 3–5× faster than q3 and compresses a mostly random blob as well). Chosen on the 2-core bench
 * (FORMAT.md, "Stored bytes", the lead's table): on 512 MiB mixed, q1 / q2 / q3 / q3+q4 stored 1.0083 / 1.0021 /
 * 1.0001 / 0.993× restic's bytes at 1.49 / 1.34 / 1.25 / ~1.1× restic's first-backup speed, and q4 took the peak
 * RSS from ~290 to 430 MiB (brotli's q4 state on up to `UV_THREADPOOL_SIZE` pool threads); on 30,000 small files
 * q2 stored 1.0007× (q1 1.026×) at the same speed. q2 gives up 0.2% of bytes for a tenth of the speed and all of
 * that memory; the changed-data phases store fewer bytes than restic (0.9915×, 0.9996×).
 */
export function brotliQuality(buf: Uint8Array): number {
  if (buf.length < 64) return 0;
  const counts = new Uint32Array(256);
  if (buf.length <= SAMPLE_SLICES * SAMPLE_SLICE) return entropy(buf, 0, buf.length, counts) <= ENTROPY_SKIP ? BROTLI_QUALITY : 0;
  const step = Math.floor((buf.length - SAMPLE_SLICE) / (SAMPLE_SLICES - 1));
  let low = 0;
  for (let s = 0; s < SAMPLE_SLICES; s++) if (entropy(buf, s * step, s * step + SAMPLE_SLICE, counts) <= ENTROPY_SKIP) low++;
  return low === 0 ? 0 : low === SAMPLE_SLICES ? BROTLI_QUALITY_TEXT : 2 * low >= SAMPLE_SLICES ? BROTLI_QUALITY : BROTLI_QUALITY_SPARSE;
}

export const BROTLI_QUALITY = 2;
/** For blobs above 32 KiB that sample as compressible throughout. */
export const BROTLI_QUALITY_TEXT = 2;
/** For blobs above 32 KiB with fewer than half of their slices compressible. */
export const BROTLI_QUALITY_SPARSE = 1;
export const BROTLI_LGWIN = 22;
/** The compressed form is kept when it is at most this share of the raw bytes (saves ≥ 1%). */
export const KEEP_AT_MOST = 0.99;

/** Runs on the libuv pool. Returns the original bytes when compression does not pay (`brotliQuality`, `KEEP_AT_MOST`). */
export async function maybeCompress(buf: Buffer): Promise<{ data: Buffer; comp: Compression }> {
  const q = brotliQuality(buf);
  if (!q) return { data: buf, comp: Compression.None };
  return kept(buf, await compressAsync(buf, brotliOptions(buf, q)));
}

/**
 * The same, on this thread: for small files (≤ 32 KiB), where a trip to the thread pool costs more than
 * compressing. Same encoder and parameters, so the same bytes.
 */
export function maybeCompressSync(buf: Buffer): { data: Buffer; comp: Compression } {
  const q = brotliQuality(buf);
  if (!q) return { data: buf, comp: Compression.None };
  return kept(buf, brotliCompressSync(buf, brotliOptions(buf, q)));
}

/** Output in one chunk sized to the input (a 64 KiB minimum was 60 KiB of garbage per small file: GC was 15% of a 20,000-file backup). */
function brotliOptions(buf: Buffer, quality: number) {
  return { chunkSize: buf.length + 1024, params: { [zc.BROTLI_PARAM_QUALITY]: quality, [zc.BROTLI_PARAM_SIZE_HINT]: buf.length, [zc.BROTLI_PARAM_LGWIN]: BROTLI_LGWIN } };
}

function kept(buf: Buffer, out: Buffer): { data: Buffer; comp: Compression } {
  if (out.length > buf.length * KEEP_AT_MOST) return { data: buf, comp: Compression.None };
  return { data: out, comp: Compression.Brotli };
}

export async function decompress(data: Buffer, comp: number, rawLength: number, what: string): Promise<Buffer> {
  if (comp === Compression.None) return data;
  if (comp === Compression.Brotli) {
    // right-sized output (restore-workers.ts): a 64 KiB minimum held 64 KiB per small blob until GC
    const out = await decompressAsync(data, { chunkSize: Math.max(64, rawLength + 1) });
    if (out.length !== rawLength) throw new RepoError('E_REPO_CORRUPT', `${what}: decompressed to ${out.length} bytes, expected ${rawLength}`);
    return out;
  }
  throw new RepoError('E_REPO_VERSION', `${what}: unknown compression ${comp} (written by a newer Coffer?)`);
}
