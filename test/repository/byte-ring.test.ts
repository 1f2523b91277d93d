import { describe, expect, it } from 'vitest';
import { type Region, ByteRing, lend } from '../../repository/byte-ring.ts';

/** Whether a promise has settled, after the microtasks queued so far. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

describe('ByteRing (bytes in flight: sealed blobs, check runs; repository/byte-ring.ts)', () => {
  it('places regions one after the other over one shared buffer', async () => {
    const ring = new ByteRing(100);
    const a = await ring.reserve(30);
    const b = await ring.reserve(50);
    expect([a.start, a.end, b.start, b.end]).toEqual([0, 30, 30, 80]);
    expect(a.view.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(b.view.buffer).toBe(a.view.buffer);
    expect(b.view.byteOffset).toBe(30);
    expect(ring.available).toBe(20);
  });

  // cases: sizes reserved in order, which get freed (by index), then the next reservation's start or 'waits'
  const cases: { name: string; reserve: number[]; free: number[]; next: number; expect: number | 'waits' }[] = [
    { name: 'fits after the newest', reserve: [30, 30], free: [], next: 40, expect: 60 },
    { name: 'does not fit: waits', reserve: [30, 30], free: [], next: 41, expect: 'waits' },
    { name: 'the oldest freed: wraps to the start', reserve: [30, 30, 30], free: [0], next: 30, expect: 0 },
    { name: 'only a newer one freed: its space stays held', reserve: [30, 30, 30], free: [1], next: 30, expect: 'waits' },
    { name: 'freed out of order, then the oldest: both reclaimed', reserve: [30, 30, 30], free: [1, 0], next: 60, expect: 0 },
    { name: 'all freed: from the start again', reserve: [50, 50], free: [1, 0], next: 100, expect: 0 },
    { name: 'the end too short after a wrap is skipped', reserve: [40, 40], free: [0], next: 30, expect: 0 },
  ];
  for (const c of cases)
    it(`${c.name}`, async () => {
      const ring = new ByteRing(100);
      const rs: Region[] = [];
      for (const n of c.reserve) rs.push(await ring.reserve(n));
      for (const i of c.free) ring.free(rs[i]!);
      const next = ring.reserve(c.next);
      if (c.expect === 'waits') expect(await settled(next)).toBe(false);
      else expect((await next).start).toBe(c.expect);
    });

  it('a trimmed newest region gives its unused end back; an older one keeps it until freed', async () => {
    const ring = new ByteRing(100);
    const a = await ring.reserve(40);
    const b = await ring.reserve(40);
    ring.trim(a, 10); // not the newest: nothing moves
    expect(ring.available).toBe(20);
    ring.trim(b, 25);
    expect(b.end).toBe(65);
    expect((await ring.reserve(35)).start).toBe(65);
    expect(() => ring.trim(b, 26)).toThrow(RangeError);
  });

  it('serves waiters first come, first served: a large one is not passed by small ones', async () => {
    const ring = new ByteRing(100);
    const a = await ring.reserve(60);
    const big = ring.reserve(80);
    const small = ring.reserve(10);
    // 40 bytes are free, enough for the small one, but the large one asked first
    expect(await settled(small)).toBe(false);
    ring.free(a);
    expect((await big).start).toBe(0);
    expect((await small).start).toBe(80);
  });

  it('frees a region once whoever frees it (a failed write and its caller)', async () => {
    const ring = new ByteRing(100);
    const a = await ring.reserve(50);
    const b = await ring.reserve(50);
    ring.free(a);
    ring.free(a);
    expect(ring.available).toBe(50);
    ring.free(b);
    expect(ring.available).toBe(100);
  });

  it('refuses a region larger than the ring (it could never be served)', () => {
    expect(() => new ByteRing(64).reserve(65)).toThrow(RangeError);
  });

  it('allocates its buffer through the given allocator, once, on first use (check reads into plain memory without workers)', async () => {
    const sizes: number[] = [];
    const ring = new ByteRing(64, (n) => (sizes.push(n), Buffer.alloc(n)));
    expect(sizes).toEqual([]);
    const a = await ring.reserve(10);
    ring.free(a);
    await ring.reserve(20);
    expect(sizes).toEqual([64]);
    expect(a.view.buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('lend: a piece larger than the ring waits for it to empty, gets a buffer of its own and holds the ring until freed', async () => {
    const ring = new ByteRing(8, (n) => Buffer.alloc(n));
    const own: number[] = [];
    const a = await lend(ring, 6, (n) => Buffer.alloc(n));
    expect(a.buf.length).toBe(6);
    const big = lend(ring, 20, (n) => (own.push(n), Buffer.alloc(n)));
    expect(await settled(big)).toBe(false);
    a.free();
    const b = await big;
    expect([b.buf.length, own]).toEqual([20, [20]]);
    const small = lend(ring, 1, (n) => Buffer.alloc(n));
    expect(await settled(small)).toBe(false);
    b.free();
    expect((await small).buf.length).toBe(1);
  });
});
