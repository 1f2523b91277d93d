/**
 * Standard 5-field cron schedules (minute hour day-of-month month
 * day-of-week, with ranges, steps, lists, names and the @hourly-style macros),
 * evaluated in UTC or an IANA time zone, as CronJob `schedule`/`timeZone` are.
 */

export class CronSyntaxError extends Error {
  readonly code = 'E_CRON';
}

interface Field {
  values: Set<number>;
  star: boolean;
}

export interface CronSchedule {
  minute: Field;
  hour: Field;
  dom: Field;
  month: Field;
  dow: Field;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function parseField(text: string, min: number, max: number, names: string[] = [], nameBase = 0): Field {
  const values = new Set<number>();
  const num = (s: string) => {
    const i = names.indexOf(s.toLowerCase());
    if (i >= 0) return i + nameBase;
    if (!/^\d+$/.test(s)) throw new CronSyntaxError(`invalid value "${s}"`);
    return Number(s);
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new CronSyntaxError(`invalid step "${stepText}"`);
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') [lo, hi] = [min, max];
    else if (range.includes('-')) {
      const [a, b] = range.split('-') as [string, string];
      [lo, hi] = [num(a), num(b)];
    } else {
      lo = num(range);
      hi = stepText === undefined ? lo : max;
    }
    if (lo < min || hi > max || lo > hi) throw new CronSyntaxError(`value out of range in "${part}" (allowed ${min}-${max})`);
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return { values, star: text === '*' || text === '?' };
}

export function parseCron(expr: string): CronSchedule {
  const text = MACROS[expr.trim().toLowerCase()] ?? expr.trim();
  const parts = text.split(/\s+/);
  if (parts.length !== 5) throw new CronSyntaxError(`expected exactly 5 fields, found ${parts.length}: "${expr}"`);
  const dow = parseField(parts[4]!, 0, 7, DAYS);
  if (dow.values.has(7)) dow.values.add(0);
  return {
    minute: parseField(parts[0]!, 0, 59),
    hour: parseField(parts[1]!, 0, 23),
    dom: parseField(parts[2]!, 1, 31),
    month: parseField(parts[3]!, 1, 12, MONTHS, 1),
    dow,
  };
}

function localFields(ms: number, timeZone: string | undefined): { minute: number; hour: number; dom: number; month: number; dow: number } {
  if (!timeZone || timeZone === 'UTC' || timeZone === 'Etc/UTC') {
    const d = new Date(ms);
    return { minute: d.getUTCMinutes(), hour: d.getUTCHours(), dom: d.getUTCDate(), month: d.getUTCMonth() + 1, dow: d.getUTCDay() };
  }
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, hour12: false, minute: 'numeric', hour: 'numeric', day: 'numeric', month: 'numeric', weekday: 'short' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return { minute: Number(parts.minute), hour: Number(parts.hour) % 24, dom: Number(parts.day), month: Number(parts.month), dow: DAYS.indexOf(String(parts.weekday).toLowerCase().slice(0, 3)) };
}

/** Does the schedule fire at this minute? Day-of-month and day-of-week OR together when both are restricted (Vixie cron). */
export function matches(s: CronSchedule, ms: number, timeZone?: string): boolean {
  const f = localFields(ms, timeZone);
  if (!s.minute.values.has(f.minute) || !s.hour.values.has(f.hour) || !s.month.values.has(f.month)) return false;
  const domOk = s.dom.values.has(f.dom);
  const dowOk = s.dow.values.has(f.dow);
  if (s.dom.star || s.dow.star) return domOk && dowOk;
  return domOk || dowOk;
}

/** The latest firing time in (after, until], or undefined; scans at most `limitMinutes` minutes back. */
export function lastFiring(s: CronSchedule, after: number, until: number, timeZone?: string, limitMinutes = 7 * 24 * 60): number | undefined {
  let t = Math.floor(until / 60_000) * 60_000;
  const floor = Math.max(after, until - limitMinutes * 60_000);
  for (; t > floor; t -= 60_000) if (matches(s, t, timeZone)) return t;
  return undefined;
}

/** The next firing time strictly after `from` (within a year), or undefined. */
export function nextFiring(s: CronSchedule, from: number, timeZone?: string): number | undefined {
  let t = Math.floor(from / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < 366 * 24 * 60; i++, t += 60_000) if (matches(s, t, timeZone)) return t;
  return undefined;
}
