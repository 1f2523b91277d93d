/**
 * Where everything Coffer writes lives in the catalog branch. One file per restore point and per run, so concurrent
 * writers (replicas, clusters sharing a repository) change distinct paths and their commits rebase without conflict.
 *
 *   <catalogDir>/<cluster>/<namespace>/<policy>/<restorepoint>.yaml   RestorePoint
 *   runs/<cluster>/<yyyy-mm-dd>/<run-id>.yaml                          Run (append-only, one per run)
 *   runs/<cluster>/latest/<namespace>/<policy>.yaml                    LastRun (overwritten; read by the scheduler)
 */
export interface Layout {
  catalogDir: string;
  runsDir: string;
}

export const DEFAULT_LAYOUT: Layout = { catalogDir: 'catalog', runsDir: 'runs' };

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Path segments come from cluster, namespace and policy names; anything that could escape the layout is refused. */
export function checkSegment(what: string, value: string): string {
  if (!SEGMENT.test(value) || value.length > 253) throw new CatalogPathError(`${what} "${value}" cannot be used in a catalog path`);
  return value;
}

export class CatalogPathError extends Error {
  readonly code = 'E_CATALOG_PATH';
}

export function restorePointPath(l: Layout, cluster: string, namespace: string, policy: string, name: string): string {
  return `${l.catalogDir}/${checkSegment('cluster', cluster)}/${checkSegment('namespace', namespace)}/${checkSegment('policy', policy)}/${checkSegment('restore point', name)}.yaml`;
}

export function runPath(l: Layout, cluster: string, startTime: string, runId: string): string {
  const day = startTime.slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new CatalogPathError(`run start time "${startTime}" is not RFC 3339`);
  return `${l.runsDir}/${checkSegment('cluster', cluster)}/${day}/${checkSegment('run', runId)}.yaml`;
}

export function lastRunPath(l: Layout, cluster: string, namespace: string, policy: string): string {
  return `${l.runsDir}/${checkSegment('cluster', cluster)}/latest/${checkSegment('namespace', namespace)}/${checkSegment('policy', policy)}.yaml`;
}

/** `2026-11-24T01:00:00.000Z` → `20261124-010000`: sortable, and valid in a DNS-1123 subdomain. */
export function compactTime(t: Date): string {
  return t.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '').replace('T', '-');
}

/** Restore point names sort by time within a (namespace, policy) directory: `<policy>-<yyyymmdd>-<hhmmss>`. */
export function restorePointName(policy: string, startTime: Date): string {
  return `${policy}-${compactTime(startTime)}`;
}

/** Run ids are unique across replicas (random suffix) and sort by start time. */
export function runId(type: string, startTime: Date, random: string): string {
  return `${type}-${compactTime(startTime)}-${random}`;
}
