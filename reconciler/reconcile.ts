import { compileCel } from '../compiler/cel/index.ts';
import { CompileFailed, compileFromGit, hasErrors, type Plan, type PlanPolicy } from '../compiler/index.ts';
import { forget, prune } from '../repository/index.ts';
import { runBackup, type BackupRunOutcome, type OnDemandKeep } from './backup-run.ts';
import type { RunningRuns } from './run-cancel.ts';
import type { RunProgress } from './run-progress.ts';
import { openCatalog, type Catalog, type Identity, type RestorePoint, type RunTrigger } from './catalog/index.ts';
import type { GitSource } from './git/source.ts';
import type { KubeClient } from './kube/client.ts';
import type { KubeObject } from './kube/types.ts';
import type { LeaseLock } from './lease/index.ts';
import { DEFAULT_COFFER_NAMESPACE, openProfileRepository, type ProfileRepository } from './profile-repository.ts';
import { runDeclaredRestores, type DeclaredRestoreOutcome } from './restore/index.ts';
import { duePairs, type DuePair } from './schedule/due.ts';
import { runDueVerifications, type VerificationOutcome, type VerifyPair } from './verify/index.ts';

export class ReconcileError extends Error {
  constructor(
    readonly code: 'E_RECONCILE_POLICY' | 'E_RECONCILE_NAMESPACE' | 'E_RECONCILE_NOT_FOUND',
    message: string,
  ) {
    super(message);
    this.name = 'ReconcileError';
  }
}

export interface ReconcileOptions {
  source: GitSource;
  client: KubeClient;
  now?: () => Date;
  /** On-demand backup (`coffer backup`): run these pairs now, whether due or not. */
  only?: { policy: string; namespace?: string };
  /** On-demand backups: TTL or pin of the restore points they make (default: 720h). */
  keep?: OnDemandKeep;
  trigger?: Exclude<RunTrigger, 'verify'>;
  /** Backup runs in flight at once (default: coffer.yaml concurrency.runs). One at a time per namespace regardless. */
  concurrency?: number;
  moverImage?: string;
  cofferNamespace?: string;
  author?: Identity;
  /** Skip retention (on-demand backups leave expiry to the next reconcile). */
  retention?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Stops taking work: no further run starts, but runs already going finish (graceful shutdown). */
  signal?: AbortSignal;
  /**
   * Aborts runs in flight (the shutdown deadline passed, the lease was lost); each ends as a failed Run whose error is
   * the abort reason, so an interrupted backup is never mistaken for a missing one.
   */
  interrupt?: AbortSignal;
  /** Backup runs in flight register here, so one can be cancelled on its own (`coffer cancel RUN`). */
  running?: RunningRuns;
  /**
   * Runs made without the reconciler Lease (`coffer backup` from a workstation) hold a run Lease each, as this
   * identity, so a controller's start-up sweep keeps their movers (volumes/run-lease.ts).
   */
  runLeases?: { identity: string };
  log?: (event: ReconcileEvent) => void;
}

export type ReconcileEvent =
  | { event: 'plan'; commit: string; planHash: string; policies: number }
  | { event: 'due'; pairs: DuePair[] }
  | { event: 'run-start'; policy: string; namespace: string; run: string }
  | ({ event: 'run-progress'; policy: string; namespace: string; run: string } & RunProgress)
  | { event: 'run-end'; policy: string; namespace: string; phase: string; restorePoint?: string; error?: string; seconds: number; bytes?: number; objects?: number }
  | { event: 'expired'; policy: string; namespace: string; restorePoints: string[]; snapshotsForgotten: number }
  | { event: 'pruned'; profile: string; packsDeleted: number }
  | { event: 'restore-end'; restore: string; phase: string }
  | { event: 'verify-end'; policy: string; namespace: string; phase: 'Succeeded' | 'Failed'; verification: string; restorePoint: string; rtoSeconds?: number; seconds: number; startTime: string }
  | { event: 'log'; message: string };

export interface ReconcileSummary {
  commit: string;
  plan: Plan;
  due: DuePair[];
  runs: BackupRunOutcome[];
  /** Restore documents of the repository executed by this pass (each runs once; its result is in the catalog). */
  restores: DeclaredRestoreOutcome[];
  /** Restore verifications (policies' spec.verify) this pass ran; each committed a VerificationResult. */
  verifications: VerificationOutcome[];
  /** Every (policy, namespace) pair with spec.verify and when it is next due (the loop wakes for it like for backups). */
  verifyPairs: VerifyPair[];
  expired: { policy: string; namespace: string; restorePoints: string[] }[];
  /** Non-run failures (retention, prune) that did not stop the reconcile. */
  errors: string[];
  catalog: Catalog;
}

/**
 * One pass of the control loop: fetch the policy branch, compile the plan from that commit (never a working copy),
 * decide which (policy, namespace) pairs are due, back them up with bounded concurrency, record each run in the
 * catalog, then apply GFS retention — catalog first, repository data second, so no restore point ever points at
 * forgotten data.
 */
export async function reconcileOnce(opts: ReconcileOptions): Promise<ReconcileSummary> {
  const now = opts.now ?? (() => new Date());
  const log = opts.log ?? (() => undefined);
  const rev = await opts.source.fetch();
  const compiled = await compileFromGit(rev.gitdir, rev.commit);
  if (!compiled.plan || hasErrors(compiled.diagnostics)) throw new CompileFailed(compiled.diagnostics);
  const plan = compiled.plan;
  log({ event: 'plan', commit: rev.commit, planHash: plan.hash, policies: plan.policies.length });

  const catalog = openCatalog({
    source: opts.source,
    cluster: plan.config.cluster,
    branch: plan.config.catalog.branch,
    catalogDir: plan.config.catalog.path,
    ...(opts.author ? { author: opts.author } : {}),
    clock: now,
  });
  const selected = await selectNamespaces(opts.client, plan.policies);
  let due: DuePair[];
  if (opts.only) {
    due = onDemandPairs(plan, selected, opts.only, now());
  } else {
    due = duePairs({ plan, selected, lastRuns: await catalog.latestRuns(), now: now() });
  }
  log({ event: 'due', pairs: due });

  const repositories = new Map<string, Promise<ProfileRepository>>();
  const repository = (name: string): Promise<ProfileRepository> => {
    let r = repositories.get(name);
    if (!r) {
      const profile = plan.profiles.find((p) => p.name === name)!;
      r = openProfileRepository(opts.client, profile, { ...(opts.cofferNamespace ? { cofferNamespace: opts.cofferNamespace } : {}), ...(opts.env ? { env: opts.env } : {}) });
      // A failed open is retried by the next run rather than cached.
      r.catch(() => repositories.delete(name));
      repositories.set(name, r);
    }
    return r;
  };

  const runs: BackupRunOutcome[] = [];
  const todo = due.filter((d) => d.due);
  await runBounded(todo, opts.concurrency ?? plan.config.concurrency.runs, async (pair) => {
    if (opts.signal?.aborted) return;
    const policy = plan.policies.find((p) => p.name === pair.policy)!;
    const t0 = performance.now();
    let runName = '';
    const outcome = await runBackup({
      plan,
      policy,
      namespace: pair.namespace,
      client: opts.client,
      catalog,
      repository,
      trigger: opts.trigger ?? (opts.only ? 'manual' : 'schedule'),
      ...(pair.slot && !opts.only ? { slot: pair.slot } : {}),
      ...(opts.keep ? { keep: opts.keep } : {}),
      ...(opts.moverImage ? { moverImage: opts.moverImage } : {}),
      ...(opts.interrupt ? { signal: opts.interrupt } : {}),
      ...(opts.running ? { running: opts.running } : {}),
      ...(opts.runLeases ? { runLease: { namespace: opts.cofferNamespace ?? DEFAULT_COFFER_NAMESPACE, identity: opts.runLeases.identity } } : {}),
      // The run's name, logged as it starts, is what `coffer cancel RUN` takes.
      onStart: (run) => log({ event: 'run-start', policy: pair.policy, namespace: pair.namespace, run: (runName = run) }),
      onProgress: (p) => log({ event: 'run-progress', policy: pair.policy, namespace: pair.namespace, run: runName, ...p }),
      log: (message) => log({ event: 'log', message: `${pair.namespace}/${pair.policy}: ${message}` }),
      now,
    });
    runs.push(outcome);
    log({
      event: 'run-end',
      policy: pair.policy,
      namespace: pair.namespace,
      phase: outcome.run.status.phase,
      ...(outcome.restorePoint ? { restorePoint: outcome.restorePoint.metadata.name } : {}),
      ...(outcome.run.status.error ? { error: outcome.run.status.error } : {}),
      seconds: Math.round(performance.now() - t0) / 1000,
      ...(outcome.run.status.bytes !== undefined ? { bytes: outcome.run.status.bytes } : {}),
      ...(outcome.restorePoint?.spec.resources ? { objects: outcome.restorePoint.spec.resources.reduce((n, r) => n + r.count, 0) } : {}),
    });
  });

  const errors: string[] = [];
  // Declared restores (restores/*.yaml) run after the backups and only in the scheduled loop, never in `coffer backup`.
  let restores: DeclaredRestoreOutcome[] = [];
  // What declared restores and verifications restore with: this pass's plan and catalog, the reconciler's settings.
  const restoreContext = {
    source: opts.source,
    client: opts.client,
    plan,
    catalog,
    now,
    log: (message: string) => log({ event: 'log', message }),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.moverImage ? { moverImage: opts.moverImage } : {}),
    ...(opts.cofferNamespace ? { cofferNamespace: opts.cofferNamespace } : {}),
    ...(opts.interrupt ? { signal: opts.interrupt } : {}),
  };
  if (!opts.only && !opts.signal?.aborted) {
    try {
      restores = await runDeclaredRestores({ ...restoreContext, ...(opts.running ? { running: opts.running } : {}) });
      for (const r of restores) log({ event: 'restore-end', restore: r.restore, phase: r.phase });
    } catch (e) {
      errors.push(`declared restores: ${(e as Error).message}`);
    }
  }
  // Restore verifications (spec.verify) come after the backups, so a pair verified for the first time restores the
  // point this pass just took; like declared restores, only in the scheduled loop.
  let verifications: VerificationOutcome[] = [];
  let verifyPairs: VerifyPair[] = [];
  if (!opts.only && !opts.signal?.aborted) {
    try {
      const v = await runDueVerifications(
        restoreContext,
        selected,
        ({ doc }) =>
          log({
            event: 'verify-end',
            policy: doc.spec.policy,
            namespace: doc.spec.namespace,
            phase: doc.spec.phase,
            verification: doc.metadata.name,
            restorePoint: doc.spec.restorePoint,
            ...(doc.spec.rtoSeconds !== undefined ? { rtoSeconds: doc.spec.rtoSeconds } : {}),
            seconds: doc.spec.durationSeconds ?? 0,
            startTime: doc.spec.startTime,
          }),
      );
      verifications = v.outcomes;
      verifyPairs = v.pairs;
      errors.push(...v.errors);
    } catch (e) {
      errors.push(`verifications: ${(e as Error).message}`);
    }
  }
  const expired: ReconcileSummary['expired'] = [];
  if (opts.retention !== false) {
    const pruneProfiles = new Set<string>();
    for (const policy of plan.policies) {
      try {
        for (const o of await catalog.applyRetention(policy)) {
          if (!o.expire.length) continue;
          const names = o.expire.map((d) => d.metadata.name);
          expired.push({ policy: o.policy, namespace: o.namespace, restorePoints: names });
          const forgotten = await forgetRestorePointData(o.expire, repository, opts.client).catch((e) => {
            errors.push(`retention ${o.namespace}/${o.policy}: restore points expired from the catalog but their data was not forgotten yet: ${(e as Error).message}`);
            return 0;
          });
          for (const d of o.expire) pruneProfiles.add(d.spec.repository.profile);
          log({ event: 'expired', policy: o.policy, namespace: o.namespace, restorePoints: names, snapshotsForgotten: forgotten });
        }
      } catch (e) {
        errors.push(`retention ${policy.name}: ${(e as Error).message}`);
      }
    }
    for (const name of pruneProfiles) {
      if (!plan.profiles.some((p) => p.name === name)) continue;
      try {
        const stats = await prune((await repository(name)).repo);
        log({ event: 'pruned', profile: name, packsDeleted: stats.packsDeleted });
      } catch (e) {
        errors.push(`prune ${name}: ${(e as Error).message}`);
      }
    }
  }
  for (const r of repositories.values()) await r.then((x) => x.close()).catch(() => undefined);
  return { commit: rev.commit, plan, due, runs, restores, verifications, verifyPairs, expired, errors, catalog };
}

export type LeasedResult<T> = { held: true; value: T } | { held: false; holder: string };

/**
 * Runs `work` only while this replica holds the reconciler Lease, renewing it meanwhile and releasing it after, so two
 * replicas (or two `coffer reconcile --once` started by overlapping cron jobs) never back up the same pair twice. The
 * signal given to `work` aborts when the lease is lost: pass it as both `signal` and `interrupt`, so no run starts or
 * goes on without the lease.
 */
export async function withLease<T>(lock: LeaseLock, work: (signal: AbortSignal) => Promise<T>): Promise<LeasedResult<T>> {
  const first = await lock.tryAcquire();
  if (!first.held) return { held: false, holder: first.holder };
  const lost = new AbortController();
  const renew = setInterval(() => {
    lock.tryAcquire().then(
      (r) => {
        if (!r.held) lost.abort(new Error(`lease ${lock.namespace}/${lock.name} lost to ${r.holder}`));
      },
      () => {
        if (!lock.holds()) lost.abort(new Error(`lease ${lock.namespace}/${lock.name} could not be renewed`));
      },
    );
  }, Math.max(200, (lock.durationSeconds * 1000) / 3));
  try {
    return { held: true, value: await work(lost.signal) };
  } finally {
    clearInterval(renew);
    await lock.release().catch(() => undefined);
  }
}

/** Which namespaces each policy's namespace selector matches right now (terminating namespaces never do). */
export async function selectNamespaces(client: KubeClient, policies: readonly PlanPolicy[]): Promise<Map<string, string[]>> {
  const namespaces = (await client.list('v1', 'namespaces')).filter((n) => (n.status as { phase?: string } | undefined)?.phase !== 'Terminating');
  const out = new Map<string, string[]>();
  for (const p of policies) {
    const program = compileCel(p.selector.namespaces.source, 'namespace', { expect: 'bool' });
    out.set(
      p.name,
      namespaces.filter((ns) => safeTest(() => program.test({ namespaceObject: ns as KubeObject }))).map((ns) => ns.metadata.name),
    );
  }
  return out;
}

function safeTest(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    // A selector that errors on one namespace (a missing label map) does not select it; validation already type-checked it.
    return false;
  }
}

function onDemandPairs(plan: Plan, selected: Map<string, string[]>, only: { policy: string; namespace?: string }, now: Date): DuePair[] {
  const policy = plan.policies.find((p) => p.name === only.policy);
  if (!policy) throw new ReconcileError('E_RECONCILE_POLICY', `policy "${only.policy}" not found in the plan (policies: ${plan.policies.map((p) => p.name).join(', ') || 'none'})`);
  const namespaces = selected.get(policy.name) ?? [];
  if (only.namespace && !namespaces.includes(only.namespace)) {
    throw new ReconcileError('E_RECONCILE_NAMESPACE', `namespace "${only.namespace}" is not selected by policy "${policy.name}" (selector: ${policy.selector.namespaces.source.trim()})`);
  }
  return (only.namespace ? [only.namespace] : namespaces).map((namespace) => ({ policy: policy.name, namespace, due: true, reason: 'scheduled', nextDue: now }));
}

/** Forgets the repository snapshots of expired restore points (manifests and every volume) and their local VolumeSnapshots. */
export async function forgetRestorePointData(points: RestorePoint[], repository: (profile: string) => Promise<ProfileRepository>, client: KubeClient): Promise<number> {
  let count = 0;
  for (const rp of points) {
    const ids = [rp.spec.repository.manifestSnapshot, ...(rp.spec.volumes ?? []).map((v) => v.snapshotId)].filter((x): x is string => !!x);
    if (ids.length) {
      const { repo } = await repository(rp.spec.repository.profile);
      for (const id of ids) {
        // Already forgotten by an earlier, interrupted retention pass: nothing to do.
        await forget(repo, { ids: [id] }).then(() => count++, (e: { code?: string }) => {
          if (e.code !== 'E_REPO_SNAPSHOT') throw e;
        });
      }
    }
    for (const v of rp.spec.volumes ?? []) {
      if (v.volumeSnapshot) await client.delete('snapshot.storage.k8s.io/v1', 'volumesnapshots', rp.spec.namespace, v.volumeSnapshot).catch(() => undefined);
    }
  }
  return count;
}

/** Runs `work` over `items` with at most `limit` in flight and never two of the same namespace at once. */
async function runBounded<T extends { namespace: string }>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const busy = new Set<string>();
  const inflight = new Set<Promise<void>>();
  while (queue.length || inflight.size) {
    const i = queue.findIndex((x) => !busy.has(x.namespace));
    if (i >= 0 && inflight.size < Math.max(1, limit)) {
      const item = queue.splice(i, 1)[0]!;
      busy.add(item.namespace);
      const p: Promise<void> = work(item).finally(() => {
        busy.delete(item.namespace);
        inflight.delete(p);
      });
      inflight.add(p);
      continue;
    }
    await Promise.race(inflight);
  }
}
