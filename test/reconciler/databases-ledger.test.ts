/**
 * The database bench's measuring logic (test/reconciler/databases/ledger.ts): the gaps between acknowledged commits in
 * a window (how long a write was blocked, the p99 commit gap), what a restore kept, and which backup step a gap fell
 * in. Cases are worked by hand from the definitions in the doc comments.
 */
import { describe, expect, it } from 'vitest';
import { commitGaps, compare, placeGap } from './databases/ledger.ts';

describe('commitGaps', () => {
  it.each([
    { name: 'no acks', acks: [], from: 0, to: 100, want: { longestMs: 0, at: 0, p99Ms: 0, gaps: 0, longestOutsideMs: 0 } },
    { name: 'one ack: no gap', acks: [50], from: 0, to: 100, want: { longestMs: 0, at: 0, p99Ms: 0, gaps: 0, longestOutsideMs: 0 } },
    { name: 'even commits', acks: [0, 10, 20, 30], from: 0, to: 30, want: { longestMs: 10, at: 0, p99Ms: 10, gaps: 3, longestOutsideMs: 10 } },
    { name: 'unsorted input is sorted first', acks: [30, 0, 20, 10], from: 0, to: 30, want: { longestMs: 10, at: 0, p99Ms: 10, gaps: 3, longestOutsideMs: 10 } },
    // A write blocked across the window's start counts: it was blocked during the window.
    { name: 'gap straddling the start', acks: [0, 900, 910], from: 500, to: 1000, want: { longestMs: 900, at: 0, p99Ms: 900, gaps: 2, longestOutsideMs: 900 } },
    // …and across its end.
    { name: 'gap straddling the end', acks: [400, 410, 2000], from: 0, to: 500, want: { longestMs: 1590, at: 410, p99Ms: 1590, gaps: 2, longestOutsideMs: 1590 } },
    { name: 'gaps wholly outside are not counted', acks: [0, 5000, 5010, 5020, 9000], from: 5005, to: 5015, want: { longestMs: 10, at: 5000, p99Ms: 10, gaps: 2, longestOutsideMs: 10 } },
    { name: 'sub-millisecond stamps keep a tenth', acks: [1000.04, 1001.29], from: 0, to: 2000, want: { longestMs: 1.3, at: 1000.04, p99Ms: 1.3, gaps: 1, longestOutsideMs: 1.3 } },
  ])('$name', ({ acks, from, to, want }) => {
    expect(commitGaps(acks, from, to)).toEqual(want);
  });

  it('longestOutsideMs takes from each gap the time it overlaps excluded spans (sandbox freezes)', () => {
    const acks = [0, 10, 1510, 1520, 1900, 1910];
    // The 1500 ms gap (10 → 1510) less a 1300 ms freeze is 200: the 380 ms gap is then the longest.
    expect(commitGaps(acks, 0, 2000, [{ from: 100, to: 1400 }])).toEqual({ longestMs: 1500, at: 10, p99Ms: 1500, gaps: 5, longestOutsideMs: 380 });
    // A lock held across a short freeze keeps the rest of its gap.
    expect(commitGaps(acks, 0, 2000, [{ from: 1000, to: 1300 }])).toMatchObject({ longestMs: 1500, longestOutsideMs: 1200 });
    // Two freezes in one gap, each partly outside it, count only where they overlap it: 1500 − 500 − 510.
    expect(commitGaps(acks, 0, 2000, [{ from: 0, to: 510 }, { from: 1000, to: 2000 }])).toMatchObject({ longestOutsideMs: 490 });
    expect(commitGaps(acks, 0, 2000, [{ from: 1600, to: 1700 }])).toMatchObject({ longestOutsideMs: 1500 });
  });

  it('p99 is the nearest-rank 99th percentile: one slow commit in 200 is above it, three are not', () => {
    const steady = (n: number) => Array.from({ length: n + 1 }, (_, i) => i * 5);
    const withSlow = (slow: number) => {
      const t = steady(200);
      // Each slow commit adds 500 ms to every later ack.
      for (let k = 0; k < slow; k++) for (let i = 50 * (k + 1); i < t.length; i++) t[i]! += 500;
      return t;
    };
    expect(commitGaps(withSlow(1), 0, Infinity)).toMatchObject({ longestMs: 505, p99Ms: 5, gaps: 200 });
    expect(commitGaps(withSlow(3), 0, Infinity)).toMatchObject({ longestMs: 505, p99Ms: 505, gaps: 200 });
  });
});

describe('compare', () => {
  it('an ack before the consistency point must be restored; later ones may be', () => {
    const acks = new Map([[1, 100], [2, 200], [3, 300], [4, 400]]);
    expect(compare(acks, new Set([1, 3, 4]), 350)).toEqual({ ackedBeforePoint: 3, restored: 3, lost: [2], restoredAfterPoint: 1 });
    expect(compare(acks, new Set([1, 2, 3]), 350)).toEqual({ ackedBeforePoint: 3, restored: 3, lost: [], restoredAfterPoint: 0 });
  });
});

describe('placeGap', () => {
  const iso = (ms: number) => new Date(ms).toISOString();
  // mysql-snapshot: the block phase, the volume snapshot, the release finally phase.
  const hooks = [
    { phase: 'block', startTime: iso(1000), endTime: iso(2000) },
    { phase: 'release', startTime: iso(9000), endTime: iso(9500) },
  ];
  it.each([
    { gap: { at: 0, ms: 500 }, want: 'before hooks' },
    { gap: { at: 1200, ms: 300 }, want: 'block' },
    { gap: { at: 1800, ms: 7300 }, want: 'between block and release' },
    { gap: { at: 9400, ms: 50 }, want: 'release' },
    { gap: { at: 9600, ms: 4000 }, want: 'after hooks' },
  ])('a gap at $gap.at for $gap.ms ms falls in $want', ({ gap, want }) => {
    expect(placeGap(gap, hooks)).toBe(want);
  });

  it('phases without times (skipped) are left out; no timed phase at all says so', () => {
    expect(placeGap({ at: 1500, ms: 10 }, [{ phase: 'skipped' }, ...hooks])).toBe('block');
    expect(placeGap({ at: 0, ms: 10 }, [{ phase: 'skipped' }])).toBe('no hooks');
  });
});
