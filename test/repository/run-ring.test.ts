import { describe, expect, it } from 'vitest';
import { RunRing } from '../../repository/run-ring.ts';

const ring = (size: number) => new RunRing(size, (n) => Buffer.alloc(n));
const at = (r: RunRing, b: Buffer) => b.byteOffset - (r as unknown as { ring: Buffer }).ring.byteOffset;
/** Resolves to 'waiting' when `p` has not settled once the microtasks queued so far have run. */
const state = async (p: Promise<unknown>) => Promise.race([p.then(() => 'given'), new Promise((r) => setImmediate(() => r('waiting')))]);

describe('RunRing: pieces of one buffer lent oldest first, handed back in any order', () => {
  it('lends contiguous pieces, wraps to the start once the oldest are back, never overlapping one still lent', async () => {
    const r = ring(10);
    const a = await r.take(4);
    const b = await r.take(4);
    expect([at(r, a), at(r, b)]).toEqual([0, 4]);
    const c = r.take(4); // 8 + 4 > 10 and [0, 4) is lent
    expect(await state(c)).toBe('waiting');
    r.give(b); // back out of order: a still holds the head
    expect(await state(c)).toBe('waiting');
    r.give(a);
    const cb = await c;
    expect(at(r, cb)).toBe(0);
    const d = await r.take(2); // after c, before the end
    expect(at(r, d)).toBe(4);
    const e = r.take(5); // the tail has 4 left, the head is at 0: waits for c and d
    r.give(cb);
    expect(await state(e)).toBe('waiting');
    r.give(d);
    expect(at(r, await e)).toBe(0);
  });

  it('a piece larger than the ring waits for the ring to empty, gets its own buffer and holds the ring until back', async () => {
    const r = ring(8);
    const a = await r.take(6);
    const big = r.take(20);
    expect(await state(big)).toBe('waiting');
    r.give(a);
    const bb = await big;
    expect(bb.length).toBe(20);
    const small = r.take(1);
    expect(await state(small)).toBe('waiting');
    r.give(bb);
    expect((await small).length).toBe(1);
  });

  it('an empty piece is free; handing back something it did not lend throws', async () => {
    const r = ring(8);
    expect((await r.take(0)).length).toBe(0);
    const a = await r.take(3);
    expect(() => r.give(Buffer.alloc(3))).toThrow(/not a piece of this ring/);
    r.give(a);
    expect(at(r, await r.take(8))).toBe(0);
  });
});
