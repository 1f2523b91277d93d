import { createHmac } from 'node:crypto';

/** FastCDC parameters; sizes in bytes. */
export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };

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
 * FastCDC with normalized chunking (level 2): a stricter mask before the
 * average size and a looser one after it, which narrows the size spread.
 */
export class Chunker {
  private readonly maskS: number;
  private readonly maskL: number;

  constructor(
    readonly gear: Uint32Array,
    readonly params: ChunkerParams = DEFAULT_CHUNKER,
  ) {
    const bits = Math.round(Math.log2(params.avg));
    this.maskS = topMask(bits + 2) | 0;
    this.maskL = topMask(bits - 2) | 0;
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
    const g = this.gear;
    const ms = this.maskS;
    const ml = this.maskL;
    let h = 0;
    let i = start + min;
    // Two bytes per iteration, each position still checked: the same cut points, ~20% faster in V8
    // (measured 583/550/444 → 671/725/713 MiB/s on 64 MiB of random data, same process, alternating).
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
  }
}
