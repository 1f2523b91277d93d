import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { writeListStream } from '../../cli/output/printer.ts';
import { documentText } from '../../reconciler/catalog/document.ts';
import { openCatalog, type Catalog, type RestorePoint } from '../../reconciler/catalog/index.ts';
import { ObjectReader } from '../../reconciler/git/objects.ts';
import { indexPack } from '../../reconciler/git/pack-writer.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, plainGitCommit, tempDir } from './git-helpers.ts';
import { capture as captureIO } from '../cli-capture.ts';

const CONFIG = 'apiVersion: coffer.dev/v1alpha1\nkind: Config\nmetadata:\n  name: repo\nspec:\n  cluster: dev\n';
const NAMESPACES = ['blog', 'shop', 'wiki'];
const POLICIES = ['daily', 'hourly'];
const PER_DIR = 4;

const capture = (cwd: string) => captureIO(cwd, { COFFER_CACHE_DIR: process.env.COFFER_CACHE_DIR });

/** Restore point documents at a branch tip as the git CLI sees them, in listing order. */
function gitListing(repo: string, ref: string): string[] {
  return gitCli(repo, 'ls-tree', '-r', '--name-only', ref, 'catalog/dev/')
    .trim()
    .split('\n')
    .filter((p) => p.endsWith('.yaml'))
    .flatMap((p) => {
      try {
        const d = YAML.parse(gitCli(repo, 'show', `${ref}:${p}`)) as RestorePoint;
        return d?.kind === 'RestorePoint' ? [d] : [];
      } catch {
        return []; // unreadable: not a restore point
      }
    })
    .sort((a, b) => (a.spec.namespace + a.spec.policy + a.spec.startTime < b.spec.namespace + b.spec.policy + b.spec.startTime ? -1 : 1))
    .map((d) => `${d.spec.namespace}/${d.spec.policy}/${d.metadata.name}`);
}

const names = (items: Array<{ namespace: string; policy: string; name: string }>): string[] => items.map((i) => `${i.namespace}/${i.policy}/${i.name}`);

describe('catalog index, paging and unreadable documents', () => {
  let dir: string;
  let repo: string;
  let catalog: Catalog;
  beforeAll(async () => {
    dir = tempDir('catalog-index');
    repo = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': CONFIG });
    catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
    // 3 namespaces × 2 policies × 4 points, each directory written in one Coffer commit.
    for (const ns of NAMESPACES) {
      for (const policy of POLICIES) {
        const put = Array.from({ length: PER_DIR }, (_, i) => {
          const { rp } = backup({ namespace: ns, policy, start: new Date(Date.UTC(2026, 10, 20 + i, 1)) });
          return { path: `catalog/dev/${ns}/${policy}/${rp.metadata.name}.yaml`, content: documentText(rp) };
        });
        await catalog.commitChanges({ put }, `backup: ${ns}/${policy}`);
      }
    }
  });
  afterAll(() => cleanup(dir));

  it('writes an index per directory in the same commit, and it agrees with the documents the git CLI reads', async () => {
    expect(gitCli(repo, 'show', '--name-only', '--format=', 'coffer-catalog').trim().split('\n')).toContain('catalog/.index/dev/wiki/hourly.json');
    const index = JSON.parse(gitCli(repo, 'show', 'coffer-catalog:catalog/.index/dev/wiki/hourly.json')) as { tree: string; items: Array<{ name: string }> };
    expect(index.tree).toBe(gitCli(repo, 'rev-parse', 'coffer-catalog:catalog/dev/wiki/hourly').trim());
    expect(index.items.map((i) => `wiki/hourly/${i.name}`)).toEqual(gitListing(repo, 'coffer-catalog').filter((n) => n.startsWith('wiki/hourly/')));
    const page = await catalog.listRestorePoints();
    expect(page).toMatchObject({ problems: [], stale: [] });
    expect(page.continue).toBeUndefined();
    expect(names(page.items)).toEqual(gitListing(repo, 'coffer-catalog'));
    expect(await catalog.checkIndex()).toEqual({ directories: 6, restorePoints: 24, stale: [], orphans: [], problems: [] });
  });

  describe('paging (limit/continue, like the Kubernetes list API)', () => {
    it.each([
      { name: 'one at a time', limit: 1 },
      { name: 'pages that end inside a directory', limit: 5 },
      { name: 'pages that end on a directory boundary', limit: 4 },
      { name: 'exactly everything', limit: 24 },
      { name: 'more than everything', limit: 100 },
    ])('$name (limit $limit): the pages concatenate to the full listing', async ({ limit }) => {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await catalog.listRestorePoints({ limit, ...(token ? { continue: token } : {}) });
        expect(page.items.length).toBeLessThanOrEqual(limit);
        seen.push(...names(page.items));
        token = page.continue;
        pages++;
      } while (token);
      expect(seen).toEqual(gitListing(repo, 'coffer-catalog'));
      expect(pages).toBe(Math.max(1, Math.ceil(24 / limit)));
    });

    it('filters before paging, and a continued listing stays on the snapshot of its first page', async () => {
      const first = await catalog.listRestorePoints({ policy: 'hourly', limit: 5 });
      expect(names(first.items).every((n) => n.includes('/hourly/'))).toBe(true);
      // A new restore point lands between the pages: the continued listing does not see it (one snapshot).
      const { run, rp } = backup({ namespace: 'blog', policy: 'hourly', start: new Date(Date.UTC(2026, 10, 30, 1)) });
      await catalog.recordBackup(run, rp);
      const rest = await catalog.listRestorePoints({ policy: 'hourly', limit: 100, continue: first.continue! });
      expect([...names(first.items), ...names(rest.items)]).toEqual(gitListing(repo, 'coffer-catalog~1').filter((n) => n.includes('/hourly/')));
      expect(names((await catalog.listRestorePoints({ policy: 'hourly' })).items)).toContain(`blog/hourly/${rp.metadata.name}`);
    });

    it('refuses a token it did not issue (400) and one whose commit is gone (410)', async () => {
      await expect(catalog.listRestorePoints({ continue: 'bm90LWEtdG9rZW4' })).rejects.toMatchObject({ code: 'E_CATALOG_CONTINUE_INVALID', status: 400 });
      const scratch = tempDir('catalog-index-gone');
      try {
        const r = makePolicyRepo(join(scratch, 'p'), { 'coffer.yaml': CONFIG });
        const c = openCatalog({ source: await openSource({ source: r }), cluster: 'dev' });
        for (const i of [1, 2]) {
          const { run, rp } = backup({ namespace: 'shop', policy: 'daily', start: new Date(Date.UTC(2026, 10, i, 1)) });
          await c.recordBackup(run, rp);
        }
        const page = await c.listRestorePoints({ limit: 1 });
        // History rewritten by hand and pruned: the commit the token names no longer exists.
        gitCli(r, 'branch', '-f', 'coffer-catalog', 'main');
        gitCli(r, 'reflog', 'expire', '--expire=now', '--all');
        gitCli(r, 'gc', '-q', '--prune=now');
        const again = openCatalog({ source: await openSource({ source: r }), cluster: 'dev' });
        await expect(again.listRestorePoints({ continue: page.continue! })).rejects.toMatchObject({ code: 'E_CATALOG_CONTINUE_EXPIRED', status: 410 });
        const cli = capture(r);
        expect(await main(['restorepoints', '--continue', page.continue!], cli.io)).toBe(1);
        expect(cli.err()).toMatch(/^error: continue token is for catalog commit [0-9a-f]{12}, which is no longer in the repository; list again without it/);
      } finally {
        cleanup(scratch);
      }
    });

    it('coffer restorepoints --limit prints a continue hint; -o json carries it as metadata.continue', async () => {
      const t = capture(repo);
      expect(await main(['restorepoints', '--limit', '2', '-o', 'name'], t.io)).toBe(0);
      expect(t.out().trim().split('\n')).toHaveLength(2);
      const token = /--continue (\S+)/.exec(t.err())![1]!;
      const j = capture(repo);
      expect(await main(['restorepoints', '--limit', '3', '--continue', token, '-o', 'json'], j.io)).toBe(0);
      const list = JSON.parse(j.out()) as { items: RestorePoint[]; metadata: { continue: string } };
      expect(list.items.map((d) => `${d.spec.namespace}/${d.spec.policy}/${d.metadata.name}`)).toEqual(gitListing(repo, 'coffer-catalog').slice(2, 5));
      expect(list.metadata.continue).toMatch(/^[A-Za-z0-9_-]+$/);
      const bad = capture(repo);
      expect(await main(['restorepoints', '--limit', '0'], bad.io)).toBe(1);
      expect(bad.err()).toBe('error: --limit "0": expected a whole number of at least 1\n');
    });
  });

  it('streams -o json and -o yaml byte for byte as the whole List document would print', async () => {
    const items = [{ a: 1, b: { c: [1, 2] } }, { a: 2, s: 'x: y', u: 'line\u2028separator' }, { a: 3 }];
    for (const [batches, all] of [[[[items[0]], [], [items[1], items[2]]], items], [[[]], []]] as const) {
      for (const format of ['json', 'yaml'] as const) {
        const c = capture(dir);
        await writeListStream(c.io, format, 'ThingList', (async function* () {
          yield* batches as unknown as unknown[][];
        })());
        const list = { apiVersion: 'coffer.dev/v1alpha1', kind: 'ThingList', items: all };
        expect(c.out()).toBe(format === 'json' ? `${JSON.stringify(list, null, 2)}\n` : YAML.stringify(list));
      }
    }
    const c = capture(repo);
    expect(await main(['restorepoints', '-A', '-o', 'json'], c.io)).toBe(0);
    expect((JSON.parse(c.out()) as { items: RestorePoint[] }).items.map((d) => `${d.spec.namespace}/${d.spec.policy}/${d.metadata.name}`)).toEqual(gitListing(repo, 'coffer-catalog'));
  });

  it('a corrupted index is found by check, never trusted by listings, and mended by reindex', async () => {
    const tip = plainGitCommit(repo, 'coffer-catalog', {
      'catalog/.index/dev/shop/daily.json': '{"apiVersion":"coffer.dev/v1alpha1","kind":"RestorePointIndex","tree":"0000000000000000000000000000000000000000","items":[],"problems":[]}\n',
      'catalog/.index/dev/blog/daily.json': 'not json at all',
    });
    const check = capture(repo);
    expect(await main(['catalog', 'check'], check.io)).toBe(1);
    expect(check.out()).toContain('stale index: catalog/.index/dev/blog/daily.json (does not describe the current documents)');
    expect(check.out()).toContain('stale index: catalog/.index/dev/shop/daily.json (does not describe the current documents)');
    // The documents did not change, so the cluster index still vouches for the policy indexes, which name the index
    // blobs the documents were indexed with: a listing of everything or of one policy never reads the hand-written files.
    const page = await catalog.listRestorePoints();
    expect(names(page.items)).toEqual(gitListing(repo, tip));
    expect(page.stale).toEqual([]);
    expect(names((await catalog.listRestorePoints({ policy: 'daily' })).items)).toEqual(gitListing(repo, tip).filter((n) => n.includes('/daily/')));
    // A namespace's listing walks its tree and meets the corrupted file: it falls back to the documents and says so.
    const shop = await catalog.listRestorePoints({ namespace: 'shop' });
    expect(names(shop.items)).toEqual(gitListing(repo, tip).filter((n) => n.startsWith('shop/')));
    expect(shop.stale).toEqual(['catalog/dev/shop/daily']);
    const list = capture(repo);
    expect(await main(['restorepoints', '-n', 'blog'], list.io)).toBe(0);
    expect(list.err()).toContain('warning: the index of 1 directory does not match the documents (read from the documents instead); run coffer catalog reindex');

    const re = capture(repo);
    expect(await main(['catalog', 'reindex'], re.io)).toBe(0);
    expect(re.out()).toMatch(/Committed [0-9a-f]{12} to coffer-catalog\.\n$/);
    expect(gitCli(repo, 'log', '-1', '--format=%s', 'coffer-catalog').trim()).toBe('catalog: reindex 2 directories');
    expect(gitCli(repo, 'show', '--name-only', '--format=', 'coffer-catalog').trim().split('\n').sort()).toEqual(['catalog/.index/dev/blog/daily.json', 'catalog/.index/dev/shop/daily.json']);
    const fixed = JSON.parse(gitCli(repo, 'show', 'coffer-catalog:catalog/.index/dev/shop/daily.json')) as { tree: string; items: Array<{ name: string }> };
    expect(fixed.tree).toBe(gitCli(repo, 'rev-parse', 'coffer-catalog:catalog/dev/shop/daily').trim());
    expect(fixed.items.map((i) => `shop/daily/${i.name}`)).toEqual(gitListing(repo, 'coffer-catalog').filter((n) => n.startsWith('shop/daily/')));
    const ok = capture(repo);
    expect(await main(['catalog', 'check'], ok.io)).toBe(0);
    expect(ok.out()).toContain('index: consistent with the documents');
    const again = capture(repo);
    expect(await main(['catalog', 'reindex'], again.io)).toBe(0);
    expect(again.out()).toContain('Nothing to repair.');
  });

  it('documents added or removed with plain git are detected; the next Coffer commit to that directory rebuilds its index', async () => {
    const { rp } = backup({ namespace: 'wiki', policy: 'daily', start: new Date(Date.UTC(2026, 11, 1, 1)) });
    const added = `catalog/dev/wiki/daily/${rp.metadata.name}.yaml`;
    const gone = gitCli(repo, 'ls-tree', '--name-only', 'coffer-catalog', 'catalog/dev/blog/hourly/').trim().split('\n');
    plainGitCommit(repo, 'coffer-catalog', { [added]: documentText(rp) }, gone);
    const check = await catalog.checkIndex();
    expect(check.stale).toEqual([
      { path: 'catalog/.index/dev/wiki/daily.json', reason: 'does not describe the current documents' },
      // The cluster's documents changed, so its cluster index no longer vouches; the two policies' directories moved.
      { path: 'catalog/.index/.policies/dev/daily.json', reason: 'does not describe the current directories' },
      { path: 'catalog/.index/.policies/dev/hourly.json', reason: 'does not describe the current directories' },
      { path: 'catalog/.index/.clusters/dev.json', reason: 'does not describe the current directories' },
    ]);
    expect(check.orphans).toEqual(['catalog/.index/dev/blog/hourly.json']);
    // Listings of everything, of one policy and of one namespace all walk the trees now, and see both changes.
    const page = await catalog.listRestorePoints();
    expect(names(page.items)).toContain(`wiki/daily/${rp.metadata.name}`);
    expect(names(page.items)).toEqual(gitListing(repo, 'coffer-catalog'));
    expect(page.stale).toEqual(['catalog/dev/wiki/daily']);
    expect(names((await catalog.listRestorePoints({ policy: 'hourly' })).items)).toEqual(gitListing(repo, 'coffer-catalog').filter((n) => n.includes('/hourly/')));
    // Coffer's next commit to the directory starts from the documents, not from the stale index.
    const next = backup({ namespace: 'wiki', policy: 'daily', start: new Date(Date.UTC(2026, 11, 2, 1)) });
    await catalog.recordBackup(next.run, next.rp);
    const index = JSON.parse(gitCli(repo, 'show', 'coffer-catalog:catalog/.index/dev/wiki/daily.json')) as { items: Array<{ name: string }> };
    expect(index.items.map((i) => i.name)).toEqual([...gitListing(repo, 'coffer-catalog').filter((n) => n.startsWith('wiki/daily/')).map((n) => n.split('/')[2])]);
    expect(index.items.map((i) => i.name)).toContain(rp.metadata.name);
    const after = await catalog.reindex();
    expect(after.stale).toEqual([]);
    expect(after.orphans).toEqual(['catalog/.index/dev/blog/hourly.json']);
    expect(gitCli(repo, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'catalog/.index/dev/blog/').trim().split('\n')).toEqual(['catalog/.index/dev/blog/daily.json']);
    expect(await catalog.checkIndex()).toMatchObject({ stale: [], orphans: [] });
  });

  it('run records are indexed by hour; one committed with plain git is detected, still listed, and reindexed', async () => {
    const start = new Date(Date.UTC(2026, 11, 5, 7, 30));
    const a = backup({ namespace: 'shop', policy: 'daily', start, suffix: 'coffer' });
    await catalog.recordBackup(a.run, a.rp);
    const shard = 'runs/.index/dev/2026-12-05/07.json';
    expect((JSON.parse(gitCli(repo, 'show', `coffer-catalog:${shard}`)) as { items: Array<{ metadata: { name: string } }> }).items.map((r) => r.metadata.name)).toEqual([a.run.metadata.name]);
    const b = backup({ namespace: 'blog', policy: 'daily', start: new Date(start.getTime() + 60_000), suffix: 'byhand' });
    plainGitCommit(repo, 'coffer-catalog', { [`runs/dev/2026-12-05/${b.run.metadata.name}.yaml`]: documentText(b.run) });
    expect((await catalog.checkIndex()).stale).toEqual([{ path: 'runs/.index/dev/2026-12-05', reason: '1 hour of run records not indexed' }]);
    const since = new Date(Date.UTC(2026, 11, 5));
    expect((await catalog.readRuns({ since })).map((r) => r.metadata.name)).toEqual([b.run.metadata.name, a.run.metadata.name]);
    await catalog.reindex();
    expect((JSON.parse(gitCli(repo, 'show', `coffer-catalog:${shard}`)) as { items: Array<{ metadata: { name: string } }> }).items.map((r) => r.metadata.name)).toEqual([a.run.metadata.name, b.run.metadata.name]);
    expect((await catalog.checkIndex()).stale).toEqual([]);
    expect((await catalog.readRuns({ since })).map((r) => r.metadata.name)).toEqual([b.run.metadata.name, a.run.metadata.name]);
  });

  describe('unreadable documents', () => {
    it('are reported with path and line, skipped and counted; the other documents are all still listed', async () => {
      const broken = 'catalog/dev/shop/daily/daily-20261201-010000.yaml';
      const wrongKind = 'catalog/dev/shop/daily/daily-20261202-010000.yaml';
      plainGitCommit(repo, 'coffer-catalog', {
        [broken]: 'apiVersion: coffer.dev/v1alpha1\nkind: RestorePoint\nmetadata:\n  name: [unclosed\n',
        [wrongKind]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n',
      });
      const want = gitListing(repo, 'coffer-catalog');
      const shop = want.filter((n) => n.startsWith('shop/')).length;
      const page = await catalog.listRestorePoints();
      expect(page.problems.map((p) => [p.path, p.line])).toEqual([
        [broken, 5],
        [wrongKind, 1],
      ]);
      expect(page.problems[1]!.message).toBe('not a RestorePoint (kind: ConfigMap)');
      expect(names(page.items)).toEqual(want);
      const c = capture(repo);
      expect(await main(['restorepoints', '-n', 'shop'], c.io)).toBe(0);
      expect(c.err()).toMatch(new RegExp(`^warning: ${broken}:5:\\d+: .+\nwarning: ${wrongKind}:1: not a RestorePoint \\(kind: ConfigMap\\)\nwarning: 2 catalog documents could not be read and were skipped\n`));
      expect(c.out().trim().split('\n').slice(1)).toHaveLength(shop);
      const json = capture(repo);
      expect(await main(['restorepoints', '-n', 'shop', '-o', 'json'], json.io)).toBe(0);
      expect((JSON.parse(json.out()) as { items: unknown[] }).items).toHaveLength(shop);
      expect(json.err()).toContain('warning: 2 catalog documents could not be read and were skipped');
      // After a reindex the index remembers them, so indexed listings still warn.
      await catalog.reindex();
      const indexed = await catalog.listRestorePoints({ namespace: 'shop' });
      expect(indexed.stale).toEqual([]);
      expect(indexed.problems.map((p) => p.path)).toEqual([broken, wrongKind]);
      expect((await catalog.readRestorePoints({ namespace: 'shop' })).length).toBe(shop);
    });
  });

  it('a commit of many objects lands as one pack that git verifies and reads; a small one stays loose', async () => {
    const packs = (): string[] => readdirSync(join(repo, '.git', 'objects', 'pack')).filter((f) => f.endsWith('.idx'));
    const before = packs();
    const put = Array.from({ length: 80 }, (_, i) => ({ path: `reports/bulk/r-${String(i).padStart(3, '0')}.txt`, content: `report ${i}\n`.repeat(i + 1) }));
    const res = await catalog.commitChanges({ put }, 'bulk: 80 reports');
    const added = packs().filter((f) => !before.includes(f));
    expect(added).toHaveLength(1);
    const verify = gitCli(repo, 'verify-pack', '-v', join(repo, '.git', 'objects', 'pack', added[0]!));
    expect(verify).toContain(`${res.commit} commit`);
    expect(verify).toMatch(/^non delta: \d+ objects/m);
    gitCli(repo, 'fsck', '--strict', '--no-dangling');
    for (const f of [put[0]!, put[79]!]) expect(gitCli(repo, 'show', `coffer-catalog:${f.path}`)).toBe(f.content);
    // Coffer's own reader (a fresh one, as a new process would) and a one-file commit, which stays loose.
    expect(new ObjectReader(join(repo, '.git')).read(res.commit).type).toBe('commit');
    const small = await catalog.commitChanges({ put: [{ path: 'reports/bulk/one.txt', content: 'one\n' }] }, 'one report');
    expect(packs()).toHaveLength(before.length + 1);
    expect(gitCli(repo, 'cat-file', '-t', small.commit).trim()).toBe('commit');
    await catalog.commitChanges({ delete: [...put.map((f) => f.path), 'reports/bulk/one.txt'] }, 'bulk: remove');
  });

  it('the object reader returns every object of a gc-packed repository exactly as git stores it', () => {
    const copy = join(dir, 'packed.git');
    gitCli(dir, 'clone', '-q', '--bare', '--no-local', repo, copy);
    gitCli(copy, 'fetch', '-q', repo, 'coffer-catalog:coffer-catalog');
    gitCli(copy, 'gc', '-q', '--aggressive');
    const all = gitCli(copy, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype) %(deltabase)').trim().split('\n');
    expect(all.filter((l) => !l.endsWith(' 0000000000000000000000000000000000000000')).length).toBeGreaterThan(10); // deltas are exercised
    // Pack indexes read whole, and read in blocks on demand (as a million-commit history's would be).
    for (const reader of [new ObjectReader(copy), new ObjectReader(copy, { wholeIndexBytes: 0, indexBlockBytes: 64 })]) {
      for (const line of all) {
        const [oid, type] = line.split(' ') as [string, string];
        const o = reader.read(oid);
        expect(o.type).toBe(type);
        expect(createHash('sha1').update(`${o.type} ${o.data.length}\0`).update(o.data).digest('hex')).toBe(oid);
      }
      expect(reader.has('0'.repeat(40), false)).toBe(false);
      expect(reader.has('f'.repeat(40), false)).toBe(false);
      reader.close();
    }
    // Coffer's indexer of a fetched pack (deltas included) writes the .idx git wrote, byte for byte.
    const packDir = join(copy, 'objects', 'pack');
    const packFiles = readdirSync(packDir).filter((n) => n.endsWith('.pack'));
    expect(packFiles.length).toBeGreaterThan(0);
    for (const f of packFiles) {
      expect(indexPack(readFileSync(join(packDir, f))).equals(readFileSync(join(packDir, f.replace(/\.pack$/, '.idx'))))).toBe(true);
    }
  });
});
