import type { LastRun, Phase, RestorePointSummary } from '../catalog/index.ts';
import type { ComplianceResult, ResultStatus } from '../report/types.ts';

/**
 * The dashboard's Applications view, computed server-side: one row per namespace — every live namespace of the
 * cluster, plus namespaces that only the catalog still remembers (deleted since, the ones a DR restore looks for) —
 * with its protection state. Pure: the live namespaces, the policies' selections, the catalog's per-directory facts,
 * the latest runs and the compliance results are passed in.
 */

/** One state word per application, the same everywhere the dashboard shows it. */
export type ProtectionState = 'Protected' | 'Failing' | 'NeverBackedUp' | 'Unprotected';
export const PROTECTION_STATES: readonly ProtectionState[] = ['Failing', 'NeverBackedUp', 'Unprotected', 'Protected'];

/** What the catalog holds for one (namespace, policy) directory: counted once per catalog commit. */
export interface DirFacts {
  namespace: string;
  policy: string;
  count: number;
  /** The newest Succeeded restore point of the directory. */
  latestGood?: Pick<RestorePointSummary, 'name' | 'startTime' | 'bytes' | 'phase'>;
}

export interface ApplicationPolicy {
  name: string;
  paused: boolean;
  /** False when the policy's selector no longer picks the namespace (its restore points remain). */
  selects: boolean;
  restorePoints: number;
  lastGood?: { name: string; startTime: string; bytes: number };
  lastRun?: { name: string; phase: Phase; startTime: string };
  rpo?: { result: ResultStatus; message: string };
  /** The newest restore verification (policies with `verify:` only) and the compliance verdict on it. */
  verification?: { name?: string; phase?: string; startTime?: string; result: ResultStatus; message: string };
}

export interface Application {
  namespace: string;
  /** The namespace exists in the cluster now. */
  live: boolean;
  state: ProtectionState;
  /** Why the state is what it is, in one sentence. */
  reason: string;
  policies: ApplicationPolicy[];
  restorePoints: number;
  /** The newest Succeeded restore point over every policy. */
  lastGood?: { name: string; policy: string; startTime: string; bytes: number };
  lastRun?: { name: string; policy: string; phase: Phase; startTime: string };
  /** Worst RPO result over the selecting policies (fail < warn < error < skip < pass); absent when none was evaluated. */
  rpo?: ResultStatus;
  /** The newest restore verification over the selecting policies and the worst verdict (absent: none verifies). */
  verified?: { result: ResultStatus; policy: string; name?: string; phase?: string; startTime?: string };
}

export interface ApplicationsInput {
  namespaces: readonly string[];
  policies: ReadonlyArray<{ name: string; paused: boolean }>;
  selected: ReadonlyMap<string, readonly string[]>;
  dirs: readonly DirFacts[];
  lastRuns: readonly LastRun[];
  compliance: readonly ComplianceResult[];
}

const RPO_RANK: Record<ResultStatus, number> = { fail: 0, error: 1, warn: 2, skip: 3, pass: 4 };

export function applications(input: ApplicationsInput): Application[] {
  const live = new Set(input.namespaces);
  const names = new Set<string>(input.namespaces);
  for (const d of input.dirs) names.add(d.namespace);
  const dirs = new Map(input.dirs.map((d) => [`${d.namespace}\u0000${d.policy}`, d]));
  const runs = new Map(input.lastRuns.map((r) => [`${r.namespace}\u0000${r.policy}`, r]));
  const byRule = (rule: string) => new Map<string, ComplianceResult>(input.compliance.filter((r) => r.rule === rule).flatMap((r) => r.resources.map((x): [string, ComplianceResult] => [`${x.name}\u0000${r.policy}`, r])));
  const rpo = byRule('rpo');
  const verified = byRule('last-verified');
  const selectedBy = new Map<string, Set<string>>();
  for (const [policy, nss] of input.selected) for (const ns of nss) selectedBy.set(ns, (selectedBy.get(ns) ?? new Set()).add(policy));

  const out: Application[] = [];
  for (const namespace of [...names].sort()) {
    const selecting = selectedBy.get(namespace) ?? new Set<string>();
    const policies: ApplicationPolicy[] = [];
    for (const p of input.policies) {
      const key: string = `${namespace}\u0000${p.name}`;
      const d = dirs.get(key);
      const r = runs.get(key);
      if (!selecting.has(p.name) && !d && !r) continue;
      const c = rpo.get(key);
      const v = verified.get(key);
      const vp = v?.properties as { verification?: string; phase?: string; startTime?: string } | undefined;
      policies.push({
        name: p.name,
        paused: p.paused,
        selects: selecting.has(p.name),
        restorePoints: d?.count ?? 0,
        ...(d?.latestGood ? { lastGood: { name: d.latestGood.name, startTime: d.latestGood.startTime, bytes: d.latestGood.bytes } } : {}),
        ...(r ? { lastRun: { name: r.run, phase: r.phase, startTime: r.startTime } } : {}),
        ...(c ? { rpo: { result: c.result, message: c.message } } : {}),
        ...(v ? { verification: { result: v.result, message: v.message, ...(vp?.verification ? { name: vp.verification } : {}), ...(vp?.phase ? { phase: vp.phase } : {}), ...(vp?.startTime ? { startTime: vp.startTime } : {}) } } : {}),
      });
    }
    // Directories of policies the plan no longer has still hold restore points of this namespace.
    for (const d of input.dirs) {
      if (d.namespace !== namespace || policies.some((p) => p.name === d.policy)) continue;
      policies.push({ name: d.policy, paused: false, selects: false, restorePoints: d.count, ...(d.latestGood ? { lastGood: { name: d.latestGood.name, startTime: d.latestGood.startTime, bytes: d.latestGood.bytes } } : {}) });
    }
    const lastGood = newest(policies.filter((p) => p.lastGood).map((p) => ({ ...p.lastGood!, policy: p.name })));
    const lastRun = newest(policies.filter((p) => p.lastRun).map((p) => ({ ...p.lastRun!, policy: p.name })));
    const active = policies.filter((p) => p.selects);
    const rpoResults = active.map((p) => p.rpo?.result).filter((x): x is ResultStatus => x !== undefined);
    const worstRpo = rpoResults.sort((a, b) => RPO_RANK[a] - RPO_RANK[b])[0];
    const worstVerified = active.filter((p) => p.verification).sort((a, b) => RPO_RANK[a.verification!.result] - RPO_RANK[b.verification!.result])[0];
    const failedRuns = active.filter((p) => p.lastRun?.phase === 'Failed');
    let state: ProtectionState;
    let reason: string;
    if (!active.length) {
      state = 'Unprotected';
      reason = policies.length ? `no policy selects it now; ${sum(policies)} restore point${sum(policies) === 1 ? '' : 's'} remain` : 'no policy selects it';
    } else if (failedRuns.length) {
      state = 'Failing';
      reason = `last backup failed: ${failedRuns.map((p) => p.name).join(', ')}`;
    } else if (!active.some((p) => p.lastGood)) {
      state = 'NeverBackedUp';
      reason = `selected by ${active.map((p) => p.name).join(', ')}; no restore point yet`;
    } else if (worstRpo === 'fail') {
      state = 'Failing';
      reason = `RPO missed: ${active.filter((p) => p.rpo?.result === 'fail').map((p) => p.name).join(', ')}`;
    } else {
      state = 'Protected';
      reason = `protected by ${active.map((p) => p.name).join(', ')}`;
    }
    out.push({
      namespace,
      live: live.has(namespace),
      state,
      reason,
      policies,
      restorePoints: sum(policies),
      ...(lastGood ? { lastGood } : {}),
      ...(lastRun ? { lastRun } : {}),
      ...(worstRpo ? { rpo: worstRpo } : {}),
      ...(worstVerified ? { verified: { result: worstVerified.verification!.result, policy: worstVerified.name, ...pick(worstVerified.verification!) } } : {}),
    });
  }
  return out;
}

function pick(v: NonNullable<ApplicationPolicy['verification']>): { name?: string; phase?: string; startTime?: string } {
  return { ...(v.name ? { name: v.name } : {}), ...(v.phase ? { phase: v.phase } : {}), ...(v.startTime ? { startTime: v.startTime } : {}) };
}

function sum(policies: ApplicationPolicy[]): number {
  return policies.reduce((n, p) => n + p.restorePoints, 0);
}

function newest<T extends { startTime: string }>(xs: T[]): T | undefined {
  return xs.reduce<T | undefined>((a, b) => (!a || b.startTime > a.startTime ? b : a), undefined);
}

export type ApplicationSort = 'namespace' | 'state' | 'lastGood' | 'size' | 'restorePoints';
export const APPLICATION_SORTS: readonly ApplicationSort[] = ['namespace', 'state', 'lastGood', 'size', 'restorePoints'];

export interface ApplicationQuery {
  /** Substring of the namespace or a policy name, case-insensitive. */
  q?: string;
  state?: ProtectionState;
  policy?: string;
  sort?: ApplicationSort;
  desc?: boolean;
  limit: number;
  /** Offset into the filtered, sorted list (the opaque `continue` of the API decodes to it). */
  offset?: number;
}

/** Filter, sort (namespace breaks ties, so pages are stable) and page; `total` counts the filtered rows. */
export function queryApplications(rows: readonly Application[], query: ApplicationQuery): { items: Application[]; total: number; next?: number; counts: Record<ProtectionState, number> } {
  const q = query.q?.toLowerCase();
  const matched = rows.filter((a) => !q || a.namespace.toLowerCase().includes(q) || a.policies.some((p) => p.name.toLowerCase().includes(q)));
  const counts = Object.fromEntries(PROTECTION_STATES.map((s) => [s, 0])) as Record<ProtectionState, number>;
  for (const a of matched) counts[a.state]++;
  const filtered = matched.filter((a) => (!query.state || a.state === query.state) && (!query.policy || a.policies.some((p) => p.name === query.policy)));
  const key = sortKey(query.sort ?? 'state');
  const dir = query.desc ? -1 : 1;
  const sorted = [...filtered].sort((a, b) => dir * compare(key(a), key(b)) || (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0));
  const offset = query.offset ?? 0;
  const items = sorted.slice(offset, offset + query.limit);
  return { items, total: filtered.length, counts, ...(offset + query.limit < sorted.length ? { next: offset + query.limit } : {}) };
}

function sortKey(sort: ApplicationSort): (a: Application) => string | number {
  switch (sort) {
    case 'namespace':
      return (a) => a.namespace;
    case 'state':
      return (a) => PROTECTION_STATES.indexOf(a.state);
    case 'lastGood':
      return (a) => a.lastGood?.startTime ?? '';
    case 'size':
      return (a) => a.lastGood?.bytes ?? -1;
    case 'restorePoints':
      return (a) => a.restorePoints;
  }
}

function compare(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
