import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
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

  it('lays tree versions out as git repack does: the tip and the last tree of an archived day whole, older ones deltas against newer, chains of at most 50', () => {
    // `git verify-pack -v`: "<oid> <type> <size> <size-in-pack> <offset> [<depth> <base-oid>]" per object.
    const packs = readdirSync(join(gitdir, 'objects', 'pack')).filter((f) => f.endsWith('.idx'));
    const depth = new Map<string, number>();
    for (const idx of packs) {
      for (const line of execFileSync('git', ['verify-pack', '-v', join(gitdir, 'objects', 'pack', idx)], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n')) {
        const f = line.split(/\s+/);
        if (f[1] === 'tree') depth.set(f[0]!, f.length >= 7 ? Number(f[5]) : 0);
      }
    }
    expect([...depth.values()].filter((d) => d > 0).length).toBeGreaterThan(1000); // history is delta-compressed
    expect(Math.max(...depth.values())).toBeLessThanOrEqual(50);
    const tipTrees = gitCli(gitdir, 'ls-tree', '-r', '-d', 'coffer-catalog').trim().split('\n').map((l) => l.split(/\s+/)[2]!);
    const [, segment] = /commit: ([0-9a-f]{40})/.exec(gitCli(gitdir, 'show', 'coffer-catalog:runs/bench/archive.yaml'))!;
    const archived = gitCli(gitdir, 'ls-tree', '-d', segment!, 'runs/bench/').trim().split('\n').map((l) => l.split(/\s+/)[2]!);
    for (const oid of [...tipTrees, ...archived]) expect({ oid, depth: depth.get(oid) ?? 0 }).toEqual({ oid, depth: 0 });
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
