/**
 * The whole loop on a 3-node sandbox: the sample app in two namespaces whose
 * pods (and so their ReadWriteOnce volumes) live on different nodes. One
 * reconcile backs both up — snapshots, mover Jobs scheduled where their
 * restored claims can be used, restore points in Git — and each volume reads
 * back from the repository byte for byte. A restore of the app pinned to
 * one node fills its new volume there, so the restored database can start.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { runRestore } from '../../reconciler/restore/index.ts';
import { MOVER_RESOURCES, waitForMoverJob } from '../../reconciler/volumes/mover.ts';
import { FileBackend, openRepository, restore } from '../../repository/index.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { commitFiles, deploySampleApp } from './sample-app-fixture.ts';
import { Watch } from '@kubernetes/client-node';
import * as http from 'node:http';
import { exportVolumes, RUN_LABEL, snapshotVolumes, type MoverRepository } from '../../reconciler/volumes/index.ts';
import { initRepository } from '../../repository/index.ts';
import { openBackend } from '../../repository/backend/open.ts';
import { startS3Server } from '../repository/s3-server.ts';

/**
 * A loopback proxy in front of an S3 server that holds each request until requests for every one of `prefixes` (the
 * first path segment after the bucket, or a listing's `prefix=`) have arrived, then lets everything through.
 */
async function barrierProxy(target: string, prefixes: string[]): Promise<{ url: string; held: number; close(): Promise<void> }> {
  const upstream = new URL(target);
  const arrived = new Set<string>();
  const waiting: (() => void)[] = [];
  const state = { held: 0 };
  const server = http.createServer((req, res) => {
    const u = decodeURIComponent(req.url ?? '');
    const key = prefixes.find((p) => new RegExp(`^/[^/?]+/${p}/|[?&]prefix=${p}/`).test(u));
    const forward = () => {
      const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (e) => res.destroy(e));
      req.pipe(up);
    };
    if (key) arrived.add(key);
    if (!key || prefixes.every((p) => arrived.has(p))) {
      for (const w of waiting.splice(0)) w();
      forward();
    } else {
      state.held++;
      waiting.push(forward);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get held() {
      return state.held;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

const APPS = [
  { namespace: 'shop', node: 'sandbox-worker' },
  { namespace: 'cafe', node: 'sandbox-worker2' },
];
const password = randomBytes(16).toString('hex');
let sb: Sandbox;
let client: KubeClient;
let work: string;
let repoDir: string;
let repositoryPath: string;

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'coffer-nodes-e2e-'));
  sb = await startSandbox({ dir: join(work, 'sandbox'), nodes: 3 });
  client = new KubeClient(sb.kubeConfig);
  await deploySampleApp(client, password, APPS);
  repositoryPath = join(work, 'repository');
  fs.mkdirSync(repositoryPath);
  repoDir = join(work, 'policy-repo');
  await commitFiles(repoDir, demoPolicyRepo(repositoryPath, fs.readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
}, 180_000);

afterAll(async () => {
  await sb?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

type Pod = { metadata: { name: string }; spec: { nodeName?: string } };
type Pvc = { metadata: { annotations?: Record<string, string> }; spec: { volumeName: string } };
type Pv = { spec: { nodeAffinity?: { required: { nodeSelectorTerms: Array<{ matchExpressions: Array<{ values: string[] }> }> } }; csi: { volumeAttributes: { path: string } } } };

describe('backup across nodes', () => {
  it('keeps each app and its volume on its own node', async () => {
    for (const app of APPS) {
      const pod = (await client.get('v1', 'pods', app.namespace, 'db-0')) as unknown as Pod;
      expect(pod.spec.nodeName).toBe(app.node);
      const pvc = (await client.get('v1', 'persistentvolumeclaims', app.namespace, 'data-db-0')) as unknown as Pvc;
      expect(pvc.metadata.annotations?.['volume.kubernetes.io/selected-node']).toBe(app.node);
      const pv = (await client.get('v1', 'persistentvolumes', undefined, pvc.spec.volumeName)) as unknown as Pv;
      expect(pv.spec.nodeAffinity?.required.nodeSelectorTerms[0]!.matchExpressions[0]!.values).toEqual([app.node]);
    }
  });

  it('backs up both namespaces in one reconcile, each volume restoring byte for byte', async () => {
    const source = await openSource({ source: repoDir, env: {} });
    const s = await reconcileOnce({ source, client, now: () => new Date('2026-11-24T01:05:00Z'), env: {} });
    expect(s.errors).toEqual([]);
    expect(s.runs.map((r) => [r.run.spec.namespace, r.run.status.phase, r.run.status.error]).sort()).toEqual([
      ['cafe', 'Succeeded', undefined],
      ['shop', 'Succeeded', undefined],
    ]);
    const repo = await openRepository(new FileBackend(repositoryPath), password);
    for (const run of s.runs) {
      const ns = run.run.spec.namespace;
      const vol = run.restorePoint!.spec.volumes!.find((v) => v.pvc === 'data-db-0')!;
      expect(vol.phase).toBe('Succeeded');
      const out = join(work, `restore-${ns}`);
      await restore(repo, vol.snapshotId!, out);
      const pvc = (await client.get('v1', 'persistentvolumeclaims', ns, 'data-db-0')) as unknown as Pvc;
      const live = ((await client.get('v1', 'persistentvolumes', undefined, pvc.spec.volumeName)) as unknown as Pv).spec.csi.volumeAttributes.path;
      expect(fs.readFileSync(join(out, 'data', 'app.db')).equals(fs.readFileSync(join(live, 'app.db')))).toBe(true);
      const rows = execFileSync('sqlite3', [join(out, 'data', 'app.db.coffer-backup'), 'SELECT count(*) FROM orders'], { encoding: 'utf8' }).trim();
      expect(rows).toBe('3');
    }
    // Every mover pod was placed by the scheduler, in coffer-system (the snapshot handed off there,
    // reconciler/volumes/handoff.ts): a Scheduled event there names its node; none ran in an app's namespace.
    type Ev = { reason: string; message: string; involvedObject: { name: string } };
    const scheduled = async (ns: string) => ((await client.list('v1', 'events', ns)) as unknown as Ev[]).filter((e) => e.reason === 'Scheduled' && /^coffer-/.test(e.involvedObject.name));
    const movers = await scheduled('coffer-system');
    expect(movers.length).toBeGreaterThanOrEqual(APPS.length);
    for (const e of movers) expect(e.message).toMatch(/^Successfully assigned coffer-system\/\S+ to sandbox(-worker2?)?$/);
    for (const app of APPS) expect(await scheduled(app.namespace)).toEqual([]);
  });

  it('backs up two namespaces on different nodes in parallel: each mover on its volume\'s node, both moving at once', { timeout: 240_000 }, async () => {
    const s3 = await startS3Server();
    // Each namespace has its own repository prefix; the proxy holds every request until both movers have asked for
    // their repository, so the test passes only if neither backup waits for the other (no wall clock involved).
    const proxy = await barrierProxy(s3.endpoint, APPS.map((a) => a.namespace));
    const seen: string[] = [];
    const shapes = new Set<string>();
    type MoverPod = { metadata: { labels?: Record<string, string>; ownerReferences?: { kind: string; controller?: boolean }[] }; spec: { nodeName?: string; securityContext?: { runAsNonRoot?: boolean }; containers: { resources?: unknown }[] }; status?: { phase?: string } };
    const watch = await new Watch(sb.kubeConfig).watch('/api/v1/namespaces/coffer-system/pods', {}, (_type, pod: MoverPod) => {
      const run = pod.metadata.labels?.[RUN_LABEL];
      if (!run?.startsWith('par-')) return;
      seen.push(`${run.slice(4)} ${pod.status?.phase ?? ''} ${pod.spec.nodeName ?? ''}`);
      // Owned by its Job (garbage collection removes it), non-root, with requests and limits.
      shapes.add(JSON.stringify([pod.metadata.ownerReferences?.map((r) => `${r.kind}:${r.controller}`), pod.spec.securityContext?.runAsNonRoot, pod.spec.containers[0]!.resources]));
    }, () => undefined);
    try {
      const outcomes = await Promise.all(
        APPS.map(async (app) => {
          const repository: MoverRepository = { url: s3.url(app.namespace), password, env: { ...s3.env, COFFER_S3_ENDPOINT: proxy.url }, namespace: 'coffer-system' };
          await initRepository(openBackend(s3.url(app.namespace), s3.env), password);
          const pvc = await client.get('v1', 'persistentvolumeclaims', app.namespace, 'data-db-0');
          const [taken] = await snapshotVolumes(client, { namespace: app.namespace, pvcs: [pvc], runId: `par-${app.namespace}` });
          return exportVolumes(client, { namespace: app.namespace, snapshots: [{ pvc, snapshot: taken!.snapshot! }], repository, tags: { namespace: app.namespace }, runId: `par-${app.namespace}`, deleteSnapshots: true });
        }),
      );
      expect(outcomes.map(([o]) => [o!.pvc, o!.phase, o!.error])).toEqual(APPS.map(() => ['data-db-0', 'Succeeded', undefined]));
    } finally {
      watch.abort();
      await proxy.close();
      await s3.close();
    }
    // Where: each mover pod on its app's node (the volume's node affinity). When: both were Running before either finished.
    const ran = (ns: string) => seen.filter((e) => e.startsWith(`${ns} Running `));
    for (const app of APPS) expect(new Set(ran(app.namespace).map((e) => e.split(' ')[2]))).toEqual(new Set([app.node]));
    const firstDone = seen.findIndex((e) => / (Succeeded|Failed) /.test(e));
    expect(firstDone).toBeGreaterThan(-1);
    for (const app of APPS) expect(seen.findIndex((e) => e.startsWith(`${app.namespace} Running `))).toBeLessThan(firstDone);
    expect(proxy.held).toBeGreaterThan(0);
    expect([...shapes]).toEqual([JSON.stringify([['Job:true'], true, MOVER_RESOURCES])]);
  });

  it('restores the app pinned to sandbox-worker2 into a new namespace: the mover fills the volume on that node', { timeout: 180_000 }, async () => {
    const source = await openSource({ source: repoDir, env: {} });
    const out = await runRestore({ source, client, restorePoint: { ref: 'latest', namespace: 'cafe' }, namespaceMapping: { cafe: 'cafe-copy' }, env: {}, wait: true, waitTimeoutMs: 120_000 });
    expect(out.result.spec.errors).toBeUndefined();
    expect(out.result.spec.phase).toBe('Succeeded');
    const pod = (await client.get('v1', 'pods', 'cafe-copy', 'db-0')) as unknown as Pod & { status: { phase: string } };
    expect([pod.spec.nodeName, pod.status.phase]).toEqual(['sandbox-worker2', 'Running']);
    const pvc = (await client.get('v1', 'persistentvolumeclaims', 'cafe-copy', 'data-db-0')) as unknown as Pvc;
    const pv = (await client.get('v1', 'persistentvolumes', undefined, pvc.spec.volumeName)) as unknown as Pv;
    expect(pv.spec.nodeAffinity?.required.nodeSelectorTerms[0]!.matchExpressions[0]!.values).toEqual(['sandbox-worker2']);
  });

  it('says why a mover that no node can take is waiting when it times out', async () => {
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'stuck-mover', namespace: 'shop' }, spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', nodeSelector: { 'kubernetes.io/hostname': 'nowhere' }, containers: [{ name: 'mover', image: 'busybox', command: ['true'] }] } } } };
    await client.create('batch/v1', 'jobs', 'shop', job as never);
    const err = await waitForMoverJob(client, 'shop', 'stuck-mover', { what: 'mover shop/stuck-mover', timeoutMs: 4000 }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/not scheduled: 0\/3 nodes are available: 3 node\(s\) didn't match Pod's node affinity\/selector\. preemption: /);
  });
});
