import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Catalog } from '../catalog/index.ts';
import type { ReconcileEvent, ReconcileSummary } from '../reconcile.ts';
import type { ComplianceReport, ResultStatus } from '../report/types.ts';
import { latestVerifications } from '../verify/store.ts';

/** Every metric Coffer exports; the Grafana dashboard in deploy/grafana must reference only these (a test checks). */
export const METRIC_NAMES = [
  'coffer_backup_runs_total',
  'coffer_backup_run_duration_seconds',
  'coffer_last_successful_backup_timestamp_seconds',
  'coffer_restore_points',
  'coffer_backup_bytes_read_total',
  'coffer_backup_bytes_uploaded_total',
  'coffer_restore_points_expired_total',
  'coffer_restore_runs_total',
  'coffer_git_push_failures_total',
  'coffer_reconciles_total',
  'coffer_last_reconcile_timestamp_seconds',
  'coffer_plan_info',
  'coffer_compliance_result',
  'coffer_compliance_results',
  'coffer_webhook_requests_total',
  'coffer_api_requests_total',
  'coffer_verification_runs_total',
  'coffer_verification_duration_seconds',
  'coffer_verification_rto_seconds',
  'coffer_verification_last_success_timestamp_seconds',
  'coffer_sweep_objects_removed_total',
  'coffer_sweep_errors_total',
  'coffer_sweep_last_timestamp_seconds',
] as const;

const RESULTS: readonly ResultStatus[] = ['pass', 'fail', 'warn', 'error', 'skip'];

/** Git error codes that mean the remote refused or could not be reached. */
const GIT_REMOTE_CODES = new Set(['E_GIT_AUTH', 'E_GIT_UNREACHABLE', 'E_GIT_CONTENDED', 'E_GIT_REMOTE', 'E_GIT_REF_LOCKED', 'E_GIT_PROTOCOL', 'E_GIT_NOT_FOUND']);

/**
 * Coffer's Prometheus metrics, in a Registry of their own (so tests and two servers in one process never collide on
 * prom-client's global one). Fed from reconcile events and summaries, the catalog and compliance reports — the same
 * state the catalog commits record, never a second bookkeeping.
 */
export class CofferMetrics {
  readonly registry = new Registry();
  readonly runs = new Counter({ name: 'coffer_backup_runs_total', help: 'Backup runs finished, by policy, namespace and result (succeeded, partially_failed, failed).', labelNames: ['policy', 'namespace', 'result'], registers: [this.registry] });
  readonly duration = new Histogram({
    name: 'coffer_backup_run_duration_seconds',
    help: 'Wall-clock duration of backup runs (hooks, discovery, snapshots and data movement).',
    labelNames: ['policy', 'namespace'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400],
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({ name: 'coffer_last_successful_backup_timestamp_seconds', help: 'Start time (Unix seconds) of the newest successful backup per policy and namespace.', labelNames: ['policy', 'namespace'], registers: [this.registry] });
  readonly restorePoints = new Gauge({ name: 'coffer_restore_points', help: 'Restore points held in the catalog per policy and namespace.', labelNames: ['policy', 'namespace'], registers: [this.registry] });
  readonly bytesRead = new Counter({ name: 'coffer_backup_bytes_read_total', help: 'Bytes read from volumes and manifests by backups.', labelNames: ['policy', 'namespace'], registers: [this.registry] });
  readonly bytesUploaded = new Counter({ name: 'coffer_backup_bytes_uploaded_total', help: 'Bytes stored in the repository by backups after deduplication and compression (read / uploaded = data reduction).', labelNames: ['policy', 'namespace'], registers: [this.registry] });
  readonly expired = new Counter({ name: 'coffer_restore_points_expired_total', help: 'Restore points removed by GFS retention.', labelNames: ['policy', 'namespace'], registers: [this.registry] });
  readonly restores = new Counter({ name: 'coffer_restore_runs_total', help: 'Declared restores (restores/*.yaml) finished, by result.', labelNames: ['result'], registers: [this.registry] });
  readonly pushFailures = new Counter({ name: 'coffer_git_push_failures_total', help: 'Catalog or report commits that could not be pushed to the Git remote.', labelNames: ['what'], registers: [this.registry] });
  readonly reconciles = new Counter({ name: 'coffer_reconciles_total', help: 'Reconciles by result (ok, error).', labelNames: ['result'], registers: [this.registry] });
  readonly lastReconcile = new Gauge({ name: 'coffer_last_reconcile_timestamp_seconds', help: 'When the last reconcile finished (Unix seconds), by result.', labelNames: ['result'], registers: [this.registry] });
  readonly planInfo = new Gauge({ name: 'coffer_plan_info', help: 'The plan being executed: always 1, labelled with its hash and source commit.', labelNames: ['plan_hash', 'commit', 'cluster'], registers: [this.registry] });
  readonly compliance = new Gauge({ name: 'coffer_compliance_result', help: 'Compliance per policy, namespace and rule: 1 for the current result label, 0 for the others.', labelNames: ['policy', 'namespace', 'rule', 'result'], registers: [this.registry] });
  readonly complianceTotals = new Gauge({ name: 'coffer_compliance_results', help: 'Compliance results of the latest report by result.', labelNames: ['result'], registers: [this.registry] });
  readonly webhooks = new Counter({ name: 'coffer_webhook_requests_total', help: 'Webhook deliveries by provider and outcome (triggered, ignored, unauthorized, rejected).', labelNames: ['provider', 'outcome'], registers: [this.registry] });
  readonly api = new Counter({ name: 'coffer_api_requests_total', help: 'REST API requests by method, route and status code.', labelNames: ['method', 'route', 'code'], registers: [this.registry] });
  readonly verifications = new Counter({ name: 'coffer_verification_runs_total', help: 'Restore verifications (policy spec.verify) finished, by policy, namespace and result (succeeded, failed).', labelNames: ['policy', 'namespace', 'result'], registers: [this.registry] });
  readonly verificationDuration = new Histogram({
    name: 'coffer_verification_duration_seconds',
    help: 'Wall-clock duration of restore verifications: scratch restore, integrity check, checks and deleting the scratch namespace.',
    labelNames: ['policy', 'namespace'],
    buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
    registers: [this.registry],
  });
  readonly verificationRto = new Gauge({ name: 'coffer_verification_rto_seconds', help: 'Recovery time measured by the newest restore verification (restore start until ready and integrity-checked) per policy and namespace.', labelNames: ['policy', 'namespace'], registers: [this.registry] });
  readonly verificationLastSuccess = new Gauge({ name: 'coffer_verification_last_success_timestamp_seconds', help: 'Start time (Unix seconds) of the newest successful restore verification per policy and namespace.', labelNames: ['policy', 'namespace'], registers: [this.registry] });
  readonly sweepRemoved = new Counter({ name: 'coffer_sweep_objects_removed_total', help: 'Leftovers of interrupted runs the start-up sweep removed, by kind (jobs, secrets, persistentvolumeclaims, volumesnapshots, volumesnapshotcontents, persistentvolumes).', labelNames: ['kind'], registers: [this.registry] });
  readonly sweepErrors = new Counter({ name: 'coffer_sweep_errors_total', help: 'Leftovers the start-up sweep could not remove, plus sweeps that failed as a whole.', registers: [this.registry] });
  readonly sweepLast = new Gauge({ name: 'coffer_sweep_last_timestamp_seconds', help: 'When the last start-up sweep ended (Unix seconds), also one that found nothing.', registers: [this.registry] });
  private sawPlan = false;

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'coffer_' });
  }

  /** Feed of reconcile events: runs are counted as they end, so a long reconcile shows progress. */
  observeEvent(e: ReconcileEvent): void {
    switch (e.event) {
      case 'plan':
        this.sawPlan = true;
        break;
      case 'run-end': {
        const labels = { policy: e.policy, namespace: e.namespace };
        this.runs.inc({ ...labels, result: resultLabel(e.phase) });
        this.duration.observe(labels, e.seconds);
        break;
      }
      case 'restore-end':
        this.restores.inc({ result: resultLabel(e.phase) });
        break;
      case 'expired':
        this.expired.inc({ policy: e.policy, namespace: e.namespace }, e.restorePoints.length);
        break;
      case 'verify-end': {
        const labels = { policy: e.policy, namespace: e.namespace };
        this.verifications.inc({ ...labels, result: resultLabel(e.phase) });
        this.verificationDuration.observe(labels, e.seconds);
        if (e.rtoSeconds !== undefined) this.verificationRto.set(labels, e.rtoSeconds);
        if (e.phase === 'Succeeded') this.verificationLastSuccess.set(labels, Date.parse(e.startTime) / 1000);
        break;
      }
    }
  }

  /** A start-up sweep (reconciler/volumes/sweep.ts): what it removed by kind, its errors, when it ended. */
  observeSweep(r: { removed: Record<string, number>; errors: readonly string[] }, at: Date = new Date()): void {
    for (const [kind, n] of Object.entries(r.removed)) if (n > 0) this.sweepRemoved.inc({ kind }, n);
    if (r.errors.length) this.sweepErrors.inc(r.errors.length);
    this.sweepLast.set(at.getTime() / 1000);
  }

  /** After a reconcile: bytes moved, plan, and the catalog's view (restore points held, last successes). */
  async observeSummary(s: ReconcileSummary, now: Date = new Date()): Promise<void> {
    this.sawPlan = false;
    this.reconciles.inc({ result: 'ok' });
    this.lastReconcile.set({ result: 'ok' }, now.getTime() / 1000);
    this.planInfo.reset();
    this.planInfo.set({ plan_hash: s.plan.hash, commit: s.commit, cluster: s.plan.config.cluster }, 1);
    await this.observeBackups(s);
  }

  /** Bytes moved by a reconcile's (or an on-demand backup's) runs, then the catalog's view. */
  async observeBackups(s: Pick<ReconcileSummary, 'runs' | 'catalog'>): Promise<void> {
    for (const r of s.runs) {
      const stats = r.restorePoint?.spec.stats ?? r.result?.stats;
      if (!stats) continue;
      const labels = { policy: r.run.spec.policy ?? '', namespace: r.run.spec.namespace ?? '' };
      this.bytesRead.inc(labels, stats.bytesRead ?? 0);
      this.bytesUploaded.inc(labels, stats.bytesAdded ?? 0);
    }
    await this.observeCatalog(s.catalog);
  }

  /** Restore points held and last success per pair, straight from the catalog branch tip. */
  async observeCatalog(catalog: Catalog): Promise<void> {
    const [points, last] = await Promise.all([catalog.listRestorePoints(), catalog.latestRuns()]);
    this.restorePoints.reset();
    const counts = new Map<string, { policy: string; namespace: string; n: number }>();
    for (const p of points.items) {
      const k = `${p.policy}\u0000${p.namespace}`;
      const c = counts.get(k) ?? { policy: p.policy, namespace: p.namespace, n: 0 };
      c.n++;
      counts.set(k, c);
    }
    for (const c of counts.values()) this.restorePoints.set({ policy: c.policy, namespace: c.namespace }, c.n);
    this.lastSuccess.reset();
    for (const l of last) if (l.lastSuccessTime) this.lastSuccess.set({ policy: l.policy, namespace: l.namespace }, Date.parse(l.lastSuccessTime) / 1000);
    // After a restart the verification gauges come from the newest VerificationResult of each pair.
    for (const v of await latestVerifications(catalog)) {
      const labels = { policy: v.policy, namespace: v.namespace };
      if (v.doc.spec.rtoSeconds !== undefined) this.verificationRto.set(labels, v.doc.spec.rtoSeconds);
      if (v.phase === 'Succeeded') this.verificationLastSuccess.set(labels, Date.parse(v.startTime) / 1000);
    }
  }

  /**
   * A failed reconcile. Once the plan is compiled, the only remote Git operations left are catalog commits, so a
   * remote Git error after that point is a push failure.
   */
  observeReconcileError(e: unknown, now: Date = new Date()): void {
    this.reconciles.inc({ result: 'error' });
    this.lastReconcile.set({ result: 'error' }, now.getTime() / 1000);
    const code = (e as { code?: unknown } | undefined)?.code;
    if (this.sawPlan && typeof code === 'string' && GIT_REMOTE_CODES.has(code)) this.pushFailures.inc({ what: 'catalog' });
    this.sawPlan = false;
  }

  /** A compliance report commit could not be pushed. */
  observeReportPushFailure(): void {
    this.pushFailures.inc({ what: 'report' });
  }

  /** State-set style: every rule of every pair exports all five results, exactly one of them 1. */
  observeCompliance(report: ComplianceReport): void {
    this.compliance.reset();
    for (const r of report.spec.results) {
      for (const result of RESULTS) this.compliance.set({ policy: r.policy, namespace: r.resources[0]?.name ?? '', rule: r.rule, result }, r.result === result ? 1 : 0);
    }
    for (const result of RESULTS) this.complianceTotals.set({ result }, report.spec.summary[result]);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function resultLabel(phase: string): string {
  return phase === 'Succeeded' ? 'succeeded' : phase === 'PartiallyFailed' ? 'partially_failed' : phase === 'Cancelled' ? 'cancelled' : 'failed';
}
