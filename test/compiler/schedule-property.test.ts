/**
 * Randomised cross-check of nextRun/previousSlot against a brute-force
 * minute-by-minute scan, for random cron expressions, in UTC and in a zone
 * without daylight saving (Asia/Kolkata, +05:30). Seeded, so every run checks
 * the same cases.
 */
import { describe, expect, it } from 'vitest';
import { nextRun, parseFrequency, previousSlot } from '../../compiler/schedule/index.ts';
import { parseCron, type CronSpec } from '../../compiler/schedule/cron.ts';
import { mulberry32 } from '../prng.ts';

function field(r: () => number, min: number, max: number, names?: string[]): string {
  const roll = r();
  const v = (): number => min + Math.floor(r() * (max - min + 1));
  const name = (x: number): string => (names && r() < 0.3 ? names[x - min]! : String(x));
  if (roll < 0.3) return '*';
  if (roll < 0.45) return `*/${1 + Math.floor(r() * Math.min(12, max))}`;
  if (roll < 0.65) {
    const a = v();
    const b = v();
    return `${name(Math.min(a, b))}-${name(Math.max(a, b))}`;
  }
  if (roll < 0.8) return [v(), v(), v()].map(name).join(',');
  if (roll < 0.9) return `${v()}-${max}/${1 + Math.floor(r() * 5)}`;
  return name(v());
}

function randomCron(r: () => number): string {
  const months = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
  const days = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
  const dom = r() < 0.1 ? 'L' : field(r, 1, 31);
  return [field(r, 0, 59), field(r, 0, 23), dom, field(r, 1, 12, months), field(r, 0, 6, days)].join(' ');
}

/** Independent cron matcher on wall-clock fields (Vixie day-of-month/day-of-week rule). */
function matches(spec: CronSpec, wall: Date): boolean {
  const y = wall.getUTCFullYear();
  const m0 = wall.getUTCMonth();
  const d = wall.getUTCDate();
  const last = new Date(Date.UTC(y, m0 + 1, 0)).getUTCDate();
  if (!spec.minutes[wall.getUTCMinutes()] || !spec.hours[wall.getUTCHours()] || !spec.months[m0 + 1]) return false;
  const domOk = spec.daysOfMonth[d] === true || (spec.lastDayOfMonth && d === last);
  const dowOk = spec.daysOfWeek[wall.getUTCDay()] === true;
  return spec.domStar || spec.dowStar ? domOk && dowOk : domOk || dowOk;
}

const ZONES: [string, number][] = [
  ['UTC', 0],
  ['Asia/Kolkata', 330],
];
const HORIZON_MINUTES = 40 * 24 * 60;

function bruteNext(spec: CronSpec, offsetMinutes: number, after: number): number | undefined {
  let t = Math.floor(after / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < HORIZON_MINUTES; i++, t += 60_000) if (matches(spec, new Date(t + offsetMinutes * 60_000))) return t;
  return undefined;
}

describe('nextRun agrees with a brute-force scan', () => {
  const r = mulberry32(20261125);
  const cases: { cron: string; after: number }[] = [];
  while (cases.length < 40) {
    const cron = randomCron(r);
    try {
      parseFrequency(cron);
    } catch {
      continue; // e.g. a never-firing date; the table tests cover errors
    }
    cases.push({ cron, after: Date.UTC(2024, 0, 1) + Math.floor(r() * 4 * 365 * 86_400_000) });
  }
  for (const [tz, offset] of ZONES) {
    for (const { cron, after } of cases) {
      it(`${cron} in ${tz} after ${new Date(after).toISOString()}`, () => {
        const s = parseFrequency(cron, tz);
        const spec = parseCron(cron);
        const want = bruteNext(spec, offset, after);
        const got = nextRun(s, new Date(after)).getTime();
        if (want === undefined) expect(got).toBeGreaterThan(after + HORIZON_MINUTES * 60_000);
        else expect(new Date(got).toISOString()).toBe(new Date(want).toISOString());
        // previousSlot of the next run is that run; just before it, an earlier slot (or none).
        expect(previousSlot(s, new Date(got))?.getTime()).toBe(got);
        const before = previousSlot(s, new Date(got - 1));
        if (before !== undefined) {
          expect(before.getTime()).toBeLessThanOrEqual(after);
          expect(matches(spec, new Date(before.getTime() + offset * 60_000))).toBe(true);
        }
      });
    }
  }
});
