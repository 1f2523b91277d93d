/** Controllers back off pod creation the API server refuses (the real controllers' rate-limited requeue). */
import { describe, expect, it } from 'vitest';
import { CreateBackoff } from '../../sandbox/controllers/backoff.ts';

describe('CreateBackoff', () => {
  it('doubles from 1 s to the 60 s cap per key and resets on success', () => {
    const b = new CreateBackoff();
    expect(b.wait('ns/a', 0)).toBe(0);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(() => b.failed('ns/a', 0))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect(b.wait('ns/a', 10_000)).toBe(50_000);
    expect(b.wait('ns/b', 10_000)).toBe(0);
    b.succeeded('ns/a');
    expect(b.wait('ns/a', 10_000)).toBe(0);
    expect(b.failed('ns/a', 0)).toBe(1000);
  });
});
