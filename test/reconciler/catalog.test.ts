import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type RestorePoint } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import nodeHttp from 'isomorphic-git/http/node';
import type { HttpClient } from 'isomorphic-git';
import { backup, failedRun } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, startGitHttp, tempDir, type GitHttpServer } from './git-helpers.ts';

const execFileP = promisify(execFile);
const T0 = new Date('2026-11-24T01:00:00Z');
const FILES = { 'coffer.yaml': 'kind: Config\n', 'policies/daily.yaml': 'kind: Policy\n' };

describe('catalog on a local repository', () => {
  let dir: string;
  let repo: string;
  beforeAll(() => {
    dir = tempDir('catalog');
    repo = makePolicyRepo(join(dir, 'policies'), FILES);
    writeFileSync(join(repo, 'policies/daily.yaml'), 'dirty edit\n');
  });
  afterAll(() => cleanup(dir));

  it('creates coffer-catalog as an orphan branch and writes what the git CLI reads back', async () => {
    const mainBefore = gitCli(repo, 'rev-parse', 'main').trim();
    const statusBefore = gitCli(repo, 'status', '--porcelain');
    const catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev', clock: () => new Date('2026-11-24T01:02:00Z') });
    expect(await catalog.tip()).toBeUndefined();
    const { run, rp } = backup({ namespace: 'shop', policy: 'databases-daily', start: T0, volumes: 3, bytes: Math.round(1.2 * 1024 ** 3) });
    const res = await catalog.recordBackup(run, rp);
    expect(res).toMatchObject({ changed: true, attempts: 1, restorePointPath: 'catalog/dev/shop/databases-daily/databases-daily-20261124-010000.yaml' });

    expect(gitCli(repo, 'rev-parse', 'coffer-catalog').trim()).toBe(res.commit);
    expect(gitCli(repo, 'log', '-1', '--format=%s', 'coffer-catalog').trim()).toBe('backup: shop/databases-daily 2026-11-24T01:00Z ok, 3 volumes, 1.2 GiB');
    expect(gitCli(repo, 'log', '-1', '--format=%an <%ae> %aI', 'coffer-catalog').trim()).toBe('Coffer <coffer@localhost> 2026-11-24T01:02:00+00:00');
    expect(gitCli(repo, 'rev-list', '--count', 'coffer-catalog').trim()).toBe('1'); // orphan: no history shared with main
    const shown = YAML.parse(gitCli(repo, 'show', `coffer-catalog:${res.restorePointPath}`)) as RestorePoint;
    expect(shown).toEqual(rp);
    expect(gitCli(repo, 'ls-tree', '-r', '--name-only', 'coffer-catalog').trim().split('\n')).toEqual([
      'catalog/.index/.clusters/dev.json',
      'catalog/.index/.policies/dev/databases-daily.json',
      'catalog/.index/dev/shop/databases-daily.json',
      'catalog/dev/shop/databases-daily/databases-daily-20261124-010000.yaml',
      'runs/.index/dev/2026-11-24/01.json',
      'runs/dev/2026-11-24/backup-20261124-010000-a1b2c3.yaml',
      'runs/dev/latest/shop/databases-daily.yaml',
    ]);
    gitCli(repo, 'fsck', '--strict', '--no-dangling');
    // main, the index and the working copy are untouched; the reflog records the update like git would.
    expect(gitCli(repo, 'rev-parse', 'main').trim()).toBe(mainBefore);
    expect(gitCli(repo, 'status', '--porcelain')).toBe(statusBefore);
    expect(gitCli(repo, 'reflog', 'show', '--format=%gs', 'coffer-catalog').trim()).toMatch(/^coffer: backup: shop\/databases-daily/);
  });

  it('is idempotent: recording the same backup again commits nothing', async () => {
    const catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
    const before = gitCli(repo, 'rev-parse', 'coffer-catalog').trim();
    const { run, rp } = backup({ namespace: 'shop', policy: 'databases-daily', start: T0, volumes: 3, bytes: Math.round(1.2 * 1024 ** 3) });
    const res = await catalog.recordBackup(run, rp);
    expect(res).toMatchObject({ changed: false, commit: before });
    expect(gitCli(repo, 'rev-list', '--count', 'coffer-catalog').trim()).toBe('1');
  });

  it('records a failed run without a restore point, and keeps the last success time for the scheduler', async () => {
    const catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
    const t1 = new Date('2026-11-25T01:00:00Z');
    const run = failedRun({ namespace: 'shop', policy: 'databases-daily', start: t1, error: 'mover job data-0 failed: exit code 3' });
    const { rp } = backup({ namespace: 'shop', policy: 'databases-daily', start: t1 });
    await expect(catalog.recordBackup(run, rp)).rejects.toThrow(/never records a restore point/);
    const res = await catalog.recordBackup(run);
    expect(res.changed).toBe(true);
    expect(gitCli(repo, 'log', '-1', '--format=%s', 'coffer-catalog').trim()).toBe('backup: shop/databases-daily 2026-11-25T01:00Z failed: mover job data-0 failed: exit code 3');
    expect((await catalog.readRestorePoints()).map((e) => e.doc.metadata.name)).toEqual(['databases-daily-20261124-010000']);
    expect(await catalog.latestRuns()).toEqual([
      {
        policy: 'databases-daily',
        namespace: 'shop',
        run: run.metadata.name,
        phase: 'Failed',
        startTime: t1.toISOString(),
        endTime: run.status.endTime,
        scheduledFor: t1.toISOString(),
        trigger: 'schedule',
        lastSuccessTime: T0.toISOString(),
      },
    ]);
    const runs = await catalog.readRuns();
    expect(runs.map((r) => [r.status.phase, r.status.restorePoint])).toEqual([
      ['Failed', undefined],
      ['Succeeded', 'databases-daily-20261124-010000'],
    ]);
    expect(await catalog.readRuns({ since: new Date('2026-11-25T00:00:00Z') })).toHaveLength(1);
    expect(await catalog.readRuns({ phase: 'Succeeded' })).toHaveLength(1);
  });

  it('refuses an invalid restore point before writing anything', async () => {
    const catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
    const before = gitCli(repo, 'rev-parse', 'coffer-catalog').trim();
    const { run, rp } = backup({ namespace: 'shop', policy: 'web', start: T0 });
    const bad = { ...rp, spec: { ...rp.spec, planHash: 'md5:nope' } };
    await expect(catalog.recordBackup(run, bad)).rejects.toMatchObject({ code: 'E_CATALOG_INVALID', message: expect.stringContaining('/spec/planHash') });
    await expect(catalog.recordBackup(run, { ...rp, spec: { ...rp.spec, namespace: '../../etc' } })).rejects.toMatchObject({ code: expect.stringMatching(/^E_CATALOG/) });
    expect(gitCli(repo, 'rev-parse', 'coffer-catalog').trim()).toBe(before);
  });

  it('filters restore points by namespace and policy and expires them in one commit', async () => {
    const catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'dev' });
    for (let d = 0; d < 4; d++) {
      const { run, rp } = backup({ namespace: 'blog', policy: 'hourly', start: new Date(Date.UTC(2026, 10, 20 + d)) });
      await catalog.recordBackup(run, rp);
    }
    expect((await catalog.readRestorePoints({ namespace: 'blog' })).map((e) => e.doc.metadata.name)).toEqual([
      'hourly-20261120-000000',
      'hourly-20261121-000000',
      'hourly-20261122-000000',
      'hourly-20261123-000000',
    ]);
    expect(await catalog.readRestorePoints({ policy: 'hourly', namespace: 'shop' })).toEqual([]);
    expect(await catalog.readRestorePoints({ cluster: 'other' })).toEqual([]);
    expect((await catalog.readRestorePoints({ cluster: '*' })).length).toBe(5);
    const res = await catalog.expireRestorePoints('blog', 'hourly', ['hourly-20261120-000000', 'hourly-20261121-000000']);
    expect(res.changed).toBe(true);
    expect(gitCli(repo, 'log', '-1', '--format=%s', 'coffer-catalog').trim()).toBe(
      'retention: blog/hourly expired 2 restore points (hourly-20261120-000000, hourly-20261121-000000)',
    );
    expect(gitCli(repo, 'ls-tree', '--name-only', 'coffer-catalog', 'catalog/dev/blog/hourly/').trim().split('\n')).toEqual([
      'catalog/dev/blog/hourly/hourly-20261122-000000.yaml',
      'catalog/dev/blog/hourly/hourly-20261123-000000.yaml',
    ]);
    // Expiring what is already gone is a no-op, not a second commit.
    expect((await catalog.expireRestorePoints('blog', 'hourly', ['hourly-20261120-000000'])).changed).toBe(false);
    gitCli(repo, 'fsck', '--strict', '--no-dangling');
  });

  it('commits to main when coffer.yaml says so, without touching other files', async () => {
    const bare = makePolicyRepo(join(dir, 'onmain'), FILES, { bare: true });
    const catalog = openCatalog({ source: await openSource({ source: bare }), cluster: 'dev', branch: 'main' });
    const { run, rp } = backup({ namespace: 'shop', policy: 'daily', start: T0 });
    await catalog.recordBackup(run, rp);
    expect(gitCli(bare, 'ls-tree', '-r', '--name-only', 'main').trim().split('\n')).toContain('policies/daily.yaml');
    expect(gitCli(bare, 'log', '--format=%s', 'main').trim().split('\n')).toEqual(['backup: shop/daily 2026-11-24T01:00Z ok, 1 volume, 1.0 KiB', 'initial policies']);
  });
});

describe('concurrent writers', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('catalog-race');
  });
  afterAll(() => cleanup(dir));

  it('nine backups finishing together in one process are queued, not raced', async () => {
    const repo = makePolicyRepo(join(dir, 'nine'), FILES);
    const warnings: string[] = [];
    const catalog = openCatalog({
      source: await openSource({ source: repo }),
      cluster: 'dev',
      branch: 'main',
      log: { info: () => undefined, warn: (m) => warnings.push(m) },
    });
    const results = await Promise.all(
      Array.from({ length: 9 }, (_, i) => {
        const { run, rp } = backup({ namespace: `app-${i}`, policy: 'daily', start: T0 });
        return catalog.recordBackup(run, rp);
      }),
    );
    expect(results.map((r) => r.attempts)).toEqual(Array(9).fill(1));
    expect(gitCli(repo, 'rev-list', '--count', 'main').trim()).toBe('10');
    // main is checked out in that working copy: the user is told once why it now looks modified.
    expect(warnings).toEqual([expect.stringContaining('checked out in a working copy')]);
  });

  it('two processes and the git CLI racing on one repository lose and duplicate nothing', async () => {
    const repo = makePolicyRepo(join(dir, 'policies'), FILES);
    const worker = join(import.meta.dirname, 'catalog-race-worker.ts');
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const N = 8;
    const humans = (async () => {
      for (let i = 0; i < 6; i++) {
        writeFileSync(join(repo, `policies/p${i}.yaml`), `kind: Policy # ${i}\n`);
        await execFileP('git', ['add', '-A'], { cwd: repo });
        await execFileP('git', ['-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', 'commit', '-q', '-m', `policy ${i}`], { cwd: repo });
      }
    })();
    const results = await Promise.all([1, 2].map((w) => execFileP(tsx, [worker, repo, String(w), String(N), 'coffer-catalog'], { cwd: process.cwd() })));
    await humans;
    const rebased = results.map((r) => JSON.parse(r.stdout) as { rebased: number });
    const files = gitCli(repo, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'catalog/dev/').trim().split('\n');
    expect(files).toHaveLength(2 * N);
    expect(new Set(files).size).toBe(2 * N);
    expect(gitCli(repo, 'rev-list', '--count', 'coffer-catalog').trim()).toBe(String(2 * N)); // one commit per restore point, none twice
    const subjects = gitCli(repo, 'log', '--format=%s', 'coffer-catalog').trim().split('\n');
    expect(new Set(subjects).size).toBe(2 * N);
    expect(gitCli(repo, 'rev-list', '--count', 'main').trim()).toBe('7');
    gitCli(repo, 'fsck', '--strict', '--no-dangling');
    // Every restore point is readable by the git CLI and matches what the worker meant to write.
    const one = YAML.parse(gitCli(repo, 'show', 'coffer-catalog:catalog/dev/ns-2/daily/daily-20260101-000500.yaml')) as RestorePoint;
    expect(one.spec.namespace).toBe('ns-2');
    expect(rebased.length).toBe(2);
  }, 120_000);
});

describe('catalog on an HTTP remote', () => {
  let dir: string;
  let server: GitHttpServer;
  let bare: string;
  const env = { COFFER_GIT_TOKEN: 'catalog-token' };
  beforeAll(async () => {
    dir = tempDir('catalog-http');
    bare = makePolicyRepo(join(dir, 'policies'), FILES, { bare: true });
    server = await startGitHttp(dir, { token: env.COFFER_GIT_TOKEN });
  });
  afterAll(async () => {
    await server.close();
    cleanup(dir);
  });

  it('pushes, rebases a push that lost the race, and never duplicates a retried change', async () => {
    const url = server.url('policies.git');
    const a = openCatalog({ source: await openSource({ source: url, cacheDir: join(dir, 'cache-a'), env }), cluster: 'dev' });
    const b = openCatalog({ source: await openSource({ source: url, cacheDir: join(dir, 'cache-b'), env }), cluster: 'dev' });
    const first = backup({ namespace: 'shop', policy: 'daily', start: T0 });
    await a.recordBackup(first.run, first.rp);
    expect(gitCli(bare, 'rev-parse', 'coffer-catalog').trim()).toBe(await a.tip());
    // b learns the tip, then a moves it: b's next push is non-fast-forward and must be rebased onto a's commit.
    expect(await b.tip()).toBe(await a.tip());
    const two = backup({ namespace: 'shop', policy: 'daily', start: new Date('2026-11-25T01:00:00Z') });
    await a.recordBackup(two.run, two.rp);
    const three = backup({ namespace: 'blog', policy: 'daily', start: new Date('2026-11-25T01:00:00Z') });
    const res = await b.commitChanges(
      { put: [{ path: 'catalog/dev/blog/daily/x.yaml', content: YAML.stringify(three.rp) }] },
      'backup: blog/daily 2026-11-25T01:00Z ok, 1 volume, 1.0 KiB',
    );
    expect(res.attempts).toBe(2);
    // The same change again (a retry after a lost response) is recognised as already there.
    const again = await a.commitChanges({ put: [{ path: 'catalog/dev/blog/daily/x.yaml', content: YAML.stringify(three.rp) }] }, 'dup');
    expect(again.changed).toBe(false);
    expect(gitCli(bare, 'log', '--format=%s', 'coffer-catalog').trim().split('\n')).toEqual([
      'backup: blog/daily 2026-11-25T01:00Z ok, 1 volume, 1.0 KiB',
      'backup: shop/daily 2026-11-25T01:00Z ok, 1 volume, 1.0 KiB',
      'backup: shop/daily 2026-11-24T01:00Z ok, 1 volume, 1.0 KiB',
    ]);
    gitCli(bare, 'fsck', '--strict', '--no-dangling');
    expect((await b.readRestorePoints({ cluster: '*' })).map((e) => e.path)).toHaveLength(3);
  });

  it('a push whose response is lost is checked and not committed twice', async () => {
    let dropped = 0;
    const flaky: HttpClient = {
      async request(req) {
        const res = await nodeHttp.request(req);
        if (req.url.endsWith('/git-receive-pack') && dropped === 0) {
          dropped++;
          for await (const _ of res.body ?? []) void _; // the server has processed the push…
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }); // …but we never hear back
        }
        return res;
      },
    };
    const warnings: string[] = [];
    const cat = openCatalog({
      source: await openSource({ source: server.url('policies.git'), cacheDir: join(dir, 'cache-flaky'), env, http: flaky }),
      cluster: 'dev',
      branch: 'flaky',
      log: { info: () => undefined, warn: (m) => warnings.push(m) },
    });
    const { run, rp } = backup({ namespace: 'shop', policy: 'daily', start: T0 });
    const res = await cat.recordBackup(run, rp);
    expect(dropped).toBe(1);
    expect(res).toMatchObject({ changed: true, attempts: 2 });
    expect(warnings).toEqual([expect.stringContaining('push interrupted')]);
    expect(gitCli(bare, 'rev-list', '--count', 'flaky').trim()).toBe('1');
    expect(gitCli(bare, 'rev-parse', 'flaky').trim()).toBe(res.commit);
  });

  it('interleaved writers from two caches all land', async () => {
    const url = server.url('policies.git');
    const cats = await Promise.all(['x', 'y'].map(async (k) => openCatalog({ source: await openSource({ source: url, cacheDir: join(dir, `cache-${k}`), env }), cluster: 'dev', branch: 'race' })));
    const jobs = cats.flatMap((c, w) =>
      Array.from({ length: 4 }, (_, i) => {
        const { run, rp } = backup({ namespace: `team-${w}`, policy: 'daily', start: new Date(Date.UTC(2026, 0, 1, i)), suffix: `w${w}i${i}` });
        return () => c.recordBackup(run, rp);
      }),
    );
    // Run each cache's writes in sequence but the two caches concurrently.
    await Promise.all([jobs.slice(0, 4), jobs.slice(4)].map(async (list) => {
      for (const j of list) await j();
    }));
    expect(gitCli(bare, 'ls-tree', '-r', '--name-only', 'race', 'catalog/dev/').trim().split('\n')).toHaveLength(8);
    // Every rebased commit re-derived the indexes against its new base: they agree with the documents.
    expect(await cats[0]!.checkIndex()).toMatchObject({ directories: 2, restorePoints: 8, stale: [], orphans: [] });
    expect(gitCli(bare, 'rev-list', '--count', 'race').trim()).toBe('8');
    gitCli(bare, 'fsck', '--strict', '--no-dangling');
    expect(readFileSync(join(bare, 'HEAD'), 'utf8')).toContain('refs/heads/main');
  });
});
