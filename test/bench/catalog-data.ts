/**
 * Catalog fixtures at fleet scale for `npm run bench:catalog`, written with `git fast-import` (one pack, no loose
 * objects) through Coffer's own document writer, so the bench reads exactly what Coffer commits.
 *
 * Shape: one cluster `bench`, N/1000 namespaces × 5 policies, 200 live restore points per (namespace, policy), each
 * pair backed up every 5 hours (so 100,000 live points are ~41 days of 2,400 backups a day, the fleet). History: H commits, each one backup as `recordBackup` commits it (RestorePoint, Run,
 * latest-run pointer); once a directory holds its 200, each further backup also expires the oldest point of that
 * directory in the same commit. When H < N, the first commit imports N − H + 1 points at once.
 */
import { spawn } from 'node:child_process';
import { documentText } from '../../reconciler/catalog/document.ts';
import { restorePointName, runId, toLastRun, type RestorePoint, type RunRecord } from '../../reconciler/catalog/index.ts';

export const POLICIES = 5;
export const PER_DIR = 200;
export const CLUSTER = 'bench';
const T0 = Date.UTC(2026, 0, 1);

export interface Slot {
  namespace: string;
  policy: string;
  start: Date;
}

/** Each (namespace, policy) backs up every 5 hours, spread evenly: 2,400 backups a day at 100,000 live points. */
export const EVERY_MS = 5 * 3_600_000;

/** Backup k of the history: directories take turns, each advancing one interval per round. */
export function slot(k: number, dirs: number): Slot {
  const d = k % dirs;
  return { namespace: `ns-${Math.floor(d / POLICIES)}`, policy: `policy-${d % POLICIES}`, start: new Date(T0 + Math.floor(k / dirs) * EVERY_MS + Math.floor((d * EVERY_MS) / dirs / 1000) * 1000) };
}

export function dirCount(live: number): number {
  return Math.max(1, Math.round(live / PER_DIR));
}

export function restorePoint(s: Slot): RestorePoint {
  const end = new Date(s.start.getTime() + 75_000);
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'RestorePoint',
    metadata: { name: restorePointName(s.policy, s.start), labels: { 'coffer.dev/namespace': s.namespace, 'coffer.dev/policy': s.policy } },
    spec: {
      cluster: CLUSTER,
      namespace: s.namespace,
      policy: s.policy,
      planHash: `sha256:${'ab'.repeat(32)}`,
      sourceCommit: 'c0ffee'.padEnd(40, '0'),
      trigger: 'schedule',
      startTime: s.start.toISOString(),
      endTime: end.toISOString(),
      phase: 'Succeeded',
      retentionTiers: ['hourly'],
      repository: { profile: 'local', location: 'file:///var/backups/coffer', manifestSnapshot: 'e'.repeat(64) },
      resources: [
        { apiVersion: 'v1', kind: 'ConfigMap', count: 2, names: ['settings', 'nginx'] },
        { apiVersion: 'apps/v1', kind: 'StatefulSet', count: 1, names: ['db'] },
      ],
      volumes: [{ pvc: 'data-db-0', phase: 'Succeeded', storageClass: 'standard', sizeBytes: 1_073_741_824, capacity: '1Gi', snapshotId: 'f'.repeat(64), bytesAdded: 4_194_304 }],
      stats: { bytesRead: 1_073_741_824, bytesAdded: 4_194_304, durationSeconds: 75 },
    },
  };
}

export function backupRun(s: Slot, rp: RestorePoint): RunRecord {
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Run',
    metadata: { name: runId('backup', s.start, `${s.namespace}-${s.policy}`) },
    spec: { type: 'backup', cluster: CLUSTER, namespace: s.namespace, policy: s.policy, trigger: 'schedule', scheduledFor: s.start.toISOString(), sourceCommit: rp.spec.sourceCommit, planHash: rp.spec.planHash },
    status: { phase: 'Succeeded', startTime: s.start.toISOString(), endTime: rp.spec.endTime!, restorePoint: rp.metadata.name, volumes: 1, bytes: 1_073_741_824 },
  };
}

export const rpPath = (s: Slot): string => `catalog/${CLUSTER}/${s.namespace}/${s.policy}/${restorePointName(s.policy, s.start)}.yaml`;

/** The files one backup commit writes (as `Catalog.recordBackup` lays them out). */
export function backupFiles(s: Slot): Array<{ path: string; content: string }> {
  const rp = restorePoint(s);
  const run = backupRun(s, rp);
  return [
    { path: rpPath(s), content: documentText(rp) },
    { path: `runs/${CLUSTER}/${s.start.toISOString().slice(0, 10)}/${run.metadata.name}.yaml`, content: documentText(run) },
    { path: `runs/${CLUSTER}/latest/${s.namespace}/${s.policy}.yaml`, content: documentText(toLastRun(run, undefined)) },
  ];
}

/**
 * Streams the history into `git fast-import` (with backpressure: a million commits never sit in memory). Returns the
 * slots of the live restore points at the tip, oldest first.
 */
export async function buildHistory(gitdir: string, live: number, history: number, env: NodeJS.ProcessEnv): Promise<{ commits: number }> {
  const dirs = dirCount(live);
  if (dirs * PER_DIR !== live) throw new Error(`live restore points must be a multiple of ${PER_DIR}`);
  const total = Math.max(live, history);
  const child = spawn('git', ['--git-dir', gitdir, 'fast-import', '--quiet', '--done'], { env, stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}`))));
  });
  let pending: Buffer[] = [];
  let size = 0;
  const write = async (s: string): Promise<void> => {
    const b = Buffer.from(s);
    pending.push(b);
    size += b.length;
    if (size > 1 << 20) await flush();
  };
  const flush = async (): Promise<void> => {
    const chunk = Buffer.concat(pending);
    pending = [];
    size = 0;
    if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
  };
  const firstBatch = Math.max(1, total - history + 1);
  let commits = 0;
  for (let k = 0; k < total; ) {
    const n = k === 0 ? firstBatch : 1;
    const s = slot(k + n - 1, dirs);
    const ts = Math.floor(s.start.getTime() / 1000) + 75;
    const msg = n === 1 ? `backup: ${s.namespace}/${s.policy} ${s.start.toISOString().slice(0, 16)}Z ok, 1 volume, 1.0 GiB\n` : `import ${n} restore points\n`;
    await write(`commit refs/heads/coffer-catalog\ncommitter Coffer <coffer@localhost> ${ts} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}`);
    for (let j = k; j < k + n; j++) {
      const sj = slot(j, dirs);
      for (const f of backupFiles(sj)) await write(`M 100644 inline ${f.path}\ndata ${Buffer.byteLength(f.content)}\n${f.content}\n`);
      // Keep PER_DIR points per directory: the backup that makes the 201st expires the oldest of that directory.
      if (j >= live) await write(`D ${rpPath(slot(j - live, dirs))}\n`);
    }
    await write('\n');
    k += n;
    commits++;
  }
  await write('done\n');
  await flush();
  child.stdin.end();
  await exited;
  return { commits };
}
