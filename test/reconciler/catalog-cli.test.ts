import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { parseSince } from '../../cli/runs.ts';
import { backup, failedRun } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, startGitHttp, tempDir } from './git-helpers.ts';
import { capture } from '../cli-capture.ts';


const CONFIG = 'apiVersion: coffer.dev/v1alpha1\nkind: Config\nmetadata:\n  name: repo\nspec:\n  cluster: prod-eu\n  catalog:\n    branch: backups\n';

describe('coffer restorepoints / coffer runs', () => {
  let dir: string;
  let repo: string;
  const recent = new Date(Date.now() - 3600_000);
  beforeAll(async () => {
    dir = tempDir('catalog-cli');
    repo = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': CONFIG });
    const catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'prod-eu', branch: 'backups' });
    for (const [ns, policy] of [['shop', 'daily'], ['shop', 'hourly'], ['blog', 'daily']] as const) {
      const { run, rp } = backup({ cluster: 'prod-eu', namespace: ns, policy, start: recent, volumes: 2, bytes: 3 * 1024 * 1024 });
      await catalog.recordBackup(run, rp);
    }
    await catalog.recordBackup(failedRun({ cluster: 'prod-eu', namespace: 'blog', policy: 'daily', start: new Date(recent.getTime() + 60_000), error: 'hook dump-db failed: exit 1' }));
    const other = openCatalog({ source: await openSource({ source: repo }), cluster: 'prod-us', branch: 'backups' });
    const o = backup({ cluster: 'prod-us', namespace: 'shop', policy: 'daily', start: recent });
    await other.recordBackup(o.run, o.rp);
  });
  afterAll(() => cleanup(dir));

  it('lists this cluster\'s restore points from the branch coffer.yaml names, as a table', async () => {
    const c = capture(repo);
    expect(await main(['restorepoints'], c.io)).toBe(0);
    const lines = c.out().trim().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+POLICY\s+NAME\s+PHASE\s+VOLUMES\s+SIZE\s+EXPIRES\s+STARTED\s+AGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2).join('/'))).toEqual(['blog/daily', 'shop/daily', 'shop/hourly']);
    expect(lines[1]).toMatch(/Succeeded\s+2\s+3\.0 MiB/);
  });

  it('filters with -n/--policy and prints JSON and YAML lists', async () => {
    const c = capture(dir);
    expect(await main(['restorepoints', '--source', repo, '-n', 'shop', '--policy', 'daily', '-o', 'json'], c.io)).toBe(0);
    const list = JSON.parse(c.out()) as { kind: string; items: Array<{ spec: { namespace: string; policy: string; cluster: string } }> };
    expect(list.kind).toBe('RestorePointList');
    expect(list.items.map((i) => `${i.spec.cluster}/${i.spec.namespace}/${i.spec.policy}`)).toEqual(['prod-eu/shop/daily']);
    const y = capture(dir);
    expect(await main(['restorepoints', '--source', repo, '-A', '-o', 'yaml'], y.io)).toBe(0);
    expect((YAML.parse(y.out()) as { items: unknown[] }).items).toHaveLength(4);
  });

  it('says so when nothing matches, and refuses bad flags and SSH sources with exit 1', async () => {
    const c = capture(repo);
    expect(await main(['restorepoints', '-n', 'nothing-here'], c.io)).toBe(0);
    expect(c.err()).toContain('No restore points found in branch backups for cluster prod-eu (namespace nothing-here)');
    const bad = capture(repo);
    expect(await main(['restorepoints', '-o', 'xml'], bad.io)).toBe(1);
    expect(bad.err()).toContain('--output "xml"');
    const ssh = capture(repo);
    expect(await main(['runs', '--source', 'git@github.com:acme/policies.git'], ssh.io)).toBe(1);
    expect(ssh.err()).toMatch(/^error: .*SSH remotes are not supported.*HTTPS.*COFFER_GIT_TOKEN/);
  });

  it('-A reads every cluster of a repository that names no cluster of its own (a DR workstation\'s); -A wins over --cluster as kubectl\'s -A wins over -n', async () => {
    // A clone whose coffer.yaml has no spec.cluster, and one holding nothing but the catalog branch.
    const noCluster = join(dir, 'dr-workstation');
    gitCli(dir, 'clone', '-q', '--no-single-branch', repo, noCluster);
    gitCli(noCluster, 'branch', '-q', 'backups', 'origin/backups');
    writeFileSync(join(noCluster, 'coffer.yaml'), CONFIG.replace('  cluster: prod-eu\n', ''));
    gitCli(noCluster, 'commit', '-q', '-am', 'no cluster of its own');
    const catalogOnly = join(dir, 'catalog-only');
    gitCli(dir, 'init', '-q', '-b', 'main', catalogOnly);
    gitCli(catalogOnly, 'fetch', '-q', repo, 'backups:backups');
    const rows = (out: string) => out.trim().split('\n').slice(1).map((l) => l.split(/\s+/).slice(0, 3).join('/'));
    const every = ['prod-eu/blog/daily', 'prod-eu/shop/daily', 'prod-eu/shop/hourly', 'prod-us/shop/daily'];
    for (const args of [['-A'], ['--all-clusters', '--cluster', 'prod-eu'], ['-A', '--cluster', 'no-such-cluster']]) {
      const c = capture(noCluster);
      expect(await main(['restorepoints', ...args], c.io), c.err()).toBe(0);
      expect(c.out()).toMatch(/^CLUSTER\s+NAMESPACE\s+POLICY\s+NAME/);
      expect(rows(c.out())).toEqual(every);
    }
    const only = capture(catalogOnly);
    expect(await main(['restorepoints', '-A', '--catalog-branch', 'backups', '-o', 'name'], only.io), only.err()).toBe(0);
    expect(only.out().trim().split('\n')).toHaveLength(4);
    const runs = capture(noCluster);
    expect(await main(['runs', '-A', '-o', 'json'], runs.io), runs.err()).toBe(0);
    expect(new Set((JSON.parse(runs.out()) as { items: Array<{ spec: { cluster: string } }> }).items.map((r) => r.spec.cluster))).toEqual(new Set(['prod-eu', 'prod-us']));
    // Without -A the listing needs a cluster, and says which flag gives one; with --cluster it reads that one.
    const own = capture(noCluster);
    expect(await main(['restorepoints'], own.io)).toBe(1);
    expect(own.err()).toMatch(/^error: .*coffer\.yaml has no spec\.cluster; pass --cluster/);
    const us = capture(noCluster);
    expect(await main(['restorepoints', '--cluster', 'prod-us', '-o', 'name'], us.io), us.err()).toBe(0);
    expect(us.out().trim().split('\n')).toHaveLength(1);
    // Verbs that read one cluster's records refuse -A by name instead of ignoring it.
    for (const verb of [['get', 'restores'], ['logs', 'some-run'], ['describe', 'run', 'some-run']]) {
      const r = capture(noCluster);
      expect(await main([...verb, '-A', '--cluster', 'prod-eu'], r.io)).toBe(1);
      expect(r.err()).toMatch(new RegExp(`^error: -A/--all-clusters is not supported by coffer ${verb[0] === 'get' ? 'get restores' : verb[0]}`));
    }
  });

  it('-o wide streamed (everything) prints what the paged listing prints', async () => {
    for (const scope of [[], ['-A'], ['-n', 'shop']]) {
      const streamed = capture(repo);
      expect(await main(['restorepoints', ...scope, '-o', 'wide'], streamed.io), streamed.err()).toBe(0);
      const paged = capture(repo);
      expect(await main(['restorepoints', ...scope, '-o', 'wide', '--limit', '1000'], paged.io), paged.err()).toBe(0);
      expect(streamed.out()).toBe(paged.out());
      expect(streamed.out()).toMatch(/^(CLUSTER\s+)?NAMESPACE\s+POLICY\s+NAME\s+PHASE\s+VOLUMES\s+SIZE\s+TRIGGER\s+KEPT BY\s+EXPIRES\s+COMMIT\s+STARTED\s+AGE\n/);
      expect(streamed.out().trim().split('\n').length).toBe(scope[0] === '-A' ? 5 : scope[0] === '-n' ? 3 : 4);
    }
    const none = capture(repo);
    expect(await main(['restorepoints', '-n', 'nothing-here', '-o', 'wide'], none.io)).toBe(0);
    expect(none.out()).toBe('');
    expect(none.err()).toContain('No restore points found in branch backups for cluster prod-eu (namespace nothing-here)');
  });

  it('lists runs newest first with failures and their reason', async () => {
    const c = capture(repo);
    expect(await main(['runs'], c.io)).toBe(0);
    const lines = c.out().trim().split('\n');
    expect(lines[0]).toMatch(/^RUN\s+TYPE\s+NAMESPACE\s+POLICY\s+TRIGGER\s+PHASE\s+DURATION\s+SIZE\s+AGE\s+RESULT$/);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/backup\s+blog\s+daily\s+schedule\s+Failed\s+5s\s+-\s+\S+\s+hook dump-db failed: exit 1$/);
    const f = capture(repo);
    expect(await main(['runs', '--failed', '-o', 'json'], f.io)).toBe(0);
    expect((JSON.parse(f.out()) as { items: unknown[] }).items).toHaveLength(1);
    const old = capture(repo);
    expect(await main(['runs', '--since', '1m'], old.io)).toBe(0);
    expect(old.err()).toContain('No runs since');
  });

  it('reads the catalog of an HTTPS remote with a token from the environment', async () => {
    const served = join(dir, 'served');
    gitCli(dir, 'clone', '-q', '--mirror', repo, join(served, 'policies.git'));
    const server = await startGitHttp(served, { token: 'cli-token' });
    try {
      const c = capture(dir, { COFFER_GIT_TOKEN: 'cli-token', COFFER_CACHE_DIR: join(dir, 'cache') });
      expect(await main(['restorepoints', '--source', server.url('policies.git'), '-o', 'name'], c.io)).toBe(0);
      expect(c.out().trim().split('\n')).toHaveLength(3);
      const denied = capture(dir, { COFFER_CACHE_DIR: join(dir, 'cache') });
      expect(await main(['runs', '--source', server.url('policies.git')], denied.io)).toBe(1);
      expect(denied.err()).toMatch(/^error: .*COFFER_GIT_TOKEN/);
    } finally {
      await server.close();
    }
  });

  it('parses --since durations and times', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    expect(parseSince('24h', now).toISOString()).toBe('2026-11-23T12:00:00.000Z');
    expect(parseSince('7d', now).toISOString()).toBe('2026-11-17T12:00:00.000Z');
    expect(parseSince('2026-11-01T00:00:00Z', now).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(() => parseSince('yesterday', now)).toThrow(/--since "yesterday"/);
  });
});
