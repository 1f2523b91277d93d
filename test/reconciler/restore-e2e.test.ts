/**
 * Restore end to end on one sandbox cluster: the sample app (a StatefulSet with SQLite on a PVC, a Deployment, a
 * Service, a ConfigMap, a Secret) is backed up by the reconciler, its namespace deleted, and restored — then restored
 * again into another namespace with a TransformSet, over existing objects each way, as a dry run through the CLI, and
 * from a damaged repository. The git CLI reads the recorded results independently.
 */
import { Watch } from '@kubernetes/client-node';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEMO_NAMESPACE, demoPolicyRepo } from '../../cli/demo-app.ts';
import { cleanManifest } from '../../reconciler/export/clean.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { compileTip, pendingDeclaredRestores, runDeclaredRestores, runRestore, type RestoreRequest } from '../../reconciler/restore/index.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { FileBackend, findSnapshot, openRepository, restore } from '../../repository/index.ts';
import { loadTree } from '../../repository/tree.ts';
import { commitFiles, deploySampleApp, waitFor } from './sample-app-fixture.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';

const T0 = new Date('2026-11-24T01:05:00Z');

let sb: Sandbox;
let sbB: Sandbox | undefined;
let stoppedA = false;
let client: KubeClient;
let work: string;
let repoDir: string;
let repositoryPath: string;
let restorePoint = '';
let volumeSnapshotId = '';
let manifestSnapshotId = '';
const password = randomBytes(16).toString('hex');
const originals = new Map<string, KubeObject>();

function gitCli(...args: string[]): string {
  return execFileSync('git', ['-C', repoDir, ...args], { encoding: 'utf8' });
}


async function restoreNow(extra: Partial<RestoreRequest> = {}) {
  const source = await openSource({ source: repoDir, env: {} });
  return runRestore({ source, client, restorePoint: { ref: 'latest', namespace: DEMO_NAMESPACE }, env: {}, waitTimeoutMs: 180_000, ...extra });
}

/** The live data directory of a PVC (the sandbox's CSI driver keeps volumes as host directories). */
async function volumeDir(ns: string, pvcName: string): Promise<string> {
  const pvc = (await client.get('v1', 'persistentvolumeclaims', ns, pvcName)) as unknown as { spec: { volumeName: string } };
  const pv = (await client.get('v1', 'persistentvolumes', undefined, pvc.spec.volumeName)) as unknown as { spec: { csi: { volumeAttributes: { path: string } } } };
  return pv.spec.csi.volumeAttributes.path;
}

async function dropNamespace(name: string): Promise<void> {
  await client.delete('v1', 'namespaces', undefined, name);
  await waitFor(`namespace ${name} to be gone`, async () => !(await client.find('v1', 'namespaces', undefined, name)));
}

function rows(db: string): string[] {
  return execFileSync('sqlite3', ['-cmd', '.timeout 20000', db, 'SELECT item FROM orders ORDER BY id'], { encoding: 'utf8' }).trim().split('\n');
}

/** What must survive a restore: the object as a user wrote it (server-set fields and controller annotations removed). */
function normalise(o: KubeObject): unknown {
  const c = cleanManifest(o) as KubeObject & { spec?: Record<string, unknown> };
  delete c.metadata.annotations?.['coffer.dev/owner-references'];
  if (c.metadata.annotations && !Object.keys(c.metadata.annotations).length) delete c.metadata.annotations;
  return c;
}

const KEYS = [
  ['v1', 'configmaps', 'shop-config'],
  ['v1', 'secrets', 'shop-db-credentials'],
  ['v1', 'services', 'web'],
  ['apps/v1', 'deployments', 'web'],
  ['apps/v1', 'statefulsets', 'db'],
] as const;

async function stsReady(ns: string): Promise<boolean> {
  const s = (await client.find('apps/v1', 'statefulsets', ns, 'db')) as { status?: { readyReplicas?: number } } | undefined;
  return s?.status?.readyReplicas === 1;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'coffer-restore-e2e-'));
  sb = await startSandbox({ dir: join(work, 'sandbox') });
  client = new KubeClient(sb.kubeConfig);
  await deploySampleApp(client, password);
  // A row the app's own seed never writes: if it is there after the restore, the data came from the backup.
  const liveDb = join(await volumeDir(DEMO_NAMESPACE, 'data-db-0'), 'app.db');
  // After the app's own seed (three rows) is written; with a busy timeout, since the app may still hold the lock.
  await waitFor('the seed rows', async () => {
    try {
      return rows(liveDb).length === 3;
    } catch {
      return false;
    }
  });
  execFileSync('sqlite3', ['-cmd', '.timeout 20000', liveDb, "INSERT INTO orders (item, qty) VALUES ('latte art pitcher', 5)"]);
  repositoryPath = join(work, 'repository');
  fs.mkdirSync(repositoryPath);
  repoDir = join(work, 'policy-repo');
  const files = demoPolicyRepo(repositoryPath, readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8'));
  files['transforms/staging.yaml'] = `apiVersion: coffer.dev/v1alpha1
kind: TransformSet
metadata:
  name: staging
spec:
  transforms:
    - name: no-web
      condition: object.kind == "Deployment" && object.metadata.name == "web"
      patch:
        - { op: replace, path: /spec/replicas, value: 0 }
    - name: greeting
      condition: object.kind == "ConfigMap" && has(object.data.greeting)
      patch:
        - { op: replace, path: /data/greeting, value: "Welcome to staging" }
`;
  files['restores/config-copy.yaml'] = `apiVersion: coffer.dev/v1alpha1
kind: Restore
metadata:
  name: config-copy
spec:
  source:
    namespace: ${DEMO_NAMESPACE}
    policy: hourly
  target:
    namespace: shop-declared
  include:
    kinds: [ConfigMap]
    names: [Secret/shop-db-credentials]
  volumes: false
  hooks: false
---
apiVersion: coffer.dev/v1alpha1
kind: Restore
metadata:
  name: no-such-point
spec:
  source:
    namespace: ${DEMO_NAMESPACE}
    policy: hourly
    restorePoint: hourly-19990101-000000
  target:
    namespace: shop-never
`;
  await commitFiles(repoDir, files);
  for (const [api, plural, name] of KEYS) originals.set(`${plural}/${name}`, await client.get(api, plural, DEMO_NAMESPACE, name));
  // An on-demand backup: the repo's Restore documents wait for the scheduled pass of the test that covers them.
  const s = await reconcileOnce({ source: await openSource({ source: repoDir, env: {} }), client, now: () => T0, env: {}, only: { policy: 'hourly', namespace: DEMO_NAMESPACE } });
  expect(s.runs.map((r) => [r.run.status.phase, r.run.status.error])).toEqual([['Succeeded', undefined]]);
  restorePoint = s.runs[0]!.restorePoint!.metadata.name;
  manifestSnapshotId = s.runs[0]!.restorePoint!.spec.repository.manifestSnapshot!;
  volumeSnapshotId = s.runs[0]!.restorePoint!.spec.volumes!.find((v) => v.pvc === 'data-db-0')!.snapshotId!;
}, 300_000);

afterAll(async () => {
  if (!stoppedA) await sb?.stop();
  await sbB?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('restore on the sandbox', () => {
  it('restores a deleted namespace: same manifests, same volume bytes, SQLite rows back, app ready, result in Git', async () => {
    await dropNamespace(DEMO_NAMESPACE);

    // Every Secret of the restored namespace, through a real watch, while the restore runs: only the app's own.
    const secrets: string[] = [];
    const watch = await new Watch(client.kc).watch(`/api/v1/namespaces/${DEMO_NAMESPACE}/secrets`, {}, (type, o: { metadata: { name: string }; data?: Record<string, string> }) => {
      const carries = Object.values(o.data ?? {}).some((v) => Buffer.from(v, 'base64').toString().includes(password));
      secrets.push(`${type} ${o.metadata.name}${carries ? ' (carries the repository passphrase)' : ''}`);
    }, () => undefined);
    const out = await restoreNow({ wait: true }).finally(() => watch.abort());
    expect(secrets).toEqual(['ADDED shop-db-credentials']);
    // The volume was filled in coffer-system and handed back: bound to the restored claim, with its class's policy.
    const pv = await client.get('v1', 'persistentvolumes', undefined, ((await client.get('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, 'data-db-0')).spec as { volumeName: string }).volumeName);
    expect(pv.spec).toMatchObject({ persistentVolumeReclaimPolicy: 'Delete', claimRef: { namespace: DEMO_NAMESPACE, name: 'data-db-0' } });
    expect(Object.keys(pv.metadata.annotations ?? {}).filter((k) => k.startsWith('coffer.dev/'))).toEqual([]);
    expect(out.restorePoint.metadata.name).toBe(restorePoint);
    expect(out.result.spec.errors).toBeUndefined();
    expect(out.result.spec.phase).toBe('Succeeded');
    const created = out.result.spec.resources.filter((r) => r.action === 'created').map((r) => `${r.kind}/${r.name}`);
    for (const k of ['Namespace/shop', 'ConfigMap/shop-config', 'Secret/shop-db-credentials', 'Service/web', 'Deployment/web', 'StatefulSet/db', 'PersistentVolumeClaim/data-db-0']) expect(created).toContain(k);
    // Order: the PVC (and its data) before any workload, config before workloads, the namespace first.
    const order = out.result.spec.resources.map((r) => r.kind);
    expect(order.indexOf('Namespace')).toBe(0);
    expect(order.indexOf('PersistentVolumeClaim')).toBeLessThan(order.indexOf('StatefulSet'));
    expect(order.indexOf('Secret')).toBeLessThan(order.indexOf('Deployment'));
    expect(out.result.spec.volumes).toEqual([expect.objectContaining({ pvc: 'data-db-0', phase: 'Succeeded', snapshotId: volumeSnapshotId })]);
    expect(out.result.spec.volumes![0]!.bytesRestored).toBeGreaterThan(0);
    // The sqlite blueprint's restore action swapped the consistent copy into place.
    expect(out.result.spec.hooks).toEqual([expect.objectContaining({ blueprint: 'sqlite', action: 'restore', phase: 'swap', phaseResult: 'Succeeded' })]);

    for (const [api, plural, name] of KEYS) {
      const now = await client.get(api, plural, DEMO_NAMESPACE, name);
      expect(normalise(now), `${plural}/${name}`).toEqual(normalise(originals.get(`${plural}/${name}`)!));
    }
    expect(await stsReady(DEMO_NAMESPACE)).toBe(true);
    // The Namespace comes back with its labels, so the policy's selector goes on protecting it.
    expect((await client.get('v1', 'namespaces', undefined, DEMO_NAMESPACE)).metadata.labels).toMatchObject({ 'backup.coffer.dev/enabled': 'true' });

    // Volume bytes: app.db is now byte for byte the consistent copy the backup took, and has every row.
    const snapOut = join(work, 'snapshot-volume');
    await restore(await openRepository(new FileBackend(repositoryPath), password), volumeSnapshotId, snapOut);
    const live = await volumeDir(DEMO_NAMESPACE, 'data-db-0');
    expect(readFileSync(join(live, 'app.db')).equals(readFileSync(join(snapOut, 'data', 'app.db.coffer-backup')))).toBe(true);
    expect(rows(join(live, 'app.db'))).toEqual(['espresso beans', 'grinder', 'milk jug', 'latte art pitcher']);

    // Recorded on the catalog branch, read by the git CLI.
    const path = out.commit!.path;
    expect(path).toBe(`restores/demo/${DEMO_NAMESPACE}/${out.result.metadata.name}.yaml`);
    const doc = parse(gitCli('show', `coffer-catalog:${path}`)) as { kind: string; spec: { phase: string; restorePoint: string } };
    expect(doc).toMatchObject({ kind: 'RestoreResult', spec: { phase: 'Succeeded', restorePoint } });
    expect(gitCli('log', '-1', '--format=%s', 'coffer-catalog')).toMatch(/^restore: shop\/.* → shop ok, \d+ created/);
    // No restore mover left behind.
    expect((await client.list('batch/v1', 'jobs', DEMO_NAMESPACE)).map((j) => j.metadata.name)).toEqual([]);
    // The restore's Run keeps its log (coffer logs RUN): the plan, the volume's mover, the outcome.
    const source = await openSource({ source: repoDir, env: {} });
    const plan = await compileTip(source);
    const catalog = openCatalog({ source, cluster: plan.config.cluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path });
    const run = (await catalog.readRuns({ type: 'restore', since: new Date(0) })).find((r) => r.metadata.name === out.result.metadata.name);
    expect(run?.status.log).toEqual(expect.arrayContaining([expect.stringMatching(/Z restoring .* into namespace shop: \d+ object\(s\)/), expect.stringMatching(/Z .*mover.*data-db-0/), expect.stringMatching(/Z Succeeded: \d+ created/)]));
  }, 300_000);

  it('restores into another namespace with a TransformSet; the source namespace is untouched', async () => {
    const before = await client.get('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config');
    const out = await restoreNow({ namespaceMapping: { [DEMO_NAMESPACE]: 'shop-staging' }, transforms: ['staging'], wait: true });
    expect(out.result.spec.errors).toBeUndefined();
    expect(out.result.spec.phase).toBe('Succeeded');
    expect(out.result.spec.target.namespace).toBe('shop-staging');
    expect(out.result.spec.transforms).toEqual(['staging']);
    // The mapped Namespace carries the source's labels, but its own name label.
    expect((await client.get('v1', 'namespaces', undefined, 'shop-staging')).metadata.labels).toEqual({ 'backup.coffer.dev/enabled': 'true', 'kubernetes.io/metadata.name': 'shop-staging' });
    const cm = (await client.get('v1', 'configmaps', 'shop-staging', 'shop-config')) as KubeObject & { data: Record<string, string> };
    expect(cm.data.greeting).toBe('Welcome to staging');
    expect(cm.data.currency).toBe('EUR');
    const web = (await client.get('apps/v1', 'deployments', 'shop-staging', 'web')) as KubeObject & { spec: { replicas: number } };
    expect(web.spec.replicas).toBe(0);
    expect(out.result.spec.resources.find((r) => r.kind === 'Deployment')?.transforms).toEqual(['staging/no-web']);
    expect(await stsReady('shop-staging')).toBe(true);
    expect(rows(join(await volumeDir('shop-staging', 'data-db-0'), 'app.db'))).toContain('latte art pitcher');
    // The source is unchanged.
    expect((await client.get('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    // Done with staging: its label would have the next reconcile back it up like shop.
    await dropNamespace('shop-staging');
  }, 300_000);

  it('--existing skip leaves a changed object alone; --existing update puts the backed-up state back', async () => {
    await client.mergePatch('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config', { data: { greeting: 'changed by hand' } });
    const onlyConfig = 'object.kind == "ConfigMap"';
    const skip = await restoreNow({ include: onlyConfig });
    const cmRow = (r: typeof skip) => r.result.spec.resources.find((x) => x.kind === 'ConfigMap' && x.name === 'shop-config');
    expect(cmRow(skip)).toMatchObject({ action: 'skipped', reason: 'already exists (--existing skip)' });
    expect(skip.result.spec.resources.filter((r) => r.action === 'created')).toEqual([]);
    expect(((await client.get('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config')) as KubeObject & { data: Record<string, string> }).data.greeting).toBe('changed by hand');
    // --include restored only ConfigMaps (and checked the namespace); everything else is reported as not selected.
    expect(skip.result.spec.resources.find((r) => r.kind === 'StatefulSet')).toMatchObject({ action: 'skipped', reason: 'not selected by --include' });

    const update = await restoreNow({ include: onlyConfig, existing: 'update' });
    expect(cmRow(update)).toMatchObject({ action: 'updated' });
    expect(update.result.spec.phase).toBe('Succeeded');
    expect(((await client.get('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config')) as KubeObject & { data: Record<string, string> }).data.greeting).toBe('Welcome to the coffee shop');
  }, 180_000);

  it('--existing recreate deletes and creates the object again (a new uid, the backed-up content)', async () => {
    await client.mergePatch('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config', { data: { greeting: 'changed again' } });
    const before = await client.get('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config');
    const out = await restoreNow({ include: 'object.kind == "ConfigMap"', existing: 'recreate' });
    expect(out.result.spec.resources.find((r) => r.kind === 'ConfigMap')).toMatchObject({ action: 'updated', reason: 'deleted and created again (--existing recreate)' });
    // The Namespace is never deleted, whatever --existing says.
    expect(out.result.spec.resources.find((r) => r.kind === 'Namespace')).toMatchObject({ action: 'updated' });
    const after = (await client.get('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config')) as KubeObject & { data: Record<string, string> };
    expect(after.metadata.uid).not.toBe(before.metadata.uid);
    expect(after.data.greeting).toBe('Welcome to the coffee shop');
    expect(await stsReady(DEMO_NAMESPACE)).toBe(true);
  }, 180_000);

  it('--wait reports what is not healthy (a TransformSet file gives the web Deployment an image that cannot run)', async () => {
    const file = join(work, 'broken-image.yaml');
    fs.writeFileSync(file, `apiVersion: coffer.dev/v1alpha1
kind: TransformSet
metadata:
  name: broken-image
spec:
  transforms:
    - name: image
      condition: object.kind == "Deployment"
      patch:
        - { op: replace, path: /spec/template/spec/containers/0/image, value: "registry.invalid/nope:1" }
`);
    const out = await restoreNow({ namespaceMapping: { [DEMO_NAMESPACE]: 'shop-broken' }, include: 'object.kind in ["Deployment", "ConfigMap"]', transforms: [file], wait: true, waitTimeoutMs: 8_000 });
    expect(out.result.spec.transforms).toEqual(['broken-image']);
    expect(out.result.spec.phase).toBe('PartiallyFailed');
    expect(out.result.spec.errors).toEqual(['not healthy: Deployment shop-broken/web: 0/1 replicas ready']);
    expect(out.result.spec.summary.failed).toBe(0);
    const web = (await client.get('apps/v1', 'deployments', 'shop-broken', 'web')) as KubeObject & { spec: { template: { spec: { containers: { image: string }[] } } } };
    expect(web.spec.template.spec.containers[0]!.image).toBe('registry.invalid/nope:1');
    await dropNamespace('shop-broken');
  }, 180_000);

  it('runs each Restore document of the repo once and records its result, failed ones included', async () => {
    const source = await openSource({ source: repoDir, env: {} });
    const plan = await compileTip(source);
    const catalog = openCatalog({ source, cluster: plan.config.cluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path });
    expect((await pendingDeclaredRestores(plan, catalog, source)).map((r) => r.name).sort()).toEqual(['config-copy', 'no-such-point']);
    // The scheduled reconcile runs them (the backup itself is up to date within the hour).
    const pass = await reconcileOnce({ source, client, now: () => new Date(T0.getTime() + 10 * 60_000), env: {}, retention: false });
    expect(pass.runs).toEqual([]);
    const first = pass.restores;
    expect(first.map((r) => [r.restore, r.phase])).toEqual([['config-copy', 'Succeeded'], ['no-such-point', 'Failed']]);
    expect(first[1]!.error).toMatch(/restore point "hourly-19990101-000000" not found/);
    const created = first[0]!.outcome!.result.spec.resources.filter((r) => r.action === 'created').map((r) => `${r.kind}/${r.name}`);
    expect(created.sort()).toEqual(['ConfigMap/shop-config', 'Namespace/shop-declared', 'Secret/shop-db-credentials']);
    expect(await client.find('v1', 'namespaces', undefined, 'shop-never')).toBeUndefined();
    const failed = parse(gitCli('show', 'coffer-catalog:restores/demo/shop-never/no-such-point.yaml')) as { spec: { phase: string; restore: string; errors: string[] } };
    expect(failed.spec).toMatchObject({ phase: 'Failed', restore: 'no-such-point' });
    expect(gitCli('show', 'coffer-catalog:restores/demo/shop-declared/config-copy.yaml')).toContain('restore: config-copy');
    // Executed once: nothing is pending any more, and a second pass does nothing.
    expect(await pendingDeclaredRestores(plan, catalog, source)).toEqual([]);
    expect(await runDeclaredRestores({ source, client, plan, catalog, env: {} })).toEqual([]);
  }, 180_000);

  it('coffer restore files puts one file of a volume backup into a local directory, touching nothing in the cluster', async () => {
    const to = join(work, 'files-out');
    const cli = new URL('../../cli/coffer.js', import.meta.url).pathname;
    const tip = gitCli('rev-parse', 'coffer-catalog').trim();
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'restore', 'files', 'latest', '-n', DEMO_NAMESPACE, '--volume', 'data-db-0', '--path', '/app.db.coffer-backup', '--to', to, '--source', repoDir, '-o', 'json'], {
      env: { ...process.env, KUBECONFIG: sb.kubeconfigPath },
      timeout: 120_000,
    });
    const r = JSON.parse(stdout.trim()) as { restorePoint: string; written: string[]; files: number };
    expect(r).toMatchObject({ restorePoint, written: [join(to, 'app.db.coffer-backup')], files: 1 });
    expect(fs.readdirSync(to)).toEqual(['app.db.coffer-backup']);
    expect(rows(join(to, 'app.db.coffer-backup'))).toEqual(['espresso beans', 'grinder', 'milk jug', 'latte art pitcher']);
    expect(gitCli('rev-parse', 'coffer-catalog').trim()).toBe(tip);
    // Never overwrites.
    await expect(promisify(execFile)(process.execPath, [cli, 'restore', 'files', 'latest', '-n', DEMO_NAMESPACE, '--volume', 'data-db-0', '--path', '/app.db.coffer-backup', '--to', to, '--source', repoDir], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath }, timeout: 120_000 })).rejects.toMatchObject({ stderr: expect.stringContaining('exists; nothing was overwritten') });
  }, 180_000);

  it('coffer dr drill restores into a scratch namespace, validates, deletes it and commits a report with the RTO', async () => {
    const cli = new URL('../../cli/coffer.js', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'dr', 'drill', '-n', DEMO_NAMESPACE, '--source', repoDir, '-o', 'json'], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath }, timeout: 240_000 });
    const r = JSON.parse(stdout.trim()) as { spec: { phase: string; rtoSeconds: number; restorePoint: string; scratchNamespace: string; scratchDeleted: boolean; hooks: { blueprint: string; action: string; phase: string; phaseResult: string }[]; errors?: string[] }; recorded: { path: string } };
    expect(r.spec.errors).toBeUndefined();
    expect(r.spec).toMatchObject({ phase: 'Succeeded', restorePoint, scratchDeleted: true });
    expect(r.spec.rtoSeconds).toBeGreaterThan(0);
    expect(r.spec.scratchNamespace).toMatch(/^shop-drill-[0-9a-f]{6}$/);
    expect(r.spec.hooks.map((h) => `${h.blueprint}.${h.action}.${h.phase}=${h.phaseResult}`)).toEqual(['sqlite.restore.swap=Succeeded', 'sqlite.validate.integrity=Succeeded']);
    expect(await client.find('v1', 'namespaces', undefined, r.spec.scratchNamespace)).toBeUndefined();
    const committed = parse(gitCli('show', `coffer-catalog:${r.recorded.path}`)) as { kind: string; spec: { rtoSeconds: number } };
    expect(committed).toMatchObject({ kind: 'DrillReport', spec: { rtoSeconds: r.spec.rtoSeconds } });
    expect(gitCli('log', '-1', '--format=%s', 'coffer-catalog').trim()).toMatch(/^drill: shop\/.* ok, RTO [\d.]+s$/);
  }, 300_000);

  it('coffer restore --dry-run prints what it would do and changes nothing, in the cluster or in Git', async () => {
    await client.delete('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config');
    const tip = gitCli('rev-parse', 'coffer-catalog').trim();
    const cli = new URL('../../cli/coffer.js', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'restore', 'latest', '-n', DEMO_NAMESPACE, '--source', repoDir, '--dry-run', '-o', 'json', '--namespace-mapping', `${DEMO_NAMESPACE}=${DEMO_NAMESPACE}`], {
      env: { ...process.env, KUBECONFIG: sb.kubeconfigPath },
      timeout: 120_000,
    });
    const doc = JSON.parse(stdout.trim().split('\n').at(-1)!) as { dryRun: boolean; spec: { resources: { kind: string; name: string; action: string }[] } };
    expect(doc.dryRun).toBe(true);
    const action = (kind: string, name: string) => doc.spec.resources.find((r) => r.kind === kind && r.name === name)?.action;
    expect(action('ConfigMap', 'shop-config')).toBe('created');
    expect(action('StatefulSet', 'db')).toBe('skipped');
    expect(action('Namespace', DEMO_NAMESPACE)).toBe('skipped');
    // The same on a terminal-style text output.
    const text = await promisify(execFile)(process.execPath, [cli, 'restore', 'latest', '-n', DEMO_NAMESPACE, '--source', repoDir, '--dry-run', '-o', 'text'], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath }, timeout: 120_000 });
    expect(text.stdout).toMatch(/^DRY RUN — nothing is changed\. restore point hourly-/);
    expect(text.stdout).toMatch(/would create\s+ConfigMap\s+shop\/shop-config/);
    expect(text.stdout).toMatch(/skip\s+StatefulSet\s+shop\/db\s+already exists \(--existing skip\)/);
    expect(text.stdout).toMatch(/would be: 1 created, 0 updated, \d+ skipped, 0 failed/);
    // Its progress log says so too: no bare "Succeeded: 1 created" for a restore that created nothing.
    expect(text.stderr).toMatch(/^ *dry run, would be Succeeded: 1 created, 0 updated, \d+ skipped, 0 failed$/m);
    expect(text.stderr).not.toMatch(/^ *Succeeded:/m);
    expect(await client.find('v1', 'configmaps', DEMO_NAMESPACE, 'shop-config')).toBeUndefined();
    expect(gitCli('rev-parse', 'coffer-catalog').trim()).toBe(tip);
  }, 180_000);

  it('fails clearly on a damaged repository and leaves the target namespace unmade', async () => {
    const repo = await openRepository(new FileBackend(repositoryPath), password);
    await repo.loadIndex();
    const packsOf = async (snap: string): Promise<Set<string>> => {
      const out = new Set<string>();
      const visit = async (tree: string): Promise<void> => {
        out.add(repo.index.get(tree)!.pack);
        for (const n of (await loadTree(repo, tree)).nodes) {
          for (const b of n.content ?? []) out.add(repo.index.get(b)!.pack);
          if (n.subtree) await visit(n.subtree);
        }
      };
      await visit((await findSnapshot(repo, snap)).tree);
      return out;
    };
    const manifestPacks = await packsOf(manifestSnapshotId);
    const volumeOnly = [...(await packsOf(volumeSnapshotId))].filter((p) => !manifestPacks.has(p));
    expect(volumeOnly.length).toBeGreaterThan(0);
    const files = execFileSync('find', [join(repositoryPath, 'data'), '-type', 'f'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const tip = gitCli('rev-parse', 'coffer-catalog').trim();
    const damage = async (packs: string[], expected: RegExp) => {
      const saved = new Map(files.filter((f) => packs.some((p) => f.endsWith(p))).map((f) => [f, readFileSync(f)]));
      expect(saved.size).toBe(packs.length);
      try {
        for (const [f, data] of saved) {
          const bad = Buffer.from(data);
          bad[bad.length >> 1] ^= 0xff;
          fs.chmodSync(f, 0o644);
          fs.writeFileSync(f, bad);
        }
        await expect(restoreNow({ namespaceMapping: { [DEMO_NAMESPACE]: 'shop-damaged' } })).rejects.toMatchObject({ code: 'E_RESTORE_DATA', message: expect.stringMatching(expected) });
        expect(await client.find('v1', 'namespaces', undefined, 'shop-damaged')).toBeUndefined();
        expect(gitCli('rev-parse', 'coffer-catalog').trim()).toBe(tip);
      } finally {
        for (const [f, data] of saved) fs.writeFileSync(f, data);
      }
    };
    // Volume data damaged: the manifests read fine, but the pre-flight check refuses before anything is created.
    await damage(volumeOnly, /^repository damaged: (pack|snapshot) /);
    // Manifests damaged: refused while reading them.
    await damage([...manifestPacks], /cannot read manifest snapshot/);
  }, 180_000);

  it('coffer dr restore brings every protected namespace back in a second cluster with only the Git repo and the repository (the first cluster is gone)', async () => {
    // Cluster A is shut down first: nothing of it can be used.
    await sb.stop();
    stoppedA = true;
    sbB = await startSandbox({ dir: join(work, 'sandbox-b') });
    const clientB = new KubeClient(sbB.kubeConfig);
    // The one thing a new cluster needs besides Git and the bucket: the repository key, as on cluster A.
    await clientB.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } });
    await clientB.create('v1', 'secrets', 'coffer-system', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, stringData: { passphrase: password } });
    // Through the CLI, as an operator would: every namespace cluster "demo" protected, into the new cluster.
    const cli = new URL('../../cli/coffer.js', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'dr', 'restore', '--cluster', 'demo', '--to-kubeconfig', sbB.kubeconfigPath, '--target-cluster', 'demo-b', '--wait', '--source', repoDir, '-o', 'json'], { env: { ...process.env, KUBECONFIG: '/nonexistent' }, timeout: 240_000 });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { namespace: string; restorePoint: string; phase: string; errors: string[]; volumes: { pvc: string; phase: string }[]; recorded: string });
    expect(lines.map((l) => [l.namespace, l.restorePoint, l.phase, l.errors])).toEqual([[DEMO_NAMESPACE, restorePoint, 'Succeeded', []]]);
    expect(lines[0]!.volumes.map((v) => [v.pvc, v.phase])).toEqual([['data-db-0', 'Succeeded']]);
    for (const [api, plural, name] of KEYS) {
      const now = await clientB.get(api, plural, DEMO_NAMESPACE, name);
      expect(normalise(now), `${plural}/${name}`).toEqual(normalise(originals.get(`${plural}/${name}`)!));
    }
    const pvc = (await clientB.get('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, 'data-db-0')) as unknown as { spec: { volumeName: string } };
    const pv = (await clientB.get('v1', 'persistentvolumes', undefined, pvc.spec.volumeName)) as unknown as { spec: { csi: { volumeAttributes: { path: string } } } };
    expect(rows(join(pv.spec.csi.volumeAttributes.path, 'app.db'))).toEqual(['espresso beans', 'grinder', 'milk jug', 'latte art pitcher']);
    expect((await clientB.get('v1', 'namespaces', undefined, DEMO_NAMESPACE)).metadata.labels).toMatchObject({ 'backup.coffer.dev/enabled': 'true', 'kubernetes.io/metadata.name': DEMO_NAMESPACE });
    // Recorded under the target cluster's subtree of the catalog branch.
    expect(lines[0]!.recorded).toMatch(new RegExp(`^restores/demo-b/${DEMO_NAMESPACE}/restore-`));
    expect(gitCli('show', `coffer-catalog:${lines[0]!.recorded}`)).toContain('cluster: demo-b');
  }, 300_000);
});
