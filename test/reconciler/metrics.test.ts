/**
 * Metrics fed from reconcile events, a summary over a real catalog branch and a compliance report; the exposition is
 * read back with a strict Prometheus text-format parser. The Grafana dashboard must reference only exported metrics,
 * and every exported Coffer metric must appear on it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { CofferMetrics, METRIC_NAMES } from '../../reconciler/metrics/index.ts';
import { parsePrometheusText, sampleValue, TextFormatError } from '../../reconciler/metrics/text-format.ts';
import type { ReconcileSummary } from '../../reconciler/reconcile.ts';
import { evaluateCompliance } from '../../reconciler/report/index.ts';
import { backup, failedRun } from './catalog-fixtures.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';
import { testPlan } from './report-fixtures.ts';

const T0 = new Date('2026-11-24T01:00:00Z');
let dir: string;
let catalog: Catalog;

beforeAll(async () => {
  dir = tempDir('metrics');
  const repo = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': 'kind: Config\n' });
  catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
});
afterAll(() => cleanup(dir));

describe('CofferMetrics', () => {
  it('exports runs, durations, bytes, restore points, last success and compliance with the values fed in', async () => {
    const m = new CofferMetrics();
    const a = backup({ namespace: 'shop', policy: 'databases-daily', start: T0, bytes: 1000 });
    const b = backup({ namespace: 'shop', policy: 'databases-daily', start: new Date(T0.getTime() + 86_400_000), bytes: 1000, suffix: 'second' });
    const failed = failedRun({ namespace: 'web', policy: 'databases-daily', start: T0, error: 'mover Job failed' });
    const outcomes = [];
    for (const x of [a, b]) {
      const run = { ...x.run, status: { ...x.run.status, restorePoint: x.rp.metadata.name } };
      outcomes.push({ run, restorePoint: x.rp, commit: await catalog.recordBackup(x.run, x.rp) });
    }
    outcomes.push({ run: failed, commit: await catalog.recordBackup(failed) });
    const plan = testPlan();
    m.observeEvent({ event: 'plan', commit: plan.sourceCommit, planHash: plan.hash, policies: 1 });
    m.observeEvent({ event: 'run-end', policy: 'databases-daily', namespace: 'shop', phase: 'Succeeded', restorePoint: a.rp.metadata.name, seconds: 12.5 });
    m.observeEvent({ event: 'run-end', policy: 'databases-daily', namespace: 'shop', phase: 'Succeeded', restorePoint: b.rp.metadata.name, seconds: 700 });
    m.observeEvent({ event: 'run-end', policy: 'databases-daily', namespace: 'web', phase: 'Failed', error: 'mover Job failed', seconds: 3 });
    m.observeEvent({ event: 'expired', policy: 'databases-daily', namespace: 'shop', restorePoints: ['x', 'y'], snapshotsForgotten: 4 });
    m.observeEvent({ event: 'restore-end', restore: 'shop-to-staging', phase: 'Failed' });
    const summary: ReconcileSummary = { commit: plan.sourceCommit, plan, due: [], runs: outcomes, restores: [], verifications: [], verifyPairs: [], expired: [], errors: [], catalog };
    await m.observeSummary(summary, new Date('2026-11-25T02:00:00Z'));
    const report = evaluateCompliance({ plan, selected: new Map([['databases-daily', ['shop', 'web']]]), restorePoints: (await catalog.readRestorePoints()).map((e) => e.doc), runs: await catalog.readRuns(), lastRuns: await catalog.latestRuns(), now: new Date('2026-11-25T02:00:00Z') });
    m.observeCompliance(report);
    m.observeEvent({ event: 'plan', commit: plan.sourceCommit, planHash: plan.hash, policies: 1 });
    m.observeReconcileError(Object.assign(new Error('push refused'), { code: 'E_GIT_AUTH' }));

    const f = parsePrometheusText(await m.metrics());
    const shop = { policy: 'databases-daily', namespace: 'shop' };
    expect(sampleValue(f, 'coffer_backup_runs_total', { ...shop, result: 'succeeded' })).toBe(2);
    expect(sampleValue(f, 'coffer_backup_runs_total', { namespace: 'web', result: 'failed' })).toBe(1);
    expect(sampleValue(f, 'coffer_backup_run_duration_seconds_count', shop)).toBe(2);
    expect(sampleValue(f, 'coffer_backup_run_duration_seconds_sum', shop)).toBe(712.5);
    expect(sampleValue(f, 'coffer_backup_run_duration_seconds_bucket', { ...shop, le: '15' })).toBe(1);
    expect(sampleValue(f, 'coffer_backup_run_duration_seconds_bucket', { ...shop, le: '+Inf' })).toBe(2);
    expect(sampleValue(f, 'coffer_backup_bytes_read_total', shop)).toBe(2000);
    expect(sampleValue(f, 'coffer_backup_bytes_uploaded_total', shop)).toBe(20);
    expect(sampleValue(f, 'coffer_restore_points', shop)).toBe(2);
    expect(sampleValue(f, 'coffer_restore_points', { namespace: 'web' })).toBeUndefined();
    expect(sampleValue(f, 'coffer_last_successful_backup_timestamp_seconds', shop)).toBe(Date.parse(b.run.status.startTime) / 1000);
    expect(sampleValue(f, 'coffer_restore_points_expired_total', shop)).toBe(2);
    expect(sampleValue(f, 'coffer_restore_runs_total', { result: 'failed' })).toBe(1);
    expect(sampleValue(f, 'coffer_compliance_result', { ...shop, rule: 'rpo', result: 'pass' })).toBe(1);
    expect(sampleValue(f, 'coffer_compliance_result', { ...shop, rule: 'rpo', result: 'fail' })).toBe(0);
    expect(sampleValue(f, 'coffer_compliance_result', { namespace: 'web', rule: 'last-backup-succeeded', result: 'fail' })).toBe(1);
    expect(sampleValue(f, 'coffer_compliance_results', { result: 'fail' })).toBe(report.spec.summary.fail);
    expect(sampleValue(f, 'coffer_plan_info', { plan_hash: plan.hash, cluster: 'dev' })).toBe(1);
    expect(sampleValue(f, 'coffer_reconciles_total', { result: 'ok' })).toBe(1);
    expect(sampleValue(f, 'coffer_reconciles_total', { result: 'error' })).toBe(1);
    // The Git error came after a compiled plan: a catalog push failed.
    expect(sampleValue(f, 'coffer_git_push_failures_total', { what: 'catalog' })).toBe(1);
    m.observeReconcileError(Object.assign(new Error('fetch refused'), { code: 'E_GIT_AUTH' }));
    expect(sampleValue(parsePrometheusText(await m.metrics()), 'coffer_git_push_failures_total', { what: 'catalog' })).toBe(1);
    expect(f.get('coffer_backup_run_duration_seconds')?.type).toBe('histogram');
  });

  it('counts what start-up sweeps removed by kind, their errors, and when the last one ended (also an empty one)', async () => {
    const m = new CofferMetrics({ processMetrics: false });
    m.observeSweep({ removed: { jobs: 1, secrets: 1, persistentvolumeclaims: 0 }, errors: [] }, new Date('2026-12-07T03:00:00Z'));
    m.observeSweep({ removed: { jobs: 2 }, errors: ['jobs coffer-system/x: forbidden'] }, new Date('2026-12-07T04:00:00Z'));
    m.observeSweep({ removed: {}, errors: [] }, new Date('2026-12-07T05:00:00Z'));
    const text = await m.metrics();
    expect(text).toContain('coffer_sweep_objects_removed_total{kind="jobs"} 3\n');
    expect(text).toContain('coffer_sweep_objects_removed_total{kind="secrets"} 1\n');
    expect(text).not.toContain('kind="persistentvolumeclaims"');
    expect(text).toContain('coffer_sweep_errors_total 1\n');
    expect(text).toContain(`coffer_sweep_last_timestamp_seconds ${Date.parse('2026-12-07T05:00:00Z') / 1000}\n`);
  });

  it('keeps two instances apart (own registries)', async () => {
    const a = new CofferMetrics({ processMetrics: false });
    const b = new CofferMetrics({ processMetrics: false });
    a.reconciles.inc({ result: 'ok' });
    expect(sampleValue(parsePrometheusText(await a.metrics()), 'coffer_reconciles_total', { result: 'ok' })).toBe(1);
    expect(sampleValue(parsePrometheusText(await b.metrics()), 'coffer_reconciles_total', { result: 'ok' })).toBeUndefined();
  });
});

describe('parsePrometheusText is strict', () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1\\"q\\\\"} 3\n';
  it('parses a valid exposition with escapes', () => {
    expect(parsePrometheusText(ok).get('a_total')!.samples).toEqual([{ name: 'a_total', labels: { x: '1"q\\' }, value: 3 }]);
  });
  const bad: Array<[string, string, RegExp]> = [
    ['no trailing newline', ok.trimEnd(), /end with a newline/],
    ['a sample without TYPE', 'b 1\n', /no TYPE/],
    ['a bad value', '# TYPE a gauge\na 1x\n', /invalid value/],
    ['a bad escape', '# TYPE a gauge\na{x="\\t"} 1\n', /invalid escape/],
    ['a duplicate series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', /duplicate series/],
    ['an unknown type', '# TYPE a thing\n', /unknown type/],
    ['a bad label name', '# TYPE a gauge\na{1x="1"} 1\n', /invalid label name/],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /no \+Inf/],
    ['a non-cumulative histogram', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /not cumulative/],
    ['a histogram count mismatch', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', /differs from _count/],
  ];
  for (const [name, text, err] of bad) {
    it(`rejects ${name}`, () => {
      expect(() => parsePrometheusText(text)).toThrow(TextFormatError);
      expect(() => parsePrometheusText(text)).toThrow(err);
    });
  }
});

/** Metric names a PromQL expression reads: identifiers starting with coffer_, histogram suffixes folded. */
export function dashboardMetrics(dashboardJson: string): Set<string> {
  const dash = JSON.parse(dashboardJson) as { panels: Array<{ targets?: Array<{ expr: string }> }>; templating: { list: Array<{ query?: unknown }> } };
  const exprs = [...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...dash.templating.list.map((t) => (typeof t.query === 'string' ? t.query : ''))];
  const names = new Set<string>();
  for (const e of exprs) for (const m of e.matchAll(/\bcoffer_[a-z0-9_]+\b/g)) names.add(m[0]);
  return names;
}

describe('deploy/grafana/coffer.json', () => {
  it('references only metrics /metrics exports, and shows every Coffer metric', async () => {
    const m = new CofferMetrics();
    // Touch each labelled metric so it has a series (prom-client omits samples of unused labelled metrics but keeps TYPE).
    const exported = parsePrometheusText(await m.metrics());
    const seriesNames = new Set<string>();
    for (const fam of exported.values()) {
      seriesNames.add(fam.name);
      if (fam.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) seriesNames.add(fam.name + s);
    }
    const used = dashboardMetrics(readFileSync(new URL('../../deploy/grafana/coffer.json', import.meta.url), 'utf8'));
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(seriesNames, `dashboard uses ${name}`).toContain(name);
    const folded = new Set([...used].map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    for (const name of METRIC_NAMES) expect(folded, `dashboard lacks ${name}`).toContain(name);
  });
});
