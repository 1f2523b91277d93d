/**
 * `coffer dr verify` on the sandbox: the demo's SQLite app is backed up on demand, then the CLI (a child process,
 * as a user runs it) restores the newest restore point into a scratch namespace, runs the blueprint's integrity check
 * and the policy's query through its verify action, deletes the scratch namespace and commits a VerificationResult
 * (trigger manual) with its Run record — read back with the git CLI. The manual verification then counts as the
 * pair's newest one for scheduling. Bad requests fail naming what is missing and commit nothing.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_NAMESPACE } from '../../cli/demo-app.ts';
import { formatTable } from '../../cli/output/printer.ts';
import { verificationSpec } from '../../cli/output/resources.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import type { KubeClient } from '../../reconciler/kube/client.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { compileTip } from '../../reconciler/restore/index.ts';
import { latestVerifications, pairKey, verificationsDue, type VerificationResultDoc } from '../../reconciler/verify/index.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { startSampleLoop } from './sample-app-fixture.ts';

const run = promisify(execFile);
const password = randomBytes(16).toString('hex');
const CLI = new URL('../../cli/coffer.js', import.meta.url).pathname;
let sb: Sandbox;
let client: KubeClient;
let work: string;
let repoDir: string;
let restorePoint = '';

/** The library's sqlite blueprint plus a verify action (the answer of the policy's query against the restored file). */
const VERIFY_ACTION = `    verify:
      phases:
        - name: query
          func: KubeExec
          args:
            namespace: "{{ namespace }}"
            workload: { kind: "{{ workload.kind }}", name: "{{ workload.name }}" }
            command:
              - sh
              - -c
              - 'echo "coffer-output result=$(sqlite3 /data/app.db {{ verify.query | quote }})"'
`;
const VERIFY_POLICY = `  verify:
    frequency: "@daily"
    timeout: 5m
    checks:
      - name: orders-present
        query: SELECT count(*) FROM orders
        expect: { atLeast: 3 }
`;

const coffer = (args: string[]) => run(process.execPath, [CLI, ...args, '--source', repoDir], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath }, timeout: 240_000 });
const gitCli = async (...args: string[]) => (await run('git', ['-C', repoDir, ...args])).stdout;

beforeAll(async () => {
  ({ work, sb, client, repoDir } = await startSampleLoop('coffer-dr-verify-', password, (files) => {
    files['blueprints/sqlite.yaml'] += VERIFY_ACTION;
    files['policies/shop.yaml'] += VERIFY_POLICY;
  }));
  const backup = await reconcileOnce({ source: await openSource({ source: repoDir, env: {} }), client, env: {}, only: { policy: 'hourly', namespace: DEMO_NAMESPACE }, retention: false });
  expect(backup.errors).toEqual([]);
  restorePoint = backup.runs[0]!.restorePoint!.metadata.name;
}, 240_000);

afterAll(async () => {
  await sb?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('coffer dr verify', () => {
  let doc: VerificationResultDoc;

  it('restores the newest restore point into scratch, checks it, deletes scratch, commits a VerificationResult', async () => {
    const since = new Date().toISOString();
    const { stdout } = await coffer(['dr', 'verify', '-n', DEMO_NAMESPACE, '-o', 'json']);
    doc = JSON.parse(stdout) as VerificationResultDoc;
    // Run from a workstation, it held a run Lease while its movers ran (a controller's sweep keeps them), then deleted it.
    const leases = sb.server.audit.events().filter((e) => e.time >= since && e.resource === 'leases' && e.code < 300);
    expect(leases.map((e) => e.verb)).toEqual(expect.arrayContaining(['create', 'delete']));
    const lease = leases.find((e) => e.verb === 'delete')!.name!;
    expect(lease).toMatch(/^coffer-run-restore-\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(await client.find('coordination.k8s.io/v1', 'leases', 'coffer-system', lease)).toBeUndefined();
    expect(doc.spec.errors).toBeUndefined();
    expect(doc.spec).toMatchObject({ namespace: DEMO_NAMESPACE, policy: 'hourly', restorePoint, trigger: 'manual', phase: 'Succeeded', scratchDeleted: true });
    expect(doc.spec.scheduledFor).toBeUndefined();
    expect(doc.spec.rtoSeconds).toBeGreaterThan(0);
    expect(doc.spec.scratchNamespace).toMatch(/^shop-verify-[0-9a-f]{6}$/);
    expect(doc.spec.integrity?.map((i) => [i.blueprint, i.result])).toEqual([['sqlite', 'Passed']]);
    expect(doc.spec.checks).toEqual([{ name: 'orders-present', blueprint: 'sqlite', workload: 'StatefulSet/db', query: 'SELECT count(*) FROM orders', answer: '3', result: 'Passed', message: 'SELECT count(*) FROM orders returned "3" (at least 3)' }]);
    expect(await client.find('v1', 'namespaces', undefined, doc.spec.scratchNamespace)).toBeUndefined();
    // In Git, read with the git CLI: the document, its Run record, and one commit saying what happened.
    const committed = parse(await gitCli('show', `coffer-catalog:verifications/demo/${DEMO_NAMESPACE}/hourly/${doc.metadata.name}.yaml`)) as VerificationResultDoc;
    expect(committed).toEqual(doc);
    expect(await gitCli('ls-tree', '-r', '--name-only', 'coffer-catalog', 'runs/demo/')).toContain(`/${doc.metadata.name}.yaml`);
    expect((await gitCli('log', '-1', '--format=%s', 'coffer-catalog')).trim()).toMatch(new RegExp(`^verify: ${DEMO_NAMESPACE}/hourly from ${restorePoint} ok, RTO [\\d.]+s$`));
  }, 300_000);

  it('-o table prints the printer\'s columns for it', () => {
    const spec = verificationSpec();
    const table = formatTable(spec.columns.filter((c) => !c.wide).map((c) => c.header), [spec.columns.filter((c) => !c.wide).map((c) => c.value(doc))]);
    const [head, row] = table.trimEnd().split('\n');
    expect(head!.split(/\s{2,}/)).toEqual(['NAMESPACE', 'POLICY', 'NAME', 'RESTORE POINT', 'PHASE', 'RTO', 'INTEGRITY', 'CHECKS']);
    expect(row!.split(/\s{2,}/)).toEqual([DEMO_NAMESPACE, 'hourly', doc.metadata.name, restorePoint, 'Succeeded', `${doc.spec.rtoSeconds}s`, '1/1', '1/1']);
  });

  it('counts as the pair\'s newest verification: the @daily schedule is not due again the same day', async () => {
    const source = await openSource({ source: repoDir, env: {} });
    const catalog = openCatalog({ source, cluster: 'demo', branch: 'coffer-catalog' });
    const last = await latestVerifications(catalog);
    expect(last.map((l) => [l.namespace, l.policy, l.name])).toEqual([[DEMO_NAMESPACE, 'hourly', doc.metadata.name]]);
    const pairs = verificationsDue({ plan: await compileTip(source), selected: new Map([['hourly', [DEMO_NAMESPACE]]]), restorable: new Set([pairKey('hourly', DEMO_NAMESPACE)]), last, now: new Date(Date.parse(doc.spec.endTime) + 1000) });
    expect(pairs.map((p) => [p.due, p.reason])).toEqual([[false, 'up-to-date']]);
  }, 120_000);

  it('a restore point that does not exist, or a namespace without one: exit 1 naming it, nothing committed', async () => {
    const tip = (await gitCli('rev-parse', 'coffer-catalog')).trim();
    await expect(coffer(['dr', 'verify', '-n', DEMO_NAMESPACE, '--restore-point', 'backup-nope'])).rejects.toMatchObject({ code: 1, stderr: `error: restore point "backup-nope" not found in the catalog in namespace ${DEMO_NAMESPACE} (see coffer get restorepoints)\n` });
    await expect(coffer(['dr', 'verify', '-n', 'nowhere'])).rejects.toMatchObject({ code: 1, stderr: 'error: no successful restore point in namespace nowhere to verify (see coffer get restorepoints -n nowhere)\n' });
    expect((await gitCli('rev-parse', 'coffer-catalog')).trim()).toBe(tip);
    expect((await client.list('v1', 'namespaces')).map((n) => n.metadata.name).filter((n) => n.includes('-verify-'))).toEqual([]);
  }, 120_000);
});
