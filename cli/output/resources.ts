import { formatBytes } from '../../reconciler/catalog/messages.ts';
import { age, duration } from '../../reconciler/catalog/open.ts';
import type { RestorePoint, RunRecord } from '../../reconciler/catalog/types.ts';
import type { RestorePointSummary } from '../../reconciler/catalog/summary.ts';
import type { VerificationResultDoc } from '../../reconciler/verify/result.ts';
import type { Column, ListSpec } from './printer.ts';

/** The columns of each listed kind, shared by `coffer get …` and its aliases so every verb prints them alike. */

/** A time without its fraction of a second (`….000Z` → `…Z`); what `replace(/\.\d+Z$/, 'Z')` does, without the regex. */
export function short(t: string | undefined): string {
  if (!t) return '-';
  const z = t.length - 1;
  if (t.charCodeAt(z) !== 90 /* Z */) return t;
  let i = z - 1;
  while (i >= 0 && t.charCodeAt(i) >= 48 && t.charCodeAt(i) <= 57) i--;
  return i < z - 1 && i >= 0 && t.charCodeAt(i) === 46 /* . */ ? `${t.slice(0, i)}Z` : t;
}

/** When an on-demand point stops being kept: `pinned`, its TTL expiry, or `-` (kept by the policy's retention). */
export function expiryOf(rp: Pick<RestorePoint['spec'], 'pinned' | 'expires'>): string {
  if (rp.pinned) return 'pinned';
  return rp.expires ? short(rp.expires) : '-';
}

/**
 * The default table, from the catalog index's summaries alone (no document is read, so listing 100,000 points stays
 * fast); `-o wide` reads the page's documents and prints `restorePointSpec`.
 */
export function restorePointSummarySpec(now: Date, allClusters: boolean): ListSpec<RestorePointSummary> {
  const cols: Column<RestorePointSummary>[] = [
    ...(allClusters ? [{ header: 'CLUSTER', value: (rp: RestorePointSummary) => rp.cluster }] : []),
    { header: 'NAMESPACE', value: (rp) => rp.namespace },
    { header: 'POLICY', value: (rp) => rp.policy },
    { header: 'NAME', value: (rp) => rp.name },
    { header: 'PHASE', value: (rp) => rp.phase },
    { header: 'VOLUMES', value: (rp) => String(rp.volumes) },
    { header: 'SIZE', value: (rp) => formatBytes(rp.bytes) },
    { header: 'EXPIRES', value: expiryOf },
    { header: 'STARTED', value: (rp) => short(rp.startTime) },
    { header: 'AGE', value: (rp) => age(rp.endTime ?? rp.startTime, now) },
  ];
  return { resource: 'restorepoint', listKind: 'RestorePointList', name: (rp) => rp.name, columns: cols };
}

export function restorePointSpec(now: Date, allClusters: boolean): ListSpec<RestorePoint> {
  const cols: Column<RestorePoint>[] = [
    ...(allClusters ? [{ header: 'CLUSTER', value: (rp: RestorePoint) => rp.spec.cluster }] : []),
    { header: 'NAMESPACE', value: (rp) => rp.spec.namespace },
    { header: 'POLICY', value: (rp) => rp.spec.policy },
    { header: 'NAME', value: (rp) => rp.metadata.name },
    { header: 'PHASE', value: (rp) => rp.spec.phase },
    { header: 'VOLUMES', value: (rp) => String(rp.spec.volumes?.length ?? 0) },
    { header: 'SIZE', value: (rp) => formatBytes(rp.spec.stats?.bytesRead ?? (rp.spec.volumes ?? []).reduce((s, x) => s + (x.sizeBytes ?? 0), 0)) },
    { header: 'TRIGGER', value: (rp) => rp.spec.trigger ?? 'schedule', wide: true },
    { header: 'KEPT BY', value: (rp) => (rp.spec.retentionTiers?.length ? rp.spec.retentionTiers.join(',') : '-'), wide: true },
    { header: 'EXPIRES', value: (rp) => expiryOf(rp.spec) },
    { header: 'COMMIT', value: (rp) => rp.spec.sourceCommit.slice(0, 12) || '-', wide: true },
    { header: 'STARTED', value: (rp) => short(rp.spec.startTime) },
    { header: 'AGE', value: (rp) => age(rp.spec.endTime ?? rp.spec.startTime, now) },
  ];
  return { resource: 'restorepoint', listKind: 'RestorePointList', name: (rp) => rp.metadata.name, columns: cols };
}

export function runSpec(now: Date, allClusters: boolean): ListSpec<RunRecord> {
  const cols: Column<RunRecord>[] = [
    ...(allClusters ? [{ header: 'CLUSTER', value: (r: RunRecord) => r.spec.cluster }] : []),
    { header: 'RUN', value: (r) => r.metadata.name },
    { header: 'TYPE', value: (r) => r.spec.type },
    { header: 'NAMESPACE', value: (r) => r.spec.namespace ?? '-' },
    { header: 'POLICY', value: (r) => r.spec.policy ?? '-' },
    { header: 'TRIGGER', value: (r) => r.spec.trigger },
    { header: 'PHASE', value: (r) => r.status.phase },
    { header: 'DURATION', value: (r) => duration(r.status.startTime, r.status.endTime) },
    { header: 'SIZE', value: (r) => (r.status.bytes !== undefined ? formatBytes(r.status.bytes) : '-') },
    { header: 'STARTED', value: (r) => short(r.status.startTime), wide: true },
    { header: 'COMMIT', value: (r) => r.spec.sourceCommit?.slice(0, 12) ?? '-', wide: true },
    { header: 'AGE', value: (r) => age(r.status.startTime, now) },
    {
      header: 'RESULT',
      value: (r) => (r.status.error ? r.status.error.split('\n')[0]!.slice(0, 80) : (r.status.restorePoint ?? (r.status.expired ? `expired ${r.status.expired.length}` : ''))),
    },
  ];
  return { resource: 'run', listKind: 'RunList', name: (r) => r.metadata.name, columns: cols };
}

/** Restore verifications (`coffer dr verify`): what was restored, the verdict, the RTO, integrity and checks passed. */
export function verificationSpec(): ListSpec<VerificationResultDoc> {
  const passed = (xs: { result: string }[] | undefined) => (xs?.length ? `${xs.filter((x) => x.result === 'Passed').length}/${xs.length}` : '<none>');
  const cols: Column<VerificationResultDoc>[] = [
    { header: 'NAMESPACE', value: (v) => v.spec.namespace },
    { header: 'POLICY', value: (v) => v.spec.policy },
    { header: 'NAME', value: (v) => v.metadata.name },
    { header: 'RESTORE POINT', value: (v) => v.spec.restorePoint || '<none>' },
    { header: 'PHASE', value: (v) => v.spec.phase },
    { header: 'RTO', value: (v) => (v.spec.rtoSeconds === undefined ? '<none>' : `${v.spec.rtoSeconds}s`) },
    { header: 'INTEGRITY', value: (v) => passed(v.spec.integrity) },
    { header: 'CHECKS', value: (v) => passed(v.spec.checks) },
    { header: 'TRIGGER', value: (v) => v.spec.trigger, wide: true },
    { header: 'SCRATCH NAMESPACE', value: (v) => `${v.spec.scratchNamespace}${v.spec.scratchDeleted ? ' (deleted)' : ' (NOT deleted)'}`, wide: true },
    { header: 'STARTED', value: (v) => short(v.spec.startTime), wide: true },
  ];
  return { resource: 'verificationresult', listKind: 'VerificationResultList', name: (v) => v.metadata.name, columns: cols };
}
