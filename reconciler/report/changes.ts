import { namespaceOf } from './compliance.ts';
import type { ComplianceReport, ComplianceResult } from './types.ts';

export interface ComplianceChange {
  namespace: string;
  policy: string;
  rule: string;
  before?: Pick<ComplianceResult, 'result' | 'severity'>;
  after?: Pick<ComplianceResult, 'result' | 'severity'>;
  /** One phrase for the commit message: `shop/databases-daily RPO missed (last good 26h ago, RPO 1d)`. */
  text: string;
}

const key = (r: ComplianceResult) => `${namespaceOf(r)}\u0000${r.policy}\u0000${r.rule}`;

/**
 * What changed between two reports, by outcome only (result and severity per namespace, policy and rule). Ages and
 * timestamps move every minute and are deliberately not a change: a report is committed when compliance changes,
 * not when the clock does.
 */
export function complianceChanges(before: ComplianceReport | undefined, after: ComplianceReport): ComplianceChange[] {
  const old = new Map((before?.spec.results ?? []).map((r) => [key(r), r]));
  const now = new Map(after.spec.results.map((r) => [key(r), r]));
  const out: ComplianceChange[] = [];
  for (const [k, r] of now) {
    const o = old.get(k);
    if (o && o.result === r.result && o.severity === r.severity) continue;
    const pair = `${namespaceOf(r)}/${r.policy}`;
    out.push({
      namespace: namespaceOf(r),
      policy: r.policy,
      rule: r.rule,
      ...(o ? { before: { result: o.result, ...(o.severity ? { severity: o.severity } : {}) } } : {}),
      after: { result: r.result, ...(r.severity ? { severity: r.severity } : {}) },
      text: `${pair} ${r.message}`,
    });
  }
  for (const [k, o] of old) {
    if (now.has(k)) continue;
    out.push({ namespace: namespaceOf(o), policy: o.policy, rule: o.rule, before: { result: o.result, ...(o.severity ? { severity: o.severity } : {}) }, text: `${namespaceOf(o)}/${o.policy} ${o.rule} no longer evaluated (not protected)` });
  }
  // Worst news first in the subject line.
  const rank = (c: ComplianceChange) => ({ fail: 0, error: 1, warn: 2, pass: 3, skip: 4 })[c.after?.result ?? 'skip'] + (c.after ? 0 : 5);
  return out.sort((a, b) => rank(a) - rank(b) || a.namespace.localeCompare(b.namespace) || a.policy.localeCompare(b.policy) || a.rule.localeCompare(b.rule));
}

/** Commit message: the subject names the most important change; the body lists all of them and the new summary. */
export function complianceMessage(changes: readonly ComplianceChange[], report: ComplianceReport, first: boolean): string {
  const s = report.spec.summary;
  const summary = `${s.fail} fail, ${s.error} error, ${s.warn} warn, ${s.pass} pass, ${s.skip} skip`;
  const notable = changes.filter((c) => c.after?.result !== 'skip');
  const head = (notable.length ? notable : changes).slice(0, 1).map((c) => c.text);
  let subject: string;
  if (first) subject = `compliance: first report for cluster ${report.spec.cluster} (${summary})`;
  else subject = `compliance: ${head[0] ?? 'no results'}${changes.length > 1 ? ` (+${changes.length - 1} more)` : ''}`;
  const body = changes.map((c) => `- ${c.text}${c.before ? ` [${c.before.result} → ${c.after?.result ?? 'gone'}]` : ''}`);
  return `${subject}\n\n${body.join('\n')}${body.length ? '\n\n' : ''}Summary: ${summary}\nPlan: ${report.spec.planHash}\n`;
}
