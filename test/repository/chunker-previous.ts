import type { ChunkerParams } from '../../repository/chunker.ts';

/**
 * Chunker.cut as it was before the four-bytes-per-load scan (main at 2b3f83d: two bytes per iteration, one
 * byte load each), normalization level 2 only. The anchor of test/bench/chunker.ts and of the identity table in
 * chunker.test.ts: a changed cut point would change every blob id of a file after it, so dedup against
 * existing repositories depends on the new loop cutting exactly here.
 */
export function previousCut(gear: Uint32Array, params: ChunkerParams): (buf: Uint8Array, start: number, end: number, final: boolean) => number {
  const bits = Math.round(Math.log2(params.avg));
  const ms = ((0xffffffff << (32 - (bits + 2))) >>> 0) | 0;
  const ml = ((0xffffffff << (32 - (bits - 2))) >>> 0) | 0;
  const g = gear;
  const { min, avg, max } = params;
  return (buf, start, end, final) => {
    const n = end - start;
    if (n <= min) return final ? n : 0;
    const limit = start + (n < max ? n : max);
    const normal = start + (avg < n ? avg : n);
    let h = 0;
    let i = start + min;
    for (const n2 = normal - 1; i < n2; i += 2) {
      h = ((h << 1) + g[buf[i]!]!) | 0;
      if ((h & ms) === 0) return i + 1 - start;
      h = ((h << 1) + g[buf[i + 1]!]!) | 0;
      if ((h & ms) === 0) return i + 2 - start;
    }
    for (; i < normal; i++) {
      h = ((h << 1) + g[buf[i]!]!) | 0;
      if ((h & ms) === 0) return i + 1 - start;
    }
    for (const l2 = limit - 1; i < l2; i += 2) {
      h = ((h << 1) + g[buf[i]!]!) | 0;
      if ((h & ml) === 0) return i + 1 - start;
      h = ((h << 1) + g[buf[i + 1]!]!) | 0;
      if ((h & ml) === 0) return i + 2 - start;
    }
    for (; i < limit; i++) {
      h = ((h << 1) + g[buf[i]!]!) | 0;
      if ((h & ml) === 0) return i + 1 - start;
    }
    if (limit - start === max) return max;
    return final ? n : 0;
  };
}
