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
    // Every commit changes only the subtrees of the cluster that made it (its documents and their index shards).
    const log = gitCli(bare, 'log', '--format=@%H', '--name-only', 'coffer-catalog').split('@').filter(Boolean);
    for (const entry of log) {
      const paths = entry.trim().split('\n').slice(1).filter(Boolean);
      const clusters = new Set(paths.map((p) => /^(?:catalog|runs)\/(?:\.index\/)?([^/]+)\//.exec(p)?.[1]));
      expect(clusters.size, entry).toBe(1);
    }
    gitCli(bare, 'fsck', '--strict', '--no-dangling');
    // The derived indexes, re-derived on every rebase, agree with the documents.
    expect(await catalogs[0]!.checkIndex()).toMatchObject({ directories: WRITERS * 2, restorePoints: WRITERS * COMMITS, stale: [], orphans: [] });
  }, 300_000);
});
