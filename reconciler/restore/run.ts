import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { CompileFailed, compileFromGit, hasErrors, validateKind, type Plan, type PlanTransformSet } from '../../compiler/index.ts';
import type { PlanVerifyCheck } from '../../compiler/plan/types.ts';
import { openCatalog, runId as makeRunId, type Catalog, type CommitResult, type Identity, type RestorePoint } from '../catalog/index.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import { DEFAULT_COFFER_NAMESPACE, openProfileRepository } from '../profile-repository.ts';
import { withRunLease } from '../volumes/run-lease.ts';
import { cancelledBy } from '../run-cancel.ts';
import { RunLog } from '../run-log.ts';
import { openBundle } from './bundle.ts';
import { RestoreError } from './errors.ts';
import { executeRestore, type ExecuteResult, type ExistingPolicy } from './execute.ts';
import { planRestoreStream, type RestorePlan } from './plan.ts';
import { buildRestoreResult, recordRestore, type RestoreResultDoc } from './result.ts';
import { selectRestorePoint, type RestorePointQuery } from './select.ts';
import { compileTransformSets } from './transforms.ts';

export interface RestoreRequest {
  /** The policy repository: plan (profiles, blueprints, TransformSets) and the catalog branch. */
  source: GitSource;
  /** The target cluster. */
  client: KubeClient;
  restorePoint: RestorePointQuery;
  /** Cluster whose catalog holds the restore point (default: the repo's coffer.yaml cluster). */
  sourceCluster?: string;
  /** Name of the target cluster: where the result is recorded (default: the repo's cluster). */
  targetCluster?: string;
  namespaceMapping?: Record<string, string>;
  include?: string;
  exclude?: string;
  /** TransformSet names from the plan, or paths of TransformSet YAML files. */
  transforms?: string[];
  existing?: ExistingPolicy;
  dryRun?: boolean;
  wait?: boolean;
  waitTimeoutMs?: number;
  /** Run the policy's blueprint `restore` actions (default true). */
  hooks?: boolean;
  /** Run the blueprints' `validate` actions after everything is restored (drills). */
  validate?: boolean;
  /** Then answer these policy checks with the blueprints' `verify` actions (restore verification). */
  verify?: readonly PlanVerifyCheck[];
  /** Restore volume data (default true). */
  volumes?: boolean;
  moverImage?: string;
  moverTimeoutMs?: number;
  cofferNamespace?: string;
  /** Name of the declarative Restore request this serves. */
  restoreName?: string;
  /** The restore run's name (default: a new run id), known before it starts so `coffer cancel RUN` can name it. */
  runName?: string;
  /** Name of the RestoreResult document (default: the restore run id). */
  resultName?: string;
  /**
   * Hold a run Lease as this identity while restoring (`coffer restore` from a workstation, which does not hold the
   * reconciler Lease), so a controller's start-up sweep keeps its restore movers (volumes/run-lease.ts).
   */
  runLease?: { identity: string };
  trigger?: 'manual' | 'schedule' | 'drill' | 'verify';
  /** An already compiled plan and open catalog (the reconciler's), instead of compiling the source's tip. */
  plan?: Plan;
  catalog?: Catalog;
  author?: Identity;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  now?: () => Date;
  signal?: AbortSignal;
  log?: (m: string) => void;
}

export interface RestoreOutcome {
  restorePoint: RestorePoint;
  plan: RestorePlan;
  execution: ExecuteResult;
  result: RestoreResultDoc;
  /** Absent for dry runs (nothing is recorded). */
  commit?: CommitResult & { path: string };
}

/** Loads TransformSets named in the plan or given as files (validated against the schema, CEL type-checked). */
export async function resolveTransformSets(plan: Plan, refs: readonly string[], cwd = process.cwd()): Promise<PlanTransformSet[]> {
  const out: PlanTransformSet[] = [];
  for (const ref of refs) {
    const named = plan.transformSets.find((t) => t.name === ref);
    if (named) {
      out.push(named);
      continue;
    }
    if (!/[/\\]|\.ya?ml$/.test(ref)) throw new RestoreError('E_RESTORE_TRANSFORM', `--transform ${ref}: no TransformSet of that name in the plan (have: ${plan.transformSets.map((t) => t.name).join(', ') || 'none'}) and not a file path`);
    let text: string;
    try {
      text = await readFile(new URL(ref, `file://${cwd.replace(/\/?$/, '/')}`), 'utf8');
    } catch (e) {
      throw new RestoreError('E_RESTORE_TRANSFORM', `--transform ${ref}: ${(e as Error).message}`);
    }
    const doc = parse(text) as { kind?: string; metadata?: { name?: string }; spec?: { description?: string; transforms?: { name: string; condition: string; patch: PlanTransformSet['transforms'][number]['patch'] }[] } };
    const problems = validateKind('TransformSet', doc);
    if (problems.length) throw new RestoreError('E_RESTORE_TRANSFORM', `${ref}: ${problems.map((p) => `/${p.path.join('/')}: ${p.message}`).join('; ')}`);
    out.push({
      name: doc.metadata!.name!,
      ...(doc.spec!.description ? { description: doc.spec!.description } : {}),
      transforms: doc.spec!.transforms!.map((t) => ({ name: t.name, condition: { source: t.condition, env: 'transform' as never }, patch: t.patch })),
    });
  }
  return out;
}

/**
 * A whole restore: compile the plan at the policy branch tip, pick the restore point from the catalog, read its
 * manifest bundle from the profile's repository, plan, execute against the target cluster and commit the
 * RestoreResult (with a restore Run) to the catalog branch. Everything needed comes from the Git repository and the
 * repository the profile names — which is what makes restoring into a fresh cluster possible.
 */
export async function runRestore(req: RestoreRequest): Promise<RestoreOutcome> {
  const now = req.now ?? (() => new Date());
  const start = now();
  // Kept with the restore's Run record (coffer logs, describe restore), and handed to a failure for its caller to keep.
  const runLog = new RunLog(now);
  const log = (m: string) => {
    runLog.add(m);
    req.log?.(m);
  };
  try {
    return await restoreWithLog(req, start, now, log, runLog);
  } catch (e) {
    if (e instanceof Error) Object.assign(e, { runLog: runLog.lines });
    throw e;
  }
}

/** The log lines of a failed runRestore, for callers that record the failure (declared restores). */
export function runLogOf(e: unknown): string[] {
  const lines = (e as { runLog?: unknown })?.runLog;
  return Array.isArray(lines) ? (lines as string[]) : [];
}

async function restoreWithLog(req: RestoreRequest, start: Date, now: () => Date, log: (m: string) => void, runLog: RunLog): Promise<RestoreOutcome> {
  const plan = req.plan ?? (await compileTip(req.source));
  const targetCluster = req.targetCluster ?? plan.config.cluster;
  const catalog = req.catalog ?? openCatalog({ source: req.source, cluster: targetCluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path, ...(req.author ? { author: req.author } : {}), clock: now });
  const points = await catalog.readRestorePoints({ cluster: req.sourceCluster ?? plan.config.cluster, ...(req.restorePoint.namespace ? { namespace: req.restorePoint.namespace } : {}), ...(req.restorePoint.policy ? { policy: req.restorePoint.policy } : {}) });
  const rp = selectRestorePoint(points, req.restorePoint).doc;
  if (!rp.spec.repository.manifestSnapshot) throw new RestoreError('E_RESTORE_POINT', `restore point ${rp.metadata.name} has no manifest snapshot (its policy does not export); nothing to restore from the repository`);
  const profile = plan.profiles.find((p) => p.name === rp.spec.repository.profile);
  if (!profile) throw new RestoreError('E_RESTORE_POINT', `restore point ${rp.metadata.name} is stored with profile "${rp.spec.repository.profile}", which the policy repository no longer defines`);
  const transformSets = await resolveTransformSets(plan, req.transforms ?? [], req.cwd);
  const compiledSets = compileTransformSets(transformSets);

  const repo = await openProfileRepository(req.client, profile, { ...(req.cofferNamespace ? { cofferNamespace: req.cofferNamespace } : {}), ...(req.env ? { env: req.env } : {}) });
  let closeBundle = async (): Promise<void> => undefined;
  try {
    if (rp.spec.repository.id && repo.repo.config.id !== rp.spec.repository.id) {
      throw new RestoreError('E_RESTORE_DATA', `profile "${profile.name}" now points at repository ${repo.repo.config.id.slice(0, 12)}, but restore point ${rp.metadata.name} was written to ${rp.spec.repository.id.slice(0, 12)}`);
    }
    log(`reading manifests of ${rp.metadata.name} (snapshot ${rp.spec.repository.manifestSnapshot.slice(0, 12)})`);
    const bundle = await openBundle(repo.repo, rp.spec.repository.manifestSnapshot);
    closeBundle = () => bundle.close();
    log(`unpacked ${bundle.files.length} manifest file(s)`);
    const restorePlan = await planRestoreStream(rp, bundle, {
      ...(req.namespaceMapping ? { namespaceMapping: req.namespaceMapping } : {}),
      ...(req.include ? { include: req.include } : {}),
      ...(req.exclude ? { exclude: req.exclude } : {}),
      transforms: compiledSets,
      ...(req.volumes === false ? { volumes: false } : {}),
    });
    log(`restoring ${rp.metadata.name} (${restorePlan.sourceNamespace}) into namespace ${restorePlan.targetNamespace}: ${restorePlan.objects.length} object(s) in ${new Set(restorePlan.objects.map((p) => p.wave)).size} wave(s), ${restorePlan.skipped.length} skipped by the plan${req.dryRun ? ' (dry run)' : ''}`);
    const policy = plan.policies.find((p) => p.name === rp.spec.policy);
    const runName = req.runName ?? makeRunId('restore', start, randomBytes(3).toString('hex'));
    const execute = () =>
      executeRestore({
        client: req.client,
        plan: restorePlan,
        restorePoint: rp,
        repository: { repo: repo.repo, mover: repo.mover },
        existing: req.existing ?? 'skip',
        ...(req.dryRun ? { dryRun: true } : {}),
        ...(req.wait ? { wait: true } : {}),
        ...(req.waitTimeoutMs ? { waitTimeoutMs: req.waitTimeoutMs } : {}),
        sameCluster: targetCluster === rp.spec.cluster,
        ...(policy && req.hooks !== false ? { hooks: { policy, blueprints: plan.blueprints } } : {}),
        ...(req.validate ? { validate: true } : {}),
        ...(req.verify?.length ? { verify: req.verify } : {}),
        ...(req.moverImage ? { moverImage: req.moverImage } : {}),
        ...(req.moverTimeoutMs ? { moverTimeoutMs: req.moverTimeoutMs } : {}),
        runId: runName,
        ...(req.signal ? { signal: req.signal } : {}),
        log,
      });
    const execution =
      req.runLease && !req.dryRun
        ? await withRunLease({ client: req.client, namespace: req.cofferNamespace ?? DEFAULT_COFFER_NAMESPACE, run: runName, identity: req.runLease.identity }, execute)
        : await execute();
    const result = buildRestoreResult({
      name: req.resultName ?? runName,
      ...(req.restoreName ? { restore: req.restoreName } : {}),
      restorePoint: rp,
      target: { cluster: targetCluster, namespace: restorePlan.targetNamespace },
      transforms: transformSets.map((t) => t.name),
      start,
      end: now(),
      planned: execution,
      planSkipped: restorePlan.skipped,
    });
    // Cancelled while its last steps ran (hooks, health waits): what was restored is listed, the phase says why it stopped.
    const cancelled = cancelledBy(req.signal);
    if (cancelled) Object.assign(result.spec, { phase: 'Cancelled', errors: [cancelled.message, ...(result.spec.errors ?? [])] });
    const sum = result.spec.summary;
    log(`${req.dryRun ? 'dry run, would be ' : ''}${result.spec.phase}: ${sum.created} created, ${sum.updated} updated, ${sum.skipped} skipped, ${sum.failed} failed${result.spec.errors?.length ? `; ${result.spec.errors.length} error(s)` : ''}`);
    const commit = req.dryRun ? undefined : await recordRestore(catalog, result, runName, req.trigger ?? 'manual', runLog.lines);
    return { restorePoint: rp, plan: restorePlan, execution, result, ...(commit ? { commit } : {}) };
  } finally {
    await closeBundle().catch(() => undefined);
    await repo.close().catch(() => undefined);
  }
}

/** The plan at the policy branch tip (never a working copy), or the compile errors. */
export async function compileTip(source: GitSource): Promise<Plan> {
  const rev = await source.fetch();
  const compiled = await compileFromGit(rev.gitdir, rev.commit);
  if (!compiled.plan || hasErrors(compiled.diagnostics)) throw new CompileFailed(compiled.diagnostics);
  return compiled.plan;
}
