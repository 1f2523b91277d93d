import type { CatalogEntry } from '../catalog/index.ts';
import type { PointFacts } from '../catalog/retention.ts';
import { RestoreError } from './errors.ts';

export interface RestorePointQuery {
  /** A restore point name, or `latest`. */
  ref: string;
  policy?: string;
  namespace?: string;
  /** Newest restore point that started at or before this instant. */
  before?: Date;
}

/**
 * Picks the restore point a request names, from the catalog's restore points (oldest first). Only Succeeded points
 * are candidates for `latest`/`--before`: a partially failed backup is restorable by name, but never chosen silently.
 */
export function selectRestorePoint<T extends PointFacts>(points: readonly CatalogEntry<T>[], q: RestorePointQuery): CatalogEntry<T> {
  if (q.ref !== 'latest' && !q.before) {
    const hit = points.filter((p) => p.doc.metadata.name === q.ref && (!q.namespace || p.doc.spec.namespace === q.namespace) && (!q.policy || p.doc.spec.policy === q.policy));
    if (hit.length === 1) return hit[0]!;
    if (hit.length > 1) throw new RestoreError('E_RESTORE_POINT', `restore point "${q.ref}" exists in ${hit.map((h) => `${h.doc.spec.namespace}/${h.doc.spec.policy}`).join(', ')}; add --namespace or --policy`);
    throw new RestoreError('E_RESTORE_POINT', `restore point "${q.ref}" not found in the catalog${q.namespace ? ` for namespace ${q.namespace}` : ''} (see coffer restorepoints)`);
  }
  const candidates = points.filter(
    (p) =>
      p.doc.spec.phase === 'Succeeded' &&
      (!q.namespace || p.doc.spec.namespace === q.namespace) &&
      (!q.policy || p.doc.spec.policy === q.policy) &&
      (!q.before || Date.parse(p.doc.spec.startTime) <= q.before.getTime()),
  );
  const what = `${q.namespace ? `namespace ${q.namespace}` : 'any namespace'}${q.policy ? `, policy ${q.policy}` : ''}${q.before ? `, before ${q.before.toISOString()}` : ''}`;
  if (!candidates.length) throw new RestoreError('E_RESTORE_POINT', `no successful restore point for ${what}`);
  const namespaces = new Set(candidates.map((c) => c.doc.spec.namespace));
  if (namespaces.size > 1) throw new RestoreError('E_RESTORE_POINT', `restore points of several namespaces match (${[...namespaces].sort().join(', ')}); add --namespace`);
  return [...candidates].sort((a, b) => a.doc.spec.startTime.localeCompare(b.doc.spec.startTime) || a.doc.metadata.name.localeCompare(b.doc.metadata.name)).at(-1)!;
}

/** `2026-11-20T10:00Z`, `2026-11-20T10:00:00+01:00` or a date (midnight UTC). */
export function parseBefore(s: string): Date {
  const v = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$/.test(s) ? s.replace(/(Z|[+-]\d{2}:\d{2})$/, ':00$1') : s;
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(s) || Number.isNaN(t)) throw new RestoreError('E_RESTORE_ARGS', `--before "${s}": expected an RFC 3339 time such as 2026-11-20T10:00Z`);
  return new Date(t);
}
