import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Chunker, DEFAULT_CHUNKER, gearTable } from '../../repository/chunker.ts';
import { prng } from './helpers.ts';

function chunks(c: Chunker, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let s = 0;
  while (s < data.length) {
    const n = c.cut(data, s, data.length, true);
    out.push(data.subarray(s, s + n));
    s += n;
  }
  return out;
}

const key = (b: Buffer) => b.toString('base64').slice(0, 40) + b.length;

/** FastCDC as specified in FORMAT.md, one byte per step: the reference the optimised loops must match. */
function referenceCut(gear: Uint32Array, p: { min: number; avg: number; max: number }, buf: Uint8Array, start: number, end: number, final: boolean): number {
  const bits = Math.round(Math.log2(p.avg));
  const top = (b: number) => (0xffffffff << (32 - b)) >>> 0;
  const n = end - start;
  if (n <= p.min) return final ? n : 0;
  let h = 0;
  for (let i = start + p.min; i < start + Math.min(n, p.max); i++) {
    h = (h * 2 + gear[buf[i]!]!) >>> 0;
    const mask = i < start + Math.min(p.avg, n) ? top(bits + 2) : top(bits - 2);
    if ((h & mask) >>> 0 === 0) return i + 1 - start;
  }
  if (Math.min(n, p.max) === p.max) return p.max;
  return final ? n : 0;
}

describe('FastCDC chunker', () => {
  it('cuts exactly where the one-byte-per-step reference does (odd and even lengths, partial buffers, final or not)', () => {
    const params = { min: 4096, avg: 16384, max: 65536 };
    const gear = gearTable(Buffer.from('reference-seed'));
    const c = new Chunker(gear, params);
    const data = prng(3 * 1024 * 1024, 31);
    let compared = 0;
    let cuts = 0;
    for (let start = 0; start < data.length - 10; start += 7919) {
      for (const len of [1, 4095, 4096, 4097, 16383, 16384, 16385, 20001, 65535, 65536, 65537, 99999]) {
        const end = Math.min(data.length, start + len);
        for (const final of [true, false]) {
          const got = c.cut(data, start, end, final);
          expect(got).toBe(referenceCut(gear, params, data, start, end, final));
          compared++;
          if (got > 0 && got < end - start) cuts++;
        }
      }
    }
    expect(compared).toBeGreaterThan(9000);
    expect(cuts).toBeGreaterThan(1000); // real content-defined cuts, not only min/max/final
  });

  const c = new Chunker(gearTable(Buffer.alloc(32, 7)));
  const data = prng(48 * 1024 * 1024, 42);
  const base = chunks(c, data);

  it('covers the input exactly and respects min/max', () => {
    expect(Buffer.concat(base).equals(data)).toBe(true);
    for (const ch of base.slice(0, -1)) {
      expect(ch.length).toBeGreaterThanOrEqual(DEFAULT_CHUNKER.min);
      expect(ch.length).toBeLessThanOrEqual(DEFAULT_CHUNKER.max);
    }
    const avg = data.length / base.length;
    // normalized chunking keeps the mean near the 1 MiB target
    expect(avg).toBeGreaterThan(0.8 * 1024 * 1024);
    expect(avg).toBeLessThan(1.6 * 1024 * 1024);
  });

  it('is shift-resistant: inserting bytes in the middle re-uses almost every chunk', () => {
    const mid = 20 * 1024 * 1024 + 12345;
    const edited = Buffer.concat([data.subarray(0, mid), randomBytes(1000), data.subarray(mid)]);
    const after = chunks(c, edited);
    const known = new Set(base.map(key));
    const reused = after.filter((ch) => known.has(key(ch))).length;
    // only the chunk(s) around the edit change
    expect(after.length - reused).toBeLessThanOrEqual(2);
    expect(reused / after.length).toBeGreaterThan(0.9);
  });

  it('streams: cutting with partial buffers gives the same boundaries as one buffer', () => {
    const streamed: number[] = [];
    let start = 0;
    let avail = 0;
    const step = 3 * 1024 * 1024 + 17;
    while (start < data.length) {
      avail = Math.min(data.length, Math.max(avail, start) + step);
      const final = avail === data.length;
      for (;;) {
        const n = c.cut(data, start, avail, final);
        if (n === 0) break;
        streamed.push(n);
        start += n;
        if (start === avail) break;
      }
    }
    expect(streamed).toEqual(base.map((b) => b.length));
  });

  it('depends on the repository seed (boundaries do not fingerprint content across repositories)', () => {
    const other = chunks(new Chunker(gearTable(Buffer.alloc(32, 8))), data.subarray(0, 16 * 1024 * 1024));
    const mine = chunks(c, data.subarray(0, 16 * 1024 * 1024));
    expect(other.map((b) => b.length)).not.toEqual(mine.map((b) => b.length));
  });
});
