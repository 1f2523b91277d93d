import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { parseFrequency } from '../../compiler/schedule/index.ts';
import { openCatalog, retentionOutcome, type CatalogEntry, type RestorePoint } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, tempDir } from './git-helpers.ts';

type Counts = PlanPolicy['retention'];
const zero: Counts = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };

function pol(retention: Partial<Counts>, paused = false): Pick<PlanPolicy, 'name' | 'paused' | 'retention' | 'schedule'> {
  return { name: 'daily', paused, retention: { ...zero, ...retention }, schedule: parseFrequency('@daily') };
}

function points(spec: Array<[string, RestorePoint['spec']['phase']?]>, namespace = 'shop'): Array<CatalogEntry<RestorePoint>> {
  return spec.map(([iso, phase]) => {
    const { rp } = backup({ namespace, policy: 'daily', start: new Date(iso) });
    rp.spec.phase = phase ?? 'Succeeded';
    return { path: `catalog/dev/${namespace}/daily/${rp.metadata.name}.yaml`, doc: rp };
  });
}

const days = (n: number, hour = '01'): Array<[string]> => Array.from({ length: n }, (_, i) => [`2026-11-${String(10 + i).padStart(2, '0')}T${hour}:00:00Z`]);

describe('retentionOutcome (table)', () => {
  it.each([
    { name: 'daily 3 of 6 days keeps the newest 3', retention: { daily: 3 }, pts: points(days(6)), keep: ['daily-20261115-010000', 'daily-20261114-010000', 'daily-20261113-010000'] },
    { name: 'no tier keeps only the newest successful point', retention: {}, pts: points(days(4)), keep: ['daily-20261113-010000'] },
    {
      name: 'two points a day, daily 2: the newest of each of the 2 newest days',
      retention: { daily: 2 },
      pts: points([['2026-11-10T00:00:00Z'], ['2026-11-10T12:00:00Z'], ['2026-11-11T00:00:00Z'], ['2026-11-11T12:00:00Z'], ['2026-11-12T00:00:00Z']]),
      keep: ['daily-20261112-000000', 'daily-20261111-120000'],
    },
    {
      name: 'a partially failed newest point is kept but fills no bucket',
      retention: { daily: 2 },
      pts: points([...days(4), ['2026-11-14T01:00:00Z', 'PartiallyFailed']]),
      keep: ['daily-20261114-010000', 'daily-20261113-010000', 'daily-20261112-010000'],
    },
    { name: 'paused policy expires nothing', retention: { daily: 1 }, pts: points(days(5)), paused: true, keep: undefined },
  ])('$name', ({ retention, pts, keep, paused }) => {
    const out = retentionOutcome(pol(retention, paused), pts);
    if (keep === undefined) {
      expect(out).toEqual([]);
      return;
    }
    expect(out).toHaveLength(1);
    expect(out[0]!.keep.map((k) => k.name)).toEqual(keep);
    const expired = out[0]!.expire.map((d) => d.metadata.name);
    expect(new Set([...keep, ...expired]).size).toBe(pts.length); // every point is either kept or expired
  });
});

describe('Catalog.applyRetention', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('catalog-retention');
  });
  afterAll(() => cleanup(dir));

  it('removes exactly the expired restore points, one commit per namespace, and returns them for data forgetting', async () => {
    const repo = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': 'kind: Config\n' });
    const catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
    for (const ns of ['shop', 'blog']) {
      for (const [iso] of days(ns === 'shop' ? 5 : 2)) {
        const { run, rp } = backup({ namespace: ns, policy: 'daily', start: new Date(iso) });
        await catalog.recordBackup(run, rp);
      }
    }
    const before = Number(gitCli(repo, 'rev-list', '--count', 'coffer-catalog').trim());
    const res = await catalog.applyRetention(pol({ daily: 2 }));
    expect(res.map((r) => [r.namespace, r.expire.map((d) => d.metadata.name), r.commit?.changed])).toEqual([
      ['blog', [], undefined],
      ['shop', ['daily-20261112-010000', 'daily-20261111-010000', 'daily-20261110-010000'], true],
    ]);
    expect(res[1]!.expire[0]!.spec.volumes?.[0]?.snapshotId).toMatch(/^snap0/);
    expect(Number(gitCli(repo, 'rev-list', '--count', 'coffer-catalog').trim())).toBe(before + 1);
    expect(gitCli(repo, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'catalog/dev/').trim().split('\n')).toEqual([
      'catalog/dev/blog/daily/daily-20261110-010000.yaml',
      'catalog/dev/blog/daily/daily-20261111-010000.yaml',
      'catalog/dev/shop/daily/daily-20261113-010000.yaml',
      'catalog/dev/shop/daily/daily-20261114-010000.yaml',
    ]);
    expect(gitCli(repo, 'log', '-1', '--format=%s', 'coffer-catalog').trim()).toBe(
      'retention: shop/daily expired 3 restore points (daily-20261112-010000, daily-20261111-010000, daily-20261110-010000)',
    );
    // The index beside the documents was updated in the same commit.
    expect(JSON.parse(gitCli(repo, 'show', 'coffer-catalog:catalog/.index/dev/shop/daily.json')).items.map((i: { name: string }) => i.name)).toEqual(['daily-20261113-010000', 'daily-20261114-010000']);
    expect(await catalog.checkIndex()).toMatchObject({ stale: [], orphans: [] });
    // Applying the same retention again changes nothing.
    const again = await catalog.applyRetention(pol({ daily: 2 }));
    expect(again.every((r) => r.expire.length === 0)).toBe(true);
    expect(Number(gitCli(repo, 'rev-list', '--count', 'coffer-catalog').trim())).toBe(before + 1);
  });
});
