/**
 * `coffer restore files … --into-pvc` on one sandbox: the sample app is backed up once, then one file of its volume
 * backup is written into a new empty PVC and back into the original PVC after it was deleted there. The bytes are read
 * through the PVs' host directories and compared with a restore straight from the repository; every other file of the
 * PVC must be unchanged, and an existing file is never overwritten without `--existing update`.
 */
import { Watch } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_NAMESPACE } from '../../cli/demo-app.ts';
import { openSource } from '../../reconciler/git/source.ts';
import type { KubeClient } from '../../reconciler/kube/client.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { runRestore } from '../../reconciler/restore/index.ts';
import { FileBackend, openRepository, restore } from '../../repository/index.ts';
import { commitFiles, startSampleLoop, waitFor } from './sample-app-fixture.ts';
import { hostname } from 'node:os';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { RUN_LABEL } from '../../reconciler/volumes/mover.ts';
import { LEFTOVER_SELECTOR, sweepLeftovers } from '../../reconciler/volumes/sweep.ts';
import { runIsAlive, runLeaseName } from '../../reconciler/volumes/run-lease.ts';
import type { Sandbox } from '../../sandbox/index.ts';

const FILE = 'app.db.coffer-backup';
const CLI = new URL('../../cli/coffer.js', import.meta.url).pathname;

let sb: Sandbox;
let client: KubeClient;
let work: string;
let repoDir: string;
let expected: Buffer;
let reference: string;
const password = randomBytes(16).toString('hex');


/** The live data directory of a PVC (the sandbox's CSI driver keeps volumes as host directories). */
async function volumeDir(ns: string, pvcName: string): Promise<string> {
  const pvc = (await client.get('v1', 'persistentvolumeclaims', ns, pvcName)) as unknown as { spec: { volumeName: string } };
  const pv = (await client.get('v1', 'persistentvolumes', undefined, pvc.spec.volumeName)) as unknown as { spec: { csi: { volumeAttributes: { path: string } } } };
  return pv.spec.csi.volumeAttributes.path;
}

/** Every file under dir → sha256 (relative paths). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

function restoreFilesCli(...args: string[]) {
  return promisify(execFile)(process.execPath, [CLI, 'restore', 'files', 'latest', '-n', DEMO_NAMESPACE, '--volume', 'data-db-0', '--source', repoDir, ...args], {
    env: { ...process.env, KUBECONFIG: sb.kubeconfigPath },
    timeout: 150_000,
  });
}

beforeAll(async () => {
  let repositoryPath: string;
  ({ work, sb, client, repoDir, repositoryPath } = await startSampleLoop('coffer-restore-files-', password));
  const s = await reconcileOnce({ source: await openSource({ source: repoDir, env: {} }), client, now: () => new Date('2026-11-24T01:05:00Z'), env: {}, only: { policy: 'hourly', namespace: DEMO_NAMESPACE } });
  expect(s.runs.map((r) => [r.run.status.phase, r.run.status.error])).toEqual([['Succeeded', undefined]]);
  const snapshotId = s.runs[0]!.restorePoint!.spec.volumes!.find((v) => v.pvc === 'data-db-0')!.snapshotId!;
  // The reference bytes, read straight from the repository (not through the code under test).
  reference = join(work, 'reference');
  await restore(await openRepository(new FileBackend(repositoryPath), password), snapshotId, reference, { owner: false });
  expected = readFileSync(join(reference, 'data', FILE));
  // The app stops writing while its volume is restored into (what an operator does before a file restore in place).
  await client.mergePatch('apps/v1', 'statefulsets', DEMO_NAMESPACE, 'db', { spec: { replicas: 0 } });
  await waitFor('db-0 to stop', async () => !(await client.find('v1', 'pods', DEMO_NAMESPACE, 'db-0')));
}, 300_000);

afterAll(async () => {
  await sb?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('coffer restore files --into-pvc', () => {
  it('writes one file of the volume backup into a new empty PVC, and refuses to overwrite it unless --existing update', async () => {
    expect(expected.length).toBeGreaterThan(0);
    await client.create('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'scratch', namespace: DEMO_NAMESPACE }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    const { stdout } = await restoreFilesCli('--path', `/${FILE}`, '--into-pvc', 'scratch', '-o', 'json');
    const r = JSON.parse(stdout.trim()) as { written: string[]; files: number; bytes: number; job: string };
    expect(r).toMatchObject({ written: [`${DEMO_NAMESPACE}/scratch:/${FILE}`], files: 1, bytes: expected.length });
    const dir = await volumeDir(DEMO_NAMESPACE, 'scratch');
    expect(fs.readdirSync(dir)).toEqual([FILE]);
    expect(readFileSync(join(dir, FILE)).equals(expected)).toBe(true);
    // The mover Job and its Secret are cleaned up.
    expect(await client.find('batch/v1', 'jobs', DEMO_NAMESPACE, r.job)).toBeUndefined();
    expect(await client.find('v1', 'secrets', DEMO_NAMESPACE, r.job)).toBeUndefined();

    // An existing file is not overwritten by default: the mover stops before writing.
    fs.writeFileSync(join(dir, FILE), 'changed since the backup');
    await expect(restoreFilesCli('--path', `/${FILE}`, '--into-pvc', 'scratch')).rejects.toMatchObject({ stderr: expect.stringContaining(`already has /${FILE}; nothing was written`) });
    expect(readFileSync(join(dir, FILE), 'utf8')).toBe('changed since the backup');
    // A path the backup does not have fails clearly, and writes nothing.
    await expect(restoreFilesCli('--path', '/no/such/file', '--into-pvc', 'scratch')).rejects.toMatchObject({ stderr: expect.stringContaining('--path /no/such/file: not in volume data-db-0') });
    // --existing update overwrites.
    await restoreFilesCli('--path', `/${FILE}`, '--into-pvc', 'scratch', '--existing', 'update', '-o', 'json');
    expect(readFileSync(join(dir, FILE)).equals(expected)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([FILE]);
  }, 300_000);

  it('holds a run Lease while its movers exist: a controller\'s start-up sweep meanwhile keeps them, and the restore completes', async () => {
    // Every node cordoned: the first mover pod stays Pending, so the run is in flight for as long as the test needs.
    const nodes = (await client.list('v1', 'nodes')).map((n) => n.metadata.name);
    const cordon = (unschedulable: boolean) => Promise.all(nodes.map((n) => client.mergePatch('v1', 'nodes', undefined, n, { spec: { unschedulable } })));
    await cordon(true);
    const running = restoreFilesCli('--path', `/${FILE}`, '--into-pvc', 'scratch', '--existing', 'update', '-o', 'json');
    let ended: string | undefined;
    const settled = running.then(() => (ended = 'exited'), (e: { stderr?: string }) => (ended = `failed: ${e.stderr}`));
    let run = '';
    try {
      let job: KubeObject | undefined;
      await waitFor('the restore\'s mover Job', async () => {
        job = (await client.list('batch/v1', 'jobs', undefined, { labelSelector: LEFTOVER_SELECTOR })).find((j) => j.metadata.labels?.[RUN_LABEL]?.startsWith('restore-files-'));
        return !!job || ended !== undefined;
      });
      expect(job, ended).toBeDefined();
      run = job!.metadata.labels![RUN_LABEL]!;
      const lease = (await client.get('coordination.k8s.io/v1', 'leases', 'coffer-system', runLeaseName(run))) as unknown as { spec: { holderIdentity: string } };
      expect(lease.spec.holderIdentity).toBe(`${hostname()}-${running.child.pid}`);
      // A controller taking its Lease now sweeps: the live run's Job (and its Secret and claim) stay.
      const swept = await sweepLeftovers(client, 'coffer-system', { isAlive: (r) => runIsAlive({ client, namespace: 'coffer-system', run: r, pollMs: 100 }) });
      expect(swept).toMatchObject({ removed: {}, kept: [run], errors: [] });
      expect((await client.find('batch/v1', 'jobs', job!.metadata.namespace, job!.metadata.name))?.metadata.deletionTimestamp).toBeUndefined();
    } finally {
      await cordon(false);
    }
    expect(await settled).toBe('exited');
    expect(JSON.parse((await running).stdout.trim())).toMatchObject({ written: [`${DEMO_NAMESPACE}/scratch:/${FILE}`], files: 1 });
    expect(readFileSync(join(await volumeDir(DEMO_NAMESPACE, 'scratch'), FILE)).equals(expected)).toBe(true);
    // Deleted at the end of the run.
    expect(await client.find('coordination.k8s.io/v1', 'leases', 'coffer-system', runLeaseName(run))).toBeUndefined();
  }, 300_000);

  it('puts a deleted file back into the original PVC and changes nothing else there', async () => {
    const dir = await volumeDir(DEMO_NAMESPACE, 'data-db-0');
    const before = tree(dir);
    expect(before[FILE]).toBeDefined();
    expect(Object.keys(before).length).toBeGreaterThan(1);
    fs.rmSync(join(dir, FILE));
    // Every Secret event in the namespace through a real watch: the restore's credentials never come here (it is
    // restored in coffer-system and copied in by a Job without them, reconciler/restore/copy-in.ts).
    const secrets: string[] = [];
    const watch = await new Watch(client.kc).watch(`/api/v1/namespaces/${DEMO_NAMESPACE}/secrets`, {}, (type, o: { metadata: { name: string }; data?: Record<string, string> }) => {
      if (Object.values(o.data ?? {}).some((v) => Buffer.from(v, 'base64').toString().includes(password))) secrets.push(`${type} ${o.metadata.name}`);
      else if (type !== 'ADDED' || o.metadata.name.startsWith('coffer')) secrets.push(`${type} ${o.metadata.name}`);
    }, () => undefined);
    const { stdout } = await restoreFilesCli('--path', `/${FILE}`, '--into-pvc', 'data-db-0', '-o', 'json').finally(() => watch.abort());
    expect(secrets).toEqual([]);
    // The temporary claim it copied from is gone.
    expect((await client.list('v1', 'persistentvolumeclaims', DEMO_NAMESPACE)).map((c) => c.metadata.name).filter((n) => n.startsWith('coffer-'))).toEqual([]);
    expect(JSON.parse(stdout.trim())).toMatchObject({ written: [`${DEMO_NAMESPACE}/data-db-0:/${FILE}`], files: 1 });
    expect(readFileSync(join(dir, FILE)).equals(expected)).toBe(true);
    const after = tree(dir);
    expect(after).toEqual({ ...before, [FILE]: createHash('sha256').update(expected).digest('hex') });
  }, 300_000);

  it('restores the whole volume (--path /) into an empty PVC, and refuses a PVC that is not empty', async () => {
    await client.create('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'whole', namespace: DEMO_NAMESPACE }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    const { stdout } = await restoreFilesCli('--path', '/', '--into-pvc', 'whole', '-o', 'json');
    const want = tree(join(reference, 'data'));
    expect(Object.keys(want).length).toBeGreaterThan(1);
    expect(JSON.parse(stdout.trim())).toMatchObject({ written: [`${DEMO_NAMESPACE}/whole:/`], files: Object.keys(want).length });
    expect(tree(await volumeDir(DEMO_NAMESPACE, 'whole'))).toEqual(want);
    await expect(restoreFilesCli('--path', '/', '--into-pvc', 'whole')).rejects.toMatchObject({ stderr: expect.stringContaining('it is not empty') });
  }, 300_000);

  it('rejects bad flag combinations before touching anything', async () => {
    await expect(restoreFilesCli('--path', `/${FILE}`, '--into-pvc', 'scratch', '--to', join(work, 'x'))).rejects.toMatchObject({ stderr: expect.stringContaining('exactly one of --to LOCALDIR or --into-pvc NAME') });
    await expect(restoreFilesCli('--path', `/${FILE}`, '--into-pvc', 'scratch', '--existing', 'recreate')).rejects.toMatchObject({ stderr: expect.stringContaining('expected fail or update') });
    await expect(restoreFilesCli('--path', `/${FILE}`, '--into-pvc', 'no-such-pvc')).rejects.toMatchObject({ stderr: expect.stringContaining('no PersistentVolumeClaim shop/no-such-pvc') });
  }, 120_000);

  it('restores a deleted PVC from the local VolumeSnapshot the policy kept, with the same bytes as the repository copy', async () => {
    // keepLocal: 1 keeps the newest VolumeSnapshot in the cluster after export; a same-cluster restore uses it.
    const policy = readFileSync(join(repoDir, 'policies/shop.yaml'), 'utf8').trimEnd();
    await commitFiles(repoDir, { 'policies/shop.yaml': `${policy}\n  actions:\n    snapshot:\n      keepLocal: 1\n` }, 'keep one local snapshot');
    await client.mergePatch('apps/v1', 'statefulsets', DEMO_NAMESPACE, 'db', { spec: { replicas: 1 } });
    await waitFor('db ready', async () => ((await client.get('apps/v1', 'statefulsets', DEMO_NAMESPACE, 'db')) as { status?: { readyReplicas?: number } }).status?.readyReplicas === 1);
    const source = await openSource({ source: repoDir, env: {} });
    const s = await reconcileOnce({ source, client, env: {}, only: { policy: 'hourly', namespace: DEMO_NAMESPACE } });
    const rp = s.runs[0]!.restorePoint!;
    const vol = rp.spec.volumes!.find((v) => v.pvc === 'data-db-0')!;
    expect(vol.volumeSnapshot).toBeTruthy();
    const fromRepository = join(work, 'reference-2');
    const repo = await openRepository(new FileBackend(join(work, 'repository')), password);
    await restore(repo, vol.snapshotId!, fromRepository, { owner: false });

    await client.delete('apps/v1', 'statefulsets', DEMO_NAMESPACE, 'db');
    await waitFor('db-0 to stop', async () => !(await client.find('v1', 'pods', DEMO_NAMESPACE, 'db-0')));
    await client.delete('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, 'data-db-0');
    await waitFor('data-db-0 to be deleted', async () => !(await client.find('v1', 'persistentvolumeclaims', DEMO_NAMESPACE, 'data-db-0')));

    const out = await runRestore({ source, client, restorePoint: { ref: rp.metadata.name }, include: 'object.kind in ["PersistentVolumeClaim", "StatefulSet"]', wait: true, hooks: false, env: {} });
    expect(out.result.spec.phase).toBe('Succeeded');
    expect(out.result.spec.volumes).toEqual([expect.objectContaining({ pvc: 'data-db-0', from: 'volumesnapshot', phase: 'Succeeded' })]);
    // Same bytes as the copy in the repository: both come from the one snapshot the backup took. (Hooks are off, so the
    // SQLite blueprint does not swap this copy over app.db, and the app never writes to it.)
    const live = await volumeDir(DEMO_NAMESPACE, 'data-db-0');
    expect(readFileSync(join(live, FILE)).equals(readFileSync(join(fromRepository, 'data', FILE)))).toBe(true);
  }, 300_000);
});
