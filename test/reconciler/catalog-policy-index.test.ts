import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { documentText } from '../../reconciler/catalog/document.ts';
import { openCatalog, type Catalog, type RestorePoint } from '../../reconciler/catalog/index.ts';
import { parseClusterIndex, parsePolicyIndex, renderClusterIndex, renderPolicyIndex } from '../../reconciler/catalog/policy-index.ts';
import { renderIndex, withoutFiles, type IndexItem, type RestorePointIndex } from '../../reconciler/catalog/summary.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { capture as captureIO } from '../cli-capture.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, plainGitCommit, tempDir } from './git-helpers.ts';

const CONFIG = 'apiVersion: coffer.dev/v1alpha1\nkind: Config\nmetadata:\n  name: repo\nspec:\n  cluster: dev\n';
const NAMESPACES = ['blog', 'shop', 'wiki'];
const POLICIES = ['daily', 'hourly'];
const TREE_A = 'a'.repeat(40);
const TREE_B = 'b'.repeat(40);

const capture = (cwd: string) => captureIO(cwd, { COFFER_CACHE_DIR: process.env.COFFER_CACHE_DIR });
const names = (items: Array<{ namespace: string; policy: string; name: string }>): string[] => items.map((i) => `${i.namespace}/${i.policy}/${i.name}`);
const show = (repo: string, spec: string): string => gitCli(repo, 'show', spec);
const revParse = (repo: string, spec: string): string => gitCli(repo, 'rev-parse', spec).trim();

/** One policy's restore points as the git CLI reads them (every document parsed), in listing order. */
function gitPolicy(repo: string, ref: string, policy: string): string[] {
  return gitCli(repo, 'ls-tree', '-r', '--name-only', ref, 'catalog/dev/')
    .trim()
    .split('\n')
    .filter((p) => p.split('/')[3] === policy && p.endsWith('.yaml'))
    .map((p) => YAML.parse(show(repo, `${ref}:${p}`)) as RestorePoint)
    .sort((a, b) => (a.spec.namespace + a.spec.startTime < b.spec.namespace + b.spec.startTime ? -1 : 1))
    .map((d) => `${d.spec.namespace}/${d.spec.policy}/${d.metadata.name}`);
}

/** Restore point documents for `catalog.commitChanges`: `n` per (namespace, policy), from `day` of November. */
function documents(pairs: Array<[string, string]>, day: number, n = 1): Array<{ path: string; content: string }> {
  return pairs.flatMap(([namespace, policy]) =>
    Array.from({ length: n }, (_, i) => {
      const { rp } = backup({ namespace, policy, start: new Date(Date.UTC(2026, 10, day + i, 1)) });
      return { path: `catalog/dev/${namespace}/${policy}/${rp.metadata.name}.yaml`, content: documentText(rp) };
    }),
  );
}

describe('policy and cluster indexes (catalog/.index/.policies, .clusters)', () => {
  let dir: string;
  let repo: string;
  let catalog: Catalog;
  beforeAll(async () => {
    dir = tempDir('catalog-policy-index');
    repo = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': CONFIG });
    catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
    await catalog.commitChanges({ put: documents(NAMESPACES.flatMap((ns) => POLICIES.map((p) => [ns, p] as [string, string])), 1, 3) }, 'import');
  });
  afterAll(() => cleanup(dir));

  /** What the cluster and policy indexes at the tip say, checked against the trees the git CLI reads. */
  function expectVouched(ref = 'coffer-catalog'): void {
    const cluster = parseClusterIndex(show(repo, `${ref}:catalog/.index/.clusters/dev.json`))!;
    expect(cluster.tree).toBe(revParse(repo, `${ref}:catalog/dev`));
    const policies = gitCli(repo, 'ls-tree', '--name-only', `${ref}:catalog/.index/.policies/dev`).trim().split('\n');
    expect(Object.keys(cluster.policies).map((p) => `${p}.json`)).toEqual(policies);
    for (const [policy, oid] of Object.entries(cluster.policies)) {
      expect(oid).toBe(revParse(repo, `${ref}:catalog/.index/.policies/dev/${policy}.json`));
      const index = parsePolicyIndex(show(repo, oid))!;
      const namespaces = NAMESPACES.filter((ns) => gitCli(repo, 'ls-tree', '--name-only', `${ref}:catalog/dev/${ns}`).includes(policy));
      expect(index.directories.map((d) => d.namespace)).toEqual(namespaces);
      for (const d of index.directories) {
        expect(d.tree).toBe(revParse(repo, `${ref}:catalog/dev/${d.namespace}/${policy}`));
        expect(d.index).toBe(revParse(repo, `${ref}:catalog/.index/dev/${d.namespace}/${policy}.json`));
      }
    }
  }

  it('are written in the same commit as the documents, name the trees the git CLI reads, and list one policy right', async () => {
    expectVouched();
    for (const policy of POLICIES) expect(names((await catalog.listRestorePoints({ policy })).items)).toEqual(gitPolicy(repo, 'coffer-catalog', policy));
    expect(await catalog.checkIndex()).toMatchObject({ directories: 6, restorePoints: 18, stale: [], orphans: [] });
  });

  it('a backup rewrites the cluster index and its own policy index only', async () => {
    const { run, rp } = backup({ namespace: 'shop', policy: 'daily', start: new Date(Date.UTC(2026, 10, 10, 1)) });
    await catalog.recordBackup(run, rp);
    const changed = gitCli(repo, 'show', '--name-only', '--format=', 'coffer-catalog').trim().split('\n');
    expect(changed.filter((p) => p.startsWith('catalog/.index/.'))).toEqual(['catalog/.index/.clusters/dev.json', 'catalog/.index/.policies/dev/daily.json']);
    expectVouched();
    expect(names((await catalog.listRestorePoints({ policy: 'daily' })).items)).toContain(`shop/daily/${rp.metadata.name}`);
  });

  it('a corrupted policy or cluster index is found by check naming its path, never changes a listing, and reindex mends it', async () => {
    const before = revParse(repo, 'coffer-catalog');
    const cases: Array<{ name: string; put: Record<string, string>; stale: string[] }> = [
      { name: 'a policy index that is not JSON', put: { 'catalog/.index/.policies/dev/daily.json': 'not json' }, stale: ['catalog/.index/.policies/dev/daily.json'] },
      {
        name: 'a cluster index naming another tree',
        put: { 'catalog/.index/.clusters/dev.json': renderClusterIndex('dev', TREE_A, new Map()) },
        stale: ['catalog/.index/.clusters/dev.json'],
      },
      {
        // The right cluster tree, but one policy index it names is unreadable: listings walk the trees instead.
        name: 'a cluster index naming an unreadable policy index',
        put: {
          'catalog/.index/.clusters/dev.json': renderClusterIndex(
            'dev',
            revParse(repo, 'coffer-catalog:catalog/dev'),
            new Map([
              ['daily', revParse(repo, 'coffer-catalog:catalog/.index/dev/shop/daily.json')],
              ['hourly', revParse(repo, 'coffer-catalog:catalog/.index/.policies/dev/hourly.json')],
            ]),
          ),
        },
        stale: ['catalog/.index/.clusters/dev.json'],
      },
      {
        name: 'a cluster index naming a policy index that is not in the repository',
        put: {
          'catalog/.index/.clusters/dev.json': renderClusterIndex(
            'dev',
            revParse(repo, 'coffer-catalog:catalog/dev'),
            new Map([
              ['daily', 'c'.repeat(40)],
              ['hourly', revParse(repo, 'coffer-catalog:catalog/.index/.policies/dev/hourly.json')],
            ]),
          ),
        },
        stale: ['catalog/.index/.clusters/dev.json'],
      },
    ];
    for (const c of cases) {
      gitCli(repo, 'update-ref', 'refs/heads/coffer-catalog', before);
      const tip = plainGitCommit(repo, 'coffer-catalog', c.put, [], c.name);
      for (const policy of POLICIES) expect(names((await catalog.listRestorePoints({ policy })).items), c.name).toEqual(gitPolicy(repo, tip, policy));
      const check = capture(repo);
      expect(await main(['catalog', 'check'], check.io), c.name).toBe(1);
      for (const path of c.stale) expect(check.out(), c.name).toContain(`stale index: ${path} (does not describe the current directories)`);
      const re = await catalog.reindex();
      expect(re.stale.map((s) => s.path), c.name).toEqual(c.stale);
      expect(gitCli(repo, 'show', '--name-only', '--format=', 'coffer-catalog').trim().split('\n'), c.name).toEqual(c.stale);
      expectVouched();
      expect(await catalog.checkIndex(), c.name).toMatchObject({ stale: [], orphans: [] });
    }
  });

  it('documents committed with plain git (no index): every listing stays right, check reports, the next Coffer commit rebuilds', async () => {
    const added = documents([['wiki', 'daily']], 20)[0]!;
    const gone = gitCli(repo, 'ls-tree', '--name-only', 'coffer-catalog', 'catalog/dev/blog/hourly/').trim().split('\n')[0]!;
    const tip = plainGitCommit(repo, 'coffer-catalog', { [added.path]: added.content }, [gone]);
    for (const policy of POLICIES) expect(names((await catalog.listRestorePoints({ policy })).items)).toEqual(gitPolicy(repo, tip, policy));
    expect((await catalog.checkIndex()).stale.map((s) => s.path)).toEqual([
      'catalog/.index/dev/blog/hourly.json',
      'catalog/.index/dev/wiki/daily.json',
      'catalog/.index/.policies/dev/daily.json',
      'catalog/.index/.policies/dev/hourly.json',
      'catalog/.index/.clusters/dev.json',
    ]);
    // A Coffer commit to the one stale directory: its index, both policy indexes and the cluster index are rebuilt.
    const { run, rp } = backup({ namespace: 'wiki', policy: 'daily', start: new Date(Date.UTC(2026, 10, 21, 1)) });
    await catalog.recordBackup(run, rp);
    expectVouched();
    // What reindex would write: blog/hourly's index, so the hourly policy index naming it, so the cluster index.
    expect((await catalog.checkIndex()).stale.map((s) => s.path)).toEqual(['catalog/.index/dev/blog/hourly.json', 'catalog/.index/.policies/dev/hourly.json', 'catalog/.index/.clusters/dev.json']);
    await catalog.reindex();
    expect(await catalog.checkIndex()).toMatchObject({ stale: [], orphans: [] });
    for (const policy of POLICIES) expect(names((await catalog.listRestorePoints({ policy })).items)).toEqual(gitPolicy(repo, 'coffer-catalog', policy));
  });

  it('a merge of two catalog branches (the index files conflict) lists right, and the next Coffer commit rebuilds', async () => {
    gitCli(repo, 'branch', '-f', 'side', 'coffer-catalog');
    const side = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev', branch: 'side' });
    await side.commitChanges({ put: documents([['shop', 'daily']], 25) }, 'side: shop/daily');
    await catalog.commitChanges({ put: documents([['blog', 'daily'], ['wiki', 'hourly']], 26) }, 'main: blog/daily, wiki/hourly');
    // git merge-tree writes the merged tree even when files conflict (with conflict markers), as a careless merge would.
    let merged: string;
    try {
      merged = gitCli(repo, 'merge-tree', '--write-tree', 'coffer-catalog', 'side');
    } catch (e) {
      merged = String((e as { stdout?: string }).stdout); // exit 1: conflicts, the tree is written anyway
    }
    const tree = merged.split('\n')[0]!.trim();
    const merge = gitCli(repo, 'commit-tree', tree, '-p', 'coffer-catalog', '-p', 'side', '-m', 'merge side').trim();
    gitCli(repo, 'update-ref', 'refs/heads/coffer-catalog', merge);
    expect(show(repo, 'coffer-catalog:catalog/.index/.clusters/dev.json')).toContain('<<<<<<<');
    for (const policy of POLICIES) expect(names((await catalog.listRestorePoints({ policy })).items)).toEqual(gitPolicy(repo, merge, policy));
    expect((await catalog.checkIndex()).stale.map((s) => s.path)).toContain('catalog/.index/.clusters/dev.json');
    await catalog.commitChanges({ put: documents([['shop', 'hourly']], 27) }, 'after the merge');
    expectVouched();
    expect(await catalog.checkIndex()).toMatchObject({ stale: [], orphans: [] });
  });

  it('a directory emptied by retention leaves its policy index; a policy with no directories left loses its own', async () => {
    const paths = (ns: string, policy: string): string[] => gitCli(repo, 'ls-tree', '--name-only', 'coffer-catalog', `catalog/dev/${ns}/${policy}/`).trim().split('\n');
    await catalog.commitChanges({ delete: paths('blog', 'hourly') }, 'retention: blog/hourly');
    expectVouched();
    expect(parsePolicyIndex(show(repo, 'coffer-catalog:catalog/.index/.policies/dev/hourly.json'))!.directories.map((d) => d.namespace)).toEqual(['shop', 'wiki']);
    await catalog.commitChanges({ delete: [...paths('shop', 'hourly'), ...paths('wiki', 'hourly')] }, 'retention: hourly');
    expectVouched();
    expect(gitCli(repo, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'catalog/.index/').trim().split('\n').filter((p) => p.includes('hourly'))).toEqual([]);
    expect(await catalog.listRestorePoints({ policy: 'hourly' })).toMatchObject({ items: [], stale: [] });
    expect(await catalog.checkIndex()).toMatchObject({ stale: [], orphans: [] });
  });
});

describe('withoutFiles: an index edited as text equals the index parsed, edited and rendered', () => {
  // Keys in the order indexItem writes them: name, file, phase, …
  const item = (name: string, { file, ...extra }: Partial<IndexItem> = {}): IndexItem => ({ name, ...(file ? { file } : {}), phase: 'Succeeded', startTime: `2026-11-${name.slice(-2)}T01:00:00.000Z`, volumes: 1, bytes: 10, ...extra });
  const index = (items: IndexItem[], problems: RestorePointIndex['problems'] = []): RestorePointIndex => ({ apiVersion: 'coffer.dev/v1alpha1', kind: 'RestorePointIndex', tree: TREE_A, items, problems });
  const drop = (i: RestorePointIndex, files: Set<string>): RestorePointIndex => ({
    ...i,
    tree: TREE_B,
    items: i.items.filter((x) => !files.has(x.file ?? `${x.name}.yaml`)),
    problems: i.problems.filter((p) => !files.has(p.file)),
  });
  // Cases: the shapes renderIndex writes (reconciler/catalog/summary.ts), including the ones derive.ts meets in retention.
  it.each([
    { name: 'one of several items', i: index([item('d-01'), item('d-02'), item('d-03')]), files: ['d-02.yaml'] },
    { name: 'the last item (its line had no comma)', i: index([item('d-01'), item('d-02')]), files: ['d-02.yaml'] },
    { name: 'every item', i: index([item('d-01'), item('d-02')]), files: ['d-01.yaml', 'd-02.yaml'] },
    { name: 'a file not in the index', i: index([item('d-01')]), files: ['x.yaml'] },
    { name: 'an item whose file is not <name>.yaml', i: index([item('d-01', { file: 'renamed.yaml' }), item('d-02')]), files: ['renamed.yaml'] },
    { name: 'a name needing escapes', i: index([item('q"\\-01'), item('d-02')]), files: ['q"\\-01.yaml'] },
    { name: 'a problem', i: index([item('d-01')], [{ file: 'bad.yaml', line: 3, message: 'x' }, { file: 'worse.yaml', message: 'y' }]), files: ['bad.yaml'] },
    { name: 'an empty index', i: index([]), files: ['d-01.yaml'] },
    { name: 'optional fields', i: index([item('d-01', { endTime: '2026-11-01T01:01:00.000Z', trigger: 'manual', pinned: true, expires: '2026-12-01T00:00:00.000Z' })]), files: [] },
  ])('$name', ({ i, files }) => {
    const set = new Set(files);
    expect(withoutFiles(renderIndex(i), TREE_A, TREE_B, set)).toBe(renderIndex(drop(i, set)));
  });

  it.each([
    { name: 'another base tree', text: renderIndex(index([item('d-01')])), base: TREE_B },
    { name: 'pretty-printed JSON', text: `${JSON.stringify(index([item('d-01')]), null, 2)}\n`, base: TREE_A },
    { name: 'an item with its name not first', text: renderIndex(index([item('d-01')])).replace('{"name":"d-01","phase":"Succeeded"', '{"phase":"Succeeded","name":"d-01"'), base: TREE_A },
    { name: 'a cut-off file', text: renderIndex(index([item('d-01')])).slice(0, -3), base: TREE_A },
    { name: 'another kind', text: renderIndex(index([])).replace('RestorePointIndex', 'Other'), base: TREE_A },
  ])('refuses $name (the caller parses instead)', ({ text, base }) => {
    expect(withoutFiles(text, base, TREE_B, new Set(['d-01.yaml']))).toBeUndefined();
  });
});

describe('policy and cluster index files', () => {
  it('render one entry per line and parse back; anything else is not trusted', () => {
    const p = renderPolicyIndex('daily', [
      { namespace: 'shop', tree: TREE_A, index: TREE_B },
      { namespace: 'blog', tree: TREE_B },
    ]);
    expect(p.split('\n').filter((l) => l.includes('"namespace"'))).toEqual([`    {"namespace":"blog","tree":"${TREE_B}"},`, `    {"namespace":"shop","tree":"${TREE_A}","index":"${TREE_B}"}`]);
    expect(parsePolicyIndex(p)).toEqual({ apiVersion: 'coffer.dev/v1alpha1', kind: 'PolicyIndex', policy: 'daily', directories: [{ namespace: 'blog', tree: TREE_B }, { namespace: 'shop', tree: TREE_A, index: TREE_B }] });
    const c = renderClusterIndex('dev', TREE_A, new Map([['hourly', TREE_B], ['daily', TREE_A]]));
    expect(parseClusterIndex(c)).toEqual({ apiVersion: 'coffer.dev/v1alpha1', kind: 'ClusterIndex', cluster: 'dev', tree: TREE_A, policies: { daily: TREE_A, hourly: TREE_B } });
    expect(Object.keys(parseClusterIndex(c)!.policies)).toEqual(['daily', 'hourly']);
    for (const bad of ['', 'null', '[]', p.replace('PolicyIndex', 'ClusterIndex'), p.replace(TREE_A, 'abc'), p.replace('"shop"', '"../etc"')]) expect(parsePolicyIndex(bad)).toBeUndefined();
    for (const bad of ['{}', c.replace(`"tree": "${TREE_A}"`, '"tree": 1'), c.replace(`"daily": "${TREE_A}"`, '"daily": "x"'), c.replace('"daily"', '"a/b"')]) expect(parseClusterIndex(bad)).toBeUndefined();
  });
});
