import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { bucketKey, RETENTION_TIERS } from '../../compiler/retention/index.ts';
import { isUtc } from '../../compiler/schedule/tz.ts';
import type { Catalog } from '../catalog/index.ts';
import type { RunRecord } from '../catalog/types.ts';
import type { ComplianceRun } from './compliance.ts';

/** Run files Coffer named after a backup or retention run: the bulk of a fleet's history (thousands a day). */
const BULK_RUN = /^(backup|retention)-\d{8}-\d{6}-/;

type Tier = (typeof RETENTION_TIERS)[number];

/** In UTC, a canonical start time's prefix is its bucket key (`bucketKey`'s format), without building a Date. */
const UTC_PREFIX: Partial<Record<Tier, number>> = { hourly: 13, daily: 10, monthly: 7, yearly: 4 };
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function keyOf(startTime: string, tier: Tier, timezone: string): string {
  const n = UTC_PREFIX[tier];
  return n && isUtc(timezone) && ISO_UTC.test(startTime) ? startTime.slice(0, n) : bucketKey(new Date(startTime), tier, timezone);
}

/** What one (policy, namespace) pair still needs from older backup runs before its rules are decided. */
interface Need {
  ok: boolean;
  made: boolean;
  /** Per GFS tier with a positive count: the buckets filled so far, and how many the tier keeps. */
  tiers: Array<{ tier: Tier; keep: number; seen: Set<string> }>;
  timezone: string;
}

/**
 * The run history the compliance rules look at, read newest day first and only as far back as they look: the rules
 * take from backup runs the newest one, the newest successful one, and what GFS keeps — the newest successful
 * scheduled run of each of the newest N buckets per tier. Once a pair has seen all of that, an older backup run can
 * change none of its results (it is older than every run read, so it neither is the newest nor fills a newer
 * bucket). When every selected pair is settled, the older days are read only for the hours holding other runs (DR
 * drills, verifications: few, and a rule reports the newest however old), and not at all once every namespace has a
 * finished drill and every verified pair its newest and newest successful verification. A pair that never settles (no
 * successful backup yet, fewer buckets than GFS keeps, no drill ever) reads the whole history, as before: the rules
 * cannot tell "none" from "older" otherwise. Run file names say the run's type (`runId`); Coffer writes them so.
 */
export async function complianceRuns(catalog: Pick<Catalog, 'runDaysNewestFirst'>, policies: readonly PlanPolicy[], selected: ReadonlyMap<string, readonly string[]>): Promise<ComplianceRun[]> {
  const open = new Map<string, Need>();
  for (const p of policies) {
    if (p.paused) continue;
    const tiers = RETENTION_TIERS.filter((t) => (p.retention[t] ?? 0) > 0);
    for (const ns of selected.get(p.name) ?? []) open.set(`${p.name}\u0000${ns}`, { ok: false, made: false, tiers: tiers.map((tier) => ({ tier, keep: p.retention[tier]!, seen: new Set<string>() })), timezone: p.schedule.timezone ?? 'UTC' });
  }
  // The other rules: the newest finished DR drill per namespace; the newest verify run and newest successful one per pair.
  const drills = new Set([...open.keys()].map((k) => k.slice(k.indexOf('\u0000') + 1)));
  const verifies = new Map(policies.filter((p) => !p.paused && p.verify).flatMap((p) => (selected.get(p.name) ?? []).map((ns) => [`${p.name}\u0000${ns}`, { any: false, ok: false }] as const)));
  const out: ComplianceRun[] = [];
  let bulk = true;
  for await (const day of catalog.runDaysNewestFirst((file) => bulk || !BULK_RUN.test(file))) {
    for (const r of day) {
      if (r.spec.type !== 'backup' && r.spec.type !== 'verify' && r.spec.trigger !== 'drill') continue;
      out.push(slim(r));
      if (r.spec.trigger === 'drill' && r.status.phase !== 'Running' && r.status.phase !== 'Pending') drills.delete(r.spec.namespace ?? '');
      const v = r.spec.type === 'verify' ? verifies.get(`${r.spec.policy}\u0000${r.spec.namespace ?? ''}`) : undefined;
      if (v) Object.assign(v, { any: true, ok: v.ok || r.status.phase === 'Succeeded' });
      if (!bulk || r.spec.type !== 'backup') continue;
      const need = open.get(`${r.spec.policy}\u0000${r.spec.namespace ?? ''}`);
      if (!need) continue;
      if (r.status.phase === 'Succeeded' || r.status.phase === 'PartiallyFailed') need.ok = true;
      if (r.spec.trigger !== 'manual' && r.status.phase === 'Succeeded' && r.status.restorePoint) {
        need.made = true;
        for (const t of need.tiers) if (t.seen.size < t.keep) t.seen.add(keyOf(r.status.startTime, t.tier, need.timezone));
      }
    }
    for (const [key, need] of open) if (need.ok && need.made && need.tiers.every((t) => t.seen.size >= t.keep)) open.delete(key);
    for (const [key, v] of verifies) if (v.any && v.ok) verifies.delete(key);
    if (!open.size) bulk = false;
    if (!bulk && !drills.size && !verifies.size) break;
  }
  return out;
}

/**
 * A run with just the fields the rules read: the history is kept whole until evaluated, and the full records (plan
 * hash, commits, sizes) kept alive would be copied by every young-generation collection until promoted.
 */
function slim(r: RunRecord): ComplianceRun {
  const { type, namespace, policy, trigger } = r.spec;
  const { phase, startTime, restorePoint, error } = r.status;
  return {
    metadata: { name: r.metadata.name },
    spec: { type, trigger, ...(namespace !== undefined ? { namespace } : {}), ...(policy !== undefined ? { policy } : {}) },
    status: { phase, startTime, ...(restorePoint !== undefined ? { restorePoint } : {}), ...(error !== undefined ? { error } : {}) },
  };
}
