import { validateKind } from '../../compiler/index.ts';
import type { Plan, PlanPolicy } from '../../compiler/plan/types.ts';
import { DEFAULT_VERIFY_TIMEOUT } from '../../compiler/plan/defaults.ts';
import { parseDuration } from '../blueprint/functions/Wait.ts';
import { runId, type Catalog, type CommitResult } from '../catalog/index.ts';
import { CatalogValidationError } from '../catalog/validate.ts';
import { documentText } from '../catalog/document.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import { restoreIntoScratch } from '../restore/drill.ts';
import { pairKey, verificationsDue, type VerifyPair } from './due.ts';
import { buildVerificationResult, verificationPath, verificationRun, type HookRecord, type VerificationResultDoc, type VerificationTrigger } from './result.ts';
import { latestVerifications } from './store.ts';

export interface VerifyContext {
  source: GitSource;
  client: KubeClient;
  plan: Plan;
  catalog: Catalog;
  now: () => Date;
  moverImage?: string;
  cofferNamespace?: string;
  env?: NodeJS.ProcessEnv;
  /** A workstation's verification (`coffer dr verify`): hold a run Lease so a controller's sweep keeps its movers. */
  runLease?: { identity: string };
  /** Aborts a verification in flight (shutdown, lease lost); the scratch namespace is still deleted. */
  signal?: AbortSignal;
  log?: (message: string) => void;
}

export interface VerificationOutcome {
  doc: VerificationResultDoc;
  commit: CommitResult & { path: string };
}

/** What one verification runs: its trigger, the slot it serves (scheduled), and a chosen restore point (manual). */
export interface VerificationOptions {
  trigger: VerificationTrigger;
  slot?: Date;
  /** A restore point by name instead of the pair's latest successful one. */
  restorePoint?: string;
  /** Overrides spec.verify.timeout (a duration such as 45m), e.g. from `coffer dr verify --timeout`. */
  timeout?: string;
}

/**
 * One restore verification of a (policy, namespace): restore its latest restore point (or `opts.restorePoint`) into
 * a scratch namespace (the drill's code path), wait until it is ready, run the blueprints' integrity check (`validate`)
 * and the policy's checks (`verify`), delete the scratch namespace whatever happened, and commit the VerificationResult
 * together with its Run record in one commit. The policy's `verify.timeout` bounds everything before the cleanup; a
 * policy without `spec.verify` (a manual verification) gets the integrity check only, within the default timeout.
 */
export async function runVerification(ctx: VerifyContext, policy: Pick<PlanPolicy, 'name' | 'verify'>, namespace: string, opts: VerificationOptions): Promise<VerificationOutcome> {
  if (!policy.verify && opts.trigger === 'schedule') throw new TypeError(`policy ${policy.name} declares no spec.verify`);
  const checks = policy.verify?.checks ?? [];
  const timeout = opts.timeout ?? policy.verify?.timeout ?? DEFAULT_VERIFY_TIMEOUT;
  const timeoutMs = parseDuration(timeout);
  const deadline = new AbortController();
  const why = opts.timeout ? '--timeout' : policy.verify ? `spec.verify.timeout of policy ${policy.name}` : 'the default for a policy without spec.verify';
  const timer = setTimeout(() => deadline.abort(new Error(`verification timed out after ${timeout} (${why})`)), timeoutMs);
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, deadline.signal]) : deadline.signal;
  const t0 = performance.now();
  let s;
  try {
    s = await restoreIntoScratch({
      source: ctx.source,
      client: ctx.client,
      plan: ctx.plan,
      catalog: ctx.catalog,
      now: ctx.now,
      kind: 'verify',
      namespace,
      policy: policy.name,
      verify: checks,
      ...(opts.restorePoint ? { restorePoint: opts.restorePoint } : {}),
      waitTimeoutMs: timeoutMs,
      signal,
      ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
      ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
      ...(ctx.env ? { env: ctx.env } : {}),
      ...(ctx.log ? { log: ctx.log } : {}),
      ...(ctx.runLease ? { runLease: ctx.runLease } : {}),
    });
  } finally {
    clearTimeout(timer);
  }
  const spec = s.outcome?.result.spec;
  const doc = buildVerificationResult({
    name: runId('verify', s.start, s.suffix),
    cluster: ctx.plan.config.cluster,
    namespace,
    policy: policy.name,
    checks,
    trigger: opts.trigger,
    ...(opts.slot ? { slot: opts.slot } : {}),
    scratch: s.scratch,
    start: s.start,
    end: ctx.now(),
    ...(spec && s.outcome ? { restore: { name: s.outcome.result.metadata.name, restorePoint: spec.restorePoint, phase: spec.phase, hooks: (spec.hooks ?? []) as unknown as HookRecord[] } } : {}),
    restoreSeconds: s.restoreSeconds,
    durationSeconds: (performance.now() - t0) / 1000,
    scratchDeleted: s.scratchDeleted,
    errors: s.errors,
  });
  const problems = validateKind('VerificationResult', doc);
  if (problems.length) throw new CatalogValidationError(`VerificationResult ${doc.metadata.name}: ${problems.map((p) => `/${p.path.join('/')}: ${p.message}`).join('; ')}`);
  const path = verificationPath(doc.spec.cluster, namespace, policy.name, doc.metadata.name);
  const d = doc.spec;
  const message = `verify: ${namespace}/${policy.name}${d.restorePoint ? ` from ${d.restorePoint}` : ''} ${d.phase === 'Succeeded' ? 'ok' : 'failed'}${d.rtoSeconds !== undefined ? `, RTO ${d.rtoSeconds}s` : ''}\n\nVerification-Result: ${doc.metadata.name}\n`;
  const commit = await ctx.catalog.recordRun(verificationRun(doc, ctx.plan), message, { put: [{ path, content: documentText(doc) }] });
  return { doc, commit: { ...commit, path } };
}

/**
 * The reconcile's verification step: which pairs of policies with `spec.verify` are due (pure, `verificationsDue`),
 * then each due one in turn — one at a time, since each restores a whole copy of an application.
 */
export async function runDueVerifications(ctx: VerifyContext, selected: ReadonlyMap<string, readonly string[]>, onEnd?: (o: VerificationOutcome) => void): Promise<{ pairs: VerifyPair[]; outcomes: VerificationOutcome[]; errors: string[] }> {
  const policies = ctx.plan.policies.filter((p) => p.verify);
  if (!policies.length) return { pairs: [], outcomes: [], errors: [] };
  const restorable = new Set<string>();
  for (const p of policies) {
    for (const rp of (await ctx.catalog.listRestorePoints({ policy: p.name })).items) {
      if (rp.phase === 'Succeeded' || rp.phase === 'PartiallyFailed') restorable.add(pairKey(rp.policy, rp.namespace));
    }
  }
  const pairs = verificationsDue({ plan: ctx.plan, selected, restorable, last: await latestVerifications(ctx.catalog), now: ctx.now() });
  const outcomes: VerificationOutcome[] = [];
  const errors: string[] = [];
  for (const pair of pairs.filter((p) => p.due)) {
    if (ctx.signal?.aborted) break;
    const policy = policies.find((p) => p.name === pair.policy)!;
    try {
      const o = await runVerification(ctx, policy, pair.namespace, { trigger: 'schedule', ...(pair.slot ? { slot: pair.slot } : {}) });
      outcomes.push(o);
      onEnd?.(o);
    } catch (e) {
      errors.push(`verify ${pair.namespace}/${pair.policy}: ${(e as Error).message}`);
    }
  }
  return { pairs, outcomes, errors };
}
