/**
 * Schedule math for policies: parse a frequency, compute run times in a time
 * zone, backup windows, and warnings when retention cannot be met. Pure: the
 * clock is always an argument.
 *
 * Forms: `@hourly @daily @midnight @weekly @monthly @yearly @annually`,
 * 5-field cron (see cron.ts), and `@every DURATION` (Go syntax, e.g. 15m,
 * 1h30m; at least 1m, whole seconds). `@every` slots are anchored to the Unix
 * epoch in UTC, so every replica and every restart agrees on them and the
 * time zone does not move them.
 *
 * Daylight saving time (cron forms, in the schedule's zone), as Vixie cron:
 * - Spring forward (a wall time that does not exist): a schedule with a fixed
 *   hour runs once at the moment the clocks jump (02:30 → 03:00 local in New
 *   York); a schedule whose hour field is `*` skips the missing times.
 * - Fall back (a wall time that happens twice): a fixed-hour schedule runs
 *   once, at the first occurrence; an hour-`*` schedule runs at both, so
 *   `@hourly` keeps one run per real hour.
 */
import { cronIntervals, nextWallMatch, parseCron, prevWallMatch, CronSyntaxError, type CronSpec } from './cron.ts';
import { canonicalTimeZone, gapEnd, isValidTimeZone, offsetAt, toWall, wallToInstants } from './tz.ts';

export { isValidTimeZone } from './tz.ts';
import { inWindow, parseWindow, type BackupWindow } from './window.ts';
export { inWindow, nextWindowOpen, windowEnd, parseWindow, type BackupWindow } from './window.ts';

/** A user error in a frequency, time zone or window; `offset` is inside the frequency text when meaningful. */
export class ScheduleError extends Error {
  readonly code = 'E_SCHEDULE';
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'ScheduleError';
  }
}

/**
 * A parsed frequency. Plain data (JSON-safe) so it can live in the plan and be
 * handed back to nextRun/previousSlot by the reconciler after a round trip.
 */
export interface Schedule {
  /** The frequency as written. */
  readonly source: string;
  /** Canonical form: a 5-field cron (macros expanded) or `@every <Go duration>`. */
  readonly normalized: string;
  readonly kind: 'cron' | 'every';
  /** IANA zone cron fields are read in ('UTC' by default). */
  readonly timezone: string;
  /** Mean seconds between runs (wall clock); the policy's nominal RPO. */
  readonly nominalIntervalSeconds: number;
  /** Longest gap between consecutive runs (e.g. 3 days for weekdays-only): the worst-case RPO. */
  readonly maxIntervalSeconds: number;
}

/** The smallest `@every` interval accepted: cron resolution, and a sane bound for backups. */
export const MIN_EVERY_SECONDS = 60;

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const GO_UNITS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 };

/** Parse a Go duration ("1h30m", "90s") into seconds; undefined when malformed. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(h|ms|m|s|us|µs|ns))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(m[1]) * GO_UNITS[m[2]!]!;
  return total;
}

/** Go's canonical spelling of a whole number of seconds: 5400 → "1h30m", 60 → "1m". */
export function formatGoDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h ? `${h}h` : ''}${m || (h && s) ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}

/** Human duration for messages: 86400 → "1d", 5400 → "1h30m". */
export function humanSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'never';
  const d = Math.floor(seconds / 86_400);
  const rest = Math.round(seconds - d * 86_400);
  if (d > 0 && rest === 0) return `${d}d`;
  if (d > 0) return `${d}d${formatGoDuration(rest)}`;
  return formatGoDuration(Math.round(seconds));
}

const specCache = new Map<string, CronSpec>();

function specOf(s: Pick<Schedule, 'normalized'>): CronSpec {
  let spec = specCache.get(s.normalized);
  if (spec === undefined) {
    spec = parseCron(s.normalized);
    if (specCache.size > 10_000) specCache.clear();
    specCache.set(s.normalized, spec);
  }
  return spec;
}

function everySeconds(s: Pick<Schedule, 'normalized'>): number {
  const secs = parseGoDuration(s.normalized.slice('@every '.length).trim());
  if (secs === undefined) throw new ScheduleError(`invalid @every schedule '${s.normalized}'`);
  return secs;
}

/**
 * Parse and validate a frequency. Throws ScheduleError with the offset of the
 * offending field, an unknown time zone, an `@every` below one minute, or a
 * cron that can never fire (e.g. `0 0 30 2 *`).
 */
export function parseFrequency(expr: string, timezone = 'UTC'): Schedule {
  const key = `${expr}\u0000${timezone}`;
  const hit = scheduleCache.get(key);
  if (hit) return hit;
  const s = Object.freeze(parseUncached(expr, timezone));
  if (scheduleCache.size > 10_000) scheduleCache.clear();
  scheduleCache.set(key, s);
  return s;
}

/** Repositories repeat a handful of frequencies across thousands of policies. */
const scheduleCache = new Map<string, Schedule>();

function parseUncached(expr: string, timezone: string): Schedule {
  if (typeof expr !== 'string' || expr.trim() === '') throw new ScheduleError('frequency is empty', 0);
  if (!isValidTimeZone(timezone)) throw new ScheduleError(`unknown time zone '${timezone}': expected an IANA name such as Europe/Paris or UTC`);
  // Intl may answer a legacy alias (Asia/Kolkata → Asia/Calcutta): keep the user's name, fix only its case.
  const resolved = canonicalTimeZone(timezone);
  const tz = resolved.toLowerCase() === timezone.toLowerCase() ? resolved : timezone;
  const lead = expr.length - expr.trimStart().length;
  const text = expr.trim();
  if (text.startsWith('@')) {
    const word = text.split(/\s+/)[0]!;
    if (word.toLowerCase() === '@every') {
      const rest = text.slice(word.length).trim();
      const restOffset = lead + expr.trim().indexOf(rest, word.length);
      if (rest === '') throw new ScheduleError(`@every needs a duration, e.g. '@every 15m'`, lead + word.length);
      const secs = parseGoDuration(rest);
      if (secs === undefined) throw new ScheduleError(`invalid duration '${rest}': expected a Go duration such as 15m, 1h30m or 90s`, restOffset);
      if (!Number.isInteger(secs)) throw new ScheduleError(`duration '${rest}' must be a whole number of seconds`, restOffset);
      if (secs < MIN_EVERY_SECONDS) throw new ScheduleError(`@every ${rest} is too frequent: the minimum interval is ${formatGoDuration(MIN_EVERY_SECONDS)}`, restOffset);
      return { source: expr, normalized: `@every ${formatGoDuration(secs)}`, kind: 'every', timezone: tz, nominalIntervalSeconds: secs, maxIntervalSeconds: secs };
    }
    const cron = MACROS[word.toLowerCase()];
    if (cron === undefined) {
      throw new ScheduleError(`unknown schedule '${word}': expected @hourly, @daily, @weekly, @monthly, @yearly, @every DURATION or a 5-field cron`, lead);
    }
    if (text !== word) throw new ScheduleError(`unexpected text after ${word}`, lead + word.length);
    return cronSchedule(expr, cron, tz, lead);
  }
  return cronSchedule(expr, text.split(/\s+/).join(' '), tz, lead);
}

function cronSchedule(source: string, cron: string, tz: string, lead: number): Schedule {
  const isMacro = source.trim().startsWith('@');
  let parsed: CronSpec;
  try {
    // Offsets refer to the text as written; a macro's errors point at the macro.
    parsed = isMacro ? parseCron(cron) : parseCron(source.trim(), lead);
  } catch (e) {
    if (e instanceof CronSyntaxError) throw new ScheduleError(e.message, isMacro ? lead : e.offset);
    throw e;
  }
  const { meanSeconds, maxSeconds, runs } = cronIntervals(parsed);
  if (runs === 0) throw new ScheduleError(`'${source.trim()}' never runs: no month has that day (check day-of-month against month)`, lead);
  specCache.set(cron, parsed);
  return { source, normalized: cron, kind: 'cron', timezone: tz, nominalIntervalSeconds: Math.round(meanSeconds), maxIntervalSeconds: maxSeconds };
}

const FOLD_MARGIN = 3 * 3_600_000;

/** Instants a matched wall minute stands for, under the DST rules in the module comment. */
function instantsFor(spec: CronSpec, tz: string, wall: number): number[] {
  const ts = wallToInstants(tz, wall);
  if (ts.length === 0) return spec.hourStar ? [] : [gapEnd(tz, wall)];
  if (ts.length > 1 && !spec.hourStar) return [ts[0]!];
  return ts;
}

/** The first run strictly after `after`. Throws ScheduleError if the schedule never fires again. */
export function nextRun(s: Pick<Schedule, 'normalized' | 'kind' | 'timezone'>, after: Date): Date {
  const a = after.getTime();
  if (Number.isNaN(a)) throw new ScheduleError('nextRun: invalid date');
  if (s.kind === 'every') {
    const ms = everySeconds(s) * 1000;
    return new Date(Math.floor(a / ms) * ms + ms);
  }
  const spec = specOf(s);
  const tz = s.timezone;
  const nearTransition = offsetAt(tz, a - FOLD_MARGIN) !== offsetAt(tz, a + FOLD_MARGIN);
  // Near a DST change a later wall time can map to an earlier instant: start
  // the scan a few hours back and keep the earliest instant after `a`.
  let w = nearTransition ? toWall(tz, a) - FOLD_MARGIN : toWall(tz, a) + 1;
  let best: number | undefined;
  for (let guard = 0; guard < 2000; guard++) {
    const c = nextWallMatch(spec, w);
    if (c === undefined) break;
    for (const t of instantsFor(spec, tz, c)) if (t > a && (best === undefined || t < best)) best = t;
    if (best !== undefined && (!nearTransition || c > toWall(tz, best) + FOLD_MARGIN)) break;
    w = c + 60_000;
  }
  if (best === undefined) throw new ScheduleError(`schedule '${s.normalized}' has no run after ${after.toISOString()}`);
  return new Date(best);
}

/** The next `n` runs strictly after `after`, ascending. */
export function nextRuns(s: Pick<Schedule, 'normalized' | 'kind' | 'timezone'>, after: Date, n: number): Date[] {
  const out: Date[] = [];
  let t = after;
  for (let i = 0; i < n; i++) {
    t = nextRun(s, t);
    out.push(t);
  }
  return out;
}

/**
 * The latest slot at or before `atOrBefore`, or undefined when there is none
 * in the ten years before it. The scheduler runs a slot missed while it was
 * down once, by comparing this with the last run it recorded.
 */
export function previousSlot(s: Pick<Schedule, 'normalized' | 'kind' | 'timezone'>, atOrBefore: Date): Date | undefined {
  const t = atOrBefore.getTime();
  if (Number.isNaN(t)) throw new ScheduleError('previousSlot: invalid date');
  if (s.kind === 'every') {
    const ms = everySeconds(s) * 1000;
    return new Date(Math.floor(t / ms) * ms);
  }
  const spec = specOf(s);
  const tz = s.timezone;
  const nearTransition = offsetAt(tz, t - FOLD_MARGIN) !== offsetAt(tz, t + FOLD_MARGIN);
  // Mirror of nextRun: scan wall-clock matches backwards, keep the latest instant <= t.
  let w: number | undefined = nearTransition ? toWall(tz, t) + FOLD_MARGIN : toWall(tz, t);
  let best: number | undefined;
  for (let guard = 0; guard < 2000; guard++) {
    const c: number | undefined = prevWallMatch(spec, w, 3653);
    if (c === undefined) break;
    for (const i of instantsFor(spec, tz, c)) if (i <= t && (best === undefined || i > best)) best = i;
    if (best !== undefined && (!nearTransition || c < toWall(tz, best) - FOLD_MARGIN)) break;
    w = c - 60_000;
  }
  return best === undefined ? undefined : new Date(best);
}

/**
 * Whether any run of `s` starts inside `window` (`coffer validate`'s W_WINDOW). A cron runs at the same wall-clock
 * minutes on every day it runs, and the window is wall clock too, so for a cron this is a question about minutes of the
 * day alone and needs no time-zone data: the first Intl.DateTimeFormat of a process costs ~20 ms of ICU set-up, a
 * tenth of `coffer validate`. (Daylight saving moves a run in a skipped hour to the jump, one day a year: not a run
 * the window can count on.) `@every` slots are anchored in UTC, so their wall times follow the zone's offsets: a
 * fortnight of them, from a fixed reference so the answer never depends on today, is checked in the zone.
 */
export function runsInWindow(s: Pick<Schedule, 'normalized' | 'kind' | 'timezone'>, window: BackupWindow): boolean {
  const { start, end } = parseWindow(window);
  if (start === end) return true;
  if (s.kind === 'cron') {
    const spec = specOf(s);
    for (let h = 0; h < 24; h++) {
      if (!spec.hours[h]) continue;
      for (let m = 0; m < 60; m++) {
        const minute = h * 60 + m;
        if (spec.minutes[m] && (start < end ? minute >= start && minute < end : minute >= start || minute < end)) return true;
      }
    }
    return false;
  }
  const reference = new Date(Date.UTC(2026, 0, 5));
  const horizon = reference.getTime() + 14 * 86_400_000;
  let at = reference;
  for (let i = 0; i < 400; i++) {
    const next = nextRun(s, at);
    if (next.getTime() > horizon) return false;
    if (inWindow(window, next, s.timezone)) return true;
    at = next;
  }
  return true;
}

/** GFS retention counts, as in a Policy's spec.retention. */
export interface RetentionCounts {
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

const TIER_SECONDS: [keyof RetentionCounts, number, string][] = [
  ['hourly', 3600, 'hour'],
  ['daily', 86_400, 'day'],
  ['weekly', 7 * 86_400, 'week'],
  ['monthly', 30.436875 * 86_400, 'month'],
  ['yearly', 365.2425 * 86_400, 'year'],
];

/**
 * Warnings when the retention asks for more granularity than the frequency
 * produces (hourly retention on a daily policy): such a tier still keeps N
 * points, but they span N runs, not N hours — the user probably meant
 * something else. Also warns when retention keeps nothing.
 */
export function retentionWarnings(schedule: Pick<Schedule, 'source' | 'nominalIntervalSeconds'>, retention: RetentionCounts): string[] {
  const out: string[] = [];
  const every = schedule.nominalIntervalSeconds;
  const freq = schedule.source.trim();
  let anyPositive = false;
  for (const [tier, period, unit] of TIER_SECONDS) {
    const n = retention[tier];
    if (typeof n !== 'number' || n <= 0) continue;
    anyPositive = true;
    if (every > period * 1.01) {
      out.push(
        `retention.${tier}: ${n} cannot be met by frequency '${freq}', which runs about every ${humanSeconds(every)}: ` +
          `there is at most one restore point per ${humanSeconds(every)}, so this tier keeps the last ${n} runs (about ${humanSeconds(n * every)}), not ${n} ${unit}s`,
      );
    }
  }
  if (!anyPositive) out.push('retention keeps no tier: only the newest successful restore point is kept');
  return out;
}

export { toWall, wallToInstants } from './tz.ts';
