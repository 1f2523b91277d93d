import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, startGitHttp, tempDir, type GitHttpServer } from './git-helpers.ts';

const WRITERS = 10;
const COMMITS = 2;

/** Many clusters, one repository: each cluster's Coffer pushes its own subtree to one `git http-backend` remote. */
describe('many clusters pushing to one HTTP remote', () => {
  let dir: string;
  let server: GitHttpServer;
  let bare: string;
  const env = { COFFER_GIT_TOKEN: 'fleet-token' };
  beforeAll(async () => {
    dir = tempDir('catalog-fleet');
    bare = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': 'kind: Config\n' }, { bare: true });
    server = await startGitHttp(dir, { token: env.COFFER_GIT_TOKEN });
  });
  afterAll(async () => {
    await server.close();
    cleanup(dir);
  });

  it(`${WRITERS} writers × ${COMMITS} commits lose nothing, duplicate nothing, and touch only their own cluster`, async () => {
    const url = server.url('policies.git');
    const catalogs = await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => openCatalog({ source: await openSource({ source: url, cacheDir: join(dir, `cache-${w}`), env }), cluster: `cluster-${w}` })),
    );
    const results = await Promise.all(
      catalogs.map(async (c, w) => {
        const out = [];
        for (let i = 0; i < COMMITS; i++) {
          const { run, rp } = backup({ cluster: `cluster-${w}`, namespace: `ns-${i % 2}`, policy: 'daily', start: new Date(Date.UTC(2026, 0, 1 + i, 1)), suffix: `w${w}` });
          out.push(await c.recordBackup(run, rp));
        }
        return out;
      }),
    );
    // Non-fast-forward pushes happened and were re-applied on the new tip.
    expect(results.flat().some((r) => r.attempts > 1)).toBe(true);
    expect(gitCli(bare, 'rev-list', '--count', 'coffer-catalog').trim()).toBe(String(WRITERS * COMMITS));
    const docs = gitCli(bare, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'catalog/').trim().split('\n').filter((p) => !p.startsWith('catalog/.index/'));
    expect(docs).toHaveLength(WRITERS * COMMITS);
    for (let w = 0; w < WRITERS; w++) expect(docs.filter((p) => p.startsWith(`catalog/cluster-${w}/`))).toHaveLength(COMMITS);
    // Every commit changes only the subtrees of the cluster that made it (its documents and their index files,
    // including catalog/.index/.clusters/<cluster>.json and .policies/<cluster>/).
    const log = gitCli(bare, 'log', '--format=@%H', '--name-only', 'coffer-catalog').split('@').filter(Boolean);
    for (const entry of log) {
      const paths = entry.trim().split('\n').slice(1).filter(Boolean);
      const clusters = new Set(paths.map((p) => /^(?:catalog|runs)\/(?:\.index\/(?:\.clusters\/|\.policies\/)?)?([^/]+?)(?:\.json)?(?:\/|$)/.exec(p)?.[1]));
      expect(clusters.size, entry).toBe(1);
    }
    gitCli(bare, 'fsck', '--strict', '--no-dangling');
    // The derived indexes, re-derived on every rebase, agree with the documents.
    expect(await catalogs[0]!.checkIndex()).toMatchObject({ directories: WRITERS * 2, restorePoints: WRITERS * COMMITS, stale: [], orphans: [] });
  }, 300_000);

  it('a new machine fetches only the tip of the catalog branch (depth 1), lists everything, commits, and then fetches only what is new', async () => {
    const url = server.url('policies.git');
    const history = Number(gitCli(bare, 'rev-list', '--count', 'coffer-catalog').trim());
    expect(history).toBeGreaterThan(1);
    const cache = join(dir, 'cache-new-machine');
    const fresh = openCatalog({ source: await openSource({ source: url, cacheDir: cache, env }), cluster: 'cluster-new' });
    const gitdir = fresh.source.gitdir;
    const page = await fresh.listRestorePoints({ cluster: '*' });
    expect(page.items).toHaveLength(WRITERS * COMMITS);
    // One commit of the catalog branch (and of main) is all the cache holds; git marks it shallow.
    expect(gitCli(gitdir, 'rev-list', '--count', 'refs/remotes/origin/coffer-catalog').trim()).toBe('1');
    expect(readFileSync(join(gitdir, 'shallow'), 'utf8')).toContain(gitCli(bare, 'rev-parse', 'coffer-catalog').trim());
    // Committing from the shallow cache pushes a complete commit; another writer's commit is then fetched on its own.
    const mine = backup({ cluster: 'cluster-new', namespace: 'ns-0', policy: 'daily', start: new Date(Date.UTC(2026, 1, 1, 1)) });
    await fresh.recordBackup(mine.run, mine.rp);
    const other = openCatalog({ source: await openSource({ source: url, cacheDir: join(dir, 'cache-0'), env }), cluster: 'cluster-0' });
    const theirs = backup({ cluster: 'cluster-0', namespace: 'ns-0', policy: 'daily', start: new Date(Date.UTC(2026, 1, 1, 1)), suffix: 'w0' });
    await other.recordBackup(theirs.run, theirs.rp);
    expect((await fresh.listRestorePoints({ cluster: '*' })).items).toHaveLength(WRITERS * COMMITS + 2);
    // cluster-0's January runs left the tip in its commit (run-archive.ts): one more commit, a second parent.
    expect(gitCli(gitdir, 'rev-list', '--count', '--first-parent', 'refs/remotes/origin/coffer-catalog').trim()).toBe('3');
    expect(gitCli(gitdir, 'ls-tree', '--name-only', 'refs/remotes/origin/coffer-catalog', 'runs/cluster-0/').trim().split('\n')).toEqual(['runs/cluster-0/2026-02-01', 'runs/cluster-0/archive.yaml', 'runs/cluster-0/latest']);
    // A commit of many objects is staged into one pack in the cache; isomorphic-git reads it to push.
    const put = Array.from({ length: 70 }, (_, i) => ({ path: `reports/cluster-new/r-${i}.txt`, content: `report ${i}\n` }));
    await fresh.commitChanges({ put }, 'reports: 70 files');
    gitCli(bare, 'fsck', '--strict', '--no-dangling');
    expect(gitCli(bare, 'show', 'coffer-catalog:reports/cluster-new/r-69.txt')).toBe('report 69\n');
    expect(gitCli(bare, 'rev-list', '--count', '--first-parent', 'coffer-catalog').trim()).toBe(String(history + 3));
  }, 120_000);
});
