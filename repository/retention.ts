import { selectRetained } from '../compiler/retention/index.ts';

/**
 * Snapshot retention for `forget`: compiler-pure's GFS rules (restic's
 * `--keep-hourly/daily/weekly/monthly/yearly` semantics, newest kept always)
 * plus restic's `--keep-last N`.
 */
export interface RetentionCounts {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface RetentionResult {
  keep: { id: string; reasons: string[] }[];
  expire: string[];
}

export function selectRetention(points: { id: string; time: Date }[], counts: RetentionCounts, timezone = 'UTC'): RetentionResult {
  const { last, ...gfs } = counts;
  const hasGfs = Object.values(gfs).some((v) => v && v > 0);
  const r: RetentionResult = hasGfs ? selectRetained(points.map((p) => ({ ...p, ok: true })), gfs, timezone) : { keep: [], expire: points.map((p) => p.id) };
  if (!last) return r;
  const byNewest = [...points].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1)).slice(0, last);
  const keep = new Map(r.keep.map((k) => [k.id, [...k.reasons]]));
  for (const p of byNewest) keep.set(p.id, [...(keep.get(p.id) ?? []), 'last']);
  const order = [...points].sort((a, b) => b.time.getTime() - a.time.getTime()).map((p) => p.id);
  return { keep: order.filter((id) => keep.has(id)).map((id) => ({ id, reasons: keep.get(id)! })), expire: order.filter((id) => !keep.has(id)) };
}
