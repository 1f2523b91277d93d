import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import { DevSession, renderReport, reportJson, selectionChanges, type CompileReport } from '../../compiler/watch/index.ts';
import { BASE, compileTexts } from './helpers.ts';

const T = new Date('2026-11-25T12:00:00Z');
const withPolicy = (body: string) => ({ ...BASE, 'policy.yaml': BASE['policy.yaml']!.replace('    daily: 7\n', body) });
const REPOS = {
  good: BASE,
  retentionCut: withPolicy('    daily: 3\n'),
  retentionUp: withPolicy('    daily: 14\n'),
  yamlError: withPolicy('    daily: [7\n'),
  weeklyAdded: withPolicy('    daily: 7\n    weekly: 4\n'),
};

type Repo = keyof typeof REPOS;
interface Case {
  name: string;
  /** Compiles in order; `gone` is a source that cannot be read (directory deleted). */
  sequence: Array<Repo | 'gone'>;
  /** Per compile: status, and the baseline seq it was compared with. */
  expect: Array<{ status: CompileReport['status']; baselineSeq?: number; fields?: string[]; risks?: string[]; errorAt?: string }>;
}

const CASES: Case[] = [
  { name: 'first compile prints the plan whole', sequence: ['good'], expect: [{ status: 'initial' }] },
  { name: 'a save that changes nothing', sequence: ['good', 'good'], expect: [{ status: 'initial' }, { status: 'unchanged', baselineSeq: 1 }] },
  {
    name: 'retention cut: the diff line and its high risk',
    sequence: ['good', 'retentionCut'],
    expect: [{ status: 'initial' }, { status: 'changed', baselineSeq: 1, fields: ['retention.daily: 7 → 3'], risks: ['high retention-reduced'] }],
  },
  { name: 'retention raised: a change without risk', sequence: ['good', 'retentionUp'], expect: [{ status: 'initial' }, { status: 'changed', baselineSeq: 1, fields: ['retention.daily: 7 → 14'], risks: [] }] },
  {
    name: 'a YAML error keeps the baseline; the fix is diffed against the plan before the typo',
    sequence: ['good', 'retentionCut', 'yamlError', 'yamlError', 'weeklyAdded'],
    expect: [
      { status: 'initial' },
      { status: 'changed', baselineSeq: 1, fields: ['retention.daily: 7 → 3'] },
      { status: 'error', baselineSeq: 2, errorAt: 'policy.yaml:8:12' },
      { status: 'error', baselineSeq: 2, errorAt: 'policy.yaml:8:12' },
      { status: 'changed', baselineSeq: 2, fields: ['retention.daily: 3 → 7', 'retention.weekly: 0 → 4'], risks: [] },
    ],
  },
  {
    name: 'broken from the start: the first good compile is the initial plan',
    sequence: ['yamlError', 'good', 'good'],
    expect: [{ status: 'error', errorAt: 'policy.yaml:8:12' }, { status: 'initial' }, { status: 'unchanged', baselineSeq: 2 }],
  },
  {
    name: 'directory deleted and restored',
    sequence: ['good', 'gone', 'good'],
    expect: [{ status: 'initial' }, { status: 'error', baselineSeq: 1 }, { status: 'unchanged', baselineSeq: 1 }],
  },
];

const GONE: Diagnostic = { code: 'E_SOURCE', severity: 'error', message: 'repo: no such directory', file: '', line: 0, column: 0, path: '' };

describe('DevSession: each compile against the last good plan', () => {
  it.each(CASES)('$name', (c) => {
    const s = new DevSession();
    const reports = c.sequence.map((repo, i) =>
      s.step({ ...(repo === 'gone' ? { failure: GONE } : { result: compileTexts(REPOS[repo]) }), files: [{ event: 'change', path: 'policy.yaml' }], time: new Date(T.getTime() + i * 1000), durationMs: 5 }),
    );
    expect(reports.map((r) => r.seq)).toEqual(c.sequence.map((_, i) => i + 1));
    reports.forEach((r, i) => {
      const e = c.expect[i]!;
      expect(r.status, `compile #${i + 1}`).toBe(e.status);
      expect(r.baseline?.seq, `compile #${i + 1} baseline`).toBe(e.baselineSeq);
      if (e.fields) expect(r.diff!.changes.flatMap((ch) => ch.fields.map((f) => `${f.path}: ${f.before} → ${f.after}`))).toEqual(e.fields);
      if (e.risks) expect(r.diff!.risks.map((k) => `${k.severity} ${k.code}`)).toEqual(e.risks);
      if (e.errorAt) expect(r.errors.map((d) => `${d.file}:${d.line}:${d.column}`)).toContain(e.errorAt);
      if (r.status === 'error') expect(r.plan).toBeUndefined();
      else expect(r.plan?.hash).toMatch(/^sha256:/);
    });
  });

  it('starts from a given baseline (coffer dev --base REF): the first compile is a diff', () => {
    const s = new DevSession(compileTexts(REPOS.good).plan);
    const r = s.step({ result: compileTexts(REPOS.retentionCut), files: [], time: T, durationMs: 1 });
    expect(r.status).toBe('changed');
    expect(r.baseline?.seq).toBe(0);
    expect(r.diff!.risks[0]!.code).toBe('retention-reduced');
  });

  it('the diff is the one coffer plan --diff computes (same base and head hashes)', () => {
    const s = new DevSession();
    const a = s.step({ result: compileTexts(REPOS.good), files: [], time: T, durationMs: 1 });
    const b = s.step({ result: compileTexts(REPOS.retentionCut), files: [], time: T, durationMs: 1 });
    expect(b.diff!.base.hash).toBe(a.plan!.hash);
    expect(b.diff!.head.hash).toBe(b.plan!.hash);
  });
});

describe('rendering one compile', () => {
  const run = (...repos: Repo[]) => {
    const s = new DevSession();
    return repos.map((repo, i) => s.step({ result: compileTexts(REPOS[repo]), files: i ? [{ event: 'change', path: 'policy.yaml' }] : [], time: new Date(T.getTime() + i * 1000), durationMs: 12 }));
  };

  it('text: header with time and trigger, risk line, field line, errors with file:line:col', () => {
    const [first, cut, broken, fixed] = run('good', 'retentionCut', 'yamlError', 'retentionCut');
    const o = { color: false, timeZone: 'UTC' };
    const initial = renderReport(first!, o);
    expect(initial).toContain('── #1 · 12:00:00 · start · 12 ms');
    expect(initial).toMatch(/✓ plan [0-9a-f]{12} cluster test · 1 policy, 1 profile, 1 blueprint/);
    expect(initial).toMatch(/db\s+@daily UTC\s+1d\s+0\/7\/0\/0\/0\s+fs\s+bp/);
    const diff = renderReport(cut!, o);
    expect(diff).toContain('── #2 · 12:00:01 · policy.yaml changed · 12 ms');
    expect(diff).toContain('✓ plan changed: 1 change, 1 risk (1 high)');
    expect(diff).toMatch(/HIGH\s+Policy db: retention\.daily reduced 7 → 3.*\[retention-reduced\]/);
    expect(diff).toContain('~ Policy db\n        retention.daily: 7 → 3');
    const err = renderReport(broken!, o);
    expect(err).toContain('✗ 1 error: not compiled — the baseline stays the last good plan (#2, plan');
    expect(err).toMatch(/ {2}policy\.yaml:8:12: \S/);
    expect(renderReport(fixed!, o)).toContain('✓ no change to the plan');
    expect(initial + diff + err).not.toContain('\x1b[');
    expect(renderReport(cut!, { ...o, color: true })).toContain('\x1b[31mHIGH');
  });

  it('json: one line per compile, the diff shaped like plan --diff -o json', () => {
    const reports = run('good', 'retentionCut', 'yamlError');
    const lines = reports.map(reportJson);
    for (const l of lines) expect(l.endsWith('\n') && !l.slice(0, -1).includes('\n')).toBe(true);
    const [a, b, c] = lines.map((l) => JSON.parse(l));
    expect(a).toMatchObject({ seq: 1, status: 'initial', plan: { cluster: 'test', policies: ['db'] }, errors: [] });
    expect(b).toMatchObject({ seq: 2, status: 'changed', baseline: { seq: 1 }, diff: { risks: [{ severity: 'high', code: 'retention-reduced', kind: 'Policy', name: 'db' }] } });
    expect(b.diff.changes[0].fields).toEqual([{ path: 'retention.daily', before: 7, after: 3 }]);
    expect(c).toMatchObject({ seq: 3, status: 'error', baseline: { seq: 2, hash: b.plan.hash } });
    expect(c.errors[0]).toMatchObject({ code: 'E_YAML', file: 'policy.yaml', line: 8, column: 12 });
    expect(c.plan).toBeUndefined();
  });
});

describe('selectionChanges: what a selector edit does on the cluster', () => {
  const m = (o: Record<string, string[]>) => new Map(Object.entries(o));
  it.each([
    { name: 'first plan: every policy with what it selects', before: undefined, after: m({ db: ['shop', 'billing'], web: [] }), want: [{ policy: 'db', selected: ['billing', 'shop'], added: [], removed: [] }, { policy: 'web', selected: [], added: [], removed: [] }] },
    { name: 'no selection change: nothing', before: m({ db: ['shop'] }), after: m({ db: ['shop'] }), want: [] },
    { name: 'narrowed: the dropped namespace is removed', before: m({ db: ['billing', 'shop'] }), after: m({ db: ['shop'] }), want: [{ policy: 'db', selected: ['shop'], added: [], removed: ['billing'] }] },
    { name: 'widened and narrowed at once', before: m({ db: ['billing', 'shop'] }), after: m({ db: ['legacy', 'shop'] }), want: [{ policy: 'db', selected: ['legacy', 'shop'], added: ['legacy'], removed: ['billing'] }] },
    { name: 'policy removed: all it selected is removed', before: m({ db: ['shop'], old: ['legacy'] }), after: m({ db: ['shop'] }), want: [{ policy: 'old', selected: [], added: [], removed: ['legacy'] }] },
    { name: 'policy added: all it selects is added', before: m({}), after: m({ web: ['front'] }), want: [{ policy: 'web', selected: ['front'], added: ['front'], removed: [] }] },
  ])('$name', ({ before, after, want }) => {
    expect(selectionChanges(before, after)).toEqual(want);
  });

  it('renders the lost namespaces loudly, and the NAMESPACES column on the first plan', () => {
    const s = new DevSession();
    const first = s.step({ result: compileTexts(REPOS.good), files: [], time: T, durationMs: 1 });
    first.namespaces = selectionChanges(undefined, m({ db: ['billing', 'shop'] }));
    expect(renderReport(first, { color: false, timeZone: 'UTC' })).toMatch(/NAMESPACES\n\s+db .* billing,shop\n/);
    const next = s.step({ result: compileTexts({ ...REPOS.good, 'policy.yaml': REPOS.good['policy.yaml']!.replace('== "db"', '!= "billing"') }), files: [], time: T, durationMs: 1 });
    next.namespaces = selectionChanges(m({ db: ['billing', 'shop'] }), m({ db: ['legacy', 'shop'] }));
    const text = renderReport(next, { color: false, timeZone: 'UTC' });
    expect(text).toContain('  Namespaces selected on the cluster:\n    db: +legacy -billing → legacy, shop (billing stops being protected by db)');
    const failed = s.step({ result: compileTexts(REPOS.retentionCut), files: [], time: T, durationMs: 1 });
    failed.namespacesError = 'connect ECONNREFUSED 127.0.0.1:1';
    expect(renderReport(failed, { color: false })).toContain('  warning cluster: connect ECONNREFUSED 127.0.0.1:1');
    expect(JSON.parse(reportJson(failed))).toMatchObject({ namespacesError: 'connect ECONNREFUSED 127.0.0.1:1' });
  });
});
