/** Compliance reports committed to the catalog branch only when an outcome changes, read back with the git CLI. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { publishCompliance, type ComplianceReport } from '../../reconciler/report/index.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, tempDir } from './git-helpers.ts';
import { testPlan } from './report-fixtures.ts';

const T0 = new Date('2026-11-24T01:00:00Z');
const at = (h: number) => new Date(T0.getTime() + h * 3600_000);
let dir: string;
let repo: string;
let catalog: Catalog;

beforeAll(async () => {
  dir = tempDir('report-publish');
  repo = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': 'kind: Config\n' });
  catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
});
afterAll(() => cleanup(dir));

describe('publishCompliance', () => {
  const plan = testPlan();
  const selected = new Map([['databases-daily', ['shop']]]);
  const log = () => gitCli(repo, 'log', '--format=%s', 'coffer-catalog').trim().split('\n');

  it('commits the first report, then nothing while outcomes stay the same, then says what changed', async () => {
    const b = backup({ namespace: 'shop', policy: 'databases-daily', start: T0 });
    await catalog.recordBackup(b.run, b.rp);
    const first = await publishCompliance({ catalog, plan, selected, now: at(1) });
    expect(first.commit?.changed).toBe(true);
    expect(log()[0]).toBe('compliance: first report for cluster dev (0 fail, 0 error, 0 warn, 3 pass, 1 skip)');
    const json = JSON.parse(gitCli(repo, 'show', 'coffer-catalog:reports/compliance.json')) as ComplianceReport;
    expect(json.spec.summary).toEqual({ pass: 3, fail: 0, warn: 0, error: 0, skip: 1 });
    expect(gitCli(repo, 'show', 'coffer-catalog:reports/compliance.md')).toContain('| ✅ pass |  | shop | databases-daily | RPO met | RPO met (last good 1h ago, RPO 24h) |');

    const tip = gitCli(repo, 'rev-parse', 'coffer-catalog').trim();
    const same = await publishCompliance({ catalog, plan, selected, now: at(20) });
    expect(same.commit).toBeUndefined();
    expect(same.changes).toEqual([]);
    expect(gitCli(repo, 'rev-parse', 'coffer-catalog').trim()).toBe(tip);

    const missed = await publishCompliance({ catalog, plan, selected, now: at(26) });
    expect(missed.commit?.changed).toBe(true);
    expect(log()[0]).toBe('compliance: shop/databases-daily RPO missed (last good 26h ago, RPO 24h)');
    expect(gitCli(repo, 'log', '-1', '--format=%b', 'coffer-catalog')).toContain('[pass → fail]');
    expect(gitCli(repo, 'show', 'coffer-catalog:reports/compliance.md')).toMatch(/\| ❌ fail \| high \| shop \| databases-daily \| RPO met \| RPO missed/);

    const again = await publishCompliance({ catalog, plan, selected, now: at(27) });
    expect(again.commit).toBeUndefined();
    const c = backup({ namespace: 'shop', policy: 'databases-daily', start: at(27.5), suffix: 'late' });
    await catalog.recordBackup(c.run, c.rp);
    await publishCompliance({ catalog, plan, selected, now: at(28) });
    expect(log()[0]).toBe('compliance: shop/databases-daily RPO met (last good 30m ago, RPO 24h)');
    expect(log().filter((l) => l.startsWith('compliance:'))).toHaveLength(3);
    gitCli(repo, 'fsck', '--strict', '--no-dangling');
  });
});
