import { formatBytes } from '../../reconciler/catalog/messages.ts';
import { duration } from '../../reconciler/catalog/open.ts';
import type { RestorePoint, RunRecord } from '../../reconciler/catalog/types.ts';
import type { RestoreResultDoc } from '../../reconciler/restore/result.ts';
import { formatTable } from './printer.ts';

/**
 * `coffer describe` text, shaped like kubectl describe: `Label:  value` lines with the values in one column, then
 * indented sections. Pure: everything shown comes from the recorded documents passed in.
 */
type Row = [string, string | undefined];

function fields(rows: Row[], indent = ''): string {
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined && r[1] !== '');
  const w = Math.max(0, ...shown.map(([k]) => k.length)) + 3; // two spaces after the longest label's colon
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(w)}${v}\n`).join('');
}

function section(title: string, body: string): string {
  return `${title}:\n${body || '  <none>\n'}`;
}

function indentTable(headers: string[], rows: string[][]): string {
  return rows.length ? formatTable(headers, rows).split('\n').map((l) => (l ? `  ${l}` : l)).join('\n') : '';
}

export type Hook = { blueprint: string; action: string; phase: string; func: string; workload?: string; phaseResult: string; startTime?: string; endTime?: string; output?: Record<string, string>; error?: string };

function hooks(list: unknown): string {
  const hs = (Array.isArray(list) ? list : []) as Hook[];
  return hs
    .map((h) => {
      const head = `  ${h.blueprint}/${h.action}/${h.phase} (${h.func}${h.workload ? ` on ${h.workload}` : ''}): ${h.phaseResult}${h.startTime ? `, ${duration(h.startTime, h.endTime)}` : ''}\n`;
      const out = Object.entries(h.output ?? {}).map(([k, v]) => `    output ${k}: ${v.includes('\n') ? `\n${v.replace(/^/gm, '      ')}` : v}\n`).join('');
      return head + out + (h.error ? `    error: ${h.error.replace(/\n/g, '\n      ')}\n` : '');
    })
    .join('');
}

const list = (xs: string[] | undefined) => (xs ?? []).map((e) => `  ${e.replace(/\n/g, '\n    ')}\n`).join('');

export function describeRestorePoint(rp: RestorePoint, runs: RunRecord[]): string {
  const s = rp.spec;
  const made = runs.find((r) => r.status.restorePoint === rp.metadata.name);
  let out = fields([
    ['Name', rp.metadata.name],
    ['Cluster', s.cluster],
    ['Namespace', s.namespace],
    ['Policy', s.policy],
    ['Phase', s.phase],
    ['Trigger', s.trigger ?? 'schedule'],
    ['Kept by', s.pinned ? 'pinned (until deleted)' : s.expires ? `TTL, expires ${s.expires}` : s.retentionTiers?.length ? `GFS ${s.retentionTiers.join(', ')}` : 'GFS retention of the policy'],
    ['Started', s.startTime],
    ['Ended', s.endTime],
    ['Duration', duration(s.startTime, s.endTime)],
    ['Policy commit', s.sourceCommit],
    ['Plan hash', s.planHash],
    ['Run', made?.metadata.name],
  ]);
  out += section('Repository', fields([
    ['Profile', s.repository.profile],
    ['Location', s.repository.location],
    ['ID', s.repository.id],
    ['Manifest snapshot', s.repository.manifestSnapshot],
  ], '  '));
  if (s.stats) out += section('Data', fields([['Read', s.stats.bytesRead !== undefined ? formatBytes(s.stats.bytesRead) : undefined], ['Added', s.stats.bytesAdded !== undefined ? formatBytes(s.stats.bytesAdded) : undefined], ['Seconds', s.stats.durationSeconds?.toString()]], '  '));
  out += section('Resources', indentTable(['KIND', 'API VERSION', 'COUNT', 'NAMES'], (s.resources ?? []).map((r) => [r.kind, r.apiVersion, String(r.count), r.names.slice(0, 5).join(', ') + (r.names.length > 5 ? `, … (${r.names.length - 5} more)` : '')])));
  out += section('Volumes', indentTable(['PVC', 'PHASE', 'SIZE', 'ADDED', 'SNAPSHOT', 'ERROR'], (s.volumes ?? []).map((v) => [v.pvc, v.phase, v.sizeBytes !== undefined ? formatBytes(v.sizeBytes) : (v.capacity ?? '-'), v.bytesAdded !== undefined ? formatBytes(v.bytesAdded) : '-', v.snapshotId?.slice(0, 12) ?? v.volumeSnapshot ?? '-', v.error ?? ''])));
  out += section('Hooks', hooks(s.hooks));
  if (s.artifacts && Object.keys(s.artifacts).length) out += section('Artifacts', Object.entries(s.artifacts).map(([k, kv]) => `  ${k}: ${Object.entries(kv).map(([a, b]) => `${a}=${b}`).join(' ')}\n`).join(''));
  out += section('Errors', list(s.errors));
  return out;
}

export function describeRun(r: RunRecord): string {
  let out = fields([
    ['Name', r.metadata.name],
    ['Type', r.spec.type],
    ['Cluster', r.spec.cluster],
    ['Namespace', r.spec.namespace],
    ['Policy', r.spec.policy],
    ['Restore', r.spec.restore],
    ['Trigger', r.spec.trigger],
    ['Scheduled for', r.spec.scheduledFor],
    ['Phase', r.status.phase],
    ['Started', r.status.startTime],
    ['Ended', r.status.endTime],
    ['Duration', duration(r.status.startTime, r.status.endTime)],
    ['Policy commit', r.spec.sourceCommit],
    ['Plan hash', r.spec.planHash],
    ['Restore point', r.status.restorePoint],
    ['Volumes', r.status.volumes?.toString()],
    ['Bytes', r.status.bytes !== undefined ? formatBytes(r.status.bytes) : undefined],
  ]);
  if (r.status.expired?.length) out += section('Expired restore points', list(r.status.expired));
  out += section('Error', r.status.error ? list([r.status.error]) : '');
  return out;
}

/** A restore result, with its Run (when found) for the run name and the log it kept. */
export function describeRestore(d: RestoreResultDoc, run?: RunRecord): string {
  const s = d.spec;
  let out = fields([
    ['Name', d.metadata.name],
    ['Restore', s.restore],
    ['Restore point', s.restorePoint],
    ['From', `${s.source.cluster ? `${s.source.cluster}/` : ''}${s.source.namespace} (policy ${s.source.policy})`],
    ['To', `${s.target.cluster ? `${s.target.cluster}/` : ''}${s.target.namespace}`],
    ['Phase', s.phase],
    ['Started', s.startTime],
    ['Ended', s.endTime],
    ['Duration', s.durationSeconds !== undefined ? `${s.durationSeconds}s` : duration(s.startTime, s.endTime)],
    ['Transforms', s.transforms?.join(', ')],
    ['Summary', `${s.summary.created} created, ${s.summary.updated} updated, ${s.summary.skipped} skipped, ${s.summary.failed} failed`],
    ['Run', run?.metadata.name],
  ]);
  const res = s.resources as Array<{ kind: string; name: string; namespace?: string; action: string; reason?: string; error?: string }>;
  out += section('Resources', indentTable(['KIND', 'NAME', 'ACTION', 'REASON'], res.map((r) => [r.kind, r.name, r.action, r.error ?? r.reason ?? ''])));
  out += section('Volumes', indentTable(['PVC', 'FROM', 'PHASE', 'RESTORED', 'ERROR'], (s.volumes ?? []).map((v) => [v.pvc, v.from ?? '-', v.phase, v.bytesRestored !== undefined ? formatBytes(v.bytesRestored) : '-', v.error ?? ''])));
  out += section('Hooks', hooks(s.hooks));
  out += section('Errors', list(s.errors));
  out += section('Log', list(run?.status.log));
  return out;
}
