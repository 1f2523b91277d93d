import type { PlanVerifyCheck } from '../../compiler/plan/types.ts';
import type { RunRecord } from '../catalog/types.ts';
import { judgeAnswer } from './expect.ts';

/** What started a verification: its verify schedule, or `coffer dr verify`. */
export type VerificationTrigger = 'schedule' | 'manual';

/** A VerificationResult (`schemas/verificationresult.schema.json`): the evidence one restore verification leaves in Git. */
export interface VerificationResultDoc {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: 'VerificationResult';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    cluster: string;
    namespace: string;
    policy: string;
    restorePoint: string;
    restoreResult?: string;
    scratchNamespace: string;
    trigger: VerificationTrigger;
    scheduledFor?: string;
    startTime: string;
    endTime: string;
    rtoSeconds?: number;
    durationSeconds?: number;
    phase: 'Succeeded' | 'Failed';
    integrity?: { blueprint: string; workload?: string; result: 'Passed' | 'Failed'; output?: string }[];
    checks?: { name: string; blueprint: string; workload?: string; query: string; answer?: string; result: 'Passed' | 'Failed'; message: string }[];
    scratchDeleted: boolean;
    errors?: string[];
  };
}

/** A `hooks[]` record of the scratch restore's RestoreResult (see reconciler/blueprint/run.ts toHookRecords). */
export interface HookRecord {
  blueprint: string;
  action: string;
  phase: string;
  workload?: string;
  check?: string;
  phaseResult: string;
  startTime?: string;
  endTime?: string;
  output?: Record<string, string>;
  error?: string;
}

export interface VerificationFacts {
  name: string;
  cluster: string;
  namespace: string;
  policy: string;
  checks: readonly PlanVerifyCheck[];
  trigger: VerificationTrigger;
  slot?: Date;
  scratch: string;
  start: Date;
  end: Date;
  /** The scratch restore as recorded (absent when it failed before restoring anything). */
  restore?: { name: string; restorePoint: string; phase: string; hooks: readonly HookRecord[] };
  /** Restore start → it returned (ready, validated, checks answered), seconds. */
  restoreSeconds: number;
  durationSeconds: number;
  scratchDeleted: boolean;
  /** Problems of the restore and the cleanup, as reported by them. */
  errors: readonly string[];
}

/** Output keys that describe the exec rather than the engine's verdict. */
const NOISE = new Set(['pod', 'exitCode', 'integrity', 'result']);

/**
 * Turns what the scratch restore did into a VerificationResult: the validate actions become `integrity`, the verify
 * actions' answers are judged against the policy's expectations into `checks` (a check no workload answered fails:
 * a verification must never pass by not looking), and the RTO is the restore's time without the checks. Pure.
 */
export function buildVerificationResult(f: VerificationFacts): VerificationResultDoc {
  const hooks = f.restore?.hooks ?? [];
  const key = (h: HookRecord) => `${h.blueprint}\u0000${h.workload ?? ''}\u0000${h.check ?? ''}`;
  const groups = (action: string) => {
    const m = new Map<string, HookRecord[]>();
    for (const h of hooks.filter((x) => x.action === action)) m.set(key(h), [...(m.get(key(h)) ?? []), h]);
    return [...m.values()];
  };
  const integrity = groups('validate').map((g) => {
    const failed = g.find((h) => h.phaseResult === 'Failed');
    const said = g.flatMap((h) => Object.entries(h.output ?? {}).filter(([k]) => !NOISE.has(k)).map(([k, v]) => `${k}: ${v}`)).join('; ');
    const output = failed?.error ?? said;
    return { blueprint: g[0]!.blueprint, ...(g[0]!.workload ? { workload: g[0]!.workload } : {}), result: failed ? ('Failed' as const) : ('Passed' as const), ...(output ? { output } : {}) };
  });
  const checks: NonNullable<VerificationResultDoc['spec']['checks']> = [];
  for (const c of f.checks) {
    const answered = groups('verify').filter((g) => g[0]!.check === c.name);
    if (!answered.length) {
      const why = !f.restore ? 'the restore failed' : f.errors.length ? 'the restore or the integrity check failed first' : 'no bound blueprint with a verify action selected a restored workload';
      checks.push({ name: c.name, blueprint: c.blueprint ?? '', query: c.query, result: 'Failed', message: `not run: ${why}` });
      continue;
    }
    for (const g of answered) {
      const where = { name: c.name, blueprint: g[0]!.blueprint, ...(g[0]!.workload ? { workload: g[0]!.workload } : {}), query: c.query };
      const failed = g.find((h) => h.phaseResult === 'Failed');
      const answer = [...g].reverse().find((h) => h.output?.result !== undefined)?.output?.result;
      if (failed) checks.push({ ...where, result: 'Failed', message: `${c.query}: ${failed.error ?? 'the verify action failed'}` });
      else if (answer === undefined) checks.push({ ...where, result: 'Failed', message: `${c.query}: blueprint ${g[0]!.blueprint}'s verify action printed no coffer-output result=` });
      else checks.push({ ...where, answer, ...judgeAnswer(c.query, answer, c.expect) });
    }
  }
  const verifySeconds = hooks.filter((h) => h.action === 'verify' && h.startTime && h.endTime).reduce((s, h) => s + (Date.parse(h.endTime!) - Date.parse(h.startTime!)) / 1000, 0);
  const restored = f.restore !== undefined && integrity.every((i) => i.result === 'Passed') && !f.errors.some((e) => !e.startsWith('cleanup:') && !/ verify check /.test(e));
  const errors = [...f.errors, ...checks.filter((c) => c.result === 'Failed' && !c.message.startsWith('not run')).map((c) => `check ${c.name}${c.workload ? ` (${c.workload})` : ''}: ${c.message}`)];
  const ok = !errors.length && f.restore?.phase === 'Succeeded' && f.scratchDeleted && checks.every((c) => c.result === 'Passed') && integrity.every((i) => i.result === 'Passed');
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'VerificationResult',
    metadata: { name: f.name, labels: { 'coffer.dev/namespace': f.namespace, 'coffer.dev/policy': f.policy } },
    spec: {
      cluster: f.cluster,
      namespace: f.namespace,
      policy: f.policy,
      restorePoint: f.restore?.restorePoint ?? '',
      ...(f.restore ? { restoreResult: f.restore.name } : {}),
      scratchNamespace: f.scratch,
      trigger: f.trigger,
      ...(f.slot ? { scheduledFor: f.slot.toISOString() } : {}),
      startTime: f.start.toISOString(),
      endTime: f.end.toISOString(),
      ...(restored ? { rtoSeconds: Math.max(0, Math.round((f.restoreSeconds - verifySeconds) * 1000) / 1000) } : {}),
      durationSeconds: Math.round(f.durationSeconds * 1000) / 1000,
      phase: ok ? 'Succeeded' : 'Failed',
      ...(integrity.length ? { integrity } : {}),
      ...(checks.length ? { checks } : {}),
      scratchDeleted: f.scratchDeleted,
      ...(errors.length ? { errors } : {}),
    },
  };
}

/** Path of a VerificationResult on the catalog branch: beside drills/ and restores/, one directory per pair. */
export function verificationPath(cluster: string, namespace: string, policy: string, name: string): string {
  return `verifications/${cluster}/${namespace}/${policy}/${name}.yaml`;
}

/** The Run record filed with it, so run listings, the run index and the compliance report see verifications. */
export function verificationRun(doc: VerificationResultDoc, plan: { sourceCommit: string; hash: string }): RunRecord {
  const s = doc.spec;
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Run',
    metadata: { name: doc.metadata.name },
    spec: { type: 'verify', cluster: s.cluster, namespace: s.namespace, policy: s.policy, trigger: s.trigger, ...(s.scheduledFor ? { scheduledFor: s.scheduledFor } : {}), ...(plan.sourceCommit ? { sourceCommit: plan.sourceCommit } : {}), planHash: plan.hash },
    status: {
      phase: s.phase,
      startTime: s.startTime,
      endTime: s.endTime,
      ...(s.restorePoint ? { restorePoint: s.restorePoint } : {}),
      ...(s.errors?.length ? { error: s.errors.join('\n') } : {}),
    },
  };
}
