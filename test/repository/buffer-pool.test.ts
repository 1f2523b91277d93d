import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../repository/backup.ts';

describe('backup read-buffer pool (the memory bound of concurrent file reads)', () => {
  it('never allocates more than its cap: a take beyond it waits for a buffer given back, and gets that very buffer', async () => {
    const pool = new BufferPool(1024, 2);
    const a = await pool.take();
    const b = await pool.take();
    expect(pool.made).toBe(2);
    let third: Buffer | undefined;
    const waiting = pool.take().then((x) => (third = x));
    await Promise.resolve();
    await Promise.resolve();
    expect(third).toBeUndefined();
    pool.give(a);
    await waiting;
    expect(third).toBe(a);
    expect(pool.made).toBe(2);
    pool.give(b);
    expect(await pool.take()).toBe(b);
    expect(pool.made).toBe(2);
  });

  it('hands out shared memory, so seal workers read chunks without a copy', async () => {
    const pool = new BufferPool(64, 1);
    const buf = await pool.take();
    expect(buf.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(buf.length).toBe(64);
  });
});
