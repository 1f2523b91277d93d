/**
 * Restore benchmark (`npm run bench:restore [-- --objects N]`, default 1,000): a namespace of N objects (ConfigMaps,
 * Secrets, Services, ServiceAccounts, a few Deployments, some objects owned by them, and 3 StatefulSets with volumes)
 * on the sandbox is backed up by the reconciler and restored by `runRestore`. Each Coffer step runs in its own process
 * (test/bench/restore-child.ts) under /usr/bin/time, so its peak RSS is its own, not the sandbox's.
 * Anchors measured in the same run against the same sandbox:
 * - objects: `kubectl create -f` of exactly the manifests Coffer's plan creates, into a fresh namespace, against
 *   Coffer's objects-only restore (no volume data, no hooks) into another fresh namespace; ratio = kubectl / coffer.
 *   kubectl goes first, so Coffer's run meets the larger store.
 * - volume data: `restic restore` of the same three volume directories (restic backup first, untimed); the full
 *   restore (volumes, --wait) runs when N ≤ 5,000 or with --full.
 * Prints one JSON object, with the load average before and after.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import git from 'isomorphic-git';
import { demoPolicyRepo, IDLE_COMMAND } from '../../cli/demo-app.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { mapLimit } from '../../reconciler/kube/wait.ts';
import { startSandbox } from '../../sandbox/index.ts';

const { values: args } = parseArgs({ options: { objects: { type: 'string', default: '1000' }, full: { type: 'boolean', default: false } } });
const TARGET_OBJECTS = Number(args.objects);
if (!Number.isInteger(TARGET_OBJECTS) || TARGET_OBJECTS < 100) throw new Error(`--objects ${args.objects}: expected an integer ≥ 100`);
const FULL = args.full || TARGET_OBJECTS <= 5000;
const ROOT = new URL('../..', import.meta.url).pathname;
const NS = 'bench';
const VOLUMES = 3;
const DEPLOYMENTS = 5;
const MIB_PER_VOLUME = Number(process.env.BENCH_MIB ?? 8);
const run = promisify(execFile);

async function until(what: string, f: () => Promise<boolean>, ms = 600_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs a command under /usr/bin/time: wall seconds, peak RSS (MiB) and its stderr lines (without time's own). */
function timed(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; maxRssMiB: number; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn('/usr/bin/time', ['-f', 'maxrss-kib=%M', cmd, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-100_000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = round((performance.now() - t) / 1000);
      const lines = stderr.trim().split('\n');
      const rss = Number(/^maxrss-kib=(\d+)$/.exec(lines.at(-1) ?? '')?.[1]);
      if (code !== 0) return reject(new Error(`${cmd} ${argv.slice(0, 4).join(' ')} exited ${code}: ${stderr.slice(-3000)}`));
      resolve({ seconds, maxRssMiB: Math.round(rss / 1024), lines: lines.slice(0, -1) });
    });
  });
}

const loadBefore = loadavg();
const work = fs.mkdtempSync(join(tmpdir(), 'coffer-bench-restore-'));
const sb = await startSandbox({ dir: join(work, 'sandbox') });
try {
  const client = new KubeClient(sb.kubeConfig);
  const password = randomBytes(16).toString('hex');
  await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } });
  await client.create('v1', 'secrets', 'coffer-system', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, stringData: { passphrase: password } });
  await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'backup.coffer.dev/enabled': 'true' } } });
  const container = (name: string, mounts: object[] = []) => ({ name, image: 'busybox:1.36', command: IDLE_COMMAND, volumeMounts: mounts });
  for (let i = 0; i < VOLUMES; i++) {
    await client.create('apps/v1', 'statefulsets', NS, {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: `store-${i}`, namespace: NS },
      spec: {
        serviceName: `store-${i}`, replicas: 1, selector: { matchLabels: { app: `store-${i}` } },
        template: { metadata: { labels: { app: `store-${i}` } }, spec: { containers: [container('c', [{ name: 'data', mountPath: '/data' }])] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    } as KubeObject);
  }
  // A few Deployments, each with its own ServiceAccount and a ConfigMap + Secret it owns (restored after it).
  const owners: KubeObject[] = [];
  for (let i = 0; i < DEPLOYMENTS; i++) {
    await client.create('v1', 'serviceaccounts', NS, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `web-${i}`, namespace: NS } });
    owners.push(await client.create('apps/v1', 'deployments', NS, {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `web-${i}`, namespace: NS },
      spec: { replicas: 1, selector: { matchLabels: { app: `web-${i}` } }, template: { metadata: { labels: { app: `web-${i}` } }, spec: { serviceAccountName: `web-${i}`, containers: [container('web')] } } },
    } as KubeObject));
  }
  const fixed = 2 + VOLUMES * 2 + DEPLOYMENTS * 2; // Namespace, default SA, StatefulSets + PVCs, SAs + Deployments
  const filler = TARGET_OBJECTS - fixed;
  const seeded = await mapLimit(Array.from({ length: filler }, (_, i) => i), 16, async (i) => {
    const kind = i % 10 < 6 ? 'ConfigMap' : i % 10 < 9 ? 'Secret' : 'Service';
    const owner = i < DEPLOYMENTS * 10 ? owners[i % DEPLOYMENTS]! : undefined;
    const ownerReferences = owner ? [{ apiVersion: 'apps/v1', kind: 'Deployment', name: owner.metadata.name, uid: owner.metadata.uid!, controller: true }] : undefined;
    const metadata = (name: string) => ({ name, namespace: NS, labels: { bench: 'yes' }, ...(ownerReferences ? { ownerReferences } : {}) });
    const o: KubeObject =
      kind === 'ConfigMap' ? { apiVersion: 'v1', kind, metadata: metadata(`cm-${i}`), data: { 'app.properties': `key.${i}=value-${i}\n`.repeat(20) } }
      : kind === 'Secret' ? { apiVersion: 'v1', kind, metadata: metadata(`secret-${i}`), type: 'Opaque', stringData: { token: randomBytes(24).toString('hex') } }
      : { apiVersion: 'v1', kind, metadata: metadata(`svc-${i}`), spec: { selector: { app: `store-${i % VOLUMES}` }, ports: [{ port: 80 + (i % 5) }] } };
    await client.create('v1', kind === 'ConfigMap' ? 'configmaps' : kind === 'Secret' ? 'secrets' : 'services', NS, o);
  });
  const failedSeed = seeded.find((r) => r.status === 'rejected');
  if (failedSeed) throw (failedSeed as PromiseRejectedResult).reason;
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

  const env = { ...process.env, NODE_OPTIONS: '' };
  const coffer = async (...argv: string[]) => {
    const r = await timed(process.execPath, ['--import', 'tsx', join(ROOT, 'test/bench/restore-child.ts'), sb.kubeconfigPath, repoDir, ...argv], env);
    return { ...r, result: JSON.parse(r.lines.at(-1) ?? '{}') as Record<string, unknown> };
  };
  const backup = await coffer('backup', NS);

  // Objects only: kubectl create -f of the very same manifests Coffer's plan creates, then Coffer.
  const manifests = join(work, 'all.yaml');
  await coffer('manifests', NS, 'bench-kubectl', manifests);
  const kubectl = await timed('kubectl', ['create', '-f', manifests, '-o', 'name'], { ...env, KUBECONFIG: sb.kubeconfigPath });
  const objectsOnly = await coffer('restore', NS, 'bench-coffer');

  let full: Awaited<ReturnType<typeof coffer>> | undefined;
  let resticRestoreSeconds: number | undefined;
  if (FULL) {
    // Anchor: restic backup of the same volume directories (untimed), restore timed below.
    const resticRepo = join(work, 'restic');
    const resticEnv = { ...process.env, RESTIC_PASSWORD: password, RESTIC_REPOSITORY: resticRepo };
    execFileSync('restic', ['init', '--quiet'], { env: resticEnv });
    execFileSync('restic', ['backup', '--quiet', ...dirs], { env: resticEnv });
    await client.delete('v1', 'namespaces', undefined, NS);
    await until('the namespace to be deleted', async () => !(await client.find('v1', 'namespaces', undefined, NS)));
    full = await coffer('restore', NS, NS, 'full');
    const t = performance.now();
    await run('restic', ['restore', 'latest', '--target', join(work, 'restic-out'), '--quiet'], { env: resticEnv, timeout: 600_000 });
    resticRestoreSeconds = round((performance.now() - t) / 1000);
  }

  const created = objectsOnly.result.created as number;
  console.log(
    JSON.stringify(
      {
        objects: TARGET_OBJECTS,
        backup: { seconds: backup.seconds, maxRssMiB: backup.maxRssMiB, ...backup.result },
        objectsOnly: {
          coffer: { seconds: objectsOnly.seconds, objectsPerSecond: Math.round(created / objectsOnly.seconds), maxRssMiB: objectsOnly.maxRssMiB, ...objectsOnly.result },
          kubectlCreate: { seconds: kubectl.seconds, objectsPerSecond: Math.round(created / kubectl.seconds), maxRssMiB: kubectl.maxRssMiB },
          ratioKubectlOverCoffer: round(kubectl.seconds / objectsOnly.seconds),
        },
        ...(full ? { full: { seconds: full.seconds, maxRssMiB: full.maxRssMiB, ...full.result, resticRestoreSeconds } } : {}),
        loadAverage: { before: loadBefore.map(round), after: loadavg().map(round) },
        note: 'seconds are wall times of whole processes (Node + tsx start included); full = objects + 3 restore mover Jobs + --wait for readiness; restic restores the same volume data locally without Kubernetes',
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
