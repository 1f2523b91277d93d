/**
 * The lifecycle verbs over a real catalog branch (Git, written by the catalog code): every output shape of
 * `get`, `describe` and `delete restorepoint` — table, wide, json, yaml, name, text — table-driven, with the columns
 * and fields kubectl/velero users look for. No cluster: delete's data step fails on the unreachable one and says so
 * after the catalog entry is gone (catalog first, data second).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { recordRestore, type RestoreResultDoc } from '../../reconciler/restore/result.ts';
import { kubeconfigYaml } from '../../sandbox/index.ts';
import { backup, failedRun } from '../reconciler/catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, tempDir } from '../reconciler/git-helpers.ts';
import { runCoffer } from '../cli-capture.ts';

let dir: string;
let repo: string;
let env: NodeJS.ProcessEnv;
const start = new Date(Date.now() - 2 * 3600_000);
let rpName: string;
let manualName: string;
let runName: string;
let failedName: string;

const coffer = (...argv: string[]) => runCoffer(argv, { env, cwd: repo });

beforeAll(async () => {
  dir = tempDir('lifecycle');
  repo = makePolicyRepo(join(dir, 'policies'), demoPolicyRepo(join(dir, 'repository'), readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
  writeFileSync(join(dir, 'kubeconfig'), kubeconfigYaml('http://127.0.0.1:1'));
  env = { KUBECONFIG: join(dir, 'kubeconfig') };
  const catalog = openCatalog({ source: await openSource({ source: repo }), cluster: 'demo', branch: 'coffer-catalog' });
  const b = backup({ cluster: 'demo', namespace: 'shop', policy: 'hourly', start, volumes: 1, bytes: 2048 });
  b.rp.spec.hooks = [{ blueprint: 'sqlite', action: 'backup', phase: 'dump', func: 'KubeExec', workload: 'StatefulSet/db', phaseResult: 'Succeeded', startTime: start.toISOString(), endTime: new Date(start.getTime() + 2000).toISOString(), output: { rows: '4' } }];
  b.rp.spec.volumes![0]!.volumeSnapshot = 'vs-data-0';
  rpName = b.rp.metadata.name;
  runName = b.run.metadata.name;
  await catalog.recordBackup(b.run, b.rp);
  const m = backup({ cluster: 'demo', namespace: 'shop', policy: 'hourly', start: new Date(start.getTime() + 600_000), suffix: 'manual' });
  Object.assign(m.rp.spec, { trigger: 'manual', pinned: true });
  m.run.spec.trigger = 'manual';
  manualName = m.rp.metadata.name;
  await catalog.recordBackup(m.run, m.rp);
  const failed = failedRun({ cluster: 'demo', namespace: 'shop', policy: 'hourly', start: new Date(start.getTime() + 1200_000), error: 'hook dump failed: exit 1\nsqlite3: database is locked' });
  failed.status.log = [`${failed.status.startTime} sqlite/backup phase dump (KubeExec): Failed: exit 1`, `${failed.status.startTime} sqlite/backup finally phase resume (KubeExec): Succeeded`];
  failedName = failed.metadata.name;
  await catalog.recordBackup(failed);
  const doc: RestoreResultDoc = {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'RestoreResult',
    metadata: { name: 'shop-restore-1' },
    spec: {
      restorePoint: rpName,
      source: { cluster: 'demo', namespace: 'shop', policy: 'hourly' },
      target: { cluster: 'demo', namespace: 'shop-copy' },
      startTime: new Date(start.getTime() + 1800_000).toISOString(),
      endTime: new Date(start.getTime() + 1830_000).toISOString(),
      phase: 'PartiallyFailed',
      summary: { created: 1, updated: 0, skipped: 1, failed: 1 },
      resources: [
        { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop-copy', name: 'settings', action: 'created' },
        { apiVersion: 'v1', kind: 'Pod', namespace: 'shop-copy', name: 'db-0', action: 'skipped', reason: 'owned by StatefulSet/db' },
        { apiVersion: 'v1', kind: 'Service', namespace: 'shop-copy', name: 'db', action: 'failed', reason: 'spec.clusterIP: field is immutable' },
      ],
      errors: ['Service shop-copy/db: spec.clusterIP: field is immutable'],
    },
  };
  await recordRestore(catalog, doc, 'restore-20261112-000000-abcdef', 'manual', [`${doc.spec.startTime} restoring ${rpName} (shop) into namespace shop-copy: 3 object(s), 0 skipped by the plan`, `${doc.spec.endTime} PartiallyFailed: 1 created, 0 updated, 1 skipped, 1 failed; 1 error(s)`]);
}, 60_000);
afterAll(() => cleanup(dir));

describe('coffer get: one printer for every type', () => {
  it.each([
    ['restorepoints', 'table', /^NAMESPACE\s+POLICY\s+NAME\s+PHASE\s+VOLUMES\s+SIZE\s+EXPIRES\s+STARTED\s+AGE\n/],
    ['restorepoints', 'wide', /^NAMESPACE\s+POLICY\s+NAME\s+PHASE\s+VOLUMES\s+SIZE\s+TRIGGER\s+KEPT BY\s+EXPIRES\s+COMMIT\s+STARTED\s+AGE\n/],
    ['runs', 'table', /^RUN\s+TYPE\s+NAMESPACE\s+POLICY\s+TRIGGER\s+PHASE\s+DURATION\s+SIZE\s+AGE\s+RESULT\n/],
    ['runs', 'wide', /^RUN\s+TYPE\s+NAMESPACE\s+POLICY\s+TRIGGER\s+PHASE\s+DURATION\s+SIZE\s+STARTED\s+COMMIT\s+AGE\s+RESULT\n/],
    ['restores', 'table', /^NAME\s+RESTOREPOINT\s+FROM\s+TO\s+PHASE\s+FAILED\s+DURATION\s+AGE\nshop-restore-1\s+hourly-\S+\s+demo\/shop\s+demo\/shop-copy\s+PartiallyFailed\s+1\s+30s\s+\S+\n$/],
    ['restores', 'wide', /^NAME\s+RESTOREPOINT\s+FROM\s+TO\s+PHASE\s+CREATED\s+UPDATED\s+SKIPPED\s+FAILED\s+DURATION\s+AGE\n/],
    ['policies', 'table', /^NAME\s+FREQUENCY\s+RETENTION\s+PROFILE\s+PAUSED\nhourly\s+/],
    ['policies', 'wide', /^NAME\s+FREQUENCY\s+RETENTION\s+PROFILE\s+PAUSED\s+BLUEPRINTS\s+NAMESPACES\nhourly\s+.*sqlite/],
  ])('get %s -o %s', async (type, format, shape) => {
    const r = await coffer('get', type, '-o', format);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(shape);
  });

  it.each([
    ['restorepoints', 'RestorePointList', 'restorepoint/'],
    ['runs', 'RunList', 'run/'],
    ['restores', 'RestoreResultList', 'restore/shop-restore-1'],
    ['policies', 'PolicyList', 'policy/hourly'],
  ])('get %s -o json|yaml|name', async (type, listKind, name) => {
    const j = await coffer('get', type, '-o', 'json');
    const list = JSON.parse(j.out) as { kind: string; items: unknown[] };
    expect(list.kind).toBe(listKind);
    expect(list.items.length).toBeGreaterThan(0);
    expect(YAML.parse((await coffer('get', type, '-o', 'yaml')).out)).toEqual(list);
    const n = await coffer('get', type, '-o', 'name');
    expect(n.out.split('\n')[0]).toContain(name);
    expect(n.out.trim().split('\n')).toHaveLength(list.items.length);
  });

  it('the aliases print what get prints', async () => {
    expect((await coffer('restorepoints', '-o', 'wide')).out).toBe((await coffer('get', 'restorepoints', '-o', 'wide')).out);
    expect((await coffer('runs')).out.split('\n')[0]).toBe((await coffer('get', 'runs')).out.split('\n')[0]);
  });
});

describe('coffer describe', () => {
  it('restorepoint: what keeps it, the policy commit, volumes, hooks with output, the run that made it', async () => {
    const r = await coffer('describe', 'restorepoint', rpName);
    expect(r.code).toBe(0);
    for (const want of [
      `Name:           ${rpName}\n`,
      'Namespace:      shop\n',
      'Kept by:        GFS retention of the policy\n',
      `Policy commit:  ${'c0ffee'.padEnd(40, '0')}\n`,
      `Run:            ${runName}\n`,
      'Repository:\n  Profile:   local\n  Location:  file:///var/backups/coffer\n',
      'Volumes:\n  PVC      PHASE       SIZE      ADDED   SNAPSHOT       ERROR\n  data-0   Succeeded   2.0 KiB   -       snap0fffffff\n',
      'Hooks:\n  sqlite/backup/dump (KubeExec on StatefulSet/db): Succeeded, 2s\n    output rows: 4\n',
      'Errors:\n  <none>\n',
    ]) expect(r.out).toContain(want);
    expect((await coffer('describe', 'rp', manualName)).out).toContain('Kept by:        pinned (until deleted)\n');
  });

  it('run: the error with every line, indented', async () => {
    const failed = JSON.parse((await coffer('get', 'runs', '--failed', '-o', 'json')).out).items[0].metadata.name as string;
    const r = await coffer('describe', 'run', failed);
    expect(r.out).toMatch(/Phase: +Failed\n/);
    expect(r.out).toContain('Error:\n  hook dump failed: exit 1\n    sqlite3: database is locked\n');
  });

  it('restore: every resource with its action and reason', async () => {
    const r = await coffer('describe', 'restore', 'shop-restore-1');
    expect(r.out).toContain('Summary:        1 created, 0 updated, 1 skipped, 1 failed\n');
    expect(r.out).toMatch(/ {2}Pod +db-0 +skipped +owned by StatefulSet\/db\n/);
    expect(r.out).toMatch(/ {2}Service +db +failed +spec\.clusterIP: field is immutable\n/);
  });

  it("restore: the run that did it and that run's log", async () => {
    const r = await coffer('describe', 'restore', 'shop-restore-1');
    expect(r.out).toContain('Run:            restore-20261112-000000-abcdef\n');
    expect(r.out).toMatch(/\nLog:\n {2}\S+Z restoring hourly-\S+ \(shop\) into namespace shop-copy: 3 object\(s\), 0 skipped by the plan\n {2}\S+Z PartiallyFailed: 1 created/);
  });

  it.each([
    [['describe', 'restorepoint', 'nope'], /restorepoint "nope" not found in branch coffer-catalog for cluster demo; list them with coffer get restorepoints/],
    [['describe', 'restorpoint', 'x'], /unknown type "restorpoint" for "coffer describe"; did you mean restorepoint\?/],
    [['describe', 'run'], /coffer describe run takes one NAME/],
    [['describe', 'run', 'x', '-o', 'wide'], /--output "wide": expected text, json or yaml/],
  ])('coffer %j fails with a message', async (argv, message) => {
    const r = await coffer(...argv);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
  });

  it('-o yaml prints the recorded document', async () => {
    expect(YAML.parse((await coffer('describe', 'restorepoint', rpName, '-o', 'yaml')).out)).toMatchObject({ kind: 'RestorePoint', metadata: { name: rpName } });
  });
});

describe('coffer logs', () => {
  it('a failed run: its log lines, then the error', async () => {
    const r = await coffer('logs', failedName);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^\S+Z sqlite\/backup phase dump \(KubeExec\): Failed: exit 1$/);
    expect(lines[1]).toMatch(/finally phase resume \(KubeExec\): Succeeded$/);
    expect(lines[2]).toMatch(/^\S+Z error: hook dump failed: exit 1$/);
    expect(lines[3]).toBe('sqlite3: database is locked');
  });

  it('a run that made a restore point: its hooks with their output; -o json', async () => {
    const r = await coffer('logs', runName);
    expect(r.out).toContain('(this run recorded no log lines; runs before log capture record none)');
    expect(r.out).toMatch(/\S+Z hook sqlite\/backup\/dump \(KubeExec on StatefulSet\/db\): Succeeded; output rows=4\n/);
    expect(JSON.parse((await coffer('logs', failedName, '-o', 'json')).out)).toMatchObject({ run: failedName, phase: 'Failed', log: [expect.stringContaining('phase dump'), expect.any(String)], error: expect.stringContaining('database is locked') });
    expect((await coffer('logs', 'nope')).err).toMatch(/run "nope" not found .*coffer get runs/);
  });

  it('a restore run: the log kept with its Run record', async () => {
    const r = await coffer('logs', 'restore-20261112-000000-abcdef');
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toEqual([expect.stringMatching(/Z restoring hourly-\S+ \(shop\) into namespace shop-copy/), expect.stringMatching(/Z PartiallyFailed: 1 created/), expect.stringMatching(/Z error: Service shop-copy\/db: spec\.clusterIP: field is immutable$/)]);
  });
});

describe('coffer delete restorepoint', () => {
  const held = () => gitCli(repo, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'catalog/demo/shop/hourly');
  it('--dry-run lists what would go and changes nothing', async () => {
    const tip = gitCli(repo, 'rev-parse', 'coffer-catalog');
    const r = await coffer('delete', 'restorepoint', rpName, '--dry-run');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`restorepoint/${rpName} would delete (dry run)\n  catalog: catalog/demo/shop/hourly/${rpName}.yaml\n  snapshots: snap0fffffff\n  VolumeSnapshots: vs-data-0\n`);
    expect(gitCli(repo, 'rev-parse', 'coffer-catalog')).toBe(tip);
  });

  it('removes the catalog document first, then reports the data it could not free', async () => {
    const r = await coffer('delete', 'restorepoint', manualName, '-o', 'json');
    expect(held()).not.toContain(manualName);
    expect(held()).toContain(rpName);
    expect(JSON.parse(r.out)).toMatchObject({ restorePoint: manualName, dryRun: false, commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect(r.err).toMatch(/warning: the catalog entry is deleted but its data was not freed yet: .*\n {2}\(the next retention pass or coffer repo prune frees it\)/);
    expect(r.code).toBe(1);
    const runs = JSON.parse((await coffer('get', 'runs', '--type', 'retention', '-o', 'json')).out) as { items: Array<{ spec: { trigger: string }; status: { expired: string[] } }> };
    expect(runs.items[0]).toMatchObject({ spec: { trigger: 'manual' }, status: { expired: [manualName] } });
  });

  it('refuses other types and unknown names', async () => {
    expect((await coffer('delete', 'run', 'x')).err).toMatch(/coffer delete deletes restore points only/);
    expect((await coffer('delete', 'restorepoint', 'nope')).err).toMatch(/restore point "nope" not found/);
  });
});
