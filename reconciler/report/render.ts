import { namespaceOf, worstFirst } from './compliance.ts';
import type { ComplianceReport, ComplianceResult, ResultStatus, Rule } from './types.ts';

export const RULE_TITLES: Record<Rule, string> = {
  rpo: 'RPO met',
  'last-backup-succeeded': 'Last backup succeeded',
  retention: 'Retention honoured',
  'dr-drill': 'Last DR drill passed',
  'last-verified': 'Restore verified',
};

const ICONS: Record<ResultStatus, string> = { fail: '❌ fail', error: '⛔ error', warn: '⚠️ warn', pass: '✅ pass', skip: '⏭️ skip' };

/** `reports/compliance.md`: what a reviewer reads in the Git host's UI — the summary, then every result worst first. */
export function renderMarkdown(report: ComplianceReport): string {
  const s = report.spec;
  const lines = [
    `# Compliance report — cluster ${s.cluster}`,
    '',
    `Generated ${s.generatedAt} from plan \`${s.planHash.slice(0, 19)}\`${s.sourceCommit ? ` (policy commit \`${s.sourceCommit.slice(0, 12)}\`)` : ''}.`,
    '',
    `**${s.summary.fail} fail · ${s.summary.error} error · ${s.summary.warn} warn · ${s.summary.pass} pass · ${s.summary.skip} skip**`,
    '',
  ];
  if (!s.results.length) {
    lines.push('No protected namespaces: no policy selects any namespace.', '');
    return lines.join('\n');
  }
  lines.push('| Result | Severity | Namespace | Policy | Rule | Details |', '| --- | --- | --- | --- | --- | --- |');
  for (const r of [...s.results].sort(worstFirst)) {
    lines.push(`| ${ICONS[r.result]} | ${r.severity ?? ''} | ${cell(namespaceOf(r))} | ${cell(r.policy)} | ${RULE_TITLES[r.rule]} | ${cell(r.message)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Terminal table for `coffer report` on a TTY: worst first, one line per result. */
export function renderTable(report: ComplianceReport): string {
  const rows = [['RESULT', 'SEVERITY', 'NAMESPACE', 'POLICY', 'RULE', 'MESSAGE'], ...[...report.spec.results].sort(worstFirst).map((r: ComplianceResult) => [r.result.toUpperCase(), r.severity ?? '-', namespaceOf(r), r.policy, r.rule, r.message])];
  const widths = rows[0]!.slice(0, -1).map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const s = report.spec.summary;
  return `${rows.map((row) => row.map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c)).join('  ')).join('\n')}\n\n${s.fail} fail, ${s.error} error, ${s.warn} warn, ${s.pass} pass, ${s.skip} skip\n`;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
