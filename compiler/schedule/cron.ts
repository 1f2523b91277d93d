/**
 * Five-field cron (minute hour day-of-month month day-of-week) as Vixie cron
 * and Kubernetes CronJobs read it: lists, ranges, steps, month and weekday
 * names, 7 = Sunday, `?` as `*`, and `L` (last day of the month) in the
 * day-of-month field. When both day fields are restricted a day matches if
 * either does (Vixie semantics); otherwise both must.
 */

export interface CronSpec {
  readonly minutes: readonly boolean[]; // 60
  readonly hours: readonly boolean[]; // 24
  readonly daysOfMonth: readonly boolean[]; // index 1..31
  readonly lastDayOfMonth: boolean;
  readonly months: readonly boolean[]; // index 1..12
  readonly daysOfWeek: readonly boolean[]; // 0..6, Sunday = 0
  readonly domStar: boolean;
  readonly dowStar: boolean;
  /** The hour field starts with '*': the schedule runs every hour (matters for DST folds and gaps). */
  readonly hourStar: boolean;
}

/** A syntax or range error at `offset` inside the cron text. */
export class CronSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldDef {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  readonly namesBase?: number;
}

const FIELDS: readonly FieldDef[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES, namesBase: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: DAY_NAMES, namesBase: 0 },
];

function parseValue(text: string, f: FieldDef, offset: number): number {
  if (/^\d+$/.test(text)) {
    const v = Number(text);
    if (v < f.min || v > f.max) throw new CronSyntaxError(`${f.name} value ${v} out of range ${f.min}-${f.max}`, offset);
    return v;
  }
  const idx = f.names?.indexOf(text.toUpperCase()) ?? -1;
  if (idx >= 0) return idx + (f.namesBase ?? 0);
  const what = f.names ? `a number ${f.min}-${f.max} or a name (${f.names.join(' ')})` : `a number ${f.min}-${f.max}`;
  throw new CronSyntaxError(`invalid ${f.name} value '${text}': expected ${what}`, offset);
}

interface ParsedField {
  set: boolean[];
  star: boolean;
  last: boolean;
}

function parseField(text: string, f: FieldDef, base: number): ParsedField {
  const set = new Array<boolean>(f.max + 1).fill(false);
  const star = text.startsWith('*') || text === '?';
  let last = false;
  let pos = 0;
  for (const item of text.split(',')) {
    const at = base + pos;
    pos += item.length + 1;
    if (item === '') throw new CronSyntaxError(`empty item in ${f.name} field`, at);
    if (item === 'L' && f.name === 'day-of-month') {
      last = true;
      continue;
    }
    const slash = item.indexOf('/');
    const rangeText = slash >= 0 ? item.slice(0, slash) : item;
    let step = 1;
    if (slash >= 0) {
      const stepText = item.slice(slash + 1);
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronSyntaxError(`invalid step '${stepText}' in ${f.name} field: expected a positive number`, at + slash + 1);
      step = Number(stepText);
      if (step > f.max) throw new CronSyntaxError(`step ${step} in ${f.name} field is larger than the range ${f.min}-${f.max}`, at + slash + 1);
    }
    let lo: number;
    let hi: number;
    if (rangeText === '*' || rangeText === '?') {
      if (rangeText === '?' && slash >= 0) throw new CronSyntaxError(`'?' cannot take a step`, at);
      lo = f.min;
      hi = f.name === 'day-of-week' ? 6 : f.max;
    } else {
      const dash = rangeText.indexOf('-', 1);
      if (dash >= 0) {
        lo = parseValue(rangeText.slice(0, dash), f, at);
        hi = parseValue(rangeText.slice(dash + 1), f, at + dash + 1);
        if (hi < lo) throw new CronSyntaxError(`${f.name} range ${rangeText} goes backwards`, at);
      } else {
        lo = parseValue(rangeText, f, at);
        hi = slash >= 0 ? (f.name === 'day-of-week' ? 6 : f.max) : lo;
      }
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  return { set, star, last };
}

/** Parse five whitespace-separated fields; offsets in errors are relative to `text` plus `base`. */
export function parseCron(text: string, base = 0): CronSpec {
  const fields: { text: string; offset: number }[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) fields.push({ text: m[0], offset: base + m.index });
  if (fields.length !== 5) {
    const hint = fields.length === 6 ? ' (a seconds field is not supported; Coffer schedules to the minute)' : '';
    throw new CronSyntaxError(`cron expression needs 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}${hint}`, base);
  }
  const parsed = fields.map((fld, i) => parseField(fld.text, FIELDS[i]!, fld.offset));
  const [min, hour, dom, mon, dow] = parsed as [ParsedField, ParsedField, ParsedField, ParsedField, ParsedField];
  const daysOfWeek = dow.set.slice(0, 7);
  if (dow.set[7]) daysOfWeek[0] = true;
  return {
    minutes: min.set,
    hours: hour.set,
    daysOfMonth: dom.set,
    lastDayOfMonth: dom.last,
    months: mon.set,
    daysOfWeek,
    domStar: dom.star,
    dowStar: dow.star,
    hourStar: hour.star,
  };
}

function daysInMonth(y: number, m0: number): number {
  return new Date(Date.UTC(y, m0 + 1, 0)).getUTCDate();
}

/** Does the calendar day (UTC fields of `wallDay`) match the spec's day, month and weekday fields? */
export function dayMatches(spec: CronSpec, y: number, m0: number, d: number, weekday: number): boolean {
  if (!spec.months[m0 + 1]) return false;
  const domOk = spec.daysOfMonth[d] === true || (spec.lastDayOfMonth && d === daysInMonth(y, m0));
  const dowOk = spec.daysOfWeek[weekday] === true;
  if (spec.domStar || spec.dowStar) return domOk && dowOk;
  return domOk || dowOk;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * The first wall minute at or after `fromWall` that matches, or undefined
 * when none exists within `horizonDays` (an impossible date such as 30 Feb).
 */
export function nextWallMatch(spec: CronSpec, fromWall: number, horizonDays = 366 * 9): number | undefined {
  let t = Math.ceil(fromWall / MINUTE) * MINUTE;
  const limit = t + horizonDays * DAY;
  while (t <= limit) {
    const date = new Date(t);
    const y = date.getUTCFullYear();
    const m0 = date.getUTCMonth();
    const d = date.getUTCDate();
    const dayStart = Date.UTC(y, m0, d);
    if (!spec.months[m0 + 1]) {
      t = Date.UTC(y, m0 + 1, 1);
      continue;
    }
    if (dayMatches(spec, y, m0, d, date.getUTCDay())) {
      const h0 = date.getUTCHours();
      const mi0 = date.getUTCMinutes();
      for (let h = h0; h < 24; h++) {
        if (!spec.hours[h]) continue;
        for (let mi = h === h0 ? mi0 : 0; mi < 60; mi++) {
          if (spec.minutes[mi]) return dayStart + h * 3_600_000 + mi * MINUTE;
        }
      }
    }
    t = dayStart + DAY;
  }
  return undefined;
}

/**
 * The last wall minute at or before `fromWall` that matches, or undefined
 * when none exists within `horizonDays`.
 */
export function prevWallMatch(spec: CronSpec, fromWall: number, horizonDays = 366 * 9): number | undefined {
  let t = Math.floor(fromWall / MINUTE) * MINUTE;
  const limit = t - horizonDays * DAY;
  while (t >= limit) {
    const date = new Date(t);
    const y = date.getUTCFullYear();
    const m0 = date.getUTCMonth();
    const d = date.getUTCDate();
    const dayStart = Date.UTC(y, m0, d);
    if (!spec.months[m0 + 1]) {
      t = Date.UTC(y, m0, 1) - MINUTE; // last minute of the previous month
      continue;
    }
    if (dayMatches(spec, y, m0, d, date.getUTCDay())) {
      const h0 = date.getUTCHours();
      const mi0 = date.getUTCMinutes();
      for (let h = h0; h >= 0; h--) {
        if (!spec.hours[h]) continue;
        for (let mi = h === h0 ? mi0 : 59; mi >= 0; mi--) {
          if (spec.minutes[mi]) return dayStart + h * 3_600_000 + mi * MINUTE;
        }
      }
    }
    t = dayStart - MINUTE;
  }
  return undefined;
}

/** The minutes of the day (0..1439) the spec fires at, ascending. */
export function slotsOfDay(spec: CronSpec): number[] {
  const out: number[] = [];
  for (let h = 0; h < 24; h++) if (spec.hours[h]) for (let mi = 0; mi < 60; mi++) if (spec.minutes[mi]) out.push(h * 60 + mi);
  return out;
}

const CYCLE_DAYS = 10_227; // 2001-01-01 .. 2028-12-31: 1461 weeks, 7 leap cycles
interface DayStats {
  /** Matching days in the cycle. */
  count: number;
  /** Largest distance in days between consecutive matching days, across the cycle boundary too. */
  maxGapDays: number;
}
const dayCache = new Map<string, DayStats>();

/** Indexes (days since 2001-01-01) of the days in 2001–2028 the day fields match; shared by crons that differ only in time of day. */
function matchingDays(spec: CronSpec): DayStats {
  const key = JSON.stringify([spec.daysOfMonth, spec.lastDayOfMonth, spec.months, spec.daysOfWeek, spec.domStar, spec.dowStar]);
  const hit = dayCache.get(key);
  if (hit) return hit;
  const days: number[] = [];
  let index = 0;
  let weekday = 1; // 2001-01-01 was a Monday
  for (let y = 2001; y <= 2028; y++) {
    for (let m0 = 0; m0 < 12; m0++) {
      const dim = daysInMonth(y, m0);
      for (let d = 1; d <= dim; d++) {
        if (dayMatches(spec, y, m0, d, weekday)) days.push(index);
        index++;
        weekday = (weekday + 1) % 7;
      }
    }
  }
  let maxGapDays = days.length > 0 ? days[0]! + CYCLE_DAYS - days[days.length - 1]! : Infinity;
  for (let i = 1; i < days.length; i++) maxGapDays = Math.max(maxGapDays, days[i]! - days[i - 1]!);
  const stats = { count: days.length, maxGapDays };
  if (dayCache.size > 1000) dayCache.clear();
  dayCache.set(key, stats);
  return stats;
}

const intervalCache = new Map<string, { meanSeconds: number; maxSeconds: number; runs: number }>();

/**
 * Mean and longest interval between runs in wall-clock seconds, over the 28
 * years 2001–2028: a whole number of weeks and of leap cycles, so the mean of
 * `@weekly` is exactly 7 days and of `@daily` exactly one, and a 29 February
 * schedule shows its 4-year gap. `runs` is 0 for a schedule that never fires.
 */
export function cronIntervals(spec: CronSpec): { meanSeconds: number; maxSeconds: number; runs: number } {
  const key = JSON.stringify(spec);
  const cached = intervalCache.get(key);
  if (cached) return cached;
  const slots = slotsOfDay(spec);
  const days = matchingDays(spec);
  const totalDays = CYCLE_DAYS;
  const runs = days.count * slots.length;
  let result: { meanSeconds: number; maxSeconds: number; runs: number };
  if (runs === 0) {
    result = { meanSeconds: Infinity, maxSeconds: Infinity, runs: 0 };
  } else {
    let maxMinutes = 0;
    for (let i = 1; i < slots.length; i++) maxMinutes = Math.max(maxMinutes, slots[i]! - slots[i - 1]!);
    // Between the last run of one matching day and the first of the next
    // (the schedule repeats every 28 years, so the cycle boundary counts too).
    maxMinutes = Math.max(maxMinutes, days.maxGapDays * 1440 + slots[0]! - slots[slots.length - 1]!);
    result = { meanSeconds: (totalDays * 86_400) / runs, maxSeconds: maxMinutes * 60, runs };
  }
  if (intervalCache.size > 10_000) intervalCache.clear();
  intervalCache.set(key, result);
  return result;
}
