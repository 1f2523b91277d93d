/**
 * Restore benchmark (`npm run bench:restore`): a namespace with ~1,000 objects and 3 volumes on the sandbox is backed up
 * by the reconciler, deleted, and restored by `runRestore` (objects, volume data through restore mover Jobs, --wait).
 * Anchors measured in the same run on the same machine:
 * - objects: `kubectl create -f DIR` of exactly the manifests Coffer's plan creates, into a fresh namespace, against
 *   Coffer's objects-only restore (--no-volumes) into another fresh namespace; ratio = kubectl / coffer.
 * - volume data: `restic restore` of the same three volume directories (restic backup first, untimed).
 * Prints one JSON object.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import git from 'isomorphic-git';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { runRestore } from '../../reconciler/restore/index.ts';
import { startSandbox } from '../../sandbox/index.ts';

const NS = 'bench';
const VOLUMES = 3;
const MIB_PER_VOLUME = Number(process.env.BENCH_MIB ?? 8);
const TARGET_OBJECTS = 1000;
const run = promisify(execFile);

async function until(what: string, f: () => Promise<boolean>, ms = 600_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const work = fs.mkdtempSync(join(tmpdir(), 'coffer-bench-restore-'));
const sb = await startSandbox({ dir: join(work, 'sandbox') });
try {
  const client = new KubeClient(sb.kubeConfig);
  const password = randomBytes(16).toString('hex');
  await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } });
  await client.create('v1', 'secrets', 'coffer-system', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, stringData: { passphrase: password } });
  await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'backup.coffer.dev/enabled': 'true' } } });
  for (let i = 0; i < VOLUMES; i++) {
    await client.create('apps/v1', 'statefulsets', NS, {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: `store-${i}`, namespace: NS },
      spec: {
        serviceName: `store-${i}`, replicas: 1, selector: { matchLabels: { app: `store-${i}` } },
        template: { metadata: { labels: { app: `store-${i}` } }, spec: { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sh', '-c', 'exec sleep 2147483647'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    } as KubeObject);
  }
  // Fill up to ~1,000 objects: config maps, secrets, services (3 StatefulSets + 3 PVCs + the Namespace + default SA are there).
  const filler = TARGET_OBJECTS - VOLUMES * 2 - 2;
  for (let i = 0; i < filler; i++) {
    const kind = i % 10 < 6 ? 'ConfigMap' : i % 10 < 9 ? 'Secret' : 'Service';
    const o: KubeObject =
      kind === 'ConfigMap' ? { apiVersion: 'v1', kind, metadata: { name: `cm-${i}`, namespace: NS, labels: { bench: 'yes' } }, data: { 'app.properties': `key.${i}=value-${i}\n`.repeat(20) } }
      : kind === 'Secret' ? { apiVersion: 'v1', kind, metadata: { name: `secret-${i}`, namespace: NS }, type: 'Opaque', stringData: { token: randomBytes(24).toString('hex') } }
      : { apiVersion: 'v1', kind, metadata: { name: `svc-${i}`, namespace: NS }, spec: { selector: { app: `store-${i % VOLUMES}` }, ports: [{ port: 80 + (i % 5) }] } };
    await client.create('v1', kind === 'ConfigMap' ? 'configmaps' : kind === 'Secret' ? 'secrets' : 'services', NS, o);
  }
  const ready = async () => {
    for (let i = 0; i < VOLUMES; i++) if ((((await client.find('apps/v1', 'statefulsets', NS, `store-${i}`)) as { status?: { readyReplicas?: number } } | undefined)?.status?.readyReplicas ?? 0) < 1) return false;
    return true;
  };
  await until('the StatefulSets', ready);
  const volumeDir = async (ns: string, pvcName: string) => {
    const pvc = (await client.get('v1', 'persistentvolumeclaims', ns, pvcName)) as unknown as { spec: { volumeName: string } };
    return ((await client.get('v1', 'persistentvolumes', undefined, pvc.spec.volumeName)) as unknown as { spec: { csi: { volumeAttributes: { path: string } } } }).spec.csi.volumeAttributes.path;
  };
  const dirs: string[] = [];
  for (let i = 0; i < VOLUMES; i++) {
    const d = await volumeDir(NS, `data-store-${i}-0`);
    dirs.push(d);
    // Half random, half text: realistic for compression and dedupe.
    for (let f = 0; f < MIB_PER_VOLUME; f++) fs.writeFileSync(join(d, `file-${f}.bin`), f % 2 ? randomBytes(1 << 20) : Buffer.from(`row ${i}-${f} `.repeat(200_000).slice(0, 1 << 20)));
  }

  const repositoryPath = join(work, 'repository');
  fs.mkdirSync(repositoryPath);
  const repoDir = join(work, 'policy-repo');
  const files = demoPolicyRepo(repositoryPath, fs.readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8'));
  await git.init({ fs, dir: repoDir, defaultBranch: 'main' });
  for (const [path, content] of Object.entries(files)) {
    fs.mkdirSync(dirname(join(repoDir, path)), { recursive: true });
    fs.writeFileSync(join(repoDir, path), content);
    await git.add({ fs, dir: repoDir, filepath: path });
  }
  await git.commit({ fs, dir: repoDir, message: 'policies', author: { name: 'b', email: 'b@example.com' } });

  let t = performance.now();
  const backup = await reconcileOnce({ source: await openSource({ source: repoDir, env: {} }), client, now: () => new Date('2026-11-24T01:05:00Z'), env: {}, only: { policy: 'hourly', namespace: NS } });
  const backupSeconds = (performance.now() - t) / 1000;
  if (backup.runs[0]?.run.status.phase !== 'Succeeded') throw new Error(`backup failed: ${backup.runs[0]?.run.status.error}`);

  // Anchor 2: restic backup of the same volume directories (untimed), restore timed below.
  const resticRepo = join(work, 'restic');
  const resticEnv = { ...process.env, RESTIC_PASSWORD: password, RESTIC_REPOSITORY: resticRepo };
  execFileSync('restic', ['init', '--quiet'], { env: resticEnv });
  execFileSync('restic', ['backup', '--quiet', ...dirs], { env: resticEnv });

  await client.delete('v1', 'namespaces', undefined, NS);
  await until('the namespace to be deleted', async () => !(await client.find('v1', 'namespaces', undefined, NS)));

  const source = await openSource({ source: repoDir, env: {} });
  t = performance.now();
  const full = await runRestore({ source, client, restorePoint: { ref: 'latest', namespace: NS }, wait: true, waitTimeoutMs: 600_000, env: {} });
  const restoreSeconds = (performance.now() - t) / 1000;
  if (full.result.spec.phase !== 'Succeeded') throw new Error(`restore ${full.result.spec.phase}: ${full.result.spec.errors?.join('; ')}`);
  const bytesRestored = full.execution.volumes.reduce((n, v) => n + (v.bytesRestored ?? 0), 0);

  // Objects only, Coffer vs kubectl create -f of the very same manifests.
  t = performance.now();
  const objectsOnly = await runRestore({ source, client, restorePoint: { ref: 'latest', namespace: NS }, namespaceMapping: { [NS]: 'bench-coffer' }, volumes: false, hooks: false, env: {} });
  const cofferObjectsSeconds = (performance.now() - t) / 1000;
  const manifests = join(work, 'kubectl');
  fs.mkdirSync(manifests);
  const docs = objectsOnly.plan.objects.map((p) => {
    const o = structuredClone(p.object);
    if (o.kind === 'Namespace') o.metadata.name = 'bench-kubectl';
    else if (o.metadata.namespace) o.metadata.namespace = 'bench-kubectl';
    return o;
  });
  // Written as YAML 1.1, which kubectl reads (`yes` must be quoted there). The default ServiceAccount exists in any new
  // namespace (Coffer reports it as skipped); kubectl create would fail on it.
  fs.writeFileSync(join(manifests, 'all.yaml'), docs.filter((d) => !(d.kind === 'ServiceAccount' && d.metadata.name === 'default')).map((d) => stringify(d, { version: '1.1' })).join('---\n'));
  t = performance.now();
  await run('kubectl', ['create', '-f', join(manifests, 'all.yaml'), '-o', 'name'], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath }, maxBuffer: 64 << 20, timeout: 600_000 });
  const kubectlSeconds = (performance.now() - t) / 1000;

  const resticOut = join(work, 'restic-out');
  t = performance.now();
  await run('restic', ['restore', 'latest', '--target', resticOut, '--quiet'], { env: resticEnv, timeout: 600_000 });
  const resticRestoreSeconds = (performance.now() - t) / 1000;

  const s = full.result.spec.summary;
  console.log(
    JSON.stringify(
      {
        objects: full.plan.objects.length,
        objectsCreated: s.created,
        skippedByPlan: full.plan.skipped.length,
        volumes: full.execution.volumes.length,
        bytesRestored,
        backupSeconds: round(backupSeconds),
        restoreSeconds: round(restoreSeconds),
        cofferObjectsOnlySeconds: round(cofferObjectsSeconds),
        kubectlCreateSeconds: round(kubectlSeconds),
        ratioKubectlOverCofferObjects: round(kubectlSeconds / cofferObjectsSeconds),
        resticRestoreSeconds: round(resticRestoreSeconds),
        note: 'restoreSeconds includes verifying the volume snapshots, 3 restore mover Jobs, the blueprint-free wait for readiness; restic restores the same volume data locally without Kubernetes',
      },
      null,
      2,
    ),
  );
} finally {
  await sb.stop();
  fs.rmSync(work, { recursive: true, force: true });
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
