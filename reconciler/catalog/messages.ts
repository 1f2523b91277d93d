import type { RestorePoint, RunRecord } from './types.ts';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
/** Up to here ten times a size is a safe integer (about 800 TiB): formatBytes's integer path is exact. */
const FAST_BYTES_MAX = Math.floor(Number.MAX_SAFE_INTEGER / 10);

/** Binary units, one decimal, like `kubectl top` and restic print them. */
export function formatBytes(n: number): string {
  // What `toFixed(1)` prints (round half up on the exact value), by integer arithmetic — a table formats each size
  // twice and toFixed was most of it: n / 1024^i is exact, so ten times n and a remainder decide the rounding.
  if (Number.isSafeInteger(n) && n >= 1024 && n <= FAST_BYTES_MAX) {
    let div = 1024;
    let i = 1;
    while (n >= div * 1024 && i < BYTE_UNITS.length - 1) {
      div *= 1024;
      i++;
    }
    const tenths = Math.floor((10 * n) / div) + ((10 * n) % div >= div / 2 ? 1 : 0);
    return `${Math.floor(tenths / 10)}.${tenths % 10} ${BYTE_UNITS[i]}`;
  }
  let v = n;
  let i = 0;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${BYTE_UNITS[i]}`;
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
