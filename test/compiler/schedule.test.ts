import { describe, expect, it } from 'vitest';
import {
  inWindow,
  nextRun,
  nextRuns,
  nextWindowOpen,
  parseFrequency,
  parseGoDuration,
  formatGoDuration,
  previousSlot,
  retentionWarnings,
  runsInWindow,
  ScheduleError,
  windowEnd,
} from '../../compiler/schedule/index.ts';

const iso = (d: Date): string => d.toISOString().replace('.000Z', 'Z');
const runs = (expr: string, tz: string, after: string, n: number): string[] => nextRuns(parseFrequency(expr, tz), new Date(after), n).map(iso);

describe('parseFrequency: normalized form and intervals', () => {
  const table: [expr: string, normalized: string, kind: 'cron' | 'every', nominal: number, max: number][] = [
    ['@hourly', '0 * * * *', 'cron', 3600, 3600],
    ['@daily', '0 0 * * *', 'cron', 86_400, 86_400],
    ['@midnight', '0 0 * * *', 'cron', 86_400, 86_400],
    ['@weekly', '0 0 * * 0', 'cron', 604_800, 604_800],
    ['@monthly', '0 0 1 * *', 'cron', 2_629_800, 31 * 86_400],
    ['@yearly', '0 0 1 1 *', 'cron', 31_557_600, 366 * 86_400],
    ['@annually', '0 0 1 1 *', 'cron', 31_557_600, 366 * 86_400],
    ['  @DAILY ', '0 0 * * *', 'cron', 86_400, 86_400],
    ['*/15 * * * *', '*/15 * * * *', 'cron', 900, 900],
    ['0   2  *  *  *', '0 2 * * *', 'cron', 86_400, 86_400],
    ['0 9 * * MON-FRI', '0 9 * * MON-FRI', 'cron', 120_960, 3 * 86_400],
    ['30 1 1,15 * *', '30 1 1,15 * *', 'cron', 1_314_900, 17 * 86_400],
    ['0 0 L * *', '0 0 L * *', 'cron', 2_629_800, 31 * 86_400],
    ['0 0 29 2 *', '0 0 29 2 *', 'cron', 1461 * 86_400, 1461 * 86_400],
    ['0 */6 * * *', '0 */6 * * *', 'cron', 21_600, 21_600],
    ['@every 15m', '@every 15m', 'every', 900, 900],
    ['@every 90m', '@every 1h30m', 'every', 5400, 5400],
    ['@every 1h0m0s', '@every 1h', 'every', 3600, 3600],
    ['@every 36h', '@every 36h', 'every', 129_600, 129_600],
    ['@every 1.5h', '@every 1h30m', 'every', 5400, 5400],
  ];
  for (const [expr, normalized, kind, nominal, max] of table) {
    it(`${JSON.stringify(expr)} → ${normalized}`, () => {
      const s = parseFrequency(expr);
      expect(s).toEqual({ source: expr, normalized, kind, timezone: 'UTC', nominalIntervalSeconds: nominal, maxIntervalSeconds: max });
      // Plain data: survives a JSON round trip and still drives the math.
      const back = JSON.parse(JSON.stringify(s));
      expect(nextRun(back, new Date('2026-03-01T00:00:00Z'))).toEqual(nextRun(s, new Date('2026-03-01T00:00:00Z')));
    });
  }

  it('canonicalises the time zone name', () => {
    expect(parseFrequency('@daily', 'Europe/Paris').timezone).toBe('Europe/Paris');
    expect(parseFrequency('@daily', 'utc').timezone).toBe('UTC');
    expect(parseFrequency('@daily', 'europe/paris').timezone).toBe('Europe/Paris');
    // Intl answers the legacy alias Asia/Calcutta; the user's spelling is kept.
    expect(parseFrequency('@daily', 'Asia/Kolkata').timezone).toBe('Asia/Kolkata');
  });
});

describe('parseFrequency: errors name the problem and its offset in the text', () => {
  const table: [expr: string, tz: string, message: RegExp, offset: number | undefined][] = [
    ['', 'UTC', /frequency is empty/, 0],
    ['@dayly', 'UTC', /unknown schedule '@dayly'/, 0],
    ['@daily please', 'UTC', /unexpected text after @daily/, 6],
    ['@every', 'UTC', /@every needs a duration/, 6],
    ['@every 15 minutes', 'UTC', /invalid duration '15 minutes'/, 7],
    ['@every 30s', 'UTC', /too frequent: the minimum interval is 1m/, 7],
    ['@every 1500ms', 'UTC', /whole number of seconds/, 7],
    ['61 * * * *', 'UTC', /minute value 61 out of range 0-59/, 0],
    ['0 24 * * *', 'UTC', /hour value 24 out of range 0-23/, 2],
    ['0 0 0 * *', 'UTC', /day-of-month value 0 out of range 1-31/, 4],
    ['0 0 * 13 *', 'UTC', /month value 13 out of range 1-12/, 6],
    ['0 0 * * 8', 'UTC', /day-of-week value 8 out of range 0-7/, 8],
    ['0 0 * FOO *', 'UTC', /invalid month value 'FOO': expected a number 1-12 or a name \(JAN/, 6],
    ['0 0 * * MON-SUNDAY', 'UTC', /invalid day-of-week value 'SUNDAY'/, 12],
    ['*/0 * * * *', 'UTC', /invalid step '0'/, 2],
    ['0 10-2 * * *', 'UTC', /hour range 10-2 goes backwards/, 2],
    ['0 1,,2 * * *', 'UTC', /empty item in hour field/, 4],
    ['0 0 * *', 'UTC', /needs 5 fields .* got 4/, 0],
    ['0 0 0 * * *', 'UTC', /got 6 \(a seconds field is not supported/, 0],
    ['0 0 30 2 *', 'UTC', /never runs/, 0],
    ['0 0 31 4,6,9,11 *', 'UTC', /never runs/, 0],
    ['@daily', 'Europe/Pariss', /unknown time zone 'Europe\/Pariss'/, undefined],
  ];
  for (const [expr, tz, message, offset] of table) {
    it(`${JSON.stringify(expr)} ${tz}`, () => {
      let err: unknown;
      try {
        parseFrequency(expr, tz);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ScheduleError);
      expect((err as ScheduleError).code).toBe('E_SCHEDULE');
      expect((err as ScheduleError).message).toMatch(message);
      expect((err as ScheduleError).offset).toBe(offset);
    });
  }
});

describe('nextRuns: every frequency form', () => {
  const table: [expr: string, tz: string, after: string, want: string[]][] = [
    ['@hourly', 'UTC', '2026-05-10T10:00:00Z', ['2026-05-10T11:00:00Z', '2026-05-10T12:00:00Z', '2026-05-10T13:00:00Z']],
    ['@daily', 'UTC', '2026-12-31T12:00:00Z', ['2027-01-01T00:00:00Z', '2027-01-02T00:00:00Z', '2027-01-03T00:00:00Z']],
    // strictly after: a run exactly at `after` is not returned
    ['@daily', 'UTC', '2026-05-10T00:00:00Z', ['2026-05-11T00:00:00Z', '2026-05-12T00:00:00Z', '2026-05-13T00:00:00Z']],
    // seconds are ignored in the cron minute
    ['*/15 * * * *', 'UTC', '2026-05-10T10:14:59.999Z', ['2026-05-10T10:15:00Z', '2026-05-10T10:30:00Z', '2026-05-10T10:45:00Z']],
    ['@weekly', 'UTC', '2026-05-10T00:00:00Z', ['2026-05-17T00:00:00Z', '2026-05-24T00:00:00Z', '2026-05-31T00:00:00Z']],
    ['@monthly', 'UTC', '2026-01-15T00:00:00Z', ['2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z']],
    ['@yearly', 'UTC', '2026-01-01T00:00:00Z', ['2027-01-01T00:00:00Z', '2028-01-01T00:00:00Z', '2029-01-01T00:00:00Z']],
    // month ends: L follows the calendar, 31 skips short months, 29 Feb waits for leap years
    ['0 0 L * *', 'UTC', '2027-12-31T00:00:00Z', ['2028-01-31T00:00:00Z', '2028-02-29T00:00:00Z', '2028-03-31T00:00:00Z', '2028-04-30T00:00:00Z']],
    ['0 0 31 * *', 'UTC', '2026-01-31T00:00:00Z', ['2026-03-31T00:00:00Z', '2026-05-31T00:00:00Z', '2026-07-31T00:00:00Z', '2026-08-31T00:00:00Z']],
    ['0 0 30 * *', 'UTC', '2026-01-30T00:00:00Z', ['2026-03-30T00:00:00Z', '2026-04-30T00:00:00Z']],
    ['0 12 29 2 *', 'UTC', '2026-01-01T00:00:00Z', ['2028-02-29T12:00:00Z', '2032-02-29T12:00:00Z']],
    // day-of-month OR day-of-week when both are restricted (Vixie)
    ['0 0 13 * FRI', 'UTC', '2026-11-01T00:00:00Z', ['2026-11-06T00:00:00Z', '2026-11-13T00:00:00Z', '2026-11-20T00:00:00Z', '2026-11-27T00:00:00Z', '2026-12-04T00:00:00Z']],
    // 7 and SUN are Sunday; weekdays skip weekends
    ['0 6 * * 7', 'UTC', '2026-11-25T00:00:00Z', ['2026-11-29T06:00:00Z', '2026-12-06T06:00:00Z']],
    ['30 23 * * MON-FRI', 'UTC', '2026-11-27T23:30:00Z', ['2026-11-30T23:30:00Z', '2026-12-01T23:30:00Z']],
    ['0 0 1 jan,Jul *', 'UTC', '2026-02-01T00:00:00Z', ['2026-07-01T00:00:00Z', '2027-01-01T00:00:00Z']],
    ['5-10/5 8-9 * * *', 'UTC', '2026-01-01T00:00:00Z', ['2026-01-01T08:05:00Z', '2026-01-01T08:10:00Z', '2026-01-01T09:05:00Z', '2026-01-01T09:10:00Z', '2026-01-02T08:05:00Z']],
    // @every: epoch-anchored in UTC, whatever the zone
    ['@every 15m', 'UTC', '2026-05-10T10:07:00Z', ['2026-05-10T10:15:00Z', '2026-05-10T10:30:00Z', '2026-05-10T10:45:00Z']],
    ['@every 15m', 'Asia/Kolkata', '2026-05-10T10:07:00Z', ['2026-05-10T10:15:00Z', '2026-05-10T10:30:00Z', '2026-05-10T10:45:00Z']],
    ['@every 7h', 'UTC', '1970-01-01T00:00:00Z', ['1970-01-01T07:00:00Z', '1970-01-01T14:00:00Z', '1970-01-01T21:00:00Z']],
    // time zones
    ['@daily', 'Europe/Paris', '2026-01-10T12:00:00Z', ['2026-01-10T23:00:00Z', '2026-01-11T23:00:00Z']],
    ['@daily', 'Europe/Paris', '2026-07-10T12:00:00Z', ['2026-07-10T22:00:00Z', '2026-07-11T22:00:00Z']],
    ['0 9 * * *', 'Asia/Kolkata', '2026-01-10T00:00:00Z', ['2026-01-10T03:30:00Z', '2026-01-11T03:30:00Z']],
    ['0 0 1 * *', 'Pacific/Auckland', '2026-01-15T00:00:00Z', ['2026-01-31T11:00:00Z', '2026-02-28T11:00:00Z', '2026-03-31T11:00:00Z', '2026-04-30T12:00:00Z']],
  ];
  for (const [expr, tz, after, want] of table) {
    it(`${expr} in ${tz} after ${after}`, () => {
      expect(runs(expr, tz, after, want.length)).toEqual(want);
    });
  }
});

describe('nextRuns: daylight saving time', () => {
  // America/New_York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
  const table: [label: string, expr: string, tz: string, after: string, want: string[]][] = [
    ['fixed-hour run in the skipped hour runs once when the clocks jump', '30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', ['2026-03-08T07:00:00Z', '2026-03-09T06:30:00Z']],
    ['fixed-hour run at the gap start also runs at the jump', '0 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', ['2026-03-08T07:00:00Z', '2026-03-09T06:00:00Z']],
    ['hourly skips the hour that does not exist and keeps one run per real hour', '@hourly', 'America/New_York', '2026-03-08T05:30:00Z', ['2026-03-08T06:00:00Z', '2026-03-08T07:00:00Z', '2026-03-08T08:00:00Z']],
    ['fixed-hour run in the repeated hour runs once, at the first occurrence', '30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', ['2026-11-01T05:30:00Z', '2026-11-02T06:30:00Z']],
    ['hourly runs in both repeated hours', '@hourly', 'America/New_York', '2026-11-01T04:30:00Z', ['2026-11-01T05:00:00Z', '2026-11-01T06:00:00Z', '2026-11-01T07:00:00Z']],
    ['*/30 in the repeated hour, asked from inside the second occurrence', '*/30 * * * *', 'America/New_York', '2026-11-01T06:10:00Z', ['2026-11-01T06:30:00Z', '2026-11-01T07:00:00Z']],
    ['fixed-hour run asked from inside the second occurrence goes to tomorrow', '30 1 * * *', 'America/New_York', '2026-11-01T06:10:00Z', ['2026-11-02T06:30:00Z']],
    ['Paris spring forward', '30 2 * * *', 'Europe/Paris', '2026-03-28T12:00:00Z', ['2026-03-29T01:00:00Z', '2026-03-30T00:30:00Z']],
    ['Lord Howe: 30-minute fall back (01:45 twice on 5 April): first occurrence, then +10:30', '45 1 * * *', 'Australia/Lord_Howe', '2026-04-04T00:00:00Z', ['2026-04-04T14:45:00Z', '2026-04-05T15:15:00Z']],
  ];
  for (const [label, expr, tz, after, want] of table) {
    it(label, () => {
      expect(runs(expr, tz, after, want.length)).toEqual(want);
    });
  }
});

describe('previousSlot', () => {
  const table: [expr: string, tz: string, at: string, want: string | undefined][] = [
    ['@daily', 'UTC', '2026-05-10T13:00:00Z', '2026-05-10T00:00:00Z'],
    ['@daily', 'UTC', '2026-05-10T00:00:00Z', '2026-05-10T00:00:00Z'], // at or before
    ['@hourly', 'UTC', '2026-05-10T13:59:59Z', '2026-05-10T13:00:00Z'],
    ['0 9 * * MON-FRI', 'UTC', '2026-11-30T08:00:00Z', '2026-11-27T09:00:00Z'], // Monday morning → Friday
    ['@monthly', 'Europe/Paris', '2026-03-15T00:00:00Z', '2026-02-28T23:00:00Z'],
    ['0 0 29 2 *', 'UTC', '2027-06-01T00:00:00Z', '2024-02-29T00:00:00Z'],
    ['@every 15m', 'UTC', '2026-05-10T10:29:00Z', '2026-05-10T10:15:00Z'],
    ['@every 15m', 'UTC', '2026-05-10T10:30:00Z', '2026-05-10T10:30:00Z'],
  ];
  for (const [expr, tz, at, want] of table) {
    it(`${expr} ${tz} at ${at}`, () => {
      const got = previousSlot(parseFrequency(expr, tz), new Date(at));
      expect(got && iso(got)).toBe(want);
    });
  }

  it('a scheduler that was down for three slots sees one due slot (the latest)', () => {
    const s = parseFrequency('@hourly');
    const lastRun = new Date('2026-05-10T10:00:00Z');
    const now = new Date('2026-05-10T13:20:00Z');
    const slot = previousSlot(s, now)!;
    expect(iso(slot)).toBe('2026-05-10T13:00:00Z');
    expect(slot > lastRun).toBe(true);
    expect(iso(nextRun(s, now))).toBe('2026-05-10T14:00:00Z');
  });

  it('agrees with nextRun: the slot before any run is the run before it', () => {
    for (const expr of ['@daily', '0 9 * * MON-FRI', '0 0 L * *', '*/20 * * * *']) {
      const s = parseFrequency(expr, 'America/New_York');
      let t = new Date('2026-02-20T00:00:00Z');
      for (let i = 0; i < 30; i++) {
        const n = nextRun(s, t);
        expect(previousSlot(s, new Date(n.getTime() - 1))?.getTime() ?? 0).toBeLessThanOrEqual(t.getTime());
        expect(previousSlot(s, n)).toEqual(n);
        t = n;
      }
    }
  });
});

describe('backup windows', () => {
  const night = { start: '22:00', end: '06:00' };
  const day = { start: '09:00', end: '17:30' };
  const table: [window: { start: string; end: string }, tz: string, at: string, inside: boolean][] = [
    [night, 'UTC', '2026-05-10T23:00:00Z', true],
    [night, 'UTC', '2026-05-10T02:00:00Z', true],
    [night, 'UTC', '2026-05-10T22:00:00Z', true], // start inclusive
    [night, 'UTC', '2026-05-10T06:00:00Z', false], // end exclusive
    [night, 'UTC', '2026-05-10T12:00:00Z', false],
    [day, 'UTC', '2026-05-10T17:29:59Z', true],
    [day, 'UTC', '2026-05-10T17:30:00Z', false],
    [day, 'Europe/Paris', '2026-05-10T07:30:00Z', true], // 09:30 CEST
    [day, 'Europe/Paris', '2026-05-10T15:45:00Z', false], // 17:45 CEST
    [{ start: '00:00', end: '00:00' }, 'UTC', '2026-05-10T12:00:00Z', true], // whole day
  ];
  for (const [w, tz, at, inside] of table) {
    it(`${w.start}-${w.end} ${tz} at ${at}: ${inside ? 'in' : 'out'}`, () => {
      expect(inWindow(w, new Date(at), tz)).toBe(inside);
    });
  }

  it('nextWindowOpen returns the instant itself inside the window, else the next opening', () => {
    expect(iso(nextWindowOpen(night, new Date('2026-05-10T23:00:00Z')))).toBe('2026-05-10T23:00:00Z');
    expect(iso(nextWindowOpen(night, new Date('2026-05-10T12:00:00Z')))).toBe('2026-05-10T22:00:00Z');
    expect(iso(nextWindowOpen(day, new Date('2026-05-10T18:00:00Z')))).toBe('2026-05-11T09:00:00Z');
    expect(iso(nextWindowOpen(night, new Date('2026-05-10T12:00:00Z'), 'America/New_York'))).toBe('2026-05-11T02:00:00Z');
    // Opening inside the spring-forward gap: opens when the clocks jump.
    expect(iso(nextWindowOpen({ start: '02:30', end: '05:00' }, new Date('2026-03-08T05:00:00Z'), 'America/New_York'))).toBe('2026-03-08T07:00:00Z');
  });

  it('windowEnd gives the close of the current window', () => {
    expect(iso(windowEnd(night, new Date('2026-05-10T23:00:00Z'))!)).toBe('2026-05-11T06:00:00Z');
    expect(iso(windowEnd(night, new Date('2026-05-11T01:00:00Z'))!)).toBe('2026-05-11T06:00:00Z');
    expect(windowEnd(night, new Date('2026-05-11T12:00:00Z'))).toBeUndefined();
    expect(windowEnd({ start: '00:00', end: '00:00' }, new Date('2026-05-11T12:00:00Z'))).toBeUndefined();
  });

  it('rejects malformed window times', () => {
    expect(() => inWindow({ start: '24:00', end: '06:00' }, new Date())).toThrow(/invalid window start '24:00'/);
    expect(() => inWindow({ start: '22:00', end: '6:00' }, new Date())).toThrow(/invalid window end '6:00'/);
  });
});

describe('runsInWindow', () => {
  const night = { start: '22:00', end: '05:00' };
  const table: [frequency: string, tz: string, window: { start: string; end: string }, runs: boolean][] = [
    ['30 1 * * *', 'Europe/Paris', night, true], // the example repository's policies/apps.yaml
    ['0 12 * * *', 'UTC', night, false],
    ['0 22 * * *', 'UTC', night, true], // start inclusive
    ['0 5 * * *', 'UTC', night, false], // end exclusive
    ['59 4 * * *', 'Asia/Kolkata', night, true],
    ['*/20 9-17 * * MON-FRI', 'America/New_York', { start: '17:41', end: '19:00' }, false],
    ['*/20 9-17 * * MON-FRI', 'America/New_York', { start: '17:30', end: '17:41' }, true],
    // A monthly run at 01:30 is inside the window whenever it runs, although no 1st falls in any given fortnight.
    ['30 1 1 * *', 'UTC', night, true],
    ['@daily', 'Australia/Sydney', { start: '12:00', end: '12:00' }, true], // start == end: the whole day
    // @every slots are multiples of the interval since the epoch in UTC: 00:00, 06:00, … UTC.
    ['@every 6h', 'UTC', { start: '01:00', end: '05:00' }, false],
    ['@every 6h', 'Asia/Kolkata', { start: '01:00', end: '05:00' }, false], // 05:30, 11:30, 17:30, 23:30 IST
    ['@every 6h', 'Asia/Kolkata', { start: '05:00', end: '06:00' }, true],
    ['@every 36h', 'UTC', { start: '11:00', end: '13:00' }, true], // every other slot is at 12:00
  ];
  for (const [f, tz, w, expected] of table) {
    it(`'${f}' ${tz} ${w.start}–${w.end}: ${expected}`, () => {
      expect(runsInWindow(parseFrequency(f, tz), w)).toBe(expected);
    });
  }

  it('answers for daily crons what a fortnight of real runs in the zone answers', () => {
    // The definition it replaced: some run of 2026-01-05…19, converted to wall time in the zone, is inside the window.
    const fortnight = (f: string, tz: string, w: { start: string; end: string }): boolean =>
      nextRuns(parseFrequency(f, tz), new Date('2026-01-05T00:00:00Z'), 60).some((t) => t.getTime() <= Date.parse('2026-01-19T00:00:00Z') && inWindow(w, t, tz));
    const windows = [night, { start: '02:00', end: '03:00' }, { start: '09:15', end: '09:45' }, { start: '23:50', end: '00:10' }];
    for (const f of ['30 1 * * *', '0 2 * * *', '45 9 * * *', '0 */6 * * *', '5,55 23 * * *', '0 0 * * *'])
      for (const tz of ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe'])
        for (const w of windows) expect(runsInWindow(parseFrequency(f, tz), w), `${f} ${tz} ${w.start}–${w.end}`).toBe(fortnight(f, tz, w));
  });
});

describe('retentionWarnings', () => {
  it('warns about hourly retention on a daily policy, naming the field and the effect', () => {
    const w = retentionWarnings(parseFrequency('@daily'), { hourly: 24, daily: 7 });
    expect(w).toEqual([
      "retention.hourly: 24 cannot be met by frequency '@daily', which runs about every 1d: there is at most one restore point per 1d, so this tier keeps the last 24 runs (about 24d), not 24 hours",
    ]);
  });

  it('warns for every tier finer than the frequency', () => {
    const w = retentionWarnings(parseFrequency('@monthly'), { hourly: 1, daily: 7, weekly: 4, monthly: 12, yearly: 3 });
    expect(w.map((m) => m.split(':')[0])).toEqual(['retention.hourly', 'retention.daily', 'retention.weekly']);
  });

  it('is silent when the frequency can fill every tier', () => {
    expect(retentionWarnings(parseFrequency('@every 30m'), { hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 2 })).toEqual([]);
    expect(retentionWarnings(parseFrequency('@hourly'), { hourly: 24 })).toEqual([]);
    expect(retentionWarnings(parseFrequency('@daily'), { daily: 7, weekly: 4 })).toEqual([]);
    // @monthly averages 30.44 days: a monthly tier is fine.
    expect(retentionWarnings(parseFrequency('@monthly'), { monthly: 12 })).toEqual([]);
  });

  it('warns when no tier keeps anything', () => {
    expect(retentionWarnings(parseFrequency('@daily'), { daily: 0 })).toEqual(['retention keeps no tier: only the newest successful restore point is kept']);
  });
});

describe('Go durations', () => {
  it.each([
    ['15m', 900],
    ['1h30m', 5400],
    ['90s', 90],
    ['2h45m30s', 9930],
    ['1.5h', 5400],
    ['500ms', 0.5],
  ])('%s = %d s', (text, secs) => {
    expect(parseGoDuration(text)).toBe(secs);
  });
  it.each([['15'], ['1d'], ['m'], [''], ['1h 30m']])('%s is not a duration', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
  it.each([
    [60, '1m'],
    [5400, '1h30m'],
    [3600, '1h'],
    [3601, '1h0m1s'],
    [45, '45s'],
  ])('%d s formats as %s', (secs, text) => {
    expect(formatGoDuration(secs)).toBe(text);
  });
});
