import { RunCancelled, type RunningRun, type RunningRuns } from '../run-cancel.ts';
import { randomBytes } from 'node:crypto';
import { CompileFailed, compileFromGit, hasErrors, type Plan } from '../../compiler/index.ts';
import { openCatalog, type Catalog, type LastRun, type RestorePointSummary } from '../catalog/index.ts';
import type { OnDemandKeep } from '../backup-run.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import type { LeaseLock } from '../lease/index.ts';
import type { CofferMetrics } from '../metrics/index.ts';
import { reconcileOnce, selectNamespaces, withLease, type ReconcileEvent, type ReconcileOptions, type ReconcileSummary } from '../reconcile.ts';
import { evaluateCompliance } from '../report/compliance.ts';
import { latestVerifications } from '../verify/store.ts';
import { publishCompliance } from '../report/publish.ts';
import type { ComplianceReport } from '../report/types.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Conditions, conditionsOfReconcileError, type Condition, type ConditionUpdate } from './conditions.ts';
import type { JobKind, JobStore, SharedJob } from './job-store.ts';
import { applications, type Application, type DirFacts } from './applications.ts';
import { namespaceSummaries, restorePointDetails, tiersOf, type RestorePointDetails } from './details.ts';
import { EventHub } from './events.ts';
import { RestoreJobs, type RestoreJob } from './restore-jobs.ts';
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
  /** Where API jobs are written so every replica answers for them (absent: this process only). */
  jobs?: JobStore;
  /** Kubernetes Events about Coffer (its Deployment): every failed condition, and recoveries. */
  events?: EventRecorder;
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
  /** Coffer's own input: the policy source, the policy commit, webhook signatures (conditions.ts). */
  conditions: Condition[];
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
  private readonly conditions: Conditions;
  /** Server-sent events for the dashboard: run and restore progress, catalog changes, health. */
  readonly events = new EventHub();
  /** Per-directory facts of the catalog, read once per directory tree (the Applications view needs them). */
  private factsCache: { commit: string; dirs: DirFacts[]; byTree: Map<string, DirFacts>; lastRuns: LastRun[] } | undefined;

  constructor(private readonly opts: LiveOptions) {
    this.trigger = opts.trigger ?? new ReconcileTrigger();
    this.now = opts.now ?? (() => new Date());
    this.conditions = new Conditions(this.now());
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
      ...(opts.jobs ? { jobs: opts.jobs } : {}),
      onChange: (job, line) => this.publishRestore(job, line),
    });
    const trigger = this.trigger;
    const mark = () => {
      this.reconciling = true;
      this.events.publish('health', { reconciling: true });
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
    this.publishReconcileEvent(e);
  };

  /** A loop or on-demand backup event as the dashboard's live `run` progress; catalog changes as `catalog`. */
  private publishReconcileEvent(e: ReconcileEvent): void {
    if (e.event === 'run-start') this.events.publish('run', { namespace: e.namespace, policy: e.policy, phase: 'Running' });
    else if (e.event === 'run-progress') {
      const { event: _e, ...rest } = e;
      this.events.publish('run-progress', rest);
    } else if (e.event === 'run-end') {
      const { event: _e, ...rest } = e;
      this.events.publish('run', rest);
      this.events.publish('catalog', { reason: `backup ${e.namespace}/${e.policy}`, namespace: e.namespace });
    } else if (e.event === 'expired') this.events.publish('catalog', { reason: `retention ${e.namespace}/${e.policy}`, namespace: e.namespace });
    else if (e.event === 'log') {
      // Run log lines are prefixed "<namespace>/<policy>: " by the reconcile; other lines are not run progress.
      const m = /^([a-z0-9][a-z0-9-]*)\/([^:\s]+): (.*)$/s.exec(e.message);
      if (m) this.events.publish('run', { namespace: m[1], policy: m[2], phase: 'Running', step: m[3]!.split('\n')[0]!.slice(0, 500) });
    }
  }

  private publishRestore(job: RestoreJob, line?: string): void {
    this.events.publish('restore', {
      id: job.id,
      state: job.state,
      namespace: job.restorePoint.namespace,
      target: job.targetNamespace,
      restorePoint: job.restorePoint.name,
      ...(line ? { step: line.slice(0, 500) } : {}),
      ...(job.result ? { summary: job.result.summary } : {}),
      ...(job.error ? { error: job.error } : {}),
    });
    if (job.finished) this.events.publish('catalog', { reason: `restore ${job.id}`, namespace: job.restorePoint.namespace, target: job.targetNamespace });
  }

  private publishBackupJob(job: BackupJob): void {
    this.events.publish('backup-job', { id: job.id, state: job.state, policy: job.policy, ...(job.namespace ? { namespace: job.namespace } : {}), ...(job.error ? { error: job.error } : {}) });
  }

  /** After each reconcile: metrics from the summary and catalog, then the compliance report (committed on change). */
  onSummary = (s: ReconcileSummary): Promise<void> => {
    this.reconciling = false;
    this.summary = s;
    this.summaryTime = this.now().toISOString();
    this.role = 'leader';
    this.leader = undefined;
    this.setConditions([
      { type: 'SourceReady', status: true, reason: 'Fetched', message: `fetched ${s.commit.slice(0, 12)} of the policy branch` },
      { type: 'PolicyValid', status: true, reason: 'Compiled', message: `commit ${s.commit.slice(0, 12)} compiled: ${s.plan.policies.length} policies` },
    ]);
    const selected = new Map<string, string[]>();
    for (const d of s.due) selected.set(d.policy, [...(selected.get(d.policy) ?? []), d.namespace]);
    this.publishing = this.publishing.then(() => this.afterReconcile(s, selected));
    return this.publishing;
  };

  onError = (e: unknown): void => {
    this.reconciling = false;
    this.opts.metrics.observeReconcileError(e, this.now());
    this.lastError = { time: this.now().toISOString(), message: (e as Error).message ?? String(e) };
    this.setConditions(conditionsOfReconcileError(e, this.opts.reconcile?.env ?? {}));
    this.events.publish('health', { reconciling: false, error: this.lastError.message });
  };

  /**
   * A webhook delivery was checked: a bad signature (another secret at the Git host, or none configured here) turns
   * WebhooksVerified false with a Warning Event each time; the next well-signed delivery turns it true again.
   */
  observeWebhook(provider: string, verdict: 'verified' | 'bad-signature' | 'no-secret', remote?: string): void {
    const from = `a ${provider} delivery${remote ? ` from ${remote}` : ''}`;
    if (verdict === 'verified') return this.setConditions([{ type: 'WebhooksVerified', status: true, reason: 'SignatureVerified', message: `${from} was signed with the webhook secret` }]);
    this.setConditions([
      verdict === 'no-secret'
        ? { type: 'WebhooksVerified', status: false, reason: 'NoWebhookSecret', message: `${from} was refused: no webhook secret is configured (--webhook-secret-file, deploy/: Secret coffer-webhook)` }
        : { type: 'WebhooksVerified', status: false, reason: 'BadSignature', message: `${from} was refused: its signature does not match the webhook secret (is the Git host's secret the one in Secret coffer-webhook?)` },
    ]);
  }

  /** Sets conditions; a false one is a Warning Event every time it is observed (aggregated), a recovery a Normal one. */
  private setConditions(updates: ConditionUpdate[]): void {
    for (const u of updates) {
      const before = this.conditions.set(u, this.now());
      if (!u.status) {
        this.log({ event: 'condition', type: u.type, status: 'False', reason: u.reason, message: u.message });
        void this.opts.events?.record('Warning', u.reason, u.message);
      } else if (before === 'False') void this.opts.events?.record('Normal', u.reason, u.message);
    }
  }

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
    this.events.publish('health', { reconciling: this.reconciling });
    this.events.publish('catalog', { reason: 'reconcile', commit: s.commit });
  }

  health(): Health {
    const h: Health = {
      // Degraded while the newest news is an error (Git unreachable, a commit that does not compile).
      status: !this.summaryTime ? (this.lastError ? 'degraded' : 'starting') : this.lastError && this.lastError.time >= this.summaryTime ? 'degraded' : 'ok',
      role: this.role,
      reconciling: this.reconciling,
      queued: this.trigger.queued,
      conditions: this.conditions.list(),
    };
    if (h.status === 'ok' && h.conditions.some((c) => c.status === 'False')) h.status = 'degraded';
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

  /** Every namespace of the cluster (and those only the catalog remembers) with its protection state. */
  async applications(): Promise<Application[]> {
    const { plan, catalog } = await this.current();
    const [namespaces, selected, { dirs, lastRuns }, verifications] = await Promise.all([
      this.opts.client.list('v1', 'namespaces'),
      selectNamespaces(this.opts.client, plan.policies),
      this.catalogFacts(catalog),
      plan.policies.some((p) => p.verify) ? latestVerifications(catalog) : [],
    ]);
    // The report's own RPO rule, fed only what it reads (each pair's newest good point and latest-run pointer): the
    // same verdict as the compliance report, evaluated now, without reading the catalog's whole history.
    const report = evaluateCompliance({
      plan,
      selected,
      restorePoints: dirs.flatMap((d) => (d.latestGood ? [{ metadata: { name: d.latestGood.name }, spec: { cluster: catalog.cluster, namespace: d.namespace, policy: d.policy, phase: d.latestGood.phase, startTime: d.latestGood.startTime } }] : [])),
      runs: [],
      lastRuns,
      verifications,
      now: this.now(),
    });
    return applications({
      namespaces: namespaces.filter((n) => (n.status as { phase?: string } | undefined)?.phase !== 'Terminating').map((n) => n.metadata.name),
      policies: plan.policies,
      selected,
      dirs,
      lastRuns,
      compliance: report.spec.results.filter((r) => r.rule === 'rpo' || r.rule === 'last-verified'),
    });
  }

  /**
   * Count and newest good restore point of each directory of this cluster (from the indexes), and the latest run of
   * each pair — read once per catalog commit.
   */
  private async catalogFacts(catalog: Catalog): Promise<{ dirs: DirFacts[]; lastRuns: LastRun[] }> {
    const snap = await catalog.snapshot();
    if (!snap?.rootish) return { dirs: [], lastRuns: [] };
    if (this.factsCache?.commit === snap.rootish) return this.factsCache;
    // A directory's facts depend only on its tree: after a backup only the directory it wrote is read again.
    const byTree = new Map<string, DirFacts>();
    const dirs: DirFacts[] = [];
    for (const dir of snap.dirs({ cluster: catalog.cluster })) {
      let facts = this.factsCache?.byTree.get(dir.tree);
      if (!facts || facts.namespace !== dir.namespace || facts.policy !== dir.policy) {
        let latestGood: RestorePointSummary | undefined;
        const { items } = snap.summaries(dir);
        for (const i of items) if (i.phase === 'Succeeded' && (!latestGood || i.startTime >= latestGood.startTime)) latestGood = i;
        facts = { namespace: dir.namespace, policy: dir.policy, count: items.length, ...(latestGood ? { latestGood: { name: latestGood.name, startTime: latestGood.startTime, bytes: latestGood.bytes, phase: latestGood.phase } } : {}) };
      }
      byTree.set(dir.tree, facts);
      dirs.push(facts);
    }
    this.factsCache = { commit: snap.rootish, dirs, byTree, lastRuns: await catalog.latestRuns() };
    return this.factsCache;
  }

  /** One restore point with what the catalog and its run record say about it; undefined when there is none. */
  async restorePointDetails(namespace: string, name: string): Promise<RestorePointDetails | undefined> {
    const { plan, catalog } = await this.current();
    return restorePointDetails({ catalog, plan, namespace, name, now: this.now(), restores: (await this.restores.recorded(catalog)).map(({ doc: _d, ...r }) => r) });
  }

  /** GFS tier (or pin / TTL) of each restore point of a namespace, as retention would decide now. */
  async tiers(namespace: string): Promise<Record<string, string[]>> {
    const { plan, catalog } = await this.current();
    return Object.fromEntries(tiersOf(plan, await namespaceSummaries(catalog, namespace), this.now()));
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
    this.opts.jobs?.track('backup', job, (who) => this.cancelBackup(job.id, who));
    void this.runJob(job);
    this.publishBackupJob(job);
    return job;
  }

  /** A job of this replica, else one another replica wrote to the job store (its last state, or failed when its owner went silent). */
  async findJob(kind: 'backup', id: string): Promise<BackupJob | undefined>;
  async findJob(kind: 'restore', id: string): Promise<RestoreJob | undefined>;
  async findJob(kind: JobKind, id: string): Promise<SharedJob | undefined> {
    const local = kind === 'backup' ? this.jobs.get(id) : this.restores.job(id);
    return local ?? (await this.opts.jobs?.get(kind, id))?.job;
  }

  /** The jobs of every replica, newest first; this replica's own from memory. */
  async allJobs(kind: 'backup'): Promise<BackupJob[]>;
  async allJobs(kind: 'restore'): Promise<RestoreJob[]>;
  async allJobs(kind: JobKind): Promise<SharedJob[]> {
    const local: SharedJob[] = kind === 'backup' ? this.jobsList() : this.restores.jobsList();
    const ids = new Set(local.map((j) => j.id));
    const stored = ((await this.opts.jobs?.list(kind)) ?? []).map((s) => s.job).filter((j) => !ids.has(j.id));
    return [...local, ...stored].sort((a, b) => b.created.localeCompare(a.created));
  }

  /**
   * Cancels a job wherever it runs: here at once, on another replica through the job store (its owner acts within a
   * sync interval). Undefined when no replica knows it; 409 when it has finished.
   */
  async cancelAnywhere(kind: JobKind, id: string, who: string): Promise<SharedJob | undefined> {
    const local = kind === 'backup' ? this.cancelBackup(id, who) : this.restores.cancel(id, who);
    if (local || !this.opts.jobs) return local;
    const s = await this.opts.jobs.requestCancel(kind, id, who);
    if (!s) return undefined;
    if (!s.cancelRequestedBy || s.job.finished) throw new ApiInputError(409, `${kind} ${id} has already finished (${s.job.state})`);
    this.log({ event: `api-${kind}-cancel`, id, user: who, state: s.job.state, owner: s.owner });
    return { ...s.job, cancelRequestedBy: who } as SharedJob;
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
   * Cancels one run in flight in this process — a backup, scheduled or on demand, or a declared restore (`coffer
   * cancel RUN`): it stops, its blueprints' `finally` phases run, and it is recorded as Cancelled. Undefined when no
   * such run is going on here.
   */
  cancelRun(run: string, who: string): RunningRun | undefined {
    const r = this.opts.running?.cancel(run, who);
    if (r) this.log({ event: 'run-cancel', run, user: who });
    return r;
  }

  /**
   * `cancelRun` from any replica: a standby (scheduled runs go on in the Lease holder) hands the cancel to the holder
   * through the job store, which carries it out at its next sync; undefined when the run is not here and there is no
   * one to forward to.
   */
  async cancelRunAnywhere(run: string, who: string): Promise<RunningRun | { run: string; cancelledBy: string; forwarded: true; to: string } | undefined> {
    const local = this.cancelRun(run, who);
    if (local || !this.opts.jobs || this.role !== 'standby' || !this.leader) return local;
    await this.opts.jobs.requestRunCancel(run, who);
    this.log({ event: 'run-cancel-forward', run, user: who, to: this.leader });
    return { run, cancelledBy: who, forwarded: true, to: this.leader };
  }

  /** Runs (backups, declared restores) in flight in this process. */
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
      this.publishBackupJob(job);
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
          this.publishReconcileEvent(e);
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
    if (job.finished && job.state === 'cancelled' && !job.started) return void this.opts.jobs?.done('backup', job); // cancelled while waiting: already reported
    job.finished = this.now().toISOString();
    void this.opts.jobs?.done('backup', job);
    this.publishBackupJob(job);
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
