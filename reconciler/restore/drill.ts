import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import type { Plan, PlanVerifyCheck } from '../../compiler/plan/types.ts';
import { openCatalog, runId as makeRunId, type Catalog, type CommitResult } from '../catalog/index.ts';
import { isNotFound } from '../kube/client.ts';
import type { KubeClient } from '../kube/client.ts';
import { waitFor } from '../kube/wait.ts';
import type { GitSource } from '../git/source.ts';
import { compileTip, runRestore, type RestoreOutcome, type RestoreRequest } from './run.ts';

/** The evidence a drill leaves in Git: which restore point was restored, whether it came up and validated, and the RTO. */
export interface DrillReport {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: 'DrillReport';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    cluster: string;
    namespace: string;
    policy: string;
    restorePoint: string;
    scratchNamespace: string;
    startTime: string;
    endTime: string;
    /** Restore start → every workload ready and validated: the recovery time measured. */
    rtoSeconds: number;
    phase: 'Succeeded' | 'Failed';
    resources: { created: number; updated: number; skipped: number; failed: number };
    volumes: { pvc: string; phase: string; bytesRestored?: number }[];
    hooks: Record<string, unknown>[];
    scratchDeleted: boolean;
    errors?: string[];
  };
}

export interface DrillRequest extends Pick<RestoreRequest, 'moverImage' | 'cofferNamespace' | 'env' | 'signal' | 'log' | 'waitTimeoutMs' | 'transforms' | 'runLease'> {
  source: GitSource;
  client: KubeClient;
  namespace: string;
  policy?: string;
  now?: () => Date;
}

/** Path of a drill report on the catalog branch. */
export function drillReportPath(cluster: string, namespace: string, name: string): string {
  return `drills/${cluster}/${namespace}/${name}.yaml`;
}

/** What `restoreIntoScratch` did: the restore (when it got that far), every problem met, and whether cleanup worked. */
export interface ScratchRestore {
  scratch: string;
  /** The random part of the names (scratch namespace, RestoreResult, the caller's report). */
  suffix: string;
  start: Date;
  outcome?: RestoreOutcome;
  /** Restore start → the restore returned (everything ready; validate and verify actions run): seconds. */
  restoreSeconds: number;
  errors: string[];
  scratchDeleted: boolean;
}

export interface ScratchRequest extends Omit<DrillRequest, 'now'> {
  plan: Plan;
  catalog: Catalog;
  now: () => Date;
  /** The scratch namespace is `<namespace>-<kind>-<random>` and the restore is recorded with this trigger. */
  kind: 'drill' | 'verify';
  /** Policy checks to answer with the blueprints' verify actions (restore verification). */
  verify?: readonly PlanVerifyCheck[];
  /** This restore point (by name) instead of the latest successful one of the namespace (and policy). */
  restorePoint?: string;
}

/**
 * The part drills and restore verification share: restore the latest (or the named) restore point of a namespace
 * into a fresh scratch namespace, wait until it is ready, run the blueprints' `validate` (and `verify`) actions, then
 * delete the scratch namespace and wait until it is gone — also when the restore failed or was aborted, so a failed
 * drill never leaves a copy of production data behind. Never throws for a failed restore: it is in `errors`.
 */
export async function restoreIntoScratch(req: ScratchRequest): Promise<ScratchRestore> {
  const suffix = randomBytes(3).toString('hex');
  const scratch = `${req.namespace.slice(0, 50)}-${req.kind}-${suffix}`;
  const start = req.now();
  const t0 = performance.now();
  let outcome: RestoreOutcome | undefined;
  const errors: string[] = [];
  try {
    outcome = await runRestore({
      ...req,
      restorePoint: { ref: req.restorePoint ?? 'latest', namespace: req.namespace, ...(req.policy ? { policy: req.policy } : {}) },
      namespaceMapping: { [req.namespace]: scratch },
      wait: true,
      validate: true,
      ...(req.verify?.length ? { verify: req.verify } : {}),
      trigger: req.kind,
      resultName: makeRunId(req.kind, start, suffix),
    });
    errors.push(...(outcome.result.spec.errors ?? []));
  } catch (e) {
    errors.push((e as Error).message);
  }
  const restoreSeconds = Math.round(performance.now() - t0) / 1000;
  let scratchDeleted = false;
  try {
    await req.client.delete('v1', 'namespaces', undefined, scratch).catch((e: unknown) => {
      // The restore may have failed before it created the namespace.
      if (!isNotFound(e)) throw e;
    });
    await waitFor(async () => ((await req.client.find('v1', 'namespaces', undefined, scratch)) ? undefined : true), { timeoutMs: req.waitTimeoutMs ?? 300_000, what: `scratch namespace ${scratch} to be deleted` });
    scratchDeleted = true;
  } catch (e) {
    errors.push(`cleanup: ${(e as Error).message}`);
  }
  return { scratch, suffix, start, ...(outcome ? { outcome } : {}), restoreSeconds, errors, scratchDeleted };
}

/**
 * A DR drill, as K10 runs them: restore the latest restore point of a namespace into a scratch namespace, wait until
 * everything is ready, run the blueprints' `validate` action, delete the scratch namespace, and commit a DrillReport
 * with the measured RTO. The restore itself is recorded like any restore (trigger `drill`).
 */
export async function runDrill(req: DrillRequest): Promise<{ report: DrillReport; outcome?: RestoreOutcome; commit: CommitResult & { path: string } }> {
  const now = req.now ?? (() => new Date());
  const plan = await compileTip(req.source);
  const catalog = openCatalog({ source: req.source, cluster: plan.config.cluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path, clock: now });
  const { scratch, suffix, start, outcome, restoreSeconds: rtoSeconds, errors, scratchDeleted } = await restoreIntoScratch({ ...req, plan, catalog, now, kind: 'drill' });
  const end = now();
  const spec = outcome?.result.spec;
  const ok = !errors.length && spec?.phase === 'Succeeded';
  const name = makeRunId('drill', start, suffix);
  const report: DrillReport = {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'DrillReport',
    metadata: { name, labels: { 'coffer.dev/namespace': req.namespace, ...(spec ? { 'coffer.dev/policy': spec.source.policy } : {}) } },
    spec: {
      cluster: plan.config.cluster,
      namespace: req.namespace,
      policy: spec?.source.policy ?? req.policy ?? '',
      restorePoint: spec?.restorePoint ?? '',
      scratchNamespace: scratch,
      startTime: start.toISOString(),
      endTime: end.toISOString(),
      rtoSeconds,
      phase: ok ? 'Succeeded' : 'Failed',
      resources: spec?.summary ?? { created: 0, updated: 0, skipped: 0, failed: 0 },
      volumes: (spec?.volumes ?? []).map((v) => ({ pvc: v.pvc, phase: v.phase, ...(v.bytesRestored !== undefined ? { bytesRestored: v.bytesRestored } : {}) })),
      hooks: spec?.hooks ?? [],
      scratchDeleted,
      ...(errors.length ? { errors } : {}),
    },
  };
  const path = drillReportPath(plan.config.cluster, req.namespace, name);
  const message = `drill: ${req.namespace}${spec ? `/${spec.restorePoint}` : ''} ${ok ? 'ok' : 'failed'}, RTO ${rtoSeconds}s\n\nDrill-Report: ${name}\n`;
  // The restore itself was recorded (RestoreResult + Run with trigger drill); the report is the drill's own evidence.
  const r = await catalog.commitChanges({ put: [{ path, content: stringify(report, { lineWidth: 0 }) }] }, message);
  return { report, ...(outcome ? { outcome } : {}), commit: { ...r, path } };
}
