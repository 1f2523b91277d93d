import { describe, expect, it } from 'vitest';
import { decideLease, type LeaseRecord } from '../../reconciler/lease/decide.ts';

const held = (holder: string, renew = '2026-11-24T00:00:00.000Z', rv = '7'): LeaseRecord => ({ holderIdentity: holder, leaseDurationSeconds: 15, renewTime: renew, resourceVersion: rv });

describe('decideLease', () => {
  it.each([
    { name: 'absent → create', current: undefined, now: 0, prev: undefined, want: { action: 'create' } },
    { name: 'ours → renew', current: held('me'), now: 0, prev: undefined, want: { action: 'renew' } },
    { name: 'released (empty holder) → take over at once', current: held(''), now: 0, prev: undefined, want: { action: 'takeover', reason: 'released' } },
    { name: 'first sight of another holder → wait a full duration', current: held('other'), now: 1_000, prev: undefined, want: { action: 'wait', holder: 'other', retryAtMs: 16_000 } },
    {
      name: 'unchanged for longer than the duration → take over',
      current: held('other'),
      now: 17_000,
      prev: { key: 'other|2026-11-24T00:00:00.000Z|7', atMs: 1_000 },
      want: { action: 'takeover', reason: 'expired' },
    },
    {
      name: 'holder renewed since → the clock restarts',
      current: held('other', '2026-11-24T00:00:10.000Z', '8'),
      now: 17_000,
      prev: { key: 'other|2026-11-24T00:00:00.000Z|7', atMs: 1_000 },
      want: { action: 'wait', holder: 'other', retryAtMs: 32_000 },
    },
    {
      name: "the holder's renewTime far in the past does not matter (clock skew): only our observation counts",
      current: held('other', '2001-01-01T00:00:00.000Z'),
      now: 5_000,
      prev: undefined,
      want: { action: 'wait', holder: 'other', retryAtMs: 20_000 },
    },
  ])('$name', ({ current, now, prev, want }) => {
    expect(decideLease(current, 'me', now, prev, 15).decision).toEqual(want);
  });

  it('keeps the first observation while the record is unchanged', () => {
    const first = decideLease(held('other'), 'me', 1_000, undefined, 15);
    const second = decideLease(held('other'), 'me', 9_000, first.observed, 15);
    expect(second.observed).toBe(first.observed);
    expect(second.decision).toEqual({ action: 'wait', holder: 'other', retryAtMs: 16_000 });
  });
});
