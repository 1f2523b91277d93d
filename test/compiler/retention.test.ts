import { describe, expect, it } from 'vitest';
import { bucketKey, bucketKeys, bucketNumber, isoWeek, RETENTION_TIERS, RetentionError, selectRetained, type RetentionCounts, type RetentionPoint, type RetentionReason } from '../../compiler/retention/index.ts';
import { toWall } from '../../compiler/schedule/tz.ts';
import { mulberry32 } from '../prng.ts';

/** Points named by their UTC time, e.g. 'd05' → 2026-01-05T02:00Z; a trailing '!' marks a failed point. */
function daily(days: number[], failed: number[] = []): RetentionPoint[] {
  return days.map((d) => ({ id: `d${String(d).padStart(2, '0')}`, time: new Date(Date.UTC(2026, 0, d, 2)), ok: !failed.includes(d) }));
}

function at(id: string, iso: string, ok = true): RetentionPoint {
  return { id, time: new Date(iso), ok };
}

type Case = {
  name: string;
  points: RetentionPoint[];
  counts: RetentionCounts;
  tz?: string;
  keep: Record<string, string[]>; // id → reasons, newest first
  expire: string[]; // newest first
};

// 2026-01-01 is a Thursday; ISO week 1 of 2026 is 29 Dec 2025 – 4 Jan 2026.
const cases: Case[] = [
  {
    name: 'daily 3 keeps the newest point of each of the last 3 days',
    points: daily([1, 2, 3, 4, 5]),
    counts: { daily: 3 },
    keep: { d05: ['latest', 'daily'], d04: ['daily'], d03: ['daily'] },
    expire: ['d02', 'd01'],
  },
  {
    name: 'several points in a day: only the newest of the day fills the daily bucket',
    points: [at('a', '2026-01-05T01:00:00Z'), at('b', '2026-01-05T13:00:00Z'), at('c', '2026-01-04T23:00:00Z'), at('d', '2026-01-04T08:00:00Z'), at('e', '2026-01-03T12:00:00Z')],
    counts: { daily: 2 },
    keep: { b: ['latest', 'daily'], c: ['daily'] },
    expire: ['a', 'd', 'e'],
  },
  {
    name: 'buckets count only days that have points: a gap does not use up the count',
    points: daily([1, 2, 10, 20]),
    counts: { daily: 3 },
    keep: { d20: ['latest', 'daily'], d10: ['daily'], d02: ['daily'] },
    expire: ['d01'],
  },
  {
    name: 'GFS tiers are independent; a point kept by several lists every reason',
    // Sundays 4, 11, 18, 25 Jan; 31 Jan is a Saturday; 1 Feb a Sunday.
    points: daily([4, 10, 11, 17, 18, 24, 25, 30, 31]).concat([at('feb01', '2026-02-01T02:00:00Z')]),
    counts: { daily: 2, weekly: 3, monthly: 2 },
    // Sat 31 Jan and Sun 1 Feb share ISO week 5, so the third week is the one ending Sunday 18 Jan.
    keep: {
      feb01: ['latest', 'daily', 'weekly', 'monthly'],
      d31: ['daily', 'monthly'],
      d25: ['weekly'],
      d18: ['weekly'],
    },
    expire: ['d30', 'd24', 'd17', 'd11', 'd10', 'd04'],
  },
  {
    name: 'ISO weeks: Sunday ends the week, Monday starts a new one',
    points: daily([4, 5, 11, 12]), // Sun, Mon, Sun, Mon
    counts: { weekly: 3 },
    keep: { d12: ['latest', 'weekly'], d11: ['weekly'], d04: ['weekly'] },
    expire: ['d05'],
  },
  {
    name: 'ISO week spans a year boundary: 31 Dec 2025 and 2 Jan 2026 are the same week',
    points: [at('dec31', '2025-12-31T12:00:00Z'), at('jan02', '2026-01-02T12:00:00Z'), at('dec28', '2025-12-28T12:00:00Z')],
    counts: { weekly: 2 },
    keep: { jan02: ['latest', 'weekly'], dec28: ['weekly'] },
    expire: ['dec31'],
  },
  {
    name: 'yearly keeps the newest point of each year',
    points: [at('y24', '2024-06-01T00:00:00Z'), at('y24b', '2024-12-31T23:00:00Z'), at('y25', '2025-03-01T00:00:00Z'), at('y26', '2026-01-01T00:00:00Z')],
    counts: { yearly: 2 },
    keep: { y26: ['latest', 'yearly'], y25: ['yearly'] },
    expire: ['y24b', 'y24'],
  },
  {
    name: 'hourly buckets',
    points: [at('h1', '2026-01-05T10:05:00Z'), at('h2', '2026-01-05T10:55:00Z'), at('h3', '2026-01-05T11:00:00Z'), at('h4', '2026-01-05T12:30:00Z')],
    counts: { hourly: 2 },
    keep: { h4: ['latest', 'hourly'], h3: ['hourly'] },
    expire: ['h2', 'h1'],
  },
  {
    name: 'failed points never fill a bucket and are expired',
    points: daily([1, 2, 3, 4, 5], [4]),
    counts: { daily: 3 },
    keep: { d05: ['latest', 'daily'], d03: ['daily'], d02: ['daily'] },
    expire: ['d04', 'd01'],
  },
  {
    name: 'the newest point failed: kept as latest-failure, the newest success is still latest',
    points: daily([1, 2, 3, 4, 5], [5]),
    counts: { daily: 2 },
    keep: { d05: ['latest-failure'], d04: ['latest', 'daily'], d03: ['daily'] },
    expire: ['d02', 'd01'],
  },
  {
    name: 'a failure streak keeps only the most recent failure',
    points: daily([1, 2, 3, 4, 5], [3, 4, 5]),
    counts: { daily: 7 },
    keep: { d05: ['latest-failure'], d02: ['latest', 'daily'], d01: ['daily'] },
    expire: ['d04', 'd03'],
  },
  {
    name: 'the newest successful point is kept even when every count is zero',
    points: daily([1, 2, 3]),
    counts: { daily: 0 },
    keep: { d03: ['latest'] },
    expire: ['d02', 'd01'],
  },
  {
    name: 'the newest successful point is kept even when it is old and tiers are full',
    points: [at('old', '2020-01-01T00:00:00Z')],
    counts: { hourly: 1 },
    keep: { old: ['latest', 'hourly'] },
    expire: [],
  },
  {
    name: 'only failures: the newest failure is kept, nothing else',
    points: daily([1, 2], [1, 2]),
    counts: { daily: 5 },
    keep: { d02: ['latest-failure'] },
    expire: ['d01'],
  },
  {
    name: 'no points',
    points: [],
    counts: { daily: 5 },
    keep: {},
    expire: [],
  },
  {
    name: 'buckets follow the time zone: 23:30 UTC is the next day in Paris',
    points: [at('late', '2026-01-05T23:30:00Z'), at('evening', '2026-01-05T20:00:00Z'), at('prev', '2026-01-04T20:00:00Z')],
    counts: { daily: 2 },
    tz: 'Europe/Paris',
    keep: { late: ['latest', 'daily'], evening: ['daily'] },
    expire: ['prev'],
  },
  {
    name: 'same buckets in UTC',
    points: [at('late', '2026-01-05T23:30:00Z'), at('evening', '2026-01-05T20:00:00Z'), at('prev', '2026-01-04T20:00:00Z')],
    counts: { daily: 2 },
    keep: { late: ['latest', 'daily'], prev: ['daily'] },
    expire: ['evening'],
  },
  {
    name: 'equal times: ties are broken by id (higher id counts as newer)',
    points: [at('a', '2026-01-05T00:00:00Z'), at('b', '2026-01-05T00:00:00Z')],
    counts: { daily: 1 },
    keep: { b: ['latest', 'daily'] },
    expire: ['a'],
  },
];

describe('selectRetained (GFS, restic semantics)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = selectRetained(c.points, c.counts, c.tz);
      expect(Object.fromEntries(r.keep.map((k) => [k.id, k.reasons]))).toEqual(c.keep);
      expect(r.keep.map((k) => k.id)).toEqual(Object.keys(c.keep)); // newest first
      expect(r.expire).toEqual(c.expire);
      // Every point is decided exactly once.
      expect([...r.keep.map((k) => k.id), ...r.expire].sort()).toEqual(c.points.map((p) => p.id).sort());
    });
  }

  it('does not depend on input order', () => {
    const points = daily([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], [6]);
    const want = selectRetained(points, { daily: 3, weekly: 2 });
    const shuffled = [...points].reverse();
    shuffled.push(shuffled.shift()!);
    expect(selectRetained(shuffled, { daily: 3, weekly: 2 })).toEqual(want);
  });

  it('a year of daily points with the common 7 daily / 4 weekly / 12 monthly policy keeps 20 points', () => {
    const points: RetentionPoint[] = [];
    for (let d = 0; d < 365; d++) points.push({ id: `p${String(d).padStart(3, '0')}`, time: new Date(Date.UTC(2026, 0, 1 + d, 1)), ok: true });
    const r = selectRetained(points, { daily: 7, weekly: 4, monthly: 12 });
    // 7 dailies (25–31 Dec). Weeklies: Thu 31 Dec (week 53) and Sun 27 Dec are already dailies,
    // then Sun 20 and 13 Dec. Monthlies: the last day of each month, 31 Dec already counted.
    expect(r.keep.length).toBe(7 + 2 + 11);
    expect(r.keep[0]).toEqual({ id: 'p364', reasons: ['latest', 'daily', 'weekly', 'monthly'] });
    expect(r.keep.find((k) => k.id === 'p353')).toEqual({ id: 'p353', reasons: ['weekly'] }); // Sun 20 Dec
    expect(r.keep.find((k) => k.id === 'p030')).toEqual({ id: 'p030', reasons: ['monthly'] }); // 31 Jan
    expect(r.expire.length).toBe(365 - r.keep.length);
  });

  it('rejects bad input with E_RETENTION', () => {
    expect(() => selectRetained(daily([1]), { daily: -1 })).toThrow(RetentionError);
    expect(() => selectRetained(daily([1]), { daily: 1.5 })).toThrow(/retention.daily must be an integer >= 0, got 1.5/);
    expect(() => selectRetained([...daily([1]), ...daily([1])], { daily: 1 })).toThrow(/id d01 appears twice/);
    expect(() => selectRetained([{ id: 'x', time: new Date('nope'), ok: true }], { daily: 1 })).toThrow(/invalid time/);
    try {
      selectRetained(daily([1]), { weekly: -2 });
    } catch (e) {
      expect((e as RetentionError).code).toBe('E_RETENTION');
    }
  });
});

describe('bucket keys', () => {
  it.each([
    [2026, 0, 1, 2026, 1],
    [2025, 11, 29, 2026, 1],
    [2027, 0, 1, 2026, 53],
    [2021, 0, 3, 2020, 53],
    [2024, 11, 30, 2025, 1],
    [2026, 5, 15, 2026, 25],
  ])('ISO week of %i-%i-%i is %i-W%i', (y, m0, d, wy, w) => {
    expect(isoWeek(y, m0, d)).toEqual({ year: wy, week: w });
  });

  it('derives every tier from the local time', () => {
    expect(bucketKeys(new Date('2026-12-31T23:30:00Z'), 'Asia/Tokyo')).toEqual({
      hourly: '2027-01-01T08',
      daily: '2027-01-01',
      weekly: '2026-W53',
      monthly: '2027-01',
      yearly: '2027',
    });
  });
});

/**
 * selectRetained compares bucket numbers (`bucketNumber`) instead of building the bucket key strings: the numbers must
 * be one-to-one with the strings in every zone, across DST changes (the IANA zones below: a 1-hour shift, a 30-minute
 * one at Lord Howe, none in Kolkata or UTC) and ISO-week years (53-week years, weeks across New Year).
 */
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Apia'];

/** Instants clustered around DST changes and New Year, so many share a bucket and boundaries are crossed. */
function instants(rand: () => number, n: number): number[] {
  const anchors = [Date.UTC(2026, 2, 29, 1), Date.UTC(2026, 9, 25, 1), Date.UTC(2026, 2, 8, 7), Date.UTC(2026, 10, 1, 6), Date.UTC(2026, 3, 4, 15), Date.UTC(2026, 11, 31, 23), Date.UTC(2020, 11, 31, 12), Date.UTC(2027, 0, 3, 12), Date.UTC(1969, 11, 31, 20)];
  return Array.from({ length: n }, () => anchors[Math.floor(rand() * anchors.length)]! + Math.floor((rand() - 0.5) * 20 * 86_400_000));
}

describe('bucket numbers (the fast path of selectRetained)', () => {
  for (const tz of ZONES) {
    it(`are one-to-one with the bucket key strings in ${tz}`, () => {
      const rand = mulberry32(7);
      for (const tier of RETENTION_TIERS) {
        const byKey = new Map<string, number>();
        const byNumber = new Map<number, string>();
        for (const t of instants(rand, 3000)) {
          const key = bucketKey(new Date(t), tier, tz);
          const n = bucketNumber(toWall(tz, t), tier);
          expect({ tier, t, n: byKey.get(key) ?? n }).toEqual({ tier, t, n });
          expect({ tier, t, key: byNumber.get(n) ?? key }).toEqual({ tier, t, key });
          byKey.set(key, n);
          byNumber.set(n, key);
        }
        expect(byKey.size).toBeGreaterThan(tier === 'yearly' ? 3 : 10); // buckets were shared and crossed
        expect(byKey.size).toBeLessThan(3000);
      }
    });
  }
});

/** restic's GFS as selectRetained implemented it with bucket key strings: the oracle for the number-keyed version. */
function referenceRetained(points: readonly RetentionPoint[], counts: RetentionCounts, tz: string): { keep: { id: string; reasons: RetentionReason[] }[]; expire: string[] } {
  const remaining = Object.fromEntries(RETENTION_TIERS.map((t) => [t, counts[t] ?? 0])) as Record<(typeof RETENTION_TIERS)[number], number>;
  const last: Record<string, string | undefined> = {};
  const sorted = [...points].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const keep: { id: string; reasons: RetentionReason[] }[] = [];
  const expire: string[] = [];
  let okSeen = false;
  sorted.forEach((p, i) => {
    const reasons: RetentionReason[] = [];
    if (!p.ok) {
      if (i === 0) reasons.push('latest-failure');
    } else {
      if (!okSeen) reasons.push('latest');
      okSeen = true;
      const keys = bucketKeys(p.time, tz);
      for (const tier of RETENTION_TIERS) {
        if (remaining[tier] > 0 && keys[tier] !== last[tier]) {
          last[tier] = keys[tier];
          remaining[tier]--;
          reasons.push(tier);
        }
      }
    }
    if (reasons.length) keep.push({ id: p.id, reasons });
    else expire.push(p.id);
  });
  return { keep, expire };
}

describe('selectRetained against the string-keyed reference', () => {
  for (const tz of ZONES) {
    it(`decides as the reference does in ${tz}`, () => {
      const rand = mulberry32(11);
      for (let round = 0; round < 40; round++) {
        const points = instants(rand, 5 + Math.floor(rand() * 300)).map((t, i) => ({ id: `p${i}`, time: new Date(t), ok: rand() > 0.1 }));
        const pick = (): number => Math.floor(rand() * 12);
        const counts: RetentionCounts = { hourly: pick() * 5, daily: pick(), weekly: pick(), monthly: pick(), yearly: pick() % 3 };
        expect(selectRetained(points, counts, tz)).toEqual(referenceRetained(points, counts, tz));
      }
    });
  }
});
