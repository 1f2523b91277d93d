import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Chunker, type ChunkerParams, DEFAULT_CHUNKER, gearTable } from '../../repository/chunker.ts';
import { newMasterKey } from '../../repository/crypto.ts';
import { RepoError } from '../../repository/errors.ts';
import { FileBackend, initRepository, openRepository } from '../../repository/index.ts';
import { SealWorkers } from '../../repository/seal-workers.ts';
import { encodeJSON } from '../../repository/serialize.ts';
import { previousCut } from './chunker-previous.ts';
import { newRepo, prng, tempDir, text } from './helpers.ts';

const MiB = 1024 * 1024;
/** The parameters of every repository created before `normalization` existed (a config without the field). */
const LEVEL2: ChunkerParams = { min: 512 * 1024, avg: MiB, max: 8 * MiB };

type Cut = (buf: Uint8Array, start: number, end: number, final: boolean) => number;

function lengths(cut: Cut, data: Uint8Array): number[] {
  const out: number[] = [];
  for (let s = 0; s < data.length; ) {
    const n = cut(data, s, data.length, true);
    out.push(n);
    s += n;
  }
  return out;
}

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
function referenceCut(gear: Uint32Array, p: ChunkerParams, buf: Uint8Array, start: number, end: number, final: boolean): number {
  const level0 = p.normalization === 0;
  const bits = Math.round(Math.log2(level0 ? p.avg - p.min : p.avg));
  const top = (b: number) => (0xffffffff << (32 - b)) >>> 0;
  const n = end - start;
  if (n <= p.min) return final ? n : 0;
  let h = 0;
  for (let i = start + p.min; i < start + Math.min(n, p.max); i++) {
    h = (h * 2 + gear[buf[i]!]!) >>> 0;
    const mask = level0 ? top(bits) : i < start + Math.min(p.avg, n) ? top(bits + 2) : top(bits - 2);
    if ((h & mask) >>> 0 === 0) return i + 1 - start;
  }
  if (Math.min(n, p.max) === p.max) return p.max;
  return final ? n : 0;
}

describe('FastCDC chunker', () => {
  it.each([2, 0] as const)('level %i cuts exactly where the one-byte-per-step reference does (odd and even lengths, partial buffers, final or not)', (normalization) => {
    const params: ChunkerParams = { min: 4096, avg: 16384, max: 65536, normalization };
    const gear = gearTable(Buffer.from('reference-seed'));
    const c = new Chunker(gear, params);
    // random bytes at every alignment of the four-byte loads (start steps by an odd prime)
    const data = prng(3 * 1024 * 1024, 31);
    const old = previousCut(gear, params);
    let compared = 0;
    let cuts = 0;
    for (let start = 0; start < data.length - 10; start += 7919) {
      for (const len of [1, 4095, 4096, 4097, 16383, 16384, 16385, 20001, 65535, 65536, 65537, 99999]) {
        const end = Math.min(data.length, start + len);
        for (const final of [true, false]) {
          const got = c.cut(data, start, end, final);
          expect(got).toBe(referenceCut(gear, params, data, start, end, final));
          if (normalization === 2) expect(got).toBe(old(data, start, end, final));
          compared++;
          if (got > 0 && got < end - start) cuts++;
        }
      }
    }
    expect(compared).toBeGreaterThan(9000);
    expect(cuts).toBeGreaterThan(1000); // real content-defined cuts, not only min/max/final
  });

  const c = new Chunker(gearTable(Buffer.alloc(32, 7)), LEVEL2); // level 0 has its own below
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

  it('zeroCut is where cutting a long run of zeros puts every boundary (the backup\'s fast path over holes, the restore\'s hole test)', () => {
    const zeros = new Uint8Array(3 * DEFAULT_CHUNKER.max + 12345);
    const cuts: number[] = [];
    for (let at = 0; at < zeros.length; ) at += cuts[cuts.push(c.cut(zeros, at, zeros.length, true)) - 1]!;
    expect(cuts.slice(0, 3)).toEqual([c.zeroCut(), c.zeroCut(), c.zeroCut()]);
    expect(c.zeroCut()).toBeGreaterThanOrEqual(DEFAULT_CHUNKER.min);
    expect(c.zeroCut()).toBeLessThanOrEqual(DEFAULT_CHUNKER.max);
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
    const other = chunks(new Chunker(gearTable(Buffer.alloc(32, 8)), LEVEL2), data.subarray(0, 16 * 1024 * 1024));
    const mine = chunks(c, data.subarray(0, 16 * 1024 * 1024));
    expect(other.map((b) => b.length)).not.toEqual(mine.map((b) => b.length));
  });
});


/** Test data of `n` bytes by kind: each stresses a different path of the scan (cut early, cut late, never cut). */
function dataOf(kind: string, n: number): Buffer {
  switch (kind) {
    case 'prng':
      return prng(n, 5);
    case 'text': // JSON lines: low entropy, still content-defined cuts
      return text(n);
    case 'zero runs': // a run above max (sparse-file fast path territory) and a short one inside random data
      return Buffer.concat([prng(MiB, 6), Buffer.alloc(9 * MiB), prng(2 * MiB, 7), Buffer.alloc(100 * 1024), prng(n, 8)]).subarray(0, n);
    case 'zeros': // the gear hash of zeros: one fixed cut offset or none
      return Buffer.alloc(n);
    case 'mixed 1 MiB runs': {
      const parts: Buffer[] = [];
      for (let i = 0; i * MiB < n; i++) parts.push(i % 2 ? text(MiB) : prng(MiB, 100 + i));
      return Buffer.concat(parts).subarray(0, n);
    }
    case 'period 7': // a short repeating pattern: the hash cycles, typically no cut before max
      return Buffer.from('abcdefg'.repeat(Math.ceil(n / 7))).subarray(0, n);
    default:
      throw new Error(kind);
  }
}

/** A copy of `data` at byteOffset `off` of a larger buffer (the scan's aligned view starts after 4 - off head bytes). */
function atOffset(data: Buffer, off: number, shared = false): Buffer {
  const backing = shared ? Buffer.from(new SharedArrayBuffer(data.length + 8)) : Buffer.alloc(data.length + 8);
  data.copy(backing, off);
  return backing.subarray(off, off + data.length);
}

describe('four-byte scan: identical cut points to the previous loop (default sizes)', () => {
  const gear = gearTable(Buffer.from('identity-table-seed'));
  const c = new Chunker(gear, LEVEL2);
  const old = previousCut(gear, LEVEL2);
  const { min, avg, max } = LEVEL2;
  const sizes = [min - 1, min, min + 1, avg - 1, avg, avg + 1, max - 1, max, max + 1, 2 * max, 2 * max + 3];
  const kinds = ['prng', 'text', 'zero runs', 'zeros', 'mixed 1 MiB runs', 'period 7'];
  const full = new Map(kinds.map((k) => [k, dataOf(k, 2 * max + 3)]));

  it.each(kinds)('%s: every size (min ± 1, avg ± 1, max ± 1, 2 × max, 2 × max + 3) at byte offsets 0 and 3', (kind) => {
    let content = 0;
    for (const size of sizes) {
      for (const off of [0, 3]) {
        const data = atOffset(full.get(kind)!.subarray(0, size), off);
        const got = lengths((b, s, e, f) => c.cut(b, s, e, f), data);
        expect(got, `${kind} ${size} @${off}`).toEqual(lengths(old, data));
        content += got.filter((n, i) => i < got.length - 1 && n !== max).length;
      }
    }
    // the table must contain real content-defined cuts where the data allows them
    if (kind === 'prng' || kind === 'text' || kind === 'mixed 1 MiB runs') expect(content).toBeGreaterThan(10);
  });

  it('every byte offset 0–3, a SharedArrayBuffer (the seal workers\' read buffers), and the spec reference', () => {
    const data = full.get('mixed 1 MiB runs')!;
    const want = lengths(old, data);
    expect(want.length).toBeGreaterThan(8);
    expect(want).toEqual(lengths((b, s, e, f) => referenceCut(gear, LEVEL2, b, s, e, f), data));
    for (const off of [0, 1, 2, 3]) for (const shared of [false, true]) expect(lengths((b, s, e, f) => c.cut(b, s, e, f), atOffset(data, off, shared))).toEqual(want);
  });
});

describe('normalization level 0 (one mask from min on)', () => {
  const params: ChunkerParams = { ...LEVEL2, normalization: 0 };
  const gear = gearTable(Buffer.from('level-0-seed'));
  const c = new Chunker(gear, params);
  const data = dataOf('mixed 1 MiB runs', 40 * MiB);
  const base = chunks(c, data);

  it('cuts where the one-byte-per-step reference does, chunks near the 1 MiB average', () => {
    expect(base.map((b) => b.length)).toEqual(lengths((b, s, e, f) => referenceCut(gear, params, b, s, e, f), data));
    const random = prng(40 * MiB, 9); // the mean on random bytes (the helper's JSON text is periodic and cuts sooner)
    const avg = random.length / chunks(c, random).length;
    expect(avg).toBeGreaterThan(0.8 * MiB);
    expect(avg).toBeLessThan(1.4 * MiB);
    expect(base.map((b) => b.length)).not.toEqual(lengths(previousCut(gear, LEVEL2), data)); // a different chunker
  });

  it('is shift-resistant: inserting bytes mid-file changes at most 2 chunks', () => {
    const known = new Set(base.map(key));
    for (const [at, len] of [[17 * MiB + 12345, 1000], [25 * MiB + 1, 1], [30 * MiB, 70000]] as const) {
      const edited = Buffer.concat([data.subarray(0, at), randomBytes(len), data.subarray(at)]);
      const after = chunks(c, edited);
      expect(after.filter((ch) => !known.has(key(ch))).length).toBeLessThanOrEqual(2);
    }
  });

  it('refuses parameters it cannot honour: unknown levels (a newer Coffer\'s config) and avg ≤ min', () => {
    expect(() => new Chunker(gear, { ...LEVEL2, normalization: 1 as 0 })).toThrow(RepoError);
    expect(() => new Chunker(gear, { ...LEVEL2, normalization: 1 as 0 })).toThrow(/normalization level 1/);
    expect(() => new Chunker(gear, { min: MiB, avg: MiB, max: 8 * MiB, normalization: 0 })).toThrow(/avg > min/);
  });
});

describe('the repository config decides the chunker', () => {
  const t = tempDir('chunker-config');
  afterAll(() => t.cleanup());

  it('a new repository records level 0; a config without `normalization` (made before it existed) cuts as level 2', async () => {
    const dir = t.dir + '/repo';
    const { repo, backend } = await newRepo(dir);
    expect(repo.config.chunker).toEqual({ min: 512 * 1024, avg: MiB, max: 8 * MiB, normalization: 0 });
    const data = dataOf('mixed 1 MiB runs', 24 * MiB);
    const level0 = lengths((b, s, e, f) => referenceCut(repo.chunker.gear, { ...LEVEL2, normalization: 0 }, b, s, e, f), data);
    expect(lengths((b, s, e, f) => repo.chunker.cut(b, s, e, f), data)).toEqual(level0);
    const opened = await openRepository(backend, 'test-password');
    expect(lengths((b, s, e, f) => opened.chunker.cut(b, s, e, f), data)).toEqual(level0);

    // rewrite the config as an older Coffer wrote it: no `normalization` field
    const { normalization: _dropped, ...oldParams } = repo.config.chunker;
    await backend.delete('config', 'config');
    await backend.put('config', 'config', encodeJSON(repo.key.encrypt, { ...repo.config, chunker: oldParams }));
    const reopened = await openRepository(backend, 'test-password');
    expect('normalization' in reopened.config.chunker).toBe(false);
    expect(lengths((b, s, e, f) => reopened.chunker.cut(b, s, e, f), data)).toEqual(lengths(previousCut(reopened.chunker.gear, LEVEL2), data));

    // a level this Coffer does not know is refused on open, naming it
    await backend.delete('config', 'config');
    await backend.put('config', 'config', encodeJSON(repo.key.encrypt, { ...repo.config, chunker: { ...oldParams, normalization: 7 } }));
    await expect(openRepository(backend, 'test-password')).rejects.toMatchObject({ code: 'E_REPO_VERSION', message: expect.stringMatching(/normalization level 7/) });
  });

  it('init refuses chunker parameters it could not open, and writes nothing', async () => {
    const dir = t.dir + '/refused';
    const backend = new FileBackend(dir);
    await expect(initRepository(backend, 'test-password', { chunker: { ...LEVEL2, normalization: 3 as 0 } })).rejects.toMatchObject({ code: 'E_REPO_VERSION' });
    await expect(initRepository(backend, 'test-password', { chunker: { min: MiB, avg: MiB, max: 8 * MiB, normalization: 0 } })).rejects.toThrow(/avg > min/);
    expect(await backend.list('keys')).toEqual([]);
    expect(await backend.stat('config', 'config')).toBeFalsy();
  });
});

describe("the seal workers' copy of the cut (seal-workers.ts, plain JavaScript) cuts as Chunker does", () => {
  it.each([undefined, 2, 0] as const)('normalization %s: mixed data with zero runs, shared buffers at byte offsets 0–3', async (normalization) => {
    const params: ChunkerParams = normalization === undefined ? LEVEL2 : { ...LEVEL2, normalization };
    const gear = gearTable(Buffer.from('worker-seed'));
    const c = new Chunker(gear, params);
    const workers = new SealWorkers(newMasterKey(), { gear, params }, 1);
    try {
      const data = Buffer.concat([dataOf('mixed 1 MiB runs', 12 * MiB), dataOf('zero runs', 14 * MiB)]);
      const want = lengths((b, s, e, f) => c.cut(b, s, e, f), data);
      expect(want.length).toBeGreaterThan(12);
      for (const off of [0, 1, 2, 3]) {
        const buf = atOffset(data, off, true);
        expect((await workers.chunk(buf, 0, buf.length, true)).lengths, `offset ${off}`).toEqual(want);
      }
    } finally {
      await workers.close();
    }
  });
});
