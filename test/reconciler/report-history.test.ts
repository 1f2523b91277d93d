/**
 * The compliance report reads the run history only as far back as its rules look, and its output is the same as
 * evaluating every run record ever written (the report before this bound).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factsOf, openCatalog, runId, type Catalog, type RunRecord } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { computeCompliance } from '../../reconciler/report/publish.ts';
import { evaluateCompliance } from '../../reconciler/report/compliance.ts';
import { complianceRuns } from '../../reconciler/report/history.ts';
import { backup, failedRun } from './catalog-fixtures.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';
import { testPlan } from './report-fixtures.ts';

const DAY0 = Date.parse('2026-11-10T01:00:00Z');
const day = (d: number, hour = 0) => new Date(DAY0 + d * 86_400_000 + hour * 3_600_000);
const NOW = day(10);
let dir: string;
let catalog: Catalog;

/** Every run the report looked at before: the whole history, filtered as computeCompliance used to. */
async function fullReport(selected: Map<string, string[]>) {
  const plan = testPlan();
  const runs = (await catalog.readRuns()).filter((r) => r.spec.type === 'backup' || r.spec.type === 'verify' || r.spec.trigger === 'drill');
  return evaluateCompliance({ plan, selected, restorePoints: (await catalog.listRestorePoints()).items.map(factsOf), runs, lastRuns: await catalog.latestRuns(), now: NOW });
}

const drill = (namespace: string, start: Date): RunRecord => ({
  apiVersion: 'coffer.dev/v1alpha1',
  kind: 'Run',
  metadata: { name: runId('restore', start, 'd7i11a') },
  spec: { type: 'restore', cluster: 'dev', namespace, trigger: 'drill' },
  status: { phase: 'Succeeded', startTime: start.toISOString(), endTime: new Date(start.getTime() + 3_600_000).toISOString() },
});

beforeAll(async () => {
  dir = tempDir('report-history');
  catalog = openCatalog({ source: await openSource({ source: makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': 'kind: Config\n' }) }), cluster: 'dev' });
  // shop: ten daily backups (GFS daily: 7 keeps days 3..9), the three oldest already expired; a DR drill on day 0.
  for (let d = 0; d < 10; d++) {
    const b = backup({ namespace: 'shop', policy: 'databases-daily', start: day(d) });
    b.run.status.restorePoint = b.rp.metadata.name;
    await catalog.recordBackup(b.run, d >= 3 ? b.rp : undefined);
  }
  await catalog.recordRun(drill('shop', day(0, 11)), 'restore: drill shop');
  // api: the same backups, and a DR drill on day 6: nothing older than day 3 is needed at all.
  for (let d = 0; d < 10; d++) {
    const b = backup({ namespace: 'api', policy: 'databases-daily', start: day(d) });
    b.run.status.restorePoint = b.rp.metadata.name;
    await catalog.recordBackup(b.run, d >= 3 ? b.rp : undefined);
  }
  await catalog.recordRun(drill('api', day(6, 11)), 'restore: drill api');
  // blog: one failed backup long ago and nothing since — never settles, so its report needs the whole history.
  await catalog.recordBackup(failedRun({ namespace: 'blog', policy: 'databases-daily', start: day(1, 5), error: 'mover job data-0 failed: exit code 3' }));
});
afterAll(() => cleanup(dir));

describe('compliance run history', () => {
  it('stops reading backups once every pair is settled, still finds an old DR drill, and reports the same', async () => {
    const selected = new Map([['databases-daily', ['shop']]]);
    const runs = await complianceRuns(catalog, testPlan().policies, selected);
    const names = runs.map((r) => r.metadata.name);
    // Days 3..9 settle shop (newest, newest good, seven daily buckets); days 0..2 are read only for the drill's hour.
    expect(names.filter((n) => n.startsWith('backup-') && n.endsWith('-a1b2c3')).sort()).toEqual(Array.from({ length: 7 }, (_, i) => runId('backup', day(i + 3), 'a1b2c3')));
    expect(names).toContain(runId('restore', day(0, 11), 'd7i11a'));
    expect(names.some((n) => n.includes('fa11ed'))).toBe(false);
    const report = await computeCompliance(catalog, testPlan(), selected, NOW);
    expect(report).toEqual(await fullReport(selected));
    expect(report.spec.results.map((r) => `${r.rule}:${r.result}`)).toEqual(['rpo:pass', 'last-backup-succeeded:pass', 'retention:pass', 'dr-drill:pass']);
  });

  it('stops reading altogether once backups are settled and every namespace has a drill', async () => {
    const selected = new Map([['databases-daily', ['api']]]);
    const names = (await complianceRuns(catalog, testPlan().policies, selected)).map((r) => r.metadata.name);
    expect(names.filter((n) => n.startsWith('backup-') && n.endsWith('-api-databases-daily')).sort()).toEqual(Array.from({ length: 7 }, (_, i) => runId('backup', day(i + 3), 'api-databases-daily')));
    expect(names).toContain(runId('restore', day(6, 11), 'd7i11a'));
    expect(names).not.toContain(runId('restore', day(0, 11), 'd7i11a')); // shop's drill, in an hour no longer read
    const report = await computeCompliance(catalog, testPlan(), selected, NOW);
    expect(report).toEqual(await fullReport(selected));
    expect(report.spec.results.find((r) => r.rule === 'dr-drill')?.properties.run).toBe(runId('restore', day(6, 11), 'd7i11a'));
  });

  it('reads the whole history for a pair that never settles, and reports the same', async () => {
    const selected = new Map([['databases-daily', ['api', 'blog', 'shop']]]);
    const names = (await complianceRuns(catalog, testPlan().policies, selected)).map((r) => r.metadata.name);
    expect(names).toContain(runId('backup', day(0), 'a1b2c3'));
    expect(names).toContain(runId('backup', day(1, 5), 'fa11ed'));
    const report = await computeCompliance(catalog, testPlan(), selected, NOW);
    expect(report).toEqual(await fullReport(selected));
    expect(report.spec.results.filter((r) => r.resources[0]!.name === 'blog').map((r) => `${r.rule}:${r.result}`)).toEqual(['rpo:fail', 'last-backup-succeeded:fail', 'retention:pass', 'dr-drill:skip']);
  });
});
