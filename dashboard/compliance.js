import { badge, fill, h, scroller } from './dom.js';

const RANK = { fail: 0, error: 1, warn: 2, skip: 3, pass: 4 };
const SEVERITY = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

/** Worst first: fail, error, warn, skip, pass; then severity, namespace, policy, rule. */
export function worstFirst(results) {
  const ns = (r) => r.resources?.[0]?.name ?? '';
  return [...results].sort(
    (a, b) =>
      (RANK[a.result] ?? 5) - (RANK[b.result] ?? 5) ||
      (SEVERITY[a.severity] ?? 5) - (SEVERITY[b.severity] ?? 5) ||
      ns(a).localeCompare(ns(b)) ||
      a.policy.localeCompare(b.policy) ||
      a.rule.localeCompare(b.rule),
  );
}

export function renderCompliance(el, report) {
  if (!report?.spec) return fill(el, h('p', { class: 'empty' }, 'No compliance report yet: it is written after the first reconcile.'));
  const sum = report.spec.summary;
  const results = worstFirst(report.spec.results ?? []);
  return fill(
    el,
    h(
      'div',
      { class: 'summary', id: 'compliance-summary' },
      ['fail', 'error', 'warn', 'skip', 'pass'].map((k) => h('span', { class: `count count-${k}`, dataset: { result: k } }, h('strong', {}, String(sum[k] ?? 0)), ` ${k}`)),
      h('span', { class: 'muted' }, ` evaluated ${report.spec.generatedAt ? new Date(report.spec.generatedAt).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '—'}`),
    ),
    results.length
      ? scroller(h(
          'table',
          { class: 'grid', id: 'compliance-table' },
          h('thead', {}, h('tr', {}, ['result', 'namespace', 'policy', 'rule', 'severity', 'reason'].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            results.map((r) =>
              h(
                'tr',
                { class: `row-${RANK[r.result] !== undefined ? r.result : 'skip'}`, dataset: { result: r.result } },
                h('td', {}, badge(r.result, r.result)),
                h('td', {}, r.resources?.map((x) => x.name).join(', ') || '—'),
                h('td', {}, r.policy),
                h('td', {}, r.rule),
                h('td', {}, r.severity ?? ''),
                h('td', { class: 'message' }, r.message),
              ),
            ),
          ),
        ), 'Compliance results')
      : h('p', { class: 'empty' }, 'No rules evaluated: no policy selects a namespace yet. Add a policy whose selector picks a namespace.'),
  );
}
