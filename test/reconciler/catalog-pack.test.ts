import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { RUN_DAYS_ON_TIP } from '../../reconciler/catalog/run-archive.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { objectReader } from '../../reconciler/git/objects.ts';
import { readDay } from '../../reconciler/catalog/run-index.ts';
import { writeHistoryPack } from '../bench/catalog-pack.ts';
import { cleanup, gitCli, tempDir } from './git-helpers.ts';

/** The bench's history generator writes what git and Coffer both accept as the catalog Coffer itself would commit. */
describe('bench catalog history written straight into a pack', () => {
  let dir: string;
  let gitdir: string;
  beforeAll(() => {
    dir = tempDir('catalog-pack');
    gitdir = join(dir, 'repo.git');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'coffer-catalog', gitdir]);
    writeHistoryPack(gitdir, 1000, 2500);
  }, 120_000);
  afterAll(() => cleanup(dir));

  it('passes git fsck --strict, with the history, live points and archived days the bench asks for', () => {
    gitCli(gitdir, 'fsck', '--strict', '--no-dangling');
    expect(gitCli(gitdir, 'rev-list', '--count', '--first-parent', 'coffer-catalog').trim()).toBe('2500');
    expect(gitCli(gitdir, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'catalog/bench/').trim().split('\n')).toHaveLength(1000);
    const days = gitCli(gitdir, 'ls-tree', '--name-only', 'coffer-catalog', 'runs/bench/').trim().split('\n').filter((p) => /\d{4}-\d{2}-\d{2}$/.test(p));
    expect(days).toHaveLength(RUN_DAYS_ON_TIP);
  });

  it('reads in Coffer as it reads its own commits: every run (tip and segments), index shards of archived days trusted', async () => {
    const catalog = openCatalog({ source: await openSource({ source: gitdir, branch: 'coffer-catalog' }), cluster: 'bench' });
    const reindexed = await catalog.reindex();
    expect(reindexed.problems).toEqual([]);
    expect(await catalog.checkIndex()).toMatchObject({ restorePoints: 1000, stale: [], orphans: [], problems: [] });
    expect((await catalog.listRuns()).items).toHaveLength(2500);
    // Archived days carry their hourly shards, built as Coffer builds them (a stale shard would be read from documents).
    const [, day, segment] = /day: (\S+)\n\s+commit: ([0-9a-f]{40})/.exec(gitCli(gitdir, 'show', 'coffer-catalog:runs/bench/archive.yaml'))!;
    const objects = objectReader(gitdir);
    const got = readDay(objects, 'runs', 'bench', day!, objects.treeAt(segment!, `runs/bench/${day}`)!, objects.treeAt(segment!, `runs/.index/bench/${day}`));
    expect(got).toMatchObject({ stale: 0, problems: [] });
    expect(got.runs.length).toBe(gitCli(gitdir, 'ls-tree', '--name-only', segment!, `runs/bench/${day}/`).trim().split('\n').length);
    const seen: number[] = [];
    for await (const runs of catalog.runDaysNewestFirst()) seen.push(runs.length);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(2500);
  });
});
