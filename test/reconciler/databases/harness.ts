/**
 * One sandbox, a policy repository with a policy per (engine, blueprint), and `backupUnderLoad`: deploy the engine's
 * app, start the ledger writer, back up through the reconciler, restore into `<ns>-restored` with the blueprint's
 * validate action, and compare what came back with the ledger. Shared by the end-to-end suite (which asserts) and
 * `npm run bench:databases` (which prints figures).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execInPod } from '../../../reconciler/blueprint/functions/KubeExec.ts';
import { openSource } from '../../../reconciler/git/source.ts';
import { KubeClient } from '../../../reconciler/kube/client.ts';
import type { KubeObject } from '../../../reconciler/kube/types.ts';
import { reconcileOnce, type ReconcileSummary } from '../../../reconciler/reconcile.ts';
import { runRestore, type RestoreOutcome } from '../../../reconciler/restore/index.ts';
import { FileBackend, initRepository } from '../../../repository/index.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/index.ts';
import { commitFiles, waitFor } from '../sample-app-fixture.ts';
import { appManifests, ENGINES, type Engine } from './engines.ts';
import { compare, Ledger, placeGap } from './ledger.ts';

const PLURALS: Record<string, [string, string]> = { Namespace: ['v1', 'namespaces'], Secret: ['v1', 'secrets'], StatefulSet: ['apps/v1', 'statefulsets'] };

/** A policy per (engine, blueprint): the namespace of the same name (or `<name>-stale`), its `db` StatefulSet bound to the blueprint. */
export function policyRepo(repositoryPath: string): Record<string, string> {
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
      const text = readFileSync(new URL(`../../../${bp}`, import.meta.url), 'utf8');
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

export interface Figures {
  engine: string;
  blueprint: string;
  ackedBeforePoint: number;
  restored: number;
  lost: number[];
  restoredAfterPoint: number;
  ackedTotal: number;
  /** Longest time between two acknowledged commits while the backup ran: how long a write was blocked. */
  longestBlockedWriteMs: number;
  /**
   * The longest gap less the time it overlapped a freeze of the pod by the sandbox's snapshot emulation (a
   * copy-on-write CSI snapshot freezes nothing): what the blueprint, the database and the machine left blocked.
   * Exact in the bench (one case at a time); in the suite's concurrent cases another volume's freeze may count.
   */
  longestBlockedLessSnapshotFreezeMs: number;
  /** When that gap began, seconds after the backup started, and what ran then (`placeGap`). */
  longestBlockedAtSeconds: number;
  longestBlockedDuring: string;
  /** 99th percentile of the time between acknowledged commits while the backup ran. */
  p99CommitGapMs: number;
  /**
   * The same writer right after the backup, in a window as long as the backup (or `baselineMs`): what the loaded
   * machine and the writer give with no backup running, so the backup's own contribution is the difference.
   */
  baselineLongestGapMs: number;
  baselineP99CommitGapMs: number;
  /** Commits acknowledged per second during the backup, and in the baseline window. */
  commitsPerSecond: number;
  baselineCommitsPerSecond: number;
  /** One-minute load average when the backup started and when the baseline window ended. */
  loadAverage: [number, number];
  /** Sandbox and reconciler log lines from 2 s before the longest gap to 1 s after it (seconds after the backup started). */
  aroundLongestBlocked: string[];
  /** The longest freeze of the pod by the sandbox's snapshot emulation during the backup (a real CSI snapshot has none). */
  snapshotPauseMs: number;
  integrity: string;
  backupSeconds: number;
  /** Restore start → every workload ready, validated and the verify query answered. */
  restoreSeconds: number;
  /** Restore start → every workload ready (restoreSeconds without the integrity check and the verify query). */
  rtoSeconds: number;
  /** What the blueprint's verify action answered for the engine's check on the restored copy. */
  verifyAnswer: string;
}

const PASSPHRASE = 'db-e2e-passphrase';
const isoMs = (iso: string) => Date.parse(iso.replace(/(\.\d{3})\d*Z$/, '$1Z'));

export class DatabaseHarness {
  private constructor(
    readonly sb: Sandbox,
    readonly client: KubeClient,
    readonly repoDir: string,
    private readonly work: string,
    private readonly pauses: { at: number; ms: number; from: number }[],
    /** Every sandbox and reconciler log line with its arrival time: what ran around a blocked write. */
    private readonly events: { at: number; line: string }[],
  ) {}

  /** `baseDir`: where the sandbox keeps volumes and snapshots (default the OS temporary directory). */
  static async start(log?: (l: string) => void, baseDir = tmpdir()): Promise<DatabaseHarness> {
    const work = mkdtempSync(join(baseDir, 'coffer-db-e2e-'));
    // Each freeze from the kubelet's "quiesced" line to the snapshot's "writers paused" line (cases run one at a time in
    // the bench; in the suite's concurrent cases a freeze may be paired with another's start, which only widens it).
    const pauses: { at: number; ms: number; from: number }[] = [];
    let frozeAt: number | undefined;
    const events: { at: number; line: string }[] = [];
    const sb = await startSandbox({
      dir: join(work, 'sandbox'),
      log: (l) => {
        // The CSI emulation's own freeze of the pod (sandbox/controllers/copytree.ts), part of a blocked write.
        const m = /: writers paused (\d+) ms/.exec(l);
        if (/^quiesced \d+ processes/.test(l)) frozeAt = Date.now();
        if (m) pauses.push({ at: Date.now(), ms: Number(m[1]), from: frozeAt ?? Date.now() - Number(m[1]) }), (frozeAt = undefined);
        events.push({ at: Date.now(), line: l });
        log?.(l);
      },
    });
    const h = new DatabaseHarness(sb, new KubeClient(sb.kubeConfig), join(work, 'policy-repo'), work, pauses, events);
    await h.createAll([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, stringData: { passphrase: PASSPHRASE } } as KubeObject,
    ]);
    const repositoryPath = join(work, 'repository');
    fs.mkdirSync(repositoryPath);
    // Created up front: the cases run side by side, and concurrent first-use creation of one repository races
    // (each run's initRepository can pass the "no config yet" check; the last config written wins).
    await initRepository(new FileBackend(repositoryPath), PASSPHRASE);
    await commitFiles(h.repoDir, policyRepo(repositoryPath));
    return h;
  }

  async stop(): Promise<void> {
    await this.sb.stop();
    rmSync(this.work, { recursive: true, force: true });
  }

  async createAll(objs: KubeObject[]): Promise<void> {
    for (const o of objs) await this.client.create(PLURALS[o.kind]![0], PLURALS[o.kind]![1], o.metadata.namespace, o);
  }

  async ready(ns: string): Promise<void> {
    await waitFor(`${ns}/db ready`, async () => ((await this.client.find('apps/v1', 'statefulsets', ns, 'db')) as { status?: { readyReplicas?: number } } | undefined)?.status?.readyReplicas === 1, 180_000);
  }

  async sh(ns: string, container: string, script: string): Promise<string> {
    const r = await execInPod(this.client, ns, 'db-0', container, ['bash', '-c', script]);
    if (r.exitCode !== 0) throw new Error(`${ns}: ${script} exited ${r.exitCode}: ${r.stderr.toString()}${r.stdout.toString()}`);
    return r.stdout.toString();
  }

  /** Deploys the engine's app in `ns` (the policy's own namespace name by default) and creates its ledger table. */
  async deploy(e: Engine, ns: string, password = `pw-${e.name}-0123456789`, seed?: string): Promise<void> {
    await this.createAll(appManifests(e, ns, password));
    await this.ready(ns);
    await this.sh(ns, e.name, e.setup);
    if (seed) await this.sh(ns, e.name, seed);
  }

  backup(policy: string, ns: string): Promise<ReconcileSummary> {
    const log = (e: { event: string; message?: string }) => this.events.push({ at: Date.now(), line: e.message ?? e.event });
    return openSource({ source: this.repoDir, env: {} }).then((source) => reconcileOnce({ source, client: this.client, env: {}, only: { policy, namespace: ns }, log }));
  }

  /**
   * The whole case; throws with what went wrong at the first step that fails. `baselineMs`: how long the writer keeps
   * committing after the backup, with nothing else running, for the baseline figures (default: as long as the backup).
   */
  async backupUnderLoad(e: Engine, policy: string, seed?: string, baselineMs?: number): Promise<{ figures: Figures; out: RestoreOutcome }> {
    const ns = policy;
    await this.deploy(e, ns, undefined, seed);
    const ledger = new Ledger(this.sb.kubeconfigPath, ns, 'db-0', e.writer);
    await ledger.waitFor(20, 120_000);
    const load0 = loadavg()[0]!;
    const t0 = Date.now();
    const s = await this.backup(policy, ns);
    const t1 = Date.now();
    const run = s.runs[0]!;
    if (run.run.status.phase !== 'Succeeded') throw new Error(`backup ${policy}: ${run.run.status.phase}: ${run.run.status.error}`);
    const t2 = t1 + (baselineMs ?? t1 - t0);
    await new Promise((r) => setTimeout(r, Math.max(0, t2 - Date.now())));
    await ledger.waitFor(ledger.acks.size + 5, 120_000);
    const load1 = loadavg()[0]!;
    await this.sh(ns, e.name, 'touch /tmp/coffer-writer.stop');
    const code = await ledger.exited;
    if (code !== 0) throw new Error(`writer exited ${code}: ${ledger.errors}`);

    const hooks = (run.restorePoint!.spec as { hooks?: { phase: string; startTime?: string; endTime?: string; output?: Record<string, string> }[] }).hooks ?? [];
    const consistentAt = hooks.map((h) => h.output?.consistentAt).find(Boolean);
    if (!consistentAt) throw new Error(`no consistentAt in the restore point's hooks: ${JSON.stringify(hooks)}`);

    const target = `${ns}-restored`;
    const t3 = Date.now();
    const out = await runRestore({ source: await openSource({ source: this.repoDir, env: {} }), client: this.client, env: {}, restorePoint: { ref: 'latest', namespace: ns }, namespaceMapping: { [ns]: target }, wait: true, validate: true, verify: [e.check], waitTimeoutMs: 180_000 });
    const t4 = Date.now();
    const restoreHooks = out.result.spec.hooks as { action: string; startTime?: string; endTime?: string; output?: Record<string, string> }[];
    const validate = restoreHooks.filter((h) => h.action === 'validate');
    // RTO: restore start until the workloads were ready, before the integrity check and the verify query.
    const checking = restoreHooks.filter((h) => (h.action === 'validate' || h.action === 'verify') && h.startTime && h.endTime).reduce((s, h) => s + Date.parse(h.endTime!) - Date.parse(h.startTime!), 0);
    const restored = new Set((await this.sh(target, e.name, e.list)).split('\n').filter(Boolean).map(Number));
    const c = compare(ledger.acks, restored, isoMs(consistentAt));
    const during = ledger.gaps(t0, t1, this.pauses.map((p) => ({ from: p.from, to: p.at })));
    const base = ledger.gaps(t1, t2);
    const perSecond = (from: number, to: number) => Math.round(([...ledger.acks.values()].filter((t) => t >= from && t <= to).length / Math.max(1, to - from)) * 1e5) / 100;
    const integrity = validate.map((h) => Object.entries(h.output ?? {}).filter(([k]) => !['pod', 'exitCode', 'integrity'].includes(k)).map(([k, v]) => `${k}: ${v}`).join('; ')).join(' | ');
    const figures: Figures = {
      engine: e.name,
      blueprint: policy,
      ...c,
      ackedTotal: ledger.acks.size,
      longestBlockedWriteMs: during.longestMs,
      longestBlockedLessSnapshotFreezeMs: during.longestOutsideMs,
      longestBlockedAtSeconds: Math.round(during.at - t0) / 1000,
      longestBlockedDuring: placeGap({ at: during.at, ms: during.longestMs }, hooks),
      p99CommitGapMs: during.p99Ms,
      baselineLongestGapMs: base.longestMs,
      baselineP99CommitGapMs: base.p99Ms,
      commitsPerSecond: perSecond(t0, t1),
      baselineCommitsPerSecond: perSecond(t1, t2),
      loadAverage: [load0, load1],
      aroundLongestBlocked: this.events.filter((x) => x.at >= during.at - 2000 && x.at <= during.at + during.longestMs + 1000).slice(0, 25).map((x) => `${((x.at - t0) / 1000).toFixed(1)}s ${x.line.slice(0, 160)}`),
      snapshotPauseMs: Math.max(0, ...this.pauses.filter((p) => p.at >= t0 && p.at <= t1).map((p) => p.ms)),
      integrity,
      backupSeconds: (t1 - t0) / 1000,
      restoreSeconds: (t4 - t3) / 1000,
      rtoSeconds: Math.max(0, t4 - t3 - checking) / 1000,
      verifyAnswer: restoreHooks.find((h) => h.action === 'verify')?.output?.result ?? '',
    };
    return { figures, out };
  }
}
