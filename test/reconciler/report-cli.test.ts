/** `coffer report` over a real policy repository and catalog branch, without a cluster (--offline, --committed). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import type { ComplianceReport } from '../../reconciler/report/index.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';
import { runCoffer } from '../cli-capture.ts';

let dir: string;
let repo: string;

const coffer = (...args: string[]) => runCoffer(args, { env: { COFFER_CACHE_DIR: join(dir, 'cache') }, cwd: dir });

beforeAll(async () => {
  dir = tempDir('report-cli');
  repo = makePolicyRepo(join(dir, 'policies'), demoPolicyRepo(join(dir, 'repository'), readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
  const catalog = openCatalog({ source: await openSource({ source: repo, env: {} }), cluster: 'demo' });
  // A backup three hours ago: an hourly policy has missed its RPO.
  const b = backup({ cluster: 'demo', namespace: 'shop', policy: 'hourly', start: new Date(Date.now() - 3 * 3600_000) });
  await catalog.recordBackup(b.run, b.rp);
});
afterAll(() => cleanup(dir));

describe('coffer report', () => {
  it('prints json, markdown and a table, worst first', async () => {
    const json = await coffer('report', '--source', repo, '--offline', '-o', 'json');
    expect(json.err).toBe('');
    expect(json.code).toBe(0);
    const report = JSON.parse(json.out) as ComplianceReport;
    expect(report.spec.results.find((r) => r.rule === 'rpo')).toMatchObject({ result: 'fail', severity: 'critical', policy: 'hourly', message: expect.stringMatching(/^RPO missed \(last good 3h ago, RPO 1h\)$/) });
    const md = await coffer('report', '--source', repo, '--offline', '-o', 'md');
    expect(md.out).toMatch(/^# Compliance report — cluster demo\n/);
    expect(md.out.split('\n').find((l) => l.startsWith('| ❌'))).toContain('RPO missed');
    const table = await coffer('report', '--source', repo, '--offline', '-o', 'table');
    expect(table.out.split('\n')[1]).toMatch(/^FAIL\s+critical\s+shop\s+hourly\s+rpo\s+RPO missed/);
  });

  it('refuses an unknown format and explains a missing committed report', async () => {
    expect((await coffer('report', '--source', repo, '-o', 'xml')).err).toBe('error: --output "xml": expected table, md, json or yaml\n');
    const r = await coffer('report', '--source', repo, '--committed');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no compliance report committed yet on branch coffer-catalog/);
  });
});
