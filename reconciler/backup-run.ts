import { randomBytes } from 'node:crypto';
import type { Plan, PlanPolicy } from '../compiler/plan/types.ts';
import { backupMessage, restorePointName, runId as makeRunId, type Catalog, type CommitResult, type RestorePoint, type RunRecord, type RunTrigger } from './catalog/index.ts';
import { backupNamespace, type NamespaceBackupResult } from './export/namespace-backup.ts';
import type { KubeClient } from './kube/client.ts';
import type { DiscoveryResult } from './kube/discovery.ts';
import type { ProfileRepository } from './profile-repository.ts';
import { cancelledBy, type RunningRuns } from './run-cancel.ts';
import { RunLog } from './run-log.ts';
import { withRunLease } from './volumes/run-lease.ts';
import { ProgressTracker, type RunProgress } from './run-progress.ts';

export interface BackupRunInput {
  plan: Plan;
  policy: PlanPolicy;
  namespace: string;
  client: KubeClient;
  catalog: Catalog;
  /** Opens (and caches per reconcile) the repository of a profile; a failure fails this run only. */
  repository: (profile: string) => Promise<ProfileRepository>;
  trigger: Exclude<RunTrigger, 'verify'>;
  /** The schedule slot this run serves (scheduled runs). */
  slot?: Date;
  discovery?: DiscoveryResult;
  moverImage?: string;
  now?: () => Date;
  signal?: AbortSignal;
  log?: (m: string) => void;
  /** On-demand (trigger manual) points: how long to keep them, or pinned (kept until deleted). */
  keep?: OnDemandKeep;
  /** Where the run registers while in flight, so `coffer cancel RUN` can stop it (coffer run). */
  running?: RunningRuns;
  /** Called with the run's name as it starts (before any work), e.g. to log it for `coffer cancel`. */
  onStart?: (run: string) => void;
  /** The run's phase and counts as it goes, at most about once a second (every phase change at once). */
  onProgress?: (p: RunProgress) => void;
  /**
   * Hold the run's Lease in this (mover) namespace while it moves data (`coffer backup` from a workstation, which does
   * not hold the reconciler Lease), so a controller's start-up sweep keeps its movers (volumes/run-lease.ts).
   */
  runLease?: { namespace: string; identity: string };
}

export interface OnDemandKeep {
  ttlMs?: number;
  pin?: boolean;
}

/** Velero's default backup TTL: on-demand points without --ttl or --pin are kept 30 days. */
export const DEFAULT_ON_DEMAND_TTL_MS = 720 * 3600_000;

export interface BackupRunOutcome {
  run: RunRecord;
  restorePoint?: RestorePoint;
  commit: CommitResult;
  result?: NamespaceBackupResult;
}

/**
 * One backup of one (policy, namespace) pair, recorded in Git as exactly one commit: a Run always, a RestorePoint
 * only when the run succeeded. Anything that goes wrong — a missing Secret, a failing hook, a mover Job — ends as a
 * failed Run with the reason, never as a restore point that cannot be restored.
 */
export async function runBackup(input: BackupRunInput): Promise<BackupRunOutcome> {
  const now = input.now ?? (() => new Date());
  const start = now();
  const { plan, policy, namespace } = input;
  const rpName = restorePointName(policy.name, start);
  const id = makeRunId('backup', start, randomBytes(3).toString('hex'));
  const profile = plan.profiles.find((p) => p.name === policy.profile);
  let result: NamespaceBackupResult | undefined;
  let error: string | undefined;
  let repo: ProfileRepository | undefined;
  const runLog = new RunLog(now);
  const log = (m: string) => {
    runLog.add(m);
    input.log?.(m);
  };
  const cancel = input.running?.start({ run: id, type: 'backup', policy: policy.name, namespace, startTime: start.toISOString() });
  const signal = cancel && input.signal ? AbortSignal.any([input.signal, cancel]) : (cancel ?? input.signal);
  input.onStart?.(id);
  const progress = input.onProgress ? new ProgressTracker(input.onProgress).update : undefined;
  try {
    if (!profile) throw new Error(`policy ${policy.name} names profile ${policy.profile}, which the plan does not contain`);
    if (policy.actions.export.enabled) repo = await input.repository(profile.name);
    const move = () =>
      backupNamespace({
        client: input.client,
        cluster: plan.config.cluster,
        namespace,
        policy,
        blueprints: plan.blueprints,
        restorePointId: rpName,
        runId: id,
        ...(repo ? { repository: { repo: repo.repo, mover: repo.mover } } : {}),
        ...(input.moverImage ? { moverImage: input.moverImage } : {}),
        ...(input.discovery ? { discovery: input.discovery } : {}),
        ...(signal ? { signal } : {}),
        ...(progress ? { progress } : {}),
        log,
        now,
      });
    result = input.runLease ? await withRunLease({ client: input.client, namespace: input.runLease.namespace, run: id, identity: input.runLease.identity }, move) : await move();
    if (result.phase !== 'Succeeded') error = result.errors.join('; ') || 'backup failed';
  } catch (e) {
    error = (e as Error).message;
  } finally {
    input.running?.end(id);
  }
  const end = now();
  const ok = !error && result?.phase === 'Succeeded';
  // A run that finished before the cancel reached it keeps its restore point; one that was stopped says who stopped it.
  const cancelled = ok ? undefined : cancelledBy(signal);
  if (cancelled) error = `${cancelled.message}${error && !error.includes(cancelled.message) ? `; ${error}` : ''}`;
  const run: RunRecord = {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Run',
    metadata: { name: id },
    spec: {
      type: 'backup',
      cluster: plan.config.cluster,
      namespace,
      policy: policy.name,
      trigger: input.trigger,
      ...(input.slot ? { scheduledFor: input.slot.toISOString() } : {}),
      ...(plan.sourceCommit ? { sourceCommit: plan.sourceCommit } : {}),
      planHash: plan.hash,
    },
    status: {
      phase: ok ? 'Succeeded' : cancelled ? 'Cancelled' : 'Failed',
      startTime: start.toISOString(),
      endTime: end.toISOString(),
      ...(runLog.lines.length ? { log: runLog.lines } : {}),
      ...(ok ? { restorePoint: rpName } : {}),
      volumes: result?.volumes.length ?? 0,
      bytes: result?.stats.bytesRead ?? 0,
      ...(error ? { error } : {}),
    },
  };
  const restorePoint = ok && result && profile ? toRestorePoint(input, rpName, result, profile.name, profile.location, repo) : undefined;
  progress?.({ phase: 'commit' });
  const commit = await input.catalog.recordBackup(run, restorePoint, backupMessage(run, restorePoint));
  return { run, ...(restorePoint ? { restorePoint } : {}), commit, ...(result ? { result } : {}) };
}

function toRestorePoint(input: BackupRunInput, name: string, r: NamespaceBackupResult, profile: string, location: string, repo?: ProfileRepository): RestorePoint {
  const { plan, policy, namespace } = input;
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'RestorePoint',
    metadata: { name, labels: { 'coffer.dev/policy': policy.name, 'coffer.dev/namespace': namespace } },
    spec: {
      cluster: plan.config.cluster,
      namespace,
      policy: policy.name,
      planHash: plan.hash,
      sourceCommit: plan.sourceCommit,
      trigger: input.trigger === 'poll' ? 'schedule' : input.trigger,
      ...(input.trigger === 'manual' ? onDemandKeep(input.keep, r.startTime) : {}),
      startTime: r.startTime,
      endTime: r.endTime,
      phase: 'Succeeded',
      repository: {
        profile,
        location,
        ...(repo ? { id: repo.repo.config.id } : {}),
        ...(r.manifestSnapshot ? { manifestSnapshot: r.manifestSnapshot } : {}),
      },
      resources: r.resources,
      volumes: r.volumes.map((v) => ({ ...v })),
      ...(Object.keys(r.artifacts).length ? { artifacts: r.artifacts } : {}),
      ...(r.hooks.length ? { hooks: r.hooks } : {}),
      stats: r.stats,
    },
  };
}

/** An on-demand point is pinned, or expires its TTL after it started; never both, and never a GFS slot. */
export function onDemandKeep(keep: OnDemandKeep | undefined, start: string): { pinned: true } | { expires: string } {
  if (keep?.pin) return { pinned: true };
  return { expires: new Date(Date.parse(start) + (keep?.ttlMs ?? DEFAULT_ON_DEMAND_TTL_MS)).toISOString() };
}
