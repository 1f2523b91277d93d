/**
 * Wall-clock ↔ instant conversion for IANA time zones through Intl, with no
 * time-zone database of our own. A "wall" time is represented as the epoch
 * milliseconds the same Y-M-D h:m:s would have in UTC, which lets calendar
 * arithmetic use the UTC getters.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/**
 * The zones Intl lists, by lower-cased name → its spelling. Each listed zone resolves to itself, so for these the list
 * answers what a DateTimeFormat would, for ~1 ms instead of the ~30 ms the first DateTimeFormat of a process costs
 * (ICU's locale data): `coffer validate` checks zones without ever building one. Aliases Intl does not list (US/Eastern,
 * Asia/Kolkata on some ICU versions) still go through a DateTimeFormat.
 */
let listed: Map<string, string> | undefined;
function listedZone(tz: string): string | undefined {
  if (tz.toUpperCase() === 'UTC') return 'UTC'; // ECMA-402 canonicalizes UTC to "UTC"; Intl does not list it
  listed ??= new Map(Intl.supportedValuesOf('timeZone').map((z) => [z.toLowerCase(), z]));
  return listed.get(tz.toLowerCase());
}

/** True when Intl knows the zone name (IANA names, "UTC", fixed offsets like "+02:00" are not accepted by schema). */
export function isValidTimeZone(tz: string): boolean {
  if (typeof tz !== 'string' || tz.length === 0 || tz.length > 64) return false;
  if (listedZone(tz)) return true;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** Canonical spelling Intl uses for a zone ("utc" → "UTC", links resolved as the runtime does). */
const canonical = new Map<string, string>();
export function canonicalTimeZone(tz: string): string {
  let c = canonical.get(tz);
  if (c === undefined) {
    c = listedZone(tz) ?? formatter(tz).resolvedOptions().timeZone;
    canonical.set(tz, c);
  }
  return c;
}

export function isUtc(tz: string): boolean {
  return tz === 'UTC' || tz === 'Etc/UTC' || tz === 'Etc/GMT' || tz === 'GMT';
}

/** The wall time (as UTC-field milliseconds, seconds kept) of an instant in `tz`. */
export function toWall(tz: string, instant: number): number {
  if (isUtc(tz)) return instant;
  const ms = ((instant % 1000) + 1000) % 1000;
  const p = formatter(tz).formatToParts(new Date(instant - ms));
  let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  for (const part of p) {
    switch (part.type) {
      case 'year': y = Number(part.value); break;
      case 'month': mo = Number(part.value); break;
      case 'day': d = Number(part.value); break;
      case 'hour': h = Number(part.value); break;
      case 'minute': mi = Number(part.value); break;
      case 'second': s = Number(part.value); break;
    }
  }
  const r = new Date(0);
  r.setUTCFullYear(y, mo - 1, d);
  r.setUTCHours(h, mi, s, ms);
  return r.getTime();
}

/** UTC offset of `tz` at an instant, in milliseconds (wall − instant). */
export function offsetAt(tz: string, instant: number): number {
  return toWall(tz, instant) - instant;
}

/**
 * Every instant whose wall time in `tz` is `wall`: one normally, two in a
 * fall-back fold (earliest first), none in a spring-forward gap.
 */
export function wallToInstants(tz: string, wall: number): number[] {
  if (isUtc(tz)) return [wall];
  const o1 = offsetAt(tz, wall - 86_400_000);
  const o2 = offsetAt(tz, wall + 86_400_000);
  const out: number[] = [];
  for (const o of o1 === o2 ? [o1] : [o1, o2]) {
    const t = wall - o;
    if (toWall(tz, t) === wall && !out.includes(t)) out.push(t);
  }
  if (out.length === 0 && o1 === o2) {
    // Offsets a day either side agree but this wall time still failed: a zone
    // with two transitions within two days. Probe hourly offsets around it.
    for (let k = -26; k <= 26; k++) {
      const t = wall - offsetAt(tz, wall + k * 3_600_000);
      if (toWall(tz, t) === wall && !out.includes(t)) out.push(t);
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * The first instant after a spring-forward gap that contains `wall` — the
 * moment the clocks jump. Found by bisection to the second.
 */
export function gapEnd(tz: string, wall: number): number {
  const before = offsetAt(tz, wall - 86_400_000);
  const after = offsetAt(tz, wall + 86_400_000);
  // Instants in [wall - after, wall - before] straddle the transition.
  let lo = wall - Math.max(before, after);
  let hi = wall - Math.min(before, after);
  if (lo > hi) [lo, hi] = [hi, lo];
  const loOffset = offsetAt(tz, lo);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(tz, mid) === loOffset) lo = mid;
    else hi = mid;
  }
  return hi;
}
