import git from 'isomorphic-git';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Plan, PlanRestore } from '../../compiler/plan/types.ts';
import { runId as makeRunId, type Catalog } from '../catalog/index.ts';
import { blobAt } from '../git/tree.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import { cancelledBy, type RunningRuns } from '../run-cancel.ts';
import { recordRestore, restoreResultPath, type RestoreResultDoc } from './result.ts';
import { runLogOf, runRestore, type RestoreOutcome, type RestoreRequest } from './run.ts';
import { parseBefore } from './select.ts';

const str = (s: string) => JSON.stringify(s);

/** `Kind` or `Kind.group` (as in policies' excludeKinds) as a CEL test over `object`. */
function kindTest(k: string): string {
  const dot = k.indexOf('.');
  if (dot < 0) return `object.kind == ${str(k)}`;
  return `(object.kind == ${str(k.slice(0, dot))} && object.apiVersion.startsWith(${str(`${k.slice(dot + 1)}/`)}))`;
}

/**
 * What a `Restore` document asks for, as a restore request. Pure. Its `include` (kinds, `Kind/name`s and a CEL
 * expression) becomes one CEL `--include` (any of them selects), `excludeKinds` an `--exclude`, `resources: false`
 * restores only the PVCs (and their data).
 */
export function declaredRestoreRequest(r: PlanRestore): Pick<RestoreRequest, 'restorePoint' | 'sourceCluster' | 'targetCluster' | 'namespaceMapping' | 'include' | 'exclude' | 'transforms' | 'existing' | 'volumes' | 'hooks' | 'restoreName' | 'resultName'> {
  const any: string[] = [];
  for (const k of r.include?.kinds ?? []) any.push(kindTest(k));
  for (const n of r.include?.names ?? []) {
    const slash = n.indexOf('/');
    any.push(slash < 0 ? `object.metadata.name == ${str(n)}` : `(${kindTest(n.slice(0, slash))} && object.metadata.name == ${str(n.slice(slash + 1))})`);
  }
  if (r.include?.resources) any.push(`(${r.include.resources.source.trim()})`);
  let include = any.length ? any.join(' || ') : undefined;
  if (!r.resources) include = `object.kind == "PersistentVolumeClaim"${include ? ` && (${include})` : ''}`;
  const ref = r.source.restorePoint && r.source.restorePoint !== '' ? r.source.restorePoint : 'latest';
  return {
    restorePoint: { ref, namespace: r.source.namespace, policy: r.source.policy, ...(r.source.before ? { before: parseBefore(r.source.before) } : {}) },
    sourceCluster: r.source.cluster,
    targetCluster: r.target.cluster,
    ...(r.target.namespace !== r.source.namespace ? { namespaceMapping: { [r.source.namespace]: r.target.namespace } } : {}),
    ...(include ? { include } : {}),
    ...(r.excludeKinds.length ? { exclude: r.excludeKinds.map(kindTest).join(' || ') } : {}),
    transforms: r.transforms,
    existing: r.existingResourcePolicy,
    volumes: r.volumes,
    hooks: r.hooks,
    restoreName: r.name,
    resultName: r.name,
  };
}

/** Restore documents for this cluster whose result is not on the catalog branch yet: each runs exactly once. */
export async function pendingDeclaredRestores(plan: Plan, catalog: Catalog, source: GitSource): Promise<PlanRestore[]> {
  const mine = plan.restores.filter((r) => r.target.cluster === catalog.cluster);
  if (!mine.length) return [];
  const tip = await catalog.tip();
  if (!tip) return mine;
  const { commit } = await git.readCommit({ fs, gitdir: source.gitdir, oid: tip, cache: source.cache });
  const out: PlanRestore[] = [];
  for (const r of mine) if (!(await blobAt(source.gitdir, commit.tree, restoreResultPath(catalog.cluster, r.target.namespace, r.name)))) out.push(r);
  return out;
}

export interface DeclaredRestoreOutcome {
  restore: string;
  phase: string;
  outcome?: RestoreOutcome;
  error?: string;
}

/**
 * Runs the pending `Restore` documents of the plan, one after the other, and records each result — a request that
 * fails before anything is restored (no such restore point, a bad transform) is recorded as a Failed RestoreResult
 * too, so it is not retried forever and the reason is in Git. To run again, rename the document. Each one in flight
 * is registered in `running` under its run name: `coffer cancel RUN` stops it between objects or volumes (its
 * blueprints' `finally` phases still run, its movers are removed) and it is recorded Cancelled, not retried.
 */
export async function runDeclaredRestores(opts: { source: GitSource; client: KubeClient; plan: Plan; catalog: Catalog; running?: RunningRuns } & Partial<Pick<RestoreRequest, 'moverImage' | 'cofferNamespace' | 'env' | 'now' | 'signal' | 'log' | 'waitTimeoutMs'>>): Promise<DeclaredRestoreOutcome[]> {
  const now = opts.now ?? (() => new Date());
  const { running, ...common } = opts;
  const out: DeclaredRestoreOutcome[] = [];
  for (const r of await pendingDeclaredRestores(opts.plan, opts.catalog, opts.source)) {
    if (opts.signal?.aborted) break;
    const start = now();
    const runName = makeRunId('restore', start, randomBytes(3).toString('hex'));
    const cancel = running?.start({ run: runName, type: 'restore', policy: r.source.policy, namespace: r.target.namespace, startTime: start.toISOString() });
    const signal = cancel && opts.signal ? AbortSignal.any([opts.signal, cancel]) : (cancel ?? opts.signal);
    opts.log?.(`restoring ${r.name} into ${r.target.namespace} (run ${runName})`);
    try {
      const req = declaredRestoreRequest(r);
      const outcome = await runRestore({ ...common, ...req, runName, ...(signal ? { signal } : {}), wait: true, trigger: 'schedule' });
      out.push({ restore: r.name, phase: outcome.result.spec.phase, outcome });
    } catch (e) {
      const cancelled = cancelledBy(signal);
      const message = cancelled && e !== cancelled ? `${cancelled.message}; ${(e as Error).message}` : (e as Error).message;
      const phase = cancelled ? 'Cancelled' : 'Failed';
      const doc: RestoreResultDoc = {
        apiVersion: 'coffer.dev/v1alpha1',
        kind: 'RestoreResult',
        metadata: { name: r.name, labels: { 'coffer.dev/namespace': r.target.namespace } },
        spec: {
          restore: r.name,
          restorePoint: r.source.restorePoint || 'latest',
          source: { cluster: r.source.cluster, namespace: r.source.namespace, policy: r.source.policy },
          target: { cluster: r.target.cluster, namespace: r.target.namespace },
          startTime: start.toISOString(),
          endTime: now().toISOString(),
          durationSeconds: Math.max(0, (now().getTime() - start.getTime()) / 1000),
          phase,
          summary: { created: 0, updated: 0, skipped: 0, failed: 0 },
          resources: [],
          errors: [message],
        },
      };
      await recordRestore(opts.catalog, doc, runName, 'schedule', runLogOf(e));
      out.push({ restore: r.name, phase, error: message });
    } finally {
      running?.end(runName);
    }
  }
  return out;
}
