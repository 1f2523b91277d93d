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

/**
 * Shannon entropy (bits/byte) of a sample spread over the buffer. Above ~7.2
 * the data is already compressed or encrypted and brotli would only burn CPU.
 */
export function sampleEntropy(buf: Uint8Array): number {
  const counts = new Uint32Array(256);
  const SLICES = 8;
  const SLICE = 2048;
  let total = 0;
  if (buf.length <= SLICES * SLICE) {
    for (let i = 0; i < buf.length; i++) counts[buf[i]!]!++;
    total = buf.length;
  } else {
    const step = Math.floor((buf.length - SLICE) / (SLICES - 1));
    for (let s = 0; s < SLICES; s++) {
      const off = s * step;
      for (let i = off; i < off + SLICE; i++) counts[buf[i]!]!++;
    }
    total = SLICES * SLICE;
  }
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

/**
 * Brotli quality 1 (measured in FORMAT.md: fastest built-in codec with a
 * zstd-like ratio, readable on every Node line). Runs on the libuv pool.
 * Returns the original bytes when compression would not save ≥ 3%.
 */
export async function maybeCompress(buf: Buffer): Promise<{ data: Buffer; comp: Compression }> {
  if (buf.length < 64 || sampleEntropy(buf) > ENTROPY_SKIP) return { data: buf, comp: Compression.None };
  return kept(buf, await compressAsync(buf, brotliOptions(buf)));
}

/**
 * The same, on this thread: for small files (≤ 32 KiB), where a trip to the thread pool costs more than
 * compressing (brotli q1 does 32 KiB in tens of µs). Same encoder and parameters, so the same bytes.
 */
export function maybeCompressSync(buf: Buffer): { data: Buffer; comp: Compression } {
  if (buf.length < 64 || sampleEntropy(buf) > ENTROPY_SKIP) return { data: buf, comp: Compression.None };
  return kept(buf, brotliCompressSync(buf, brotliOptions(buf)));
}

/** Output in one chunk sized to the input (a 64 KiB minimum was 60 KiB of garbage per small file: GC was 15% of a 20,000-file backup). */
function brotliOptions(buf: Buffer) {
  return { chunkSize: buf.length + 1024, params: { [zc.BROTLI_PARAM_QUALITY]: 1, [zc.BROTLI_PARAM_SIZE_HINT]: buf.length, [zc.BROTLI_PARAM_LGWIN]: 22 } };
}

/** Compressed only when it saves ≥ 3%. */
function kept(buf: Buffer, out: Buffer): { data: Buffer; comp: Compression } {
  if (out.length > buf.length * 0.97) return { data: buf, comp: Compression.None };
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
