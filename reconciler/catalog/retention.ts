import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { selectRetained, type RetentionReason } from '../../compiler/retention/index.ts';
import type { CatalogEntry } from './index.ts';
import type { RestorePoint } from './types.ts';

/** The fields of a restore point retention and compliance decide on: a RestorePoint, or one built from the index. */
export interface PointFacts {
  metadata: { name: string };
  spec: Pick<RestorePoint['spec'], 'cluster' | 'namespace' | 'policy' | 'phase' | 'startTime' | 'trigger' | 'pinned' | 'expires'>;
}

export interface RetentionOutcome<T extends PointFacts = RestorePoint> {
  namespace: string;
  policy: string;
  /** Why each point stays: its GFS buckets, or `pinned` / `ttl` for on-demand points. */
  keep: Array<{ name: string; reasons: Array<RetentionReason | 'pinned' | 'ttl'> }>;
  /** Restore points to remove, newest first, with their documents (the caller forgets their repository snapshots). */
  expire: T[];
}

/** On-demand (`coffer backup`, API) points live outside the policy's GFS: kept until `expires` unless pinned. */
export function isOnDemand(rp: PointFacts): boolean {
  return rp.spec.trigger === 'manual';
}

/**
 * What retention removes, per namespace, for one policy: compiler-pure's `selectRetained` over the catalog's scheduled
 * restore points (time = spec.startTime; only Succeeded points fill buckets; the newest successful one is always
 * kept), plus on-demand points whose `expires` has passed at `now` and that are not pinned — on-demand points never
 * fill (or consume) a GFS slot. A paused policy expires nothing. Pure: the catalog entries (documents or index
 * summaries) and the clock are passed in.
 */
export function retentionOutcome<T extends PointFacts>(policy: Pick<PlanPolicy, 'name' | 'paused' | 'retention' | 'schedule'>, entries: ReadonlyArray<CatalogEntry<T>>, now: Date = new Date()): Array<RetentionOutcome<T>> {
  if (policy.paused) return [];
  const byNamespace = new Map<string, T[]>();
  const onDemand = new Map<string, T[]>();
  for (const { doc } of entries) {
    if (doc.spec.policy !== policy.name) continue;
    if (!byNamespace.has(doc.spec.namespace)) byNamespace.set(doc.spec.namespace, []);
    if (isOnDemand(doc)) onDemand.set(doc.spec.namespace, [...(onDemand.get(doc.spec.namespace) ?? []), doc]);
    else byNamespace.get(doc.spec.namespace)!.push(doc);
  }
  const out: Array<RetentionOutcome<T>> = [];
  for (const [namespace, docs] of [...byNamespace].sort(([a], [b]) => a.localeCompare(b))) {
    const byName = new Map(docs.map((d) => [d.metadata.name, d]));
    const decision = selectRetained(
      docs.map((d) => ({ id: d.metadata.name, time: new Date(d.spec.startTime), ok: d.spec.phase === 'Succeeded' })),
      policy.retention,
      policy.schedule.timezone,
    );
    const due = (d: T) => !d.spec.pinned && d.spec.expires !== undefined && Date.parse(d.spec.expires) <= now.getTime();
    const manual = onDemand.get(namespace) ?? [];
    out.push({
      namespace,
      policy: policy.name,
      keep: [...decision.keep.map((k) => ({ name: k.id, reasons: k.reasons })), ...manual.filter((d) => !due(d)).map((d) => ({ name: d.metadata.name, reasons: [d.spec.pinned ? ('pinned' as const) : ('ttl' as const)] }))],
      expire: [...decision.expire.map((id) => byName.get(id)!), ...manual.filter(due).reverse()],
    });
  }
  return out;
}
