import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type RunRecord } from '../../reconciler/catalog/index.ts';
import { RUN_DAYS_ON_TIP } from '../../reconciler/catalog/run-archive.ts';
import { objectReader } from '../../reconciler/git/objects.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { backup, failedRun } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, startGitHttp, tempDir, type GitHttpServer } from './git-helpers.ts';

const DAYS = 12;
const day = (d: number, h = 1): Date => new Date(Date.UTC(2026, 2, 1 + d, h));

/**
 * Run records older than RUN_DAYS_ON_TIP days leave the tip in the commit that writes a newer one (run-archive.ts):
 * every reader still sees every run, and a new machine's depth-1 fetch of the tip no longer brings them.
 */
describe('run records archived off the catalog tip', () => {
  let dir: string;
  let bare: string;
  let server: GitHttpServer;
  const recorded: RunRecord[] = [];
  beforeAll(async () => {
    dir = tempDir('catalog-archive');
    bare = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': 'kind: Config\n' }, { bare: true });
    server = await startGitHttp(dir);
    const catalog = openCatalog({ source: await openSource({ source: bare }), cluster: 'dev' });
    for (let d = 0; d < DAYS; d++) {
      for (const policy of ['daily', 'hourly']) {
        const { run, rp } = backup({ namespace: 'shop', policy, start: day(d) });
        await catalog.recordBackup(run, rp);
        recorded.push({ ...run, status: { ...run.status, restorePoint: rp.metadata.name, volumes: 1, bytes: 1024 } });
      }
      const failed = failedRun({ namespace: 'blog', policy: 'daily', start: day(d, 3), error: 'mover job data-0 failed: exit code 3' });
      await catalog.recordBackup(failed);
      recorded.push(failed);
    }
  }, 120_000);
  afterAll(async () => {
    await server.close();
    cleanup(dir);
  });

  const newestFirst = (runs: RunRecord[]): string[] => [...runs].sort((a, b) => (a.status.startTime < b.status.startTime ? 1 : a.status.startTime > b.status.startTime ? -1 : a.metadata.name < b.metadata.name ? 1 : -1)).map((r) => r.metadata.name);
  const segments = (): string[] => [...new Set([...gitCli(bare, 'show', 'coffer-catalog:runs/dev/archive.yaml').matchAll(/commit: ([0-9a-f]{40})/g)].map((m) => m[1]!))];

  it('keeps only the newest days on the tip, the rest in segment commits the catalog commits reach, and the documents unchanged', () => {
    const tipDays = gitCli(bare, 'ls-tree', '--name-only', 'coffer-catalog', 'runs/dev/').trim().split('\n').map((p) => p.slice('runs/dev/'.length));
    const days = Array.from({ length: DAYS }, (_, d) => day(d).toISOString().slice(0, 10));
    expect(tipDays).toEqual([...days.slice(DAYS - RUN_DAYS_ON_TIP), 'archive.yaml', 'latest']);
    expect(gitCli(bare, 'ls-tree', '--name-only', 'coffer-catalog', 'runs/.index/dev/').trim().split('\n')).toHaveLength(RUN_DAYS_ON_TIP);
    // One segment per archived day here (each commit of a new day pushes one day out), each a second parent.
    const segs = segments();
    expect(segs).toHaveLength(DAYS - RUN_DAYS_ON_TIP);
    const merges = gitCli(bare, 'rev-list', '--first-parent', '--min-parents=2', '--parents', 'coffer-catalog').trim().split('\n').map((l) => l.split(' ')[2]);
    expect(merges.sort()).toEqual([...segs].sort());
    for (const [i, seg] of segs.entries()) {
      expect(gitCli(bare, 'ls-tree', '-r', '--name-only', seg).trim().split('\n').filter((p) => p.endsWith('.yaml'))).toEqual(recorded.filter((r) => r.status.startTime.startsWith(days[i]!)).map((r) => `runs/dev/${days[i]}/${r.metadata.name}.yaml`).sort());
    }
    // A human reads an archived record as plain YAML, byte for byte what was committed on the tip before.
    const first = recorded[0]!;
    expect(gitCli(bare, 'show', `${segs[0]}:runs/dev/${days[0]}/${first.metadata.name}.yaml`)).toContain(`name: ${first.metadata.name}`);
    gitCli(bare, 'fsck', '--strict', '--no-dangling');
  });

  it('gives every reader the same answers as a tip holding every run', async () => {
    const catalog = openCatalog({ source: await openSource({ source: bare }), cluster: 'dev' });
    expect((await catalog.listRuns()).items.map((r) => r.metadata.name)).toEqual(newestFirst(recorded));
    expect((await catalog.listRuns({ since: day(2), phase: 'Failed' })).items.map((r) => r.metadata.name)).toEqual(newestFirst(recorded.filter((r) => r.status.phase === 'Failed' && r.status.startTime >= day(2).toISOString())));
    const page = await catalog.listRuns({ limit: 5 });
    const rest = await catalog.listRuns({ continue: page.continue! });
    expect([...page.items, ...rest.items].map((r) => r.metadata.name)).toEqual(newestFirst(recorded));
    const seen: string[] = [];
    for await (const runs of catalog.runDaysNewestFirst()) seen.push(...runs.map((r) => r.metadata.name));
    expect(seen.sort()).toEqual(recorded.map((r) => r.metadata.name).sort());
    expect(await catalog.checkIndex()).toMatchObject({ stale: [], orphans: [], problems: [] });
  });

  it("a new machine's first fetch over HTTP leaves the archived run records behind, and fetches a segment only when a reader reaches its day", async () => {
    const url = server.url('policies.git');
    const fresh = openCatalog({ source: await openSource({ source: url, branch: 'coffer-catalog', cacheDir: join(dir, 'cache-new') }), cluster: 'dev' });
    const page = await fresh.listRestorePoints();
    expect(page.items).toHaveLength(DAYS * 2);
    const objects = objectReader(fresh.source.gitdir);
    const archivedBlobs = segments().flatMap((s) => gitCli(bare, 'ls-tree', '-r', s).trim().split('\n').map((l) => l.split(/\s+/)[2]!));
    expect(archivedBlobs.length).toBeGreaterThan(0);
    expect(segments().filter((s) => objects.has(s))).toEqual([]);
    expect(archivedBlobs.filter((o) => objects.has(o))).toEqual([]);
    // What the cache holds: the tip commit's objects only (git's own count, beside what the tip reaches).
    const held = gitCli(fresh.source.gitdir, 'cat-file', '--batch-all-objects', '--batch-check').trim().split('\n').length;
    const tipObjects = gitCli(bare, 'rev-list', '--objects', '--no-walk', 'coffer-catalog').trim().split('\n').length;
    const tipTree = gitCli(bare, 'ls-tree', '-r', '-t', 'coffer-catalog').trim().split('\n').length + 1;
    expect(held).toBeLessThanOrEqual(tipObjects + tipTree + 64); // + the policy branch HEAD's few objects
    // The last days are on the tip: no fetch.
    expect((await fresh.listRuns({ since: day(DAYS - 2) })).items).toHaveLength(6);
    expect(segments().filter((s) => objects.has(s))).toEqual([]);
    // A page of runs reads the newest days only; its next pages reach into the archive, fetching as they go.
    const first = await fresh.listRuns({ limit: 4 });
    expect(segments().filter((s) => objects.has(s))).toEqual([]);
    const pages = [...first.items];
    for (let token = first.continue; token; ) {
      const next = await fresh.listRuns({ limit: 4, continue: token });
      pages.push(...next.items);
      token = next.continue;
    }
    expect(pages.map((r) => r.metadata.name)).toEqual(newestFirst(recorded));
    // All runs: each segment fetched once, and the answer is the local repository's.
    expect((await fresh.listRuns()).items.map((r) => r.metadata.name)).toEqual(newestFirst(recorded));
    expect(segments().filter((s) => !objects.has(s))).toEqual([]);
    // Committing from this cache archives the next day and pushes only the new commits.
    const { run, rp } = backup({ namespace: 'shop', policy: 'daily', start: day(DAYS) });
    await fresh.recordBackup(run, rp);
    gitCli(bare, 'fsck', '--strict', '--no-dangling');
    expect(segments()).toHaveLength(DAYS - RUN_DAYS_ON_TIP + 1);
    const local = openCatalog({ source: await openSource({ source: bare }), cluster: 'dev' });
    expect((await local.listRuns()).items.map((r) => r.metadata.name)).toEqual(newestFirst([...recorded, { ...run, status: { ...run.status } }]));
  }, 120_000);

  it('a run written late for an archived day is archived again beside it, and read with it', async () => {
    const catalog = openCatalog({ source: await openSource({ source: bare }), cluster: 'dev' });
    const late = failedRun({ namespace: 'late', policy: 'daily', start: day(0, 9), error: 'finished late' });
    await catalog.recordBackup(late);
    expect(gitCli(bare, 'ls-tree', '--name-only', 'coffer-catalog', 'runs/dev/').trim().split('\n')).toContain(`runs/dev/${day(0).toISOString().slice(0, 10)}`);
    const next = failedRun({ namespace: 'late', policy: 'daily', start: day(DAYS, 9), error: 'next' });
    await catalog.recordBackup(next);
    const archive = gitCli(bare, 'show', 'coffer-catalog:runs/dev/archive.yaml');
    expect(archive.split(`day: ${day(0).toISOString().slice(0, 10)}`)).toHaveLength(3);
    const all = (await catalog.listRuns()).items.map((r) => r.metadata.name);
    expect(all).toContain(late.metadata.name);
    expect(all.filter((n) => n === late.metadata.name)).toHaveLength(1);
    expect(all).toHaveLength(recorded.length + 3);
  });

  it('an archive.yaml that does not parse is reported with its path and line, skipped with a warning, and moves nothing', async () => {
    const warnings: string[] = [];
    const catalog = openCatalog({ source: await openSource({ source: bare }), cluster: 'dev', log: { info: () => undefined, warn: (_m, f) => warnings.push(String(f?.problem)) } });
    const onTip = (await catalog.listRuns({ since: day(DAYS - RUN_DAYS_ON_TIP + 1) })).items.length;
    await catalog.commitChanges({ put: [{ path: 'runs/dev/archive.yaml', content: 'kind: RunArchive\nsegments: [\n' }] }, 'hand edit');
    const check = await catalog.checkIndex();
    expect(check.problems.map((p) => p.path)).toEqual(['runs/dev/archive.yaml']);
    expect(check.problems[0]).toMatchObject({ line: 3, column: 1 });
    expect((await catalog.listRuns()).items.length).toBeGreaterThanOrEqual(onTip);
    expect(warnings.some((w) => w.startsWith('runs/dev/archive.yaml:3:'))).toBe(true);
    const tipDays = (): number => gitCli(bare, 'ls-tree', '--name-only', 'coffer-catalog', 'runs/dev/').trim().split('\n').length;
    const before = tipDays();
    await catalog.recordBackup(failedRun({ namespace: 'late', policy: 'daily', start: day(DAYS + 3, 9), error: 'x' }));
    expect(tipDays()).toBe(before + 1);
  });
});
