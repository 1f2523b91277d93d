/**
 * Grandfather-father-son retention as a pure function, with restic's
 * `forget --keep-hourly/daily/weekly/monthly/yearly` semantics (which Kasten
 * K10's GFS counts also follow):
 *
 * - Points are considered newest first (ties broken by id, descending, so the
 *   result never depends on input order).
 * - For each tier with count N, a point is kept when it is the newest
 *   successful point of its bucket (its hour / day / ISO week / month / year
 *   in `timezone`) and fewer than N buckets have been filled so far. Buckets
 *   are counted from the newest point back, and only buckets that contain a
 *   successful point count: a week without backups does not use up a
 *   weekly slot.
 * - Tiers are independent; a point kept by several tiers lists every reason.
 * - Failed points (`ok: false`) never fill a bucket. They are expired, except
 *   the most recent point overall when it failed (kept with reason
 *   'latest-failure' so the failure stays inspectable until the next success).
 * - The newest successful point is always kept (reason 'latest'), whatever the
 *   counts — retention can never delete the last good restore point. With no
 *   positive count, that is the only successful point kept.
 *
 * Output: `keep` newest first; `expire` ids newest first.
 */
import { toWall } from '../schedule/tz.ts';

export interface RetentionPoint {
  readonly id: string;
  readonly time: Date;
  readonly ok: boolean;
}

export interface RetentionCounts {
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export type RetentionReason = 'latest' | 'latest-failure' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

export interface RetentionDecision {
  keep: { id: string; reasons: RetentionReason[] }[];
  expire: string[];
}

export class RetentionError extends Error {
  readonly code = 'E_RETENTION';
}

export const RETENTION_TIERS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
type Tier = (typeof RETENTION_TIERS)[number];

/** ISO-8601 week-numbering year and week of a calendar date. */
export function isoWeek(y: number, m0: number, d: number): { year: number; week: number } {
  const t = new Date(Date.UTC(y, m0, d));
  const day = t.getUTCDay() || 7; // Monday = 1 … Sunday = 7
  t.setUTCDate(t.getUTCDate() + 4 - day); // Thursday of this week decides the year
  const year = t.getUTCFullYear();
  const week = Math.ceil(((t.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return { year, week };
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** The bucket key of one tier for a wall-clock time (`toWall`): only the tiers asked for are computed. */
function tierKey(w: Date, tier: Tier): string {
  const y = w.getUTCFullYear();
  switch (tier) {
    case 'yearly':
      return String(y);
    case 'monthly':
      return `${y}-${pad(w.getUTCMonth() + 1)}`;
    case 'weekly': {
      const iw = isoWeek(y, w.getUTCMonth(), w.getUTCDate());
      return `${iw.year}-W${pad(iw.week)}`;
    }
    case 'daily':
      return `${y}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}`;
    case 'hourly':
      return `${y}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}T${pad(w.getUTCHours())}`;
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * A number per bucket of a tier for a wall-clock time (`toWall`), one-to-one with `tierKey`'s strings (same bucket,
 * same number) without building them: selectRetained only asks whether two points share a bucket. Weeks are ISO
 * weeks: Monday-based, and day 0 (1970-01-01) was a Thursday, so a week's number is floor((day + 3) / 7).
 */
export function bucketNumber(wall: number, tier: Tier): number {
  switch (tier) {
    case 'hourly':
      return Math.floor(wall / HOUR_MS);
    case 'daily':
      return Math.floor(wall / DAY_MS);
    case 'weekly':
      return Math.floor((Math.floor(wall / DAY_MS) + 3) / 7);
    case 'monthly': {
      const d = new Date(wall);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
    case 'yearly':
      return new Date(wall).getUTCFullYear();
  }
}

/** The bucket key of an instant for one tier, in the given zone. */
export function bucketKey(time: Date, tier: Tier, timezone = 'UTC'): string {
  return tierKey(new Date(toWall(timezone, time.getTime())), tier);
}

/** Bucket keys of an instant for every tier, in the given zone. */
export function bucketKeys(time: Date, timezone = 'UTC'): Record<Tier, string> {
  const w = new Date(toWall(timezone, time.getTime()));
  return { hourly: tierKey(w, 'hourly'), daily: tierKey(w, 'daily'), weekly: tierKey(w, 'weekly'), monthly: tierKey(w, 'monthly'), yearly: tierKey(w, 'yearly') };
}

function validCount(tier: string, n: unknown): number {
  if (n === undefined) return 0;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new RetentionError(`retention.${tier} must be an integer >= 0, got ${JSON.stringify(n)}`);
  return n;
}

/** Decide which restore points GFS retention keeps and which it expires. */
export function selectRetained(points: readonly RetentionPoint[], counts: RetentionCounts, timezone = 'UTC'): RetentionDecision {
  const remaining = {} as Record<Tier, number>;
  for (const tier of RETENTION_TIERS) remaining[tier] = validCount(tier, counts[tier]);
  const seenIds = new Set<string>();
  for (const p of points) {
    if (Number.isNaN(p.time.getTime())) throw new RetentionError(`restore point ${p.id} has an invalid time`);
    if (seenIds.has(p.id)) throw new RetentionError(`restore point id ${p.id} appears twice`);
    seenIds.add(p.id);
  }
  const sorted = [...points].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const lastKey = {} as Record<Tier, number | undefined>;
  const keep: RetentionDecision['keep'] = [];
  const expire: string[] = [];
  let latestOkSeen = false;
  sorted.forEach((p, index) => {
    const reasons: RetentionReason[] = [];
    if (!p.ok) {
      if (index === 0) reasons.push('latest-failure');
    } else {
      if (!latestOkSeen) {
        reasons.push('latest');
        latestOkSeen = true;
      }
      // Keys only for tiers still counting: a fleet's compliance report buckets 100,000s of points and runs.
      const wall = toWall(timezone, p.time.getTime());
      for (const tier of RETENTION_TIERS) {
        if (remaining[tier] <= 0) continue;
        const key = bucketNumber(wall, tier);
        if (key !== lastKey[tier]) {
          lastKey[tier] = key;
          remaining[tier]--;
          reasons.push(tier);
        }
      }
    }
    if (reasons.length > 0) keep.push({ id: p.id, reasons });
    else expire.push(p.id);
  });
  return { keep, expire };
}
