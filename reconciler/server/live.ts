import { RunCancelled, type RunningRun, type RunningRuns } from '../run-cancel.ts';
import { randomBytes } from 'node:crypto';
import { CompileFailed, compileFromGit, hasErrors, type Plan } from '../../compiler/index.ts';
import { openCatalog, type Catalog } from '../catalog/index.ts';
import type { OnDemandKeep } from '../backup-run.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import type { LeaseLock } from '../lease/index.ts';
import type { CofferMetrics } from '../metrics/index.ts';
import { reconcileOnce, selectNamespaces, withLease, type ReconcileEvent, type ReconcileOptions, type ReconcileSummary } from '../reconcile.ts';
import { publishCompliance } from '../report/publish.ts';
import type { ComplianceReport } from '../report/types.ts';
import { RestoreJobs } from './restore-jobs.ts';
import { ReconcileTrigger } from './trigger.ts';

export interface LiveOptions {
  source: GitSource;
  client: KubeClient;
  metrics: CofferMetrics;
  trigger?: ReconcileTrigger;
  /** Backup runs in flight in this process (the loop's and the API's), for `coffer cancel RUN`. */
  running?: RunningRuns;
  /** Structured log lines (webhooks, API writes with who did them, report commits). */
  log?: (e: Record<string, unknown>) => void;
  now?: () => Date;
  /** Passed to on-demand backups (mover image, Coffer namespace, env, concurrency). */
  reconcile?: Pick<ReconcileOptions, 'moverImage' | 'cofferNamespace' | 'env' | 'concurrency' | 'author'>;
  /** A Lease lock of its own for on-demand backups, so they never overlap a reconcile of this or another replica. */
  lease?: () => LeaseLock;
  /** How long an on-demand backup waits for the lease (default 10 min). */
  leaseWaitMs?: number;
  /** Shutdown began: refuse new backup and restore requests (503); accepted ones go on. */
  stop?: AbortSignal;
  /** The shutdown deadline passed: abort API jobs in flight (their runs are recorded as failed). */
  interrupt?: AbortSignal;
}

export interface BackupJob {
  id: string;
  policy: string;
  namespace?: string;
  /** On-demand restore points: pinned, or kept this long (default 720h); never counted in the policy's GFS. */
  keep?: OnDemandKeep;
  requestedBy: string;
  state: 'waiting' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  /** Who cancelled it (coffer cancel, POST /api/v1/backups/ID/cancel). */
  cancelledBy?: string;
  created: string;
  started?: string;
  finished?: string;
  runs: Array<{ namespace: string; phase: string; restorePoint?: string; error?: string }>;
  error?: string;
}

export interface Health {
  status: 'ok' | 'degraded' | 'starting';
  role: 'leader' | 'standby' | 'unknown';
  leader?: string;
  lastReconcile?: string;
  lastCommit?: string;
  planHash?: string;
  lastError?: { time: string; message: string };
  reconciling: boolean;
  queued: boolean;
}

/**
 * The running reconciler as the HTTP server sees it: fed by the loop's callbacks (events, summaries, errors), it keeps
 * metrics current, publishes the compliance report after every reconcile, and answers the API from the latest plan
 * and catalog. On-demand backups run here too, under a Lease of their own.
 */
export class Live {
  readonly trigger: ReconcileTrigger;
  /** Hand this to `runLoop`: its fetch marks the start of a reconcile for the trigger. */
  readonly loopSource: GitSource;
  private summary: ReconcileSummary | undefined;
  private summaryTime: string | undefined;
  private report: ComplianceReport | undefined;
  private lastError: Health['lastError'];
  private leader: string | undefined;
  private role: Health['role'] = 'unknown';
  private reconciling = false;
  private publishing: Promise<void> = Promise.resolve();
  private readonly jobs = new Map<string, BackupJob>();
  /** Per-job abort of backups not finished yet: cancelling interrupts the job's runs like a shutdown deadline does. */
  private readonly cancels = new Map<string, AbortController>();
  private queue: Promise<void> = Promise.resolve();
  private draining = false;
  /** Restores asked for over the API (previews and jobs). */
  readonly restores: RestoreJobs;
  private readonly now: () => Date;
  private readonly log: (e: Record<string, unknown>) => void;

  constructor(private readonly opts: LiveOptions) {
    this.trigger = opts.trigger ?? new ReconcileTrigger();
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log ?? (() => undefined);
    this.restores = new RestoreJobs({
      source: opts.source,
      client: opts.client,
      current: () => this.current(),
      exclusive: (w) => this.exclusive(w),
      ...(opts.reconcile ? { reconcile: opts.reconcile } : {}),
      log: this.log,
      now: this.now,
      inputError: (status, message) => new ApiInputError(status, message),
    });
    const trigger = this.trigger;
    const mark = () => {
      this.reconciling = true;
      const served = trigger.beginReconcile();
      if (served.length) this.log({ event: 'reconcile-triggered', by: served });
    };
    this.loopSource = new Proxy(opts.source, {
      get(target, prop) {
        if (prop === 'fetch') return () => (mark(), target.fetch());
        return Reflect.get(target, prop, target) as unknown;
      },
    });
  }

  onEvent = (e: ReconcileEvent): void => {
    this.opts.metrics.observeEvent(e);
  };

  /** After each reconcile: metrics from the summary and catalog, then the compliance report (committed on change). */
  onSummary = (s: ReconcileSummary): Promise<void> => {
    this.reconciling = false;
    this.summary = s;
    this.summaryTime = this.now().toISOString();
    this.role = 'leader';
    this.leader = undefined;
    const selected = new Map<string, string[]>();
    for (const d of s.due) selected.set(d.policy, [...(selected.get(d.policy) ?? []), d.namespace]);
    this.publishing = this.publishing.then(() => this.afterReconcile(s, selected));
    return this.publishing;
  };

  onError = (e: unknown): void => {
    this.reconciling = false;
    this.opts.metrics.observeReconcileError(e, this.now());
    this.lastError = { time: this.now().toISOString(), message: (e as Error).message ?? String(e) };
  };

  onFollower = (holder: string): void => {
    this.reconciling = false;
    this.role = 'standby';
    this.leader = holder;
  };

  /**
   * Shutting down: new backup and restore requests get 503, and the API jobs already accepted (running or waiting for
   * the Lease) get up to `ms` to finish. Resolves true when they all finished in time.
   */
  async drain(ms: number): Promise<boolean> {
    this.draining = true;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([this.queue.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
    clearTimeout(timer);
    if (!finished) this.log({ event: 'api-jobs-abandoned', jobs: [...this.jobsList(), ...this.restores.jobsList()].filter((j) => j.state === 'running' || j.state === 'waiting').map((j) => j.id) });
    return finished;
  }

  private refuseWhenDraining(): void {
    if (this.draining || this.opts.stop?.aborted) throw new ApiInputError(503, 'coffer is shutting down: no new backups or restores are accepted');
  }

  /** Resolves when the compliance report of the latest reconcile is published. */
  idle(): Promise<void> {
    return this.publishing;
  }

  private async afterReconcile(s: ReconcileSummary, selected: Map<string, string[]>): Promise<void> {
    try {
      await this.opts.metrics.observeSummary(s, this.now());
    } catch (e) {
      this.log({ event: 'error', message: `metrics: ${(e as Error).message}` });
    }
    try {
      const r = await publishCompliance({ catalog: s.catalog, plan: s.plan, selected, now: this.now() });
      this.report = r.report;
      this.opts.metrics.observeCompliance(r.report);
      if (r.commit?.changed) this.log({ event: 'compliance-committed', commit: r.commit.commit, subject: r.message?.split('\n')[0] });
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (code.startsWith('E_GIT')) this.opts.metrics.observeReportPushFailure();
      this.lastError = { time: this.now().toISOString(), message: `compliance report: ${(e as Error).message}` };
      this.log({ event: 'error', message: `compliance report not committed: ${(e as Error).message}` });
    }
  }

  health(): Health {
    const h: Health = {
      // Degraded while the newest news is an error (Git unreachable, a commit that does not compile).
      status: !this.summaryTime ? (this.lastError ? 'degraded' : 'starting') : this.lastError && this.lastError.time >= this.summaryTime ? 'degraded' : 'ok',
      role: this.role,
      reconciling: this.reconciling,
      queued: this.trigger.queued,
    };
    if (this.leader) h.leader = this.leader;
    if (this.summary) {
      if (this.summaryTime) h.lastReconcile = this.summaryTime;
      h.lastCommit = this.summary.commit;
      h.planHash = this.summary.plan.hash;
    }
    if (this.lastError) h.lastError = this.lastError;
    return h;
  }


  /** The plan and catalog of the latest reconcile, or compiled from the policy branch now when none ran yet. */
  async current(): Promise<{ plan: Plan; catalog: Catalog; commit: string }> {
    if (this.summary) return { plan: this.summary.plan, catalog: this.summary.catalog, commit: this.summary.commit };
    const rev = await this.opts.source.fetch();
    const compiled = await compileFromGit(rev.gitdir, rev.commit);
    if (!compiled.plan || hasErrors(compiled.diagnostics)) throw new CompileFailed(compiled.diagnostics);
    const plan = compiled.plan;
    const author = this.opts.reconcile?.author;
    const catalog = openCatalog({ source: this.opts.source, cluster: plan.config.cluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path, ...(author ? { author } : {}) });
    return { plan, catalog, commit: rev.commit };
  }

  /** The latest compliance report; evaluated now when no reconcile has published one yet. */
  async compliance(): Promise<ComplianceReport> {
    if (this.report) return this.report;
    const { plan, catalog } = await this.current();
    const { computeCompliance } = await import('../report/publish.ts');
    return computeCompliance(catalog, plan, await selectNamespaces(this.opts.client, plan.policies), this.now());
  }

  jobsList(): BackupJob[] {
    return [...this.jobs.values()].sort((a, b) => b.created.localeCompare(a.created));
  }

  job(id: string): BackupJob | undefined {
    return this.jobs.get(id);
  }

  /**
   * Starts an on-demand backup (validated against the current plan first, so a typo is a 4xx, not a failed job) and
   * returns its job at once; the backup runs when the Lease is free.
   */
  async startBackup(req: { policy: string; namespace?: string; keep?: OnDemandKeep }, requestedBy: string): Promise<BackupJob> {
    this.refuseWhenDraining();
    const { plan } = await this.current();
    const policy = plan.policies.find((p) => p.name === req.policy);
    if (!policy) throw new ApiInputError(404, `policy "${req.policy}" not found in the plan (policies: ${plan.policies.map((p) => p.name).join(', ') || 'none'})`);
    if (req.namespace) {
      const selected = (await selectNamespaces(this.opts.client, [policy])).get(policy.name) ?? [];
      if (!selected.includes(req.namespace)) throw new ApiInputError(422, `namespace "${req.namespace}" is not selected by policy "${policy.name}"`);
    }
    const created = this.now();
    const job: BackupJob = {
      id: `backup-${created.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'z').toLowerCase()}-${randomBytes(3).toString('hex')}`,
      policy: req.policy,
      ...(req.namespace ? { namespace: req.namespace } : {}),
      ...(req.keep ? { keep: req.keep } : {}),
      requestedBy,
      state: 'waiting',
      created: created.toISOString(),
      runs: [],
    };
    this.jobs.set(job.id, job);
    for (const old of [...this.jobs.keys()].slice(0, Math.max(0, this.jobs.size - 100))) this.jobs.delete(old);
    this.log({ event: 'api-backup-requested', id: job.id, user: requestedBy, policy: req.policy, ...(req.namespace ? { namespace: req.namespace } : {}) });
    this.cancels.set(job.id, new AbortController());
    void this.runJob(job);
    return job;
  }

  /**
   * Cancels an on-demand backup: a waiting one never starts; a running one is interrupted (its blueprints' `finally`
   * phases still run, so no app stays quiesced) and its runs are committed as failed, saying who cancelled them —
   * never a restore point. Undefined when there is no such job; a 409 when it has already finished.
   */
  cancelBackup(id: string, who: string): BackupJob | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const c = this.cancels.get(id);
    if (!c) throw new ApiInputError(409, `backup ${id} has already finished (${job.state})`);
    if (!c.signal.aborted) {
      job.cancelledBy = who;
      c.abort(new RunCancelled(`cancelled by ${who}`));
      this.log({ event: 'api-backup-cancel', id, user: who, state: job.state });
    }
    if (job.state === 'waiting') {
      job.state = 'cancelled';
      job.error = `cancelled by ${who} before it started`;
      job.finished = this.now().toISOString();
    }
    return job;
  }

  /**
   * Cancels one backup run in flight in this process, scheduled or on demand (`coffer cancel RUN`): it stops, its
   * blueprints' `finally` phases run, and it is recorded as Cancelled. Undefined when no such run is going on here.
   */
  cancelRun(run: string, who: string): RunningRun | undefined {
    const r = this.opts.running?.cancel(run, who);
    if (r) this.log({ event: 'run-cancel', run, user: who });
    return r;
  }

  /** Backup runs in flight in this process. */
  runningRuns(): RunningRun[] {
    return this.opts.running?.list() ?? [];
  }

  /**
   * Runs API work (on-demand backups, restores) one job at a time in this process and, across replicas, only while
   * holding the reconciler's Lease — so it never overlaps a reconcile. Waits up to `leaseWaitMs` for the Lease.
   */
  exclusive<T>(work: (signal?: AbortSignal) => Promise<T>): Promise<T> {
    this.refuseWhenDraining();
    const interrupt = this.opts.interrupt;
    const run = async (): Promise<T> => {
      interrupt?.throwIfAborted();
      if (!this.opts.lease) return work(interrupt);
      const lock = this.opts.lease();
      const deadline = Date.now() + (this.opts.leaseWaitMs ?? 600_000);
      for (;;) {
        const r = await withLease(lock, (lost) => work(interrupt ? AbortSignal.any([lost, interrupt]) : lost));
        if (r.held) return r.value;
        if (Date.now() > deadline) throw new Error(`gave up waiting for the reconciler lease (held by ${r.holder})`);
        await new Promise((res) => setTimeout(res, 1000));
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async runJob(job: BackupJob): Promise<void> {
    const cancel = this.cancels.get(job.id)!.signal;
    const work = async (outer?: AbortSignal) => {
      cancel.throwIfAborted(); // cancelled while waiting for its turn: never starts
      const signal = outer ? AbortSignal.any([outer, cancel]) : cancel;
      job.state = 'running';
      job.started = this.now().toISOString();
      return reconcileOnce({
        source: this.opts.source,
        client: this.opts.client,
        now: this.now,
        only: { policy: job.policy, ...(job.namespace ? { namespace: job.namespace } : {}) },
        trigger: 'manual',
        retention: false,
        ...(job.keep ? { keep: job.keep } : {}),
        ...this.opts.reconcile,
        ...(this.opts.running ? { running: this.opts.running } : {}),
        ...(signal ? { signal, interrupt: signal } : {}),
        log: (e) => {
          this.opts.metrics.observeEvent(e);
          if (e.event === 'run-end') job.runs.push({ namespace: e.namespace, phase: e.phase, ...(e.restorePoint ? { restorePoint: e.restorePoint } : {}), ...(e.error ? { error: e.error } : {}) });
        },
      });
    };
    try {
      const summary = await this.exclusive(work);
      // On-demand backups skip retention; the reconcile asked for here applies it and then publishes compliance, so
      // the report never flags a restore point that is only waiting for that pass. Metrics are queued before the job
      // reports its end, so a client that sees it finished and then waits for idle() sees them updated.
      const done = summary;
      this.publishing = this.publishing.then(() => this.opts.metrics.observeBackups(done).catch((e: Error) => this.log({ event: 'error', message: `metrics: ${e.message}` })));
      this.trigger.request(`on-demand backup ${job.id}`);
      const failed = summary.runs.filter((r) => r.run.status.phase !== 'Succeeded');
      job.state = failed.length || !summary.runs.length ? 'failed' : 'succeeded';
      if (!summary.runs.length) job.error = cancel.aborted ? (cancel.reason as Error).message : 'no namespace selected by the policy';
      else if (failed.length) job.error = failed.map((r) => `${r.run.spec.namespace}: ${r.run.status.error ?? r.run.status.phase}`).join('; ');
    } catch (e) {
      job.state = 'failed';
      job.error = (e as Error).message;
    }
    this.cancels.delete(job.id);
    if (cancel.aborted && job.state !== 'succeeded') {
      job.state = 'cancelled';
      if (!job.error?.startsWith('cancelled')) job.error = `${(cancel.reason as Error).message}${job.error ? `: ${job.error}` : ''}`;
    }
    if (job.finished && job.state === 'cancelled' && !job.started) return; // cancelled while waiting: already reported
    job.finished = this.now().toISOString();
    this.log({ event: 'api-backup-finished', id: job.id, user: job.requestedBy, state: job.state, runs: job.runs, ...(job.error ? { error: job.error } : {}) });
  }
}

/** A request the API refuses with a status code (unknown policy, unselected namespace). */
export class ApiInputError extends Error {
  readonly code = 'E_API_INPUT';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
