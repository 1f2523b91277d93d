import type { Plan } from '../../compiler/plan/types.ts';
import { openCatalog } from '../catalog/index.ts';
import type { RestorePointSummary } from '../catalog/summary.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import { compileTip } from '../restore/run.ts';
import { runVerification, type VerificationOutcome, type VerifyContext } from './run.ts';

/** A manual verification that cannot start: what was asked does not name exactly one restorable (namespace, policy). */
export class VerifyRequestError extends Error {
  readonly code = 'E_VERIFY_REQUEST';
}

export interface ManualVerifyRequest extends Pick<VerifyContext, 'moverImage' | 'cofferNamespace' | 'env' | 'signal' | 'log' | 'runLease'> {
  source: GitSource;
  client: KubeClient;
  /** Required unless `restorePoint` names one (it knows its namespace). */
  namespace?: string;
  policy?: string;
  /** By name; default: the newest successful restore point of the pair. */
  restorePoint?: string;
  /** Overrides the policy's spec.verify.timeout. */
  timeout?: string;
  now?: () => Date;
}

/** Which (namespace, policy) and restore point a manual verification restores: pure, from the catalog's summaries. */
export function chooseVerifyTarget(points: readonly RestorePointSummary[], plan: Pick<Plan, 'policies'>, req: Pick<ManualVerifyRequest, 'namespace' | 'policy' | 'restorePoint'>): { namespace: string; policy: string; restorePoint?: string } {
  const where = `${req.namespace ? ` in namespace ${req.namespace}` : ''}${req.policy ? ` of policy ${req.policy}` : ''}`;
  const match = points.filter((p) => (!req.namespace || p.namespace === req.namespace) && (!req.policy || p.policy === req.policy));
  if (req.restorePoint) {
    const hit = match.filter((p) => p.name === req.restorePoint);
    if (!hit.length) throw new VerifyRequestError(`restore point "${req.restorePoint}" not found in the catalog${where} (see coffer get restorepoints)`);
    if (hit.length > 1) throw new VerifyRequestError(`restore point "${req.restorePoint}" exists in ${hit.map((h) => `${h.namespace}/${h.policy}`).join(', ')}; add --namespace or --policy`);
    return { namespace: hit[0]!.namespace, policy: hit[0]!.policy, restorePoint: hit[0]!.name };
  }
  if (!req.namespace) throw new VerifyRequestError('--namespace is required unless --restore-point names the restore point');
  const ok = match.filter((p) => p.phase === 'Succeeded');
  if (!ok.length) throw new VerifyRequestError(`no successful restore point${where} to verify (see coffer get restorepoints -n ${req.namespace})`);
  const policies = [...new Set(ok.map((p) => p.policy))].sort();
  if (policies.length === 1) return { namespace: req.namespace, policy: policies[0]! };
  // Several policies back the namespace up: the one that declares spec.verify is meant, if it is only one.
  const verifying = policies.filter((name) => plan.policies.some((p) => p.name === name && p.verify));
  if (verifying.length === 1) return { namespace: req.namespace, policy: verifying[0]! };
  throw new VerifyRequestError(`namespace ${req.namespace} has restore points of several policies (${policies.join(', ')}); add --policy`);
}

/**
 * `coffer dr verify`: one restore verification now, outside the verify schedule — the chosen (default newest
 * successful) restore point into a scratch namespace, integrity check and the policy's checks, scratch namespace
 * deleted, VerificationResult (trigger `manual`) and its Run committed. The same runner as scheduled verifications.
 */
export async function verifyNow(req: ManualVerifyRequest): Promise<VerificationOutcome> {
  const now = req.now ?? (() => new Date());
  const plan = await compileTip(req.source);
  const catalog = openCatalog({ source: req.source, cluster: plan.config.cluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path, clock: now });
  const points = (await catalog.listRestorePoints({ ...(req.namespace ? { namespace: req.namespace } : {}), ...(req.policy ? { policy: req.policy } : {}) })).items;
  const target = chooseVerifyTarget(points, plan, req);
  // A policy since removed from Git still has restore points: they are verified with the integrity check alone.
  const policy = plan.policies.find((p) => p.name === target.policy) ?? { name: target.policy };
  const ctx: VerifyContext = {
    source: req.source,
    client: req.client,
    plan,
    catalog,
    now,
    ...(req.moverImage ? { moverImage: req.moverImage } : {}),
    ...(req.cofferNamespace ? { cofferNamespace: req.cofferNamespace } : {}),
    ...(req.env ? { env: req.env } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
    ...(req.log ? { log: req.log } : {}),
    ...(req.runLease ? { runLease: req.runLease } : {}),
  };
  return runVerification(ctx, policy, target.namespace, { trigger: 'manual', ...(target.restorePoint ? { restorePoint: target.restorePoint } : {}), ...(req.timeout ? { timeout: req.timeout } : {}) });
}
