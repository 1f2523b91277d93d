/**
 * The evaluator: which check implementations apply to a (level, version), and
 * running them over a pod. Pure. The registry is validated once (unique ids,
 * levels, strictly increasing versions, overrides only from restricted onto
 * baseline), so a badly registered check fails at start-up, not on a pod.
 */
import { versionString } from './helpers.ts';
import type { Check, CheckPodFn, CheckResult, LevelVersion, PodMeta, PodSpec, Version } from './types.ts';

export class CheckRegistryError extends Error {
  readonly code = 'PODSECURITY_REGISTRY';
}

export interface Evaluator {
  /** Results of every applicable check, baseline ids (sorted) first, then restricted ids (sorted). */
  evaluatePod(lv: LevelVersion, meta: PodMeta, spec: PodSpec): CheckResult[];
  /** The newest policy version the evaluator knows (`latest` and newer versions evaluate as this). */
  readonly maxVersion: Version;
}

export function validateChecks(checks: readonly Check[]): void {
  const levels = new Map<string, string>();
  for (const c of checks) {
    if (levels.has(c.id)) throw new CheckRegistryError(`multiple checks registered for ID ${c.id}`);
    levels.set(c.id, c.level);
    if (c.level !== 'baseline' && c.level !== 'restricted') throw new CheckRegistryError(`check ${c.id}: invalid level ${String(c.level)}`);
    if (c.versions.length === 0) throw new CheckRegistryError(`check ${c.id}: empty`);
    let prev = -1;
    for (const v of c.versions) {
      if (v.minimumVersion.latest) throw new CheckRegistryError(`check ${c.id}: version cannot be 'latest'`);
      if (v.minimumVersion.minor === prev) throw new CheckRegistryError(`check ${c.id}: duplicate version ${versionString(v.minimumVersion)}`);
      if (v.minimumVersion.minor < prev) throw new CheckRegistryError(`check ${c.id}: versions must be strictly increasing`);
      prev = v.minimumVersion.minor;
    }
  }
  for (const c of checks)
    for (const v of c.versions)
      for (const o of v.overrideCheckIds ?? []) {
        if (c.level !== 'restricted') throw new CheckRegistryError(`check ${c.id}: only restricted checks may set overrides`);
        const lvl = levels.get(o);
        if (lvl && lvl !== 'baseline') throw new CheckRegistryError(`check ${c.id}: overrides ${lvl} check ${o}`);
      }
}

/** The implementation of `check` in force at `minor`, if the check exists yet. */
function implAt(check: Check, minor: number) {
  let found;
  for (const v of check.versions) if (v.minimumVersion.minor <= minor) found = v;
  return found;
}

/**
 * `emulationMinor` is the API server's own minor version: a 1.32 server evaluates
 * `latest` (and `v1.35`) with the checks a 1.32 server ships.
 */
export function newEvaluator(checks: readonly Check[], emulationMinor?: number): Evaluator {
  validateChecks(checks);
  let max = Math.max(...checks.map((c) => c.versions[c.versions.length - 1]!.minimumVersion.minor));
  if (emulationMinor !== undefined && emulationMinor < max) max = emulationMinor;
  const byId = (a: Check, b: Check) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const baseline = checks.filter((c) => c.level === 'baseline').sort(byId);
  const restricted = checks.filter((c) => c.level === 'restricted').sort(byId);
  const cache = new Map<string, CheckPodFn[]>();

  function fns(level: 'baseline' | 'restricted', minor: number): CheckPodFn[] {
    const key = `${level}:${minor}`;
    let out = cache.get(key);
    if (out) return out;
    const restrictedImpls = level === 'restricted' ? restricted.map((c) => implAt(c, minor)).filter((x) => x !== undefined) : [];
    const overridden = new Set(restrictedImpls.flatMap((v) => v.overrideCheckIds ?? []));
    out = [...baseline.filter((c) => !overridden.has(c.id)).map((c) => implAt(c, minor)).filter((x) => x !== undefined), ...restrictedImpls].map((v) => v.checkPod);
    cache.set(key, out);
    return out;
  }

  return {
    maxVersion: { minor: max },
    evaluatePod(lv, meta, spec) {
      if (lv.level === 'privileged') return [];
      const minor = Math.min(lv.version.minor, max);
      return fns(lv.level, minor).map((f) => f(meta, spec));
    },
  };
}

export interface AggregateResult {
  allowed: boolean;
  reasons: string[];
  details: string[];
}

export function aggregate(results: CheckResult[]): AggregateResult {
  const reasons: string[] = [];
  const details: string[] = [];
  for (const r of results) {
    if (r.allowed) continue;
    reasons.push(r.forbiddenReason || 'unknown forbidden reason');
    details.push(r.forbiddenDetail ?? '');
  }
  return { allowed: reasons.length === 0, reasons, details };
}

/** `reason (detail), reason (detail)` — the text after `violates PodSecurity "…": `. */
export function forbiddenDetail(a: AggregateResult): string {
  return a.reasons.map((r, i) => (a.details[i] ? `${r} (${a.details[i]})` : r)).join(', ');
}

/** `reason, reason` — what the namespace-label warning lists per existing pod. */
export function forbiddenReason(a: AggregateResult): string {
  return a.reasons.join(', ');
}
