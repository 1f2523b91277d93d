import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { selectRetained, type RetentionReason } from '../../compiler/retention/index.ts';
import type { CatalogEntry } from './index.ts';
import type { RestorePoint } from './types.ts';

/** The fields of a restore point retention and compliance decide on: a RestorePoint, or one built from the index. */
export interface PointFacts {
  metadata: { name: string };
  spec: Pick<RestorePoint['spec'], 'cluster' | 'namespace' | 'policy' | 'phase' | 'startTime'>;
}

export interface RetentionOutcome<T extends PointFacts = RestorePoint> {
  namespace: string;
  policy: string;
  keep: Array<{ name: string; reasons: RetentionReason[] }>;
  /** Restore points to remove, newest first, with their documents (the caller forgets their repository snapshots). */
  expire: T[];
}

/**
 * What GFS retention removes, per namespace, for one policy: compiler-pure's `selectRetained` over the catalog's restore
 * points (time = spec.startTime; only Succeeded points fill buckets; the newest successful one is always kept). A
 * paused policy expires nothing. Pure: the catalog entries are passed in.
 */
export function retentionOutcome<T extends PointFacts>(policy: Pick<PlanPolicy, 'name' | 'paused' | 'retention' | 'schedule'>, entries: ReadonlyArray<CatalogEntry<T>>): Array<RetentionOutcome<T>> {
  if (policy.paused) return [];
  const byNamespace = new Map<string, T[]>();
  for (const { doc } of entries) {
    if (doc.spec.policy !== policy.name) continue;
    const list = byNamespace.get(doc.spec.namespace) ?? [];
    list.push(doc);
    byNamespace.set(doc.spec.namespace, list);
  }
  const out: Array<RetentionOutcome<T>> = [];
  for (const [namespace, docs] of [...byNamespace].sort(([a], [b]) => a.localeCompare(b))) {
    const byName = new Map(docs.map((d) => [d.metadata.name, d]));
    const decision = selectRetained(
      docs.map((d) => ({ id: d.metadata.name, time: new Date(d.spec.startTime), ok: d.spec.phase === 'Succeeded' })),
      policy.retention,
      policy.schedule.timezone,
    );
    out.push({
      namespace,
      policy: policy.name,
      keep: decision.keep.map((k) => ({ name: k.id, reasons: k.reasons })),
      expire: decision.expire.map((id) => byName.get(id)!),
    });
  }
  return out;
}
