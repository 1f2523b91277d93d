import type { Plan, PlanPolicy } from '../../compiler/plan/types.ts';
import { selectRetained } from '../../compiler/retention/index.ts';
import { isOnDemand, retentionOutcome, type PointFacts } from '../catalog/retention.ts';
import type { LastRun, RunRecord } from '../catalog/types.ts';
import type { VerificationResultDoc } from '../verify/result.ts';
import type { ComplianceReport, ComplianceResult, ComplianceSummary, ResultStatus, Rule, Severity } from './types.ts';

/** The fields of a run record the rules read: `complianceRuns` keeps just these of the 100,000s of runs it reads. */
export interface ComplianceRun {
  metadata: Pick<RunRecord['metadata'], 'name'>;
  spec: Pick<RunRecord['spec'], 'type' | 'namespace' | 'policy' | 'trigger'>;
  status: Pick<RunRecord['status'], 'phase' | 'startTime' | 'restorePoint' | 'error'>;
}

export interface ComplianceInput {
  plan: Pick<Plan, 'hash' | 'sourceCommit' | 'policies'> & { config: Pick<Plan['config'], 'cluster'> };
  /** Policy name → namespaces its selector matches now (the protected apps). */
  selected: ReadonlyMap<string, readonly string[]>;
  /** This cluster's restore points at the catalog tip (documents, or the index's summaries through `factsOf`). */
  restorePoints: readonly PointFacts[];
  /** This cluster's run history (backup runs, and drill runs of any type). */
  runs: readonly ComplianceRun[];
  /** The catalog's latest-run pointers (they keep the last success time even after failures). */
  lastRuns: readonly LastRun[];
  /** The newest VerificationResult per (namespace, policy) (`latestVerifications`); verify runs come in `runs`. */
  verifications?: readonly { namespace: string; policy: string; doc: VerificationResultDoc }[];
  now: Date;
  /**
   * Slack on top of the schedule's longest gap before the RPO counts as missed: a backup takes time to run and the
   * loop may wake a little late. Default: 10% of the gap, at least 5 minutes, at most 1 hour.
   */
  graceSeconds?: (maxIntervalSeconds: number) => number;
}

const defaultGrace = (max: number) => Math.min(3600, Math.max(300, max / 10));

/**
 * Evaluates every protected (policy, namespace) pair against the compliance rules — RPO met, last backup succeeded,
 * retention honoured, last DR drill passed, restore verified (policies with spec.verify) — into an OpenReports-shaped report. Pure: the catalog's contents and the
 * clock are passed in, so the same inputs always give the same report.
 */
export function evaluateCompliance(input: ComplianceInput): ComplianceReport {
  const results: ComplianceResult[] = [];
  const grace = input.graceSeconds ?? defaultGrace;
  // Grouped once: a fleet has 100,000 restore points and hundreds of pairs; filtering per pair would be quadratic.
  const pointsOf = groupBy(input.restorePoints, (r) => `${r.spec.policy}\u0000${r.spec.namespace}`);
  // A pair's runs are its own and its namespace's drills (of any policy), in input order: without a drill in the
  // namespace that is the pair's own group; the namespace's runs are filtered only where a drill is among them.
  const pairRunsOf = groupBy(input.runs, (r) => (r.spec.policy === undefined ? '' : `${r.spec.policy}\u0000${r.spec.namespace ?? ''}`));
  const drilled = new Set(input.runs.filter((r) => r.spec.trigger === 'drill').map((r) => r.spec.namespace ?? ''));
  const runsOf = drilled.size ? groupBy(input.runs, (r) => r.spec.namespace ?? '') : new Map<string, ComplianceRun[]>();
  const lastOf = new Map<string, LastRun>();
  for (const l of input.lastRuns) if (!lastOf.has(`${l.policy}\u0000${l.namespace}`)) lastOf.set(`${l.policy}\u0000${l.namespace}`, l);
  const verificationOf = new Map((input.verifications ?? []).map((v) => [`${v.policy}\u0000${v.namespace}`, v.doc]));
  for (const policy of [...input.plan.policies].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const namespace of [...(input.selected.get(policy.name) ?? [])].sort()) {
      const ctx: PairContext = {
        policy,
        namespace,
        now: input.now,
        points: pointsOf.get(`${policy.name}\u0000${namespace}`) ?? [],
        runs: drilled.has(namespace) ? (runsOf.get(namespace) ?? []).filter((r) => r.spec.policy === policy.name || r.spec.trigger === 'drill') : (pairRunsOf.get(`${policy.name}\u0000${namespace}`) ?? []),
        last: lastOf.get(`${policy.name}\u0000${namespace}`),
        grace: grace(policy.schedule.maxIntervalSeconds),
        verification: verificationOf.get(`${policy.name}\u0000${namespace}`),
        verifyGrace: policy.verify ? grace(policy.verify.schedule.maxIntervalSeconds) : 0,
      };
      if (policy.paused) {
        for (const rule of ['rpo', 'last-backup-succeeded', 'retention', 'dr-drill', ...(policy.verify ? (['last-verified'] as const) : [])] as const) {
          results.push(result(ctx, rule, 'skip', undefined, `policy ${policy.name} is paused`, {}));
        }
        continue;
      }
      results.push(rpoRule(ctx), lastBackupRule(ctx), retentionRule(ctx), drillRule(ctx));
      if (policy.verify) results.push(verifiedRule(ctx));
    }
  }
  results.sort(byPair);
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'ComplianceReport',
    metadata: { name: `compliance-${input.plan.config.cluster}`, labels: { 'coffer.dev/cluster': input.plan.config.cluster } },
    spec: {
      cluster: input.plan.config.cluster,
      generatedAt: input.now.toISOString().replace(/\.\d+Z$/, 'Z'),
      ...(input.plan.sourceCommit ? { sourceCommit: input.plan.sourceCommit } : {}),
      planHash: input.plan.hash,
      source: 'coffer',
      summary: summarize(results),
      results,
    },
  };
}

interface PairContext {
  policy: PlanPolicy;
  namespace: string;
  now: Date;
  points: readonly PointFacts[];
  runs: readonly ComplianceRun[];
  last: LastRun | undefined;
  grace: number;
  verification: VerificationResultDoc | undefined;
  verifyGrace: number;
}

function result(ctx: PairContext, rule: Rule, status: ResultStatus, severity: Severity | undefined, message: string, properties: Record<string, string>): ComplianceResult {
  return {
    source: 'coffer',
    policy: ctx.policy.name,
    rule,
    result: status,
    ...(severity ? { severity } : {}),
    category: 'Data Protection',
    message,
    scored: status !== 'skip',
    resources: [{ apiVersion: 'v1', kind: 'Namespace', name: ctx.namespace }],
    properties,
  };
}

/** Newest successful backup start: the latest-run pointer remembers it past failures; restore points are the fallback. */
function lastGood(ctx: PairContext): Date | undefined {
  let newest = ctx.last?.lastSuccessTime;
  const consider = (t: string) => {
    if (newest === undefined || t > newest) newest = t;
  };
  for (const p of ctx.points) if (p.spec.phase === 'Succeeded' || p.spec.phase === 'PartiallyFailed') consider(p.spec.startTime);
  for (const r of ctx.runs) if (r.spec.type === 'backup' && r.spec.policy === ctx.policy.name && (r.status.phase === 'Succeeded' || r.status.phase === 'PartiallyFailed')) consider(r.status.startTime);
  return newest ? new Date(newest) : undefined;
}

function rpoRule(ctx: PairContext): ComplianceResult {
  const rpo = ctx.policy.schedule.maxIntervalSeconds;
  const limit = rpo + ctx.grace;
  const props: Record<string, string> = { rpo: `${rpo}s`, grace: `${Math.round(ctx.grace)}s` };
  const good = lastGood(ctx);
  if (!good) return result(ctx, 'rpo', 'fail', 'high', `RPO missed (no successful backup yet; RPO ${ago(rpo)})`, props);
  const age = Math.max(0, (ctx.now.getTime() - good.getTime()) / 1000);
  props.lastSuccess = good.toISOString();
  if (age <= limit) return result(ctx, 'rpo', 'pass', undefined, `RPO met (last good ${ago(age)} ago, RPO ${ago(rpo)})`, props);
  return result(ctx, 'rpo', 'fail', age > 2 * limit ? 'critical' : 'high', `RPO missed (last good ${ago(age)} ago, RPO ${ago(rpo)})`, props);
}

function lastBackupRule(ctx: PairContext): ComplianceResult {
  const backups = ctx.runs.filter((r) => r.spec.type === 'backup' && r.spec.policy === ctx.policy.name);
  // The newest, first in input order among equals (what a stable sort newest-first puts first), in one pass.
  const newer = (a: ComplianceRun, b: ComplianceRun): number => b.status.startTime.localeCompare(a.status.startTime);
  const newest = backups.reduce<ComplianceRun | undefined>((m, r) => (m === undefined || newer(r, m) < 0 ? r : m), undefined);
  // The latest-run pointer is authoritative (the history may be read only partly); the run record adds the error.
  const last = ctx.last && (!newest || ctx.last.startTime >= newest.status.startTime)
    ? { name: ctx.last.run, phase: ctx.last.phase, start: ctx.last.startTime, error: backups.filter((r) => r.metadata.name === ctx.last!.run).sort(newer)[0]?.status.error }
    : newest && { name: newest.metadata.name, phase: newest.status.phase, start: newest.status.startTime, error: newest.status.error };
  if (!last) return result(ctx, 'last-backup-succeeded', 'skip', undefined, 'no backup has run yet', {});
  const props = { run: last.name, phase: last.phase, startTime: last.start };
  switch (last.phase) {
    case 'Succeeded':
      return result(ctx, 'last-backup-succeeded', 'pass', undefined, `last backup succeeded (${last.name})`, props);
    case 'PartiallyFailed':
      return result(ctx, 'last-backup-succeeded', 'warn', 'medium', `last backup partially failed (${last.name})${last.error ? `: ${firstLine(last.error)}` : ''}`, props);
    case 'Failed':
      return result(ctx, 'last-backup-succeeded', 'fail', 'high', `last backup failed (${last.name})${last.error ? `: ${firstLine(last.error)}` : ''}`, props);
    case 'Cancelled':
      return result(ctx, 'last-backup-succeeded', 'warn', 'medium', `last backup was cancelled (${last.name})${last.error ? `: ${firstLine(last.error)}` : ''}`, props);
    default:
      return result(ctx, 'last-backup-succeeded', 'skip', undefined, `last backup is still ${last.phase} (${last.name})`, props);
  }
}

/**
 * Retention is honoured when the catalog holds exactly what GFS says: nothing it should have expired (over-retention
 * is a compliance problem too), and every point it should keep — the expectation is GFS applied to the append-only
 * run history, so a restore point lost or deleted by hand shows up as missing.
 */
function retentionRule(ctx: PairContext): ComplianceResult {
  const entries = ctx.points.map((doc) => ({ path: '', doc }));
  const outcome = retentionOutcome(ctx.policy, entries, ctx.now)[0];
  // On-demand points are outside GFS (kept until their expiry or pinned): neither expected by GFS nor missing from it.
  const onDemand = ctx.points.filter(isOnDemand);
  const held = new Set(ctx.points.filter((p) => !isOnDemand(p)).map((p) => p.metadata.name));
  const made = ctx.runs.filter((r) => r.spec.type === 'backup' && r.spec.trigger !== 'manual' && r.spec.policy === ctx.policy.name && r.status.phase === 'Succeeded' && r.status.restorePoint);
  const expected = selectRetained(
    made.map((r) => ({ id: r.status.restorePoint!, time: new Date(r.status.startTime), ok: true })),
    ctx.policy.retention,
    ctx.policy.schedule.timezone,
  ).keep.map((k) => k.id);
  const missing = expected.filter((n) => !held.has(n));
  const overdue = outcome?.expire.map((d) => d.metadata.name) ?? [];
  const expiries = onDemand.map((p) => (p.spec.pinned ? 'pinned' : (p.spec.expires ?? 'kept'))).sort();
  const props = { held: String(held.size), expected: String(expected.length), ...(onDemand.length ? { onDemand: String(onDemand.length), onDemandExpiry: expiries.join(',') } : {}) };
  const extra = onDemand.length ? `; ${onDemand.length} on-demand outside GFS (${expiries.map((e) => (e === 'pinned' || e === 'kept' ? e : `until ${e}`)).join(', ')})` : '';
  if (missing.length) {
    return result(ctx, 'retention', 'fail', 'high', `retention not honoured: ${missing.length} of ${expected.length} restore points GFS keeps are missing (${list(missing)})`, { ...props, missing: missing.join(',') });
  }
  if (overdue.length) {
    return result(ctx, 'retention', 'fail', 'medium', `retention not honoured: ${overdue.length} restore point(s) past retention not expired yet (${list(overdue)})`, { ...props, overdue: overdue.join(',') });
  }
  return result(ctx, 'retention', 'pass', undefined, `retention honoured (${held.size} restore point${held.size === 1 ? '' : 's'} held, ${expected.length} expected${extra})`, props);
}

function drillRule(ctx: PairContext): ComplianceResult {
  const drill = ctx.runs.filter((r) => r.spec.trigger === 'drill' && r.status.phase !== 'Running' && r.status.phase !== 'Pending').sort((a, b) => b.status.startTime.localeCompare(a.status.startTime))[0];
  if (!drill) return result(ctx, 'dr-drill', 'skip', undefined, 'no DR drill recorded', {});
  const props = { run: drill.metadata.name, startTime: drill.status.startTime, phase: drill.status.phase };
  if (drill.status.phase === 'Succeeded') return result(ctx, 'dr-drill', 'pass', undefined, `DR drill passed (${drill.metadata.name}, ${ago((ctx.now.getTime() - Date.parse(drill.status.startTime)) / 1000)} ago)`, props);
  return result(ctx, 'dr-drill', 'fail', 'medium', `DR drill failed (${drill.metadata.name})${drill.status.error ? `: ${firstLine(drill.status.error)}` : ''}`, props);
}

/**
 * Restore verification (spec.verify): the newest verification must have succeeded, and the newest successful one must
 * be younger than the verify schedule's longest gap plus grace. Properties carry the newest verification (name,
 * phase, restore point, RTO), which the API and the dashboard show per application.
 */
function verifiedRule(ctx: PairContext): ComplianceResult {
  const v = ctx.policy.verify!;
  const limit = v.schedule.maxIntervalSeconds + ctx.verifyGrace;
  const doc = ctx.verification;
  const runs = ctx.runs.filter((r) => r.spec.type === 'verify' && r.spec.policy === ctx.policy.name).sort((a, b) => b.status.startTime.localeCompare(a.status.startTime));
  const okTimes = runs.filter((r) => r.status.phase === 'Succeeded').map((r) => r.status.startTime);
  if (doc?.spec.phase === 'Succeeded') okTimes.push(doc.spec.startTime);
  const lastOk = okTimes.sort().at(-1);
  const newest = doc && (!runs[0] || doc.spec.startTime >= runs[0].status.startTime) ? { name: doc.metadata.name, phase: doc.spec.phase, start: doc.spec.startTime, error: doc.spec.errors?.[0] } : runs[0] && { name: runs[0].metadata.name, phase: runs[0].status.phase, start: runs[0].status.startTime, error: runs[0].status.error };
  const props: Record<string, string> = { frequency: v.schedule.source, limit: `${Math.round(limit)}s` };
  if (newest) Object.assign(props, { verification: newest.name, phase: newest.phase, startTime: newest.start });
  if (doc && doc.metadata.name === newest?.name) {
    if (doc.spec.restorePoint) props.restorePoint = doc.spec.restorePoint;
    if (doc.spec.rtoSeconds !== undefined) props.rtoSeconds = String(doc.spec.rtoSeconds);
    if (doc.spec.checks?.length) props.checks = `${doc.spec.checks.filter((c) => c.result === 'Passed').length}/${doc.spec.checks.length}`;
  }
  if (lastOk) props.lastSuccess = lastOk;
  if (!newest) return result(ctx, 'last-verified', 'fail', 'medium', `not verified yet (verify ${v.schedule.source})`, props);
  if (newest.phase !== 'Succeeded') return result(ctx, 'last-verified', 'fail', 'high', `last restore verification failed (${newest.name})${newest.error ? `: ${firstLine(newest.error)}` : ''}`, props);
  const age = Math.max(0, (ctx.now.getTime() - Date.parse(lastOk!)) / 1000);
  if (age > limit) return result(ctx, 'last-verified', 'fail', 'medium', `last verified ${ago(age)} ago, longer than verify ${v.schedule.source} allows (${newest.name})`, props);
  return result(ctx, 'last-verified', 'pass', undefined, `restore verified ${ago(age)} ago (${newest.name}${props.rtoSeconds ? `, RTO ${props.rtoSeconds}s` : ''})`, props);
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

export function summarize(results: readonly ComplianceResult[]): ComplianceSummary {
  const s: ComplianceSummary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of results) s[r.result]++;
  return s;
}

const STATUS_RANK: Record<ResultStatus, number> = { fail: 0, error: 1, warn: 2, pass: 3, skip: 4 };
const SEVERITY_RANK: Record<Severity, number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
const RULE_RANK: Record<Rule, number> = { rpo: 0, 'last-backup-succeeded': 1, retention: 2, 'dr-drill': 3, 'last-verified': 4 };

export const namespaceOf = (r: ComplianceResult): string => r.resources[0]?.name ?? '';

function byPair(a: ComplianceResult, b: ComplianceResult): number {
  return namespaceOf(a).localeCompare(namespaceOf(b)) || a.policy.localeCompare(b.policy) || RULE_RANK[a.rule] - RULE_RANK[b.rule];
}

/** Worst first: failures before warnings before passes, then by severity, then by app. */
export function worstFirst(a: ComplianceResult, b: ComplianceResult): number {
  return STATUS_RANK[a.result] - STATUS_RANK[b.result] || SEVERITY_RANK[a.severity ?? 'info'] - SEVERITY_RANK[b.severity ?? 'info'] || byPair(a, b);
}

/** Minutes below an hour, "1h30m" below ten hours, "26h" below two days, then "3d". */
export function ago(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 36_000) {
    const m = Math.round(seconds / 60);
    return m % 60 ? `${Math.floor(m / 60)}h${m % 60}m` : `${m / 60}h`;
  }
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

function firstLine(s: string): string {
  const line = s.split('\n')[0]!;
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}

function list(names: readonly string[]): string {
  return names.length > 3 ? `${names.slice(0, 3).join(', ')}, …` : names.join(', ');
}
