import type { Plan } from '../../compiler/index.ts';
import { factsOf, retentionOutcome, type Catalog, type RestorePoint, type RestorePointSummary, type RunRecord } from '../catalog/index.ts';
import type { RecordedRestore } from './restore-jobs.ts';

/** Why retention keeps a restore point: its GFS tiers (hourly … yearly, `latest`), or `pinned` / `ttl`; `expiring` when the next pass removes it. */
export type Tier = string;

export interface RestorePointDetails {
  restorePoint: RestorePoint;
  path: string;
  tiers: Tier[];
  /** Objects by kind, most first. */
  objects: Array<{ apiVersion: string; kind: string; count: number; names: string[] }>;
  /** Read / added bytes of each volume; `dedup` = read ÷ added (how much the repository did not have to store again). */
  volumes: Array<NonNullable<RestorePoint['spec']['volumes']>[number] & { dedup?: number }>;
  dedup?: number;
  /** The backup run that made it, with its log (hook phases, snapshots, mover Jobs). */
  run?: RunRecord;
  /** Restores made from it, as their RestoreResults in the catalog say. */
  restores: RecordedRestore[];
}

/**
 * GFS tiers of one namespace's restore points: what retention would keep each for under today's plan — computed from
 * the catalog's summaries with the same pure function retention runs, so the dashboard shows exactly what it does.
 */
export function tiersOf(plan: Plan, summaries: readonly RestorePointSummary[], now: Date): Map<string, Tier[]> {
  const out = new Map<string, Tier[]>();
  for (const policy of plan.policies) {
    const entries = summaries.filter((s) => s.policy === policy.name).map((s) => ({ path: s.path, doc: factsOf(s) }));
    if (!entries.length) continue;
    for (const o of retentionOutcome(policy, entries, now)) {
      for (const k of o.keep) out.set(k.name, [...k.reasons]);
      for (const e of o.expire) out.set(e.metadata.name, ['expiring']);
    }
  }
  return out;
}

/** Summaries of one namespace's restore points in this cluster (every policy), oldest first per policy. */
export async function namespaceSummaries(catalog: Catalog, namespace: string): Promise<RestorePointSummary[]> {
  const snap = await catalog.snapshot();
  if (!snap) return [];
  return snap.dirs({ cluster: catalog.cluster, namespace }).flatMap((d) => snap.summaries(d).items);
}

export async function restorePointDetails(o: { catalog: Catalog; plan: Plan; namespace: string; name: string; now: Date; restores: RecordedRestore[] }): Promise<RestorePointDetails | undefined> {
  const summaries = await namespaceSummaries(o.catalog, o.namespace);
  const summary = summaries.find((s) => s.name === o.name);
  if (!summary) return undefined;
  const snap = await o.catalog.snapshot();
  const rp = snap?.document(summary.path);
  if (!rp) return undefined;
  const tiers = tiersOf(o.plan, summaries.filter((s) => s.policy === summary.policy), o.now).get(o.name) ?? [];
  // Its run started with it (same second); day directories before the start are never read.
  const runs = await o.catalog.listRuns({ namespace: o.namespace, policy: summary.policy, type: 'backup', since: new Date(Date.parse(rp.spec.startTime) - 60_000) });
  const run = runs.items.find((r) => r.status.restorePoint === o.name);
  const ratio = (read?: number, added?: number) => (read !== undefined && added !== undefined && added > 0 ? Math.round((read / added) * 10) / 10 : undefined);
  const volumes = (rp.spec.volumes ?? []).map((v) => {
    const d = ratio(v.sizeBytes, v.bytesAdded);
    return { ...v, ...(d !== undefined ? { dedup: d } : {}) };
  });
  const dedup = ratio(rp.spec.stats?.bytesRead, rp.spec.stats?.bytesAdded);
  return {
    restorePoint: rp,
    path: summary.path,
    tiers,
    objects: [...(rp.spec.resources ?? [])].sort((a, b) => b.count - a.count || a.kind.localeCompare(b.kind)),
    volumes,
    ...(dedup !== undefined ? { dedup } : {}),
    ...(run ? { run } : {}),
    restores: o.restores.filter((r) => r.restorePoint === o.name && r.source.namespace === o.namespace),
  };
}
