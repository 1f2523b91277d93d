/**
 * Daily backup windows ("only start runs between 22:00 and 06:00") read as
 * wall-clock times in a time zone. A window whose end is earlier than its
 * start crosses midnight; start == end means the whole day. Start is
 * inclusive, end exclusive. On a DST day the window follows the wall clock: a
 * start inside a spring-forward gap opens when the clocks jump.
 */
import { gapEnd, toWall, wallToInstants } from './tz.ts';

export interface BackupWindow {
  /** 'HH:MM', 24-hour clock. */
  readonly start: string;
  /** 'HH:MM'; earlier than start means the next day. */
  readonly end: string;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const DAY = 86_400_000;

/** Minutes after midnight for 'HH:MM'; throws a plain Error for malformed text (schemas reject it first). */
export function parseWindow(w: BackupWindow): { start: number; end: number } {
  const s = HHMM.exec(w.start);
  const e = HHMM.exec(w.end);
  if (!s) throw new Error(`invalid window start '${w.start}': expected HH:MM`);
  if (!e) throw new Error(`invalid window end '${w.end}': expected HH:MM`);
  return { start: Number(s[1]) * 60 + Number(s[2]), end: Number(e[1]) * 60 + Number(e[2]) };
}

function minuteOfDay(wall: number): number {
  return Math.floor((((wall % DAY) + DAY) % DAY) / 60_000);
}

/** Is `at` inside the window (wall clock in `timezone`)? */
export function inWindow(window: BackupWindow, at: Date, timezone = 'UTC'): boolean {
  const { start, end } = parseWindow(window);
  if (start === end) return true;
  const m = minuteOfDay(toWall(timezone, at.getTime()));
  return start < end ? m >= start && m < end : m >= start || m < end;
}

function wallToInstant(tz: string, wall: number): number {
  const ts = wallToInstants(tz, wall);
  return ts.length > 0 ? ts[0]! : gapEnd(tz, wall);
}

/**
 * The first instant at or after `after` when the window is open: `after`
 * itself when already inside, else the next opening.
 */
export function nextWindowOpen(window: BackupWindow, after: Date, timezone = 'UTC'): Date {
  if (inWindow(window, after, timezone)) return after;
  const { start } = parseWindow(window);
  const wall = toWall(timezone, after.getTime());
  const dayStart = Math.floor(wall / DAY) * DAY;
  for (let k = 0; k <= 2; k++) {
    const t = wallToInstant(timezone, dayStart + k * DAY + start * 60_000);
    if (t >= after.getTime()) return new Date(t);
  }
  throw new Error('unreachable: a daily window opens within two days');
}

/**
 * When the window containing `at` closes, or undefined when `at` is outside
 * it or the window spans the whole day. A run started late can use this to
 * stop starting new work.
 */
export function windowEnd(window: BackupWindow, at: Date, timezone = 'UTC'): Date | undefined {
  const { start, end } = parseWindow(window);
  if (start === end || !inWindow(window, at, timezone)) return undefined;
  const wall = toWall(timezone, at.getTime());
  const dayStart = Math.floor(wall / DAY) * DAY;
  for (let k = 0; k <= 1; k++) {
    const t = wallToInstant(timezone, dayStart + k * DAY + end * 60_000);
    if (t > at.getTime()) return new Date(t);
  }
  return undefined;
}
