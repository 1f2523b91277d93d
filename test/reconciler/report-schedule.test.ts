/**
 * The daily compliance timer: a real catalog branch in a real Git repository, read back with the git CLI; the clock
 * and the sleeps are virtual, so a day passes in milliseconds and no reconcile ever runs.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import type { ComplianceReport, PublishResult } from '../../reconciler/report/index.ts';
import { complianceTimer, nextComplianceCheck, publishLatest } from '../../reconciler/report/schedule.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, tempDir } from './git-helpers.ts';
import { testPlan } from './report-fixtures.ts';

const H = 3600_000;
const T0 = new Date('2026-11-24T01:00:00Z');
const at = (h: number) => new Date(T0.getTime() + h * H);

/** A virtual clock whose sleep advances it; aborts the timer after `maxSleeps` sleeps. */
function virtualTime(start: Date, maxSleeps: number) {
  let t = start.getTime();
  const sleeps: number[] = [];
  const stop = new AbortController();
  return {
    stop,
    sleeps,
    now: () => new Date(t),
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
      if (sleeps.length >= maxSleeps) stop.abort();
    },
  };
}

function rpoReport(results: Array<{ result: 'pass' | 'fail'; lastSuccess?: Date; rpoS: number; graceS: number }>): ComplianceReport {
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'ComplianceReport',
    metadata: { name: 'c', labels: {} },
    spec: {
      cluster: 'dev',
      generatedAt: T0.toISOString(),
      planHash: 'sha256:x',
      source: 'coffer',
      summary: { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 },
      results: results.map((r, i) => ({
        source: 'coffer',
        policy: `p${i}`,
        rule: 'rpo',
        result: r.result,
        category: 'Data Protection',
        message: '',
        scored: true,
        resources: [{ apiVersion: 'v1', kind: 'Namespace', name: 'ns' }],
        properties: { rpo: `${r.rpoS}s`, grace: `${r.graceS}s`, ...(r.lastSuccess ? { lastSuccess: r.lastSuccess.toISOString() } : {}) },
      })),
    },
  };
}

describe('nextComplianceCheck', () => {
  const day = 86_400;
  it.each([
    { name: 'no results: the interval', results: [], checkedAt: at(1), want: at(25) },
    { name: 'RPO met: just after it would be missed (last good + RPO + grace)', results: [{ result: 'pass' as const, lastSuccess: T0, rpoS: day, graceS: 3600 }], checkedAt: at(2), want: new Date(at(25).getTime() + 1000) },
    { name: 'RPO met, the miss is further than the interval: the interval', results: [{ result: 'pass' as const, lastSuccess: T0, rpoS: 7 * day, graceS: 3600 }], checkedAt: at(1), want: at(25) },
    { name: 'RPO missed (high): just after it turns critical (twice the limit)', results: [{ result: 'fail' as const, lastSuccess: T0, rpoS: 3600, graceS: 300 }], checkedAt: at(1.5), want: new Date(T0.getTime() + 2 * 3900_000 + 1000) },
    { name: 'already critical: the interval', results: [{ result: 'fail' as const, lastSuccess: T0, rpoS: 3600, graceS: 300 }], checkedAt: at(3), want: at(27) },
    { name: 'no backup ever: nothing changes by the clock', results: [{ result: 'fail' as const, rpoS: 3600, graceS: 300 }], checkedAt: at(1), want: at(25) },
    {
      name: 'several pairs: the earliest flip',
      results: [
        { result: 'pass' as const, lastSuccess: at(0), rpoS: day, graceS: 3600 },
        { result: 'pass' as const, lastSuccess: at(0.5), rpoS: 3600, graceS: 300 },
      ],
      checkedAt: at(1),
      want: new Date(at(0.5).getTime() + 3900_000 + 1000),
    },
  ])('$name', ({ results, checkedAt, want }) => {
    expect(nextComplianceCheck(rpoReport(results), checkedAt, 24 * H).toISOString()).toBe(want.toISOString());
  });
});

describe('complianceTimer', () => {
  let dir: string;
  let repo: string;
  let catalog: Catalog;
  beforeAll(async () => {
    dir = tempDir('report-schedule');
    repo = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': 'kind: Config\n' });
    catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
  });
  afterAll(() => cleanup(dir));

  it('commits the RPO miss when nothing runs: no reconcile, only the clock moves', async () => {
    const b = backup({ namespace: 'shop', policy: 'databases-daily', start: T0 });
    await catalog.recordBackup(b.run, b.rp);
    const plan = testPlan();
    const latest = { plan, catalog, due: [{ policy: 'databases-daily', namespace: 'shop' }] };
    const time = virtualTime(at(2), 4);
    const published: Array<{ at: string; commit: boolean; subject?: string }> = [];
    await complianceTimer({
      publish: publishLatest(() => latest),
      now: time.now,
      sleep: time.sleep,
      intervalMs: 24 * H,
      signal: time.stop.signal,
      onPublished: (r: PublishResult, when) => published.push({ at: when.toISOString(), commit: !!r.commit?.changed, ...(r.message ? { subject: r.message.split('\n')[0]! } : {}) }),
      onError: (e) => {
        throw e;
      },
    });
    // @daily: RPO 24h, grace 1h — a day and an hour after the last good backup, plus the second the rule needs.
    expect(published).toEqual([
      { at: at(2).toISOString(), commit: true, subject: 'compliance: first report for cluster dev (0 fail, 0 error, 0 warn, 3 pass, 1 skip)' },
      { at: new Date(at(25).getTime() + 1000).toISOString(), commit: true, subject: 'compliance: shop/databases-daily RPO missed (last good 25h ago, RPO 24h)' },
      { at: new Date(at(49).getTime() + 1000).toISOString(), commit: false },
      { at: new Date(at(50).getTime() + 1000).toISOString(), commit: true, subject: 'compliance: shop/databases-daily RPO missed (last good 2d ago, RPO 24h)' },
    ]);
    // Woken at the miss (not a day later), at the daily interval, then when the miss turns critical.
    expect(time.sleeps).toEqual([23 * H + 1000, 24 * H, 1 * H, 24 * H]);
    const log = gitCli(repo, 'log', '--format=%s', 'coffer-catalog').trim().split('\n');
    expect(log.slice(0, 3)).toEqual([
      'compliance: shop/databases-daily RPO missed (last good 2d ago, RPO 24h)',
      'compliance: shop/databases-daily RPO missed (last good 25h ago, RPO 24h)',
      'compliance: first report for cluster dev (0 fail, 0 error, 0 warn, 3 pass, 1 skip)',
    ]);
    const json = JSON.parse(gitCli(repo, 'show', 'coffer-catalog:reports/compliance.json')) as ComplianceReport;
    expect(json.spec.results.find((r) => r.rule === 'rpo')).toMatchObject({ result: 'fail', severity: 'critical' });
    gitCli(repo, 'fsck', '--strict', '--no-dangling');
  });

  it('retries failed publishes with backoff, waits while there is nothing to evaluate, stops on abort', async () => {
    const time = virtualTime(at(0), 6);
    let calls = 0;
    const errors: Array<[string, number]> = [];
    const report = rpoReport([]);
    await complianceTimer({
      publish: async () => {
        calls++;
        if (calls === 1) return undefined;
        if (calls <= 4) throw new Error(`git push failed ${calls}`);
        return { report, changes: [] };
      },
      now: time.now,
      sleep: time.sleep,
      intervalMs: () => 2 * 60_000,
      retryMs: 30_000,
      signal: time.stop.signal,
      onError: (e, retry) => errors.push([(e as Error).message, retry]),
    });
    expect(errors).toEqual([
      ['git push failed 2', 30_000],
      ['git push failed 3', 60_000],
      ['git push failed 4', 120_000],
    ]);
    // nothing yet → 30 s; failures → 30 s, 60 s, 120 s (capped at the interval); success → the interval.
    expect(time.sleeps).toEqual([30_000, 30_000, 60_000, 120_000, 120_000, 120_000]);
    expect(calls).toBe(6);
  });

  it('a real sleep ends at once when the signal aborts', async () => {
    const stop = new AbortController();
    let calls = 0;
    const done = complianceTimer({ publish: async () => (calls++, { report: rpoReport([]), changes: [] }), now: () => new Date(), intervalMs: 24 * H, signal: stop.signal });
    await expect.poll(() => calls).toBe(1);
    stop.abort();
    await done;
    expect(calls).toBe(1);
  });
});
