/**
 * Application-consistent backups of real databases under load (issue 18): for each engine and each of its blueprints
 * (logical dump; quiesce/physical snapshot), a writer commits continuously while the reconciler backs the namespace
 * up; the restore point is restored into a new namespace, the blueprint's `validate` action runs the engine's own
 * integrity check, and every commit acknowledged before the recorded consistency point must be there. Figures
 * (acknowledged before the point, restored, longest blocked write) are printed as one JSON line per case.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { runRestore } from '../../reconciler/restore/index.ts';
import { execInPod } from '../../reconciler/blueprint/functions/KubeExec.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { appManifests, ENGINES, type Engine } from './databases/engines.ts';
import { compare, Ledger } from './databases/ledger.ts';
import { commitFiles, waitFor } from './sample-app-fixture.ts';

const PLURALS: Record<string, [string, string]> = { Namespace: ['v1', 'namespaces'], Secret: ['v1', 'secrets'], StatefulSet: ['apps/v1', 'statefulsets'] };

let sb: Sandbox;
let client: KubeClient;
let work: string;
let repoDir: string;

/** A policy per (engine, blueprint): the namespace of the same name, its `db` StatefulSet bound to the blueprint. */
function policyRepo(repositoryPath: string): Record<string, string> {
  const files: Record<string, string> = {
    'coffer.yaml': 'apiVersion: coffer.dev/v1alpha1\nkind: Config\nmetadata:\n  name: coffer\nspec:\n  cluster: dbtest\n',
    'profiles/local.yaml': `apiVersion: coffer.dev/v1alpha1
kind: Profile
metadata:
  name: local
spec:
  filesystem:
    path: ${repositoryPath}
  encryption:
    keySecret: { name: coffer-repository-key, namespace: coffer-system, key: passphrase }
`,
  };
  for (const e of ENGINES) {
    for (const bp of e.blueprints) {
      const text = readFileSync(new URL(`../../${bp}`, import.meta.url), 'utf8');
      const name = /^  name: (\S+)$/m.exec(text)![1]!;
      files[`blueprints/${name}.yaml`] = text;
      files[`policies/${name}.yaml`] = `apiVersion: coffer.dev/v1alpha1
kind: Policy
metadata:
  name: ${name}
spec:
  frequency: "@daily"
  retention: { daily: 7 }
  selector:
    namespaces: namespaceObject.metadata.name in ["${name}", "${name}-stale"]
  profile: local
  blueprints:
    - name: ${name}
      workloads: workload.metadata.name == "db"
`;
    }
  }
  return files;
}

async function createAll(objs: KubeObject[]): Promise<void> {
  for (const o of objs) await client.create(PLURALS[o.kind]![0], PLURALS[o.kind]![1], o.metadata.namespace, o);
}

async function ready(ns: string): Promise<void> {
  await waitFor(`${ns}/db ready`, async () => ((await client.find('apps/v1', 'statefulsets', ns, 'db')) as { status?: { readyReplicas?: number } } | undefined)?.status?.readyReplicas === 1, 120_000);
}

async function sh(ns: string, container: string, script: string): Promise<string> {
  const r = await execInPod(client, ns, 'db-0', container, ['bash', '-c', script]);
  if (r.exitCode !== 0) throw new Error(`${ns}: ${script} exited ${r.exitCode}: ${r.stderr.toString()}${r.stdout.toString()}`);
  return r.stdout.toString();
}

const isoMs = (iso: string) => Date.parse(iso.replace(/(\.\d{3})\d*Z$/, '$1Z'));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'coffer-db-e2e-'));
  sb = await startSandbox({ dir: join(work, 'sandbox'), ...(process.env.DB_E2E_DEBUG ? { log: (l: string) => console.error('[sandbox]', l) } : {}) });
  client = new KubeClient(sb.kubeConfig);
  await createAll([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, stringData: { passphrase: 'db-e2e-passphrase' } } as KubeObject,
  ]);
  const repositoryPath = join(work, 'repository');
  fs.mkdirSync(repositoryPath);
  repoDir = join(work, 'policy-repo');
  await commitFiles(repoDir, policyRepo(repositoryPath));
}, 120_000);

afterAll(async () => {
  await sb?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Backs `ns` up under load, restores it into `ns-restored`, validates, and compares with the ledger. */
async function backupUnderLoad(e: Engine, policy: string) {
  const ns = policy;
  await createAll(appManifests(e, ns, `pw-${e.name}-0123456789`));
  await ready(ns);
  await sh(ns, e.name, e.setup);
  const ledger = new Ledger(sb.kubeconfigPath, ns, 'db-0', e.writer);
  await ledger.waitFor(20);
  const t0 = Date.now();
  const s = await reconcileOnce({ source: await openSource({ source: repoDir, env: {} }), client, env: {}, only: { policy, namespace: ns }, log: (ev) => process.env.DB_E2E_DEBUG && console.error(JSON.stringify(ev)) });
  const t1 = Date.now();
  const run = s.runs[0]!;
  expect([run.run.status.phase, run.run.status.error]).toEqual(['Succeeded', undefined]);
  await ledger.waitFor(ledger.acks.size + 5);
  await sh(ns, e.name, 'touch /tmp/coffer-writer.stop');
  expect(await ledger.exited, ledger.errors).toBe(0);

  const hooks = (run.restorePoint!.spec as { hooks?: { phase: string; output?: Record<string, string> }[] }).hooks ?? [];
  const consistentAt = hooks.map((h) => h.output?.consistentAt).find(Boolean);
  expect(consistentAt, JSON.stringify(hooks)).toMatch(/^\d{4}-\d\d-\d\dT/);

  const target = `${ns}-restored`;
  const t2 = Date.now();
  const out = await runRestore({ source: await openSource({ source: repoDir, env: {} }), client, env: {}, restorePoint: { ref: 'latest', namespace: ns }, namespaceMapping: { [ns]: target }, wait: true, validate: true, waitTimeoutMs: 120_000 });
  const t3 = Date.now();
  expect(out.result.spec.errors).toBeUndefined();
  expect(out.result.spec.phase).toBe('Succeeded');
  const validate = (out.result.spec.hooks as { action: string; phaseResult: string; output?: Record<string, string> }[]).filter((h) => h.action === 'validate');
  expect(validate.map((h) => h.phaseResult)).toEqual(['Succeeded']);
  expect(validate[0]!.output?.integrity).toBe('ok');

  const restored = new Set((await sh(target, e.name, e.list)).split('\n').filter(Boolean).map(Number));
  const c = compare(ledger.acks, restored, isoMs(consistentAt!));
  const figures = { engine: e.name, blueprint: policy, ...c, lost: c.lost.length, ackedTotal: ledger.acks.size, longestBlockedWriteMs: ledger.longestGapMs(t0, t1), integrity: validate.map((h) => Object.entries(h.output ?? {}).filter(([k]) => k !== 'pod' && k !== 'exitCode' && k !== 'integrity').map(([k, v]) => `${k}: ${v}`).join('; ')).join(' | '), backupSeconds: (t1 - t0) / 1000, restoreSeconds: (t3 - t2) / 1000 };
  console.log(`DB-E2E ${JSON.stringify(figures)}`);
  expect(c.lost).toEqual([]);
  expect(c.ackedBeforePoint).toBeGreaterThanOrEqual(20);
  return { figures, out };
}

// Engines run side by side: each case mostly waits on pods and mover Jobs, so the file takes about the longest case.
describe.concurrent.each(ENGINES)('$name', (e) => {
  it.each(e.blueprints.map((b) => /([^/]+)\.yaml$/.exec(b)![1]!))('%s: backup under load, restore into a new namespace, integrity check, zero acknowledged commits lost', async (policy) => {
    await backupUnderLoad(e, policy);
  }, 300_000);
});

describe('bad input', () => {
  it('a password the server no longer accepts fails the run with the engine error naming the Secret and key, and the app keeps committing', async () => {
    const e = ENGINES.find((x) => x.name === 'mariadb')!;
    const ns = 'mysql-snapshot-stale';
    await createAll(appManifests(e, ns, 'the-first-password').map((o) => (o.kind === 'Namespace' ? { ...o, metadata: { ...o.metadata, name: ns } } : { ...o, metadata: { ...o.metadata, namespace: ns } })));
    await ready(ns);
    await sh(ns, e.name, e.setup);
    // The password is rotated in the database; the Secret (and the container's env from it) still hold the old one.
    await sh(ns, e.name, `MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED BY 'rotated'"`);
    const s = await reconcileOnce({ source: await openSource({ source: repoDir, env: {} }), client, env: {}, only: { policy: 'mysql-snapshot', namespace: ns } }).catch((err: unknown) => err);
    expect(s).not.toBeInstanceOf(Error);
    const run = (s as Awaited<ReturnType<typeof reconcileOnce>>).runs[0]!;
    expect(run.run.status.phase).toBe('Failed');
    expect(run.run.status.error).toContain("Access denied for user 'root'@'localhost'");
    expect(run.run.status.error).toContain(`MARIADB_ROOT_PASSWORD from Secret ${ns}/mariadb-credentials key "root-password"`);
    expect(run.run.status.error).not.toContain('the-first-password');
    // Nothing was left blocked: commits go through right after the failed run.
    await sh(ns, e.name, `MYSQL_PWD=rotated mariadb -uroot shop -e "insert into ledger values (1)"`);
  }, 180_000);
});
