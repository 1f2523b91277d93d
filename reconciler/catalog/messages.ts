import type { RestorePoint, RunRecord } from './types.ts';

/** Binary units, one decimal, like `kubectl top` and restic print them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `2026-11-24T01:00:00.000Z` → `2026-11-24T01:00Z` (minutes are what a schedule slot means). */
export function slotTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16)}Z`;
}

/**
 * The commit subject says what happened, so `git log --oneline` of the catalog branch reads as an audit trail:
 * `backup: shop/databases-daily 2026-11-24T01:00Z ok, 3 volumes, 1.2 GiB`.
 */
export function backupMessage(run: RunRecord, rp?: RestorePoint): string {
  const who = `${run.spec.namespace ?? '-'}/${run.spec.policy ?? '-'}`;
  const when = slotTime(run.spec.scheduledFor ?? run.status.startTime);
  if (run.status.phase === 'Succeeded' || run.status.phase === 'PartiallyFailed') {
    const volumes = rp?.spec.volumes?.length ?? run.status.volumes ?? 0;
    const bytes = rp?.spec.stats?.bytesRead ?? run.status.bytes ?? rp?.spec.volumes?.reduce((s, v) => s + (v.sizeBytes ?? 0), 0) ?? 0;
    const outcome = run.status.phase === 'Succeeded' ? 'ok' : 'partially failed';
    const subject = `backup: ${who} ${when} ${outcome}, ${volumes} volume${volumes === 1 ? '' : 's'}, ${formatBytes(bytes)}`;
    return rp ? `${subject}\n\nRestore-Point: ${rp.metadata.name}\nRun: ${run.metadata.name}\n` : subject;
  }
  const reason = (run.status.error ?? 'no error message').split('\n')[0]!.slice(0, 120);
  return `backup: ${who} ${when} ${run.status.phase === 'Cancelled' ? 'cancelled' : 'failed'}: ${reason}\n\nRun: ${run.metadata.name}\n${run.status.error && run.status.error.length > 120 ? `\n${run.status.error}\n` : ''}`;
}

export function expireMessage(namespace: string, policy: string, names: readonly string[]): string {
  const list = names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
  return `retention: ${namespace}/${policy} expired ${names.length} restore point${names.length === 1 ? '' : 's'} (${list})\n\n${names.map((n) => `Expired: ${n}`).join('\n')}\n`;
}
