import { createHmac } from 'node:crypto';
import { RepoError } from './errors.ts';

/** FastCDC parameters; sizes in bytes. */
export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
  /**
   * Normalization level. 2 (FastCDC's normalized chunking, and what a config without this field means):
   * a mask of log2(avg)+2 bits before `avg`, log2(avg)-2 after it. 0: one mask of log2(avg - min) bits from
   * `min` on, so the mean stays near `avg`; it resynchronises sooner after an edit (FORMAT.md "Chunking").
   */
  normalization?: 0 | 2;
}

/** For new repositories; a repository keeps the parameters its config was created with. */
export const DEFAULT_CHUNKER: ChunkerParams = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024, normalization: 0 };

/**
 * A gear table derived from a per-repository secret seed, so chunk boundaries
 * (and therefore chunk sizes) do not fingerprint known files across repositories.
 */
export function gearTable(seed: Buffer): Uint32Array {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    t[i] = createHmac('sha256', seed).update(Buffer.from([i])).digest().readUInt32LE(0);
  }
  return t;
}

/** Top `bits` bits set: the gear hash shifts left, so high bits depend on the last 32 bytes. */
function topMask(bits: number): number {
  return (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * The two masks of a chunk (before `avg`, from `avg` on), as signed 32-bit values. The seal workers' copy
 * of the cut (seal-workers.ts) derives them the same way. An unknown level is a config from a newer Coffer.
 */
export function chunkMasks(params: ChunkerParams): { maskS: number; maskL: number } {
  const level = params.normalization ?? 2;
  if (level === 0) {
    if (!(params.avg > params.min)) throw new RangeError(`chunker: normalization 0 needs avg > min (${params.avg}, ${params.min})`);
    const m = topMask(Math.round(Math.log2(params.avg - params.min))) | 0;
    return { maskS: m, maskL: m };
  }
  if (level !== 2) throw new RepoError('E_REPO_VERSION', `chunker normalization level ${String(level)} is not supported by this Coffer (0 or 2)`);
  const bits = Math.round(Math.log2(params.avg));
  return { maskS: topMask(bits + 2) | 0, maskL: topMask(bits - 2) | 0 };
}

/** Little-endian hosts read four bytes per load below; the byte order decides which byte comes first. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * FastCDC: the gear hash from `min` on, cut after the first byte whose hash has the mask's bits clear,
 * with the stricter mask before `avg` (normalized chunking, level 2) or one mask throughout (level 0).
 */
export class Chunker {
  private readonly maskS: number;
  private readonly maskL: number;
  private readonly g: Int32Array;
  /** The hash where the last `scan` stopped without a cut (it carries on over the `avg` mark). */
  private h = 0;

  constructor(
    readonly gear: Uint32Array,
    readonly params: ChunkerParams = DEFAULT_CHUNKER,
  ) {
    ({ maskS: this.maskS, maskL: this.maskL } = chunkMasks(params));
    // the same bits, read as int32: the hash stays a small integer in V8 (no heap numbers, no float adds)
    this.g = new Int32Array(gear);
  }

  private zeros?: number;

  /**
   * The length every whole chunk of zeros is cut at (a run of `max` zeros, cut once): the backup's fast path over
   * holes and the restore's way to tell a hole's blob from data (preallocate.ts) agree on it.
   */
  zeroCut(): number {
    return (this.zeros ??= this.cut(new Uint8Array(this.params.max), 0, this.params.max, true));
  }

  /**
   * Length of the next chunk in buf[start, end). When `final` is false and no
   * boundary is found before `end`, returns 0: the caller must supply more data.
   */
  cut(buf: Uint8Array, start: number, end: number, final: boolean): number {
    const { min, avg, max } = this.params;
    const n = end - start;
    if (n <= min) return final ? n : 0;
    const limit = start + (n < max ? n : max);
    const normal = start + (avg < n ? avg : n);
    const from = start + min;
    let at = this.scan(buf, from, normal, this.maskS, 0);
    if (at < 0) at = this.scan(buf, normal > from ? normal : from, limit, this.maskL, this.h);
    if (at >= 0) return at - start;
    if (limit - start === max) return max;
    return final ? n : 0;
  }

  /**
   * The first position p in [from, to) whose hash has `mask`'s bits clear, as p + 1; -1 if none (then `h`
   * holds the hash at `to`). Every position is tested, one at a time, exactly as FORMAT.md specifies; only
   * the loads differ: four bytes per load from an aligned Uint32Array view, which halves the instructions
   * per byte of V8's byte-at-a-time loop (one bounds check per four bytes; test/bench/chunker.ts).
   */
  private scan(buf: Uint8Array, from: number, to: number, mask: number, h0: number): number {
    const g = this.g;
    const m = mask;
    let h = h0;
    let i = from;
    // bytes until the absolute offset is 4-aligned (a Uint32Array view must be), and all of them on big-endian hosts
    const head = LITTLE_ENDIAN ? Math.min(to, from + ((4 - ((buf.byteOffset + from) & 3)) & 3)) : to;
    for (; i < head; i++) {
      h = ((h << 1) + g[buf[i]!]!) | 0;
      if ((h & m) === 0) return i + 1;
    }
    const words = (to - i) >> 2;
    if (words > 0) {
      const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
      for (let k = 0; k < words; k++) {
        const x = w[k]!;
        h = ((h << 1) + g[x & 255]!) | 0;
        if ((h & m) === 0) return i + 4 * k + 1;
        h = ((h << 1) + g[(x >>> 8) & 255]!) | 0;
        if ((h & m) === 0) return i + 4 * k + 2;
        h = ((h << 1) + g[(x >>> 16) & 255]!) | 0;
        if ((h & m) === 0) return i + 4 * k + 3;
        h = ((h << 1) + g[x >>> 24]!) | 0;
        if ((h & m) === 0) return i + 4 * k + 4;
      }
      i += 4 * words;
    }
    for (; i < to; i++) {
      h = ((h << 1) + g[buf[i]!]!) | 0;
      if ((h & m) === 0) return i + 1;
    }
    this.h = h;
    return -1;
  }
}
