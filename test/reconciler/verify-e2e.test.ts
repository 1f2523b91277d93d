/**
 * Restore verification end to end (issue 18) on the sandbox with a real PostgreSQL: two policies protect one
 * namespace, both with `verify:`; one expects what the database holds, the other a count it can never reach and a
 * table that does not exist. One reconcile at an injected time backs both up and, since neither pair was ever
 * verified, restores each latest point into a scratch namespace, runs pg_amcheck (validate) and the queries (verify),
 * and commits a VerificationResult per pair, read back here with the git CLI. Both scratch namespaces must be gone,
 * the failing one too, and the compliance report must show last-verified pass / fail.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource } from '../../reconciler/git/source.ts';
import { reconcileOnce, selectNamespaces, type ReconcileSummary } from '../../reconciler/reconcile.ts';
import { computeCompliance } from '../../reconciler/report/publish.ts';
import { CofferMetrics } from '../../reconciler/metrics/index.ts';
import type { VerificationResultDoc } from '../../reconciler/verify/index.ts';
import { commitFiles } from './sample-app-fixture.ts';
import { DatabaseHarness } from './databases/harness.ts';
import { engine } from './databases/engines.ts';

const git = promisify(execFile);
const NS = 'pgv';
/** A Monday: the @weekly slot (Sunday 00:00 UTC) lies before it, so a never-verified pair is due at once. */
const T1 = new Date('2026-12-07T10:00:00Z');

const verifyPolicy = (name: string, checks: string) => `apiVersion: coffer.dev/v1alpha1
kind: Policy
metadata:
  name: ${name}
spec:
  frequency: "@daily"
  retention: { daily: 7 }
  selector:
    namespaces: namespaceObject.metadata.name == "${NS}"
  profile: local
  blueprints:
    - name: postgres
      workloads: workload.metadata.name == "db"
  verify:
    frequency: "@weekly"
    timeout: 5m
    checks:
${checks}`;

let h: DatabaseHarness;
let first: ReconcileSummary;
const events: { event: string }[] = [];
const metrics = new CofferMetrics({ processMetrics: false });

beforeAll(async () => {
  h = await DatabaseHarness.start();
  await commitFiles(h.repoDir, {
    'policies/pgv-good.yaml': verifyPolicy('pgv-good', '      - name: ledger-rows\n        database: orders\n        query: SELECT count(*) FROM ledger\n        expect: { atLeast: 5 }\n'),
    'policies/pgv-bad.yaml': verifyPolicy(
      'pgv-bad',
      '      - name: huge\n        database: orders\n        query: SELECT count(*) FROM ledger\n        expect: { atLeast: 1000000000 }\n      - name: missing-table\n        database: orders\n        query: SELECT count(*) FROM no_such_table\n        expect: { exists: true }\n',
    ),
  }, 'verify policies');
  await h.deploy(engine('postgres'), NS);
  await h.sh(NS, 'postgres', `psql -U shop -d orders -qc 'insert into ledger(seq) select generate_series(1, 7)'`);
  first = await reconcileOnce({
    source: await openSource({ source: h.repoDir, env: {} }),
    client: h.client,
    env: {},
    now: () => T1,
    log: (e) => {
      events.push(e);
      metrics.observeEvent(e);
    },
  });
}, 300_000);

afterAll(async () => {
  await h?.stop();
});

async function readBack(doc: VerificationResultDoc): Promise<VerificationResultDoc> {
  const path = `verifications/dbtest/${NS}/${doc.spec.policy}/${doc.metadata.name}.yaml`;
  const { stdout } = await git('git', ['-C', h.repoDir, 'show', `coffer-catalog:${path}`]);
  return parse(stdout) as VerificationResultDoc;
}

describe('restore verification on the sandbox (postgres)', () => {
  it('backs up, then verifies each pair once: VerificationResults committed (read with git), RTO recorded', async () => {
    expect(first.errors).toEqual([]);
    expect(first.runs.map((r) => [r.run.spec.policy, r.run.status.phase]).sort()).toEqual([['pgv-bad', 'Succeeded'], ['pgv-good', 'Succeeded']]);
    expect(first.verifications.map((v) => v.doc.spec.policy).sort()).toEqual(['pgv-bad', 'pgv-good']);
    const good = await readBack(first.verifications.find((v) => v.doc.spec.policy === 'pgv-good')!.doc);
    expect(good.spec).toMatchObject({ phase: 'Succeeded', trigger: 'schedule', scheduledFor: '2026-12-06T00:00:00.000Z', startTime: T1.toISOString(), scratchDeleted: true, restorePoint: first.runs.find((r) => r.run.spec.policy === 'pgv-good')!.restorePoint!.metadata.name });
    expect(good.spec.errors).toBeUndefined();
    expect(good.spec.rtoSeconds).toBeGreaterThan(0);
    expect(good.spec.integrity).toEqual([{ blueprint: 'postgres', workload: 'StatefulSet/db', result: 'Passed', output: expect.stringMatching(/^check: pg_amcheck: \d+\/\d+ relations/) }]);
    expect(good.spec.checks).toEqual([{ name: 'ledger-rows', blueprint: 'postgres', workload: 'StatefulSet/db', query: 'SELECT count(*) FROM ledger', answer: '7', result: 'Passed', message: 'SELECT count(*) FROM ledger returned "7" (at least 5)' }]);
    // The Run record of the verification sits in the run history (and its index) beside the backups.
    const { stdout: runs } = await git('git', ['-C', h.repoDir, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'runs/dbtest/']);
    expect(runs).toContain(`/${good.metadata.name}.yaml`);
  });

  it('a failed expectation and a query the engine refuses: Failed with the comparison and the engine text', async () => {
    const bad = await readBack(first.verifications.find((v) => v.doc.spec.policy === 'pgv-bad')!.doc);
    expect(bad.spec).toMatchObject({ phase: 'Failed', scratchDeleted: true });
    expect(bad.spec.integrity?.map((i) => i.result)).toEqual(['Passed']);
    expect(bad.spec.checks?.map((c) => [c.name, c.result])).toEqual([['huge', 'Failed'], ['missing-table', 'Failed']]);
    expect(bad.spec.checks![0]!.message).toBe('SELECT count(*) FROM ledger returned "7", expected at least 1000000000');
    expect(bad.spec.checks![1]!.message).toContain('relation "no_such_table" does not exist');
    expect(bad.spec.errors?.join('\n')).toContain('expected at least 1000000000');
  });

  it('every scratch namespace is gone, the failed one too', async () => {
    const names = (await h.client.list('v1', 'namespaces')).map((n) => n.metadata.name);
    expect(names.filter((n) => n.startsWith(`${NS}-verify-`))).toEqual([]);
    for (const v of first.verifications) expect(await h.client.find('v1', 'namespaces', undefined, v.doc.spec.scratchNamespace)).toBeUndefined();
  });

  it('compliance shows last-verified per pair; metrics count the results', async () => {
    const report = await computeCompliance(first.catalog, first.plan, await selectNamespaces(h.client, first.plan.policies), new Date(T1.getTime() + 3600_000));
    const verified = report.spec.results.filter((r) => r.rule === 'last-verified').map((r) => [r.policy, r.result, r.properties.verification]);
    const byPolicy = Object.fromEntries(first.verifications.map((v) => [v.doc.spec.policy, v.doc.metadata.name]));
    expect(verified).toEqual([['pgv-bad', 'fail', byPolicy['pgv-bad']], ['pgv-good', 'pass', byPolicy['pgv-good']]]);
    const text = await metrics.metrics();
    expect(text).toContain(`coffer_verification_runs_total{policy="pgv-good",namespace="${NS}",result="succeeded"} 1`);
    expect(text).toContain(`coffer_verification_runs_total{policy="pgv-bad",namespace="${NS}",result="failed"} 1`);
    expect(text).toContain(`coffer_verification_last_success_timestamp_seconds{policy="pgv-good",namespace="${NS}"} ${T1.getTime() / 1000}`);
  });

  it('an hour later nothing is due: no verification runs again before the next weekly slot', async () => {
    const again = await reconcileOnce({ source: await openSource({ source: h.repoDir, env: {} }), client: h.client, env: {}, now: () => new Date(T1.getTime() + 3600_000) });
    expect(again.runs).toEqual([]);
    expect(again.verifications).toEqual([]);
  });
});
