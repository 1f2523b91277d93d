import { canonicalize } from '../plan/canonical.ts';
import { formatDiagnostic } from '../diagnostics.ts';
import type { EntryChange, Risk } from '../diff/types.ts';
import type { Plan } from '../plan/types.ts';
import { humanSeconds } from '../schedule/index.ts';
import type { NamespaceSelection } from './selection.ts';
import type { CompileReport } from './session.ts';

export interface RenderOptions {
  /** ANSI colours (a terminal without NO_COLOR). */
  color: boolean;
  /** Show the time in this IANA zone (default: the machine's). */
  timeZone?: string;
}

const ANSI = { red: 31, green: 32, yellow: 33, dim: 2 } as const;

/**
 * One compile as terminal text: a header with sequence, time, trigger and duration, then the full plan summary
 * (first good compile), the diff with its risks against the last good plan, "no change to the plan", or the
 * errors with file:line:col. Deterministic for a given report (the clock is in the report), so it is golden-testable.
 */
export function renderReport(r: CompileReport, o: RenderOptions): string {
  const c = (code: keyof typeof ANSI, s: string) => (o.color ? `\x1b[${ANSI[code]}m${s}\x1b[0m` : s);
  const out: string[] = [];
  const time = new Date(r.time).toLocaleTimeString('en-GB', { hour12: false, ...(o.timeZone ? { timeZone: o.timeZone } : {}) });
  const trigger = r.files.length ? describeChanges(r.files) : 'start';
  out.push(c('dim', `── #${r.seq} · ${time} · ${trigger} · ${r.durationMs} ms`));
  const from = r.baseline ? (r.baseline.seq ? `#${r.baseline.seq}` : 'the starting baseline') : '';
  const baseline = r.baseline ? `${from}, plan ${short(r.baseline.hash)}` : '';
  switch (r.status) {
    case 'error': {
      out.push(c('red', `✗ ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}: not compiled`) + (baseline ? c('dim', ` — the baseline stays the last good plan (${baseline})`) : ''));
      for (const e of r.errors) out.push(`  ${e.file ? `${c('red', `${e.file}:${e.line}:${e.column}:`)} ${e.message}` : `${c('red', `${e.code}:`)} ${e.message}`}`);
      break;
    }
    case 'initial':
      out.push(c('green', `✓ plan ${short(r.plan!.hash)}`) + ` ${planCounts(r.plan!)}`, ...planSummary(r.plan!, r.namespaces).map((l) => `  ${l}`));
      break;
    case 'unchanged':
      out.push(c('green', '✓ no change to the plan') + c('dim', ` (plan ${short(r.plan!.hash)}, as in ${from})`));
      break;
    case 'changed': {
      const d = r.diff!;
      const high = d.risks.filter((x) => x.severity === 'high').length;
      const summary = `${d.changes.length} change${d.changes.length === 1 ? '' : 's'}${d.risks.length ? `, ${d.risks.length} risk${d.risks.length === 1 ? '' : 's'}${high ? ` (${high} high)` : ''}` : ''}`;
      out.push(`${c(high ? 'red' : d.risks.length ? 'yellow' : 'green', `✓ plan changed: ${summary}`)}${c('dim', ` — plan ${short(d.base.hash)} → ${short(d.head.hash)}, against the last good plan (${from})`)}`);
      if (d.risks.length) {
        out.push('  Risks:');
        for (const k of d.risks) out.push(`    ${riskLabel(k, c)} ${k.kind} ${k.name}: ${k.message} ${c('dim', `[${k.code}]`)}`);
      }
      out.push('  Changes:');
      for (const ch of d.changes) out.push(...changeLines(ch, c));
      if (r.namespaces?.length) {
        out.push('  Namespaces selected on the cluster:');
        for (const n of r.namespaces) {
          const delta = [...n.added.map((x) => c('green', `+${x}`)), ...n.removed.map((x) => c('red', `-${x}`))].join(' ');
          const lost = n.removed.length ? c('red', ` (${n.removed.join(', ')} stop${n.removed.length === 1 ? 's' : ''} being protected by ${n.policy})`) : '';
          out.push(`    ${n.policy}: ${delta} → ${n.selected.join(', ') || '(none)'}${lost}`);
        }
      } else if (r.namespaces && d.changes.some((ch) => ch.kind === 'Policy' && (ch.change !== 'changed' || ch.fields.some((f) => f.path.startsWith('selector.'))))) {
        out.push(c('dim', '  Namespaces selected on the cluster: unchanged'));
      }
      break;
    }
  }
  if (r.namespacesError) out.push(`  ${c('yellow', 'warning')} cluster: ${r.namespacesError}`);
  for (const w of r.warnings) out.push(`  ${c('yellow', 'warning')} ${formatDiagnostic({ ...w, severity: 'error' })}`);
  return `${out.join('\n')}\n`;
}

/** The JSON line for one compile (`--output json`): the plan as its hash and counts, the diff as `plan --diff -o json`. */
export function reportJson(r: CompileReport): string {
  const body = {
    seq: r.seq,
    time: r.time,
    durationMs: r.durationMs,
    status: r.status,
    files: r.files,
    ...(r.baseline ? { baseline: r.baseline } : {}),
    ...(r.plan ? { plan: { hash: r.plan.hash, cluster: r.plan.config.cluster, policies: r.plan.policies.map((p) => p.name), profiles: r.plan.profiles.length, blueprints: r.plan.blueprints.length, transformSets: r.plan.transformSets.length, restores: r.plan.restores.length } } : {}),
    ...(r.diff ? { diff: { base: r.diff.base, head: r.diff.head, changes: r.diff.changes, risks: r.diff.risks } } : {}),
    errors: r.errors,
    warnings: r.warnings,
    ...(r.namespaces ? { namespaces: r.namespaces } : {}),
    ...(r.namespacesError ? { namespacesError: r.namespacesError } : {}),
  };
  return `${JSON.stringify(canonicalize(body))}\n`;
}

function describeChanges(changes: CompileReport['files']): string {
  const verb = { add: 'added', change: 'changed', unlink: 'deleted', addDir: 'created', unlinkDir: 'removed' } as const;
  const first = changes.slice(0, 2).map((x) => `${x.path} ${verb[x.event]}`);
  return `${first.join(', ')}${changes.length > 2 ? ` and ${changes.length - 2} more` : ''}`;
}

function planCounts(p: Plan): string {
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
  return `cluster ${p.config.cluster} · ${n(p.policies.length, 'policy').replace('policys', 'policies')}, ${n(p.profiles.length, 'profile')}, ${n(p.blueprints.length, 'blueprint')}, ${n(p.transformSets.length, 'transform set')}, ${n(p.restores.length, 'restore')}`;
}

function planSummary(p: Plan, namespaces?: NamespaceSelection[]): string[] {
  if (!p.policies.length) return ['no policies'];
  const selected = namespaces && new Map(namespaces.map((n) => [n.policy, n.selected]));
  const rows = [['POLICY', 'FREQUENCY', 'RPO', 'RETENTION h/d/w/m/y', 'PROFILE', 'BLUEPRINTS', ...(selected ? ['NAMESPACES'] : [])]];
  for (const x of p.policies) {
    const r = x.retention;
    rows.push([
      x.name + (x.paused ? ' (paused)' : ''),
      `${x.schedule.source}${x.schedule.window ? ` [${x.schedule.window.start}-${x.schedule.window.end}]` : ''} ${x.schedule.timezone}`,
      humanSeconds(x.schedule.maxIntervalSeconds),
      `${r.hourly}/${r.daily}/${r.weekly}/${r.monthly}/${r.yearly}`,
      x.profile,
      x.blueprints.map((b) => b.blueprint).join(',') || '-',
      ...(selected ? [selected.get(x.name)?.join(',') || '(none)'] : []),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

type Paint = (code: keyof typeof ANSI, s: string) => string;

function riskLabel(r: Risk, c: Paint): string {
  return r.severity === 'high' ? c('red', 'HIGH  ') : c('yellow', 'MEDIUM');
}

function changeLines(ch: EntryChange, c: Paint): string[] {
  const mark = ch.change === 'added' ? c('green', '+') : ch.change === 'removed' ? c('red', '-') : c('yellow', '~');
  const lines = [`    ${mark} ${ch.kind} ${ch.name}${ch.change === 'changed' ? '' : ` ${ch.change}`}`];
  for (const f of ch.fields) lines.push(`        ${f.path}: ${value(f.before)} → ${value(f.after)}`);
  return lines;
}

function value(v: unknown): string {
  if (v === undefined) return '(none)';
  const s = (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)).replace(/\s+/g, ' ');
  return s.length > 100 ? `${s.slice(0, 97)}...` : s;
}

function short(hash: string): string {
  return hash ? hash.replace(/^sha256:/, '').slice(0, 12) : '(none)';
}
