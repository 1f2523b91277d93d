import { humanSeconds } from '../schedule/index.ts';
import type { Plan, PlanPolicy, PlanProfile, PlanRestore, PlanVerifyExpect } from '../plan/types.ts';
import type { DiffKind, EntryChange, FieldChange, PlanDiff, Risk } from './types.ts';

type Named = { name: string };

const EMPTY_PLAN: Omit<Plan, 'config'> & { config?: Plan['config'] } = {
  apiVersion: 'coffer.dev/v1alpha1',
  kind: 'Plan',
  sourceCommit: '',
  hash: '',
  policies: [],
  profiles: [],
  blueprints: [],
  transformSets: [],
  restores: [],
};

/** Fields derived from others (shown through their source) or not a decision of the author. */
const DERIVED_SCHEDULE = ['normalized', 'kind', 'nominalIntervalSeconds', 'maxIntervalSeconds'];
const IGNORED = new Set(['warnings', 'location', ...DERIVED_SCHEDULE.flatMap((f) => [`schedule.${f}`, `verify.schedule.${f}`])]);
/**
 * Objects shown field by field even when added or removed as a whole: a reviewer must read the verify frequency and
 * every check a policy gains or loses, not a truncated JSON cell.
 */
const EXPANDED = new Set(['verify']);

/**
 * Semantic difference between two plans: which entries were added, removed or
 * changed (field by field), and the risks a reviewer must see. `base` undefined
 * means "nothing before" (a first commit, or a base that does not compile).
 */
export function diffPlans(base: Plan | undefined, head: Plan): PlanDiff {
  const b = base ?? EMPTY_PLAN;
  const changes: EntryChange[] = [];
  const risks: Risk[] = [];
  if (b.config) {
    const fields = diffValues(b.config, head.config, '');
    if (fields.length) changes.push({ kind: 'Config', name: head.config.cluster, change: 'changed', fields });
    if (b.config.cluster !== head.config.cluster) {
      risks.push({ severity: 'high', code: 'cluster-renamed', kind: 'Config', name: head.config.cluster, message: `cluster renamed ${q(b.config.cluster)} → ${q(head.config.cluster)}: new restore points go to catalog/${head.config.cluster}/, retention no longer sees those under catalog/${b.config.cluster}/` });
    }
    if (b.config.catalog.branch !== head.config.catalog.branch || b.config.catalog.path !== head.config.catalog.path) {
      risks.push({ severity: 'medium', code: 'catalog-moved', kind: 'Config', name: head.config.cluster, message: `catalog moves from ${q(`${b.config.catalog.branch}:${b.config.catalog.path}`)} to ${q(`${head.config.catalog.branch}:${head.config.catalog.path}`)}: existing restore points are not moved` });
    }
  }
  const sections: [DiffKind, Named[], Named[]][] = [
    ['Policy', b.policies, head.policies],
    ['Profile', b.profiles, head.profiles],
    ['Blueprint', b.blueprints, head.blueprints],
    ['TransformSet', b.transformSets, head.transformSets],
    ['Restore', b.restores, head.restores],
  ];
  for (const [kind, before, after] of sections) {
    const bm = new Map(before.map((e) => [e.name, e]));
    const am = new Map(after.map((e) => [e.name, e]));
    for (const name of [...new Set([...bm.keys(), ...am.keys()])].sort()) {
      const x = bm.get(name);
      const y = am.get(name);
      if (!x && y) changes.push({ kind, name, change: 'added', fields: [] });
      else if (x && !y) changes.push({ kind, name, change: 'removed', fields: [] });
      else if (x && y) {
        const fields = diffValues(x, y, '');
        if (fields.length) changes.push({ kind, name, change: 'changed', fields });
      }
    }
  }
  risks.push(...policyRisks(b.policies, head.policies), ...verifyRisks(b.policies, head.policies), ...profileRisks(b.profiles, head.profiles), ...restoreRisks(b.restores, head.restores));
  const order = { high: 0, medium: 1 };
  risks.sort((p, r) => order[p.severity] - order[r.severity] || cmp(p.kind, r.kind) || cmp(p.name, r.name) || cmp(p.code, r.code));
  return { base: { commit: b.sourceCommit, hash: b.hash }, head: { commit: head.sourceCommit, hash: head.hash }, changes, risks };
}

/** Leaf-level differences; lists of named entries (phases, transforms) are matched by name. */
export function diffValues(a: unknown, b: unknown, path: string): FieldChange[] {
  if (IGNORED.has(path)) return [];
  if (deepEqual(a, b)) return [];
  if (EXPANDED.has(path) && (a === undefined || b === undefined)) return diffValues(a ?? hollow(b), b ?? hollow(a), path);
  if (isObj(a) && isObj(b)) {
    const out: FieldChange[] = [];
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (k === 'name' && path === '') continue;
      out.push(...diffValues(a[k], b[k], path ? `${path}.${k}` : k));
    }
    return out;
  }
  // Lists of named entries (phases, transforms, verify checks) are matched by name; an empty list is one too.
  if (Array.isArray(a) && Array.isArray(b) && [a, b].every((l) => !l.length || isNamedList(l))) {
    const la = a as Named[];
    const lb = b as Named[];
    const am = new Map(la.map((e) => [e.name, e]));
    const bm = new Map(lb.map((e) => [e.name, e]));
    const out: FieldChange[] = [];
    for (const name of [...new Set([...am.keys(), ...bm.keys()])]) {
      out.push(...diffValues(am.get(name), bm.get(name), `${path}[${name}]`));
    }
    const orderA = la.map((e) => e.name).filter((n) => bm.has(n));
    const orderB = lb.map((e) => e.name).filter((n) => am.has(n));
    if (!deepEqual(orderA, orderB)) out.push({ path: `${path} (order)`, before: orderA, after: orderB });
    return out;
  }
  const change: FieldChange = { path };
  if (a !== undefined) change.before = a;
  if (b !== undefined) change.after = b;
  return [change];
}

const TIERS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

function policyRisks(before: PlanPolicy[], after: PlanPolicy[]): Risk[] {
  const risks: Risk[] = [];
  const am = new Map(after.map((p) => [p.name, p]));
  for (const x of before) {
    const y = am.get(x.name);
    const r = (severity: Risk['severity'], code: string, message: string) => risks.push({ severity, code, kind: 'Policy', name: x.name, message });
    if (!y) {
      r('high', 'policy-removed', `policy removed: namespaces it selects (${code(x.selector.namespaces.source)}) stop being protected unless another policy selects them; its restore points are no longer expired by retention`);
      continue;
    }
    if (!x.paused && y.paused) r('high', 'policy-paused', 'policy paused: no new backups run for the namespaces it selects until it is resumed');
    for (const t of TIERS) {
      if (y.retention[t] < x.retention[t]) {
        const n = x.retention[t] - y.retention[t];
        r('high', 'retention-reduced', `retention.${t} reduced ${x.retention[t]} → ${y.retention[t]}: up to ${n} ${t} restore point(s) per namespace will be expired at the next retention run`);
      }
    }
    if (y.schedule.maxIntervalSeconds > x.schedule.maxIntervalSeconds) {
      r('medium', 'frequency-lowered', `frequency lowered ${q(x.schedule.source)} → ${q(y.schedule.source)}: RPO worsens from ${humanSeconds(x.schedule.maxIntervalSeconds)} to ${humanSeconds(y.schedule.maxIntervalSeconds)}`);
    }
    if (x.schedule.timezone !== y.schedule.timezone || !deepEqual(x.schedule.window, y.schedule.window)) {
      if (y.schedule.window && !x.schedule.window) r('medium', 'window-added', `backups may now only start between ${y.schedule.window.start} and ${y.schedule.window.end} (${y.schedule.timezone}): runs due outside it wait`);
    }
    const sx = x.selector;
    const sy = y.selector;
    if (sx.namespaces.source !== sy.namespaces.source) {
      const narrowed = isConjunctionOf(sy.namespaces.source, sx.namespaces.source);
      r(narrowed ? 'high' : 'medium', narrowed ? 'selector-narrowed' : 'selector-changed', `namespace selector ${narrowed ? 'narrowed' : 'changed'}: ${code(sx.namespaces.source)} → ${code(sy.namespaces.source)}${narrowed ? ' — namespaces that no longer match stop being protected' : ' — check which namespaces stop matching'}`);
    }
    const rx = sx.resources?.source;
    const ry = sy.resources?.source;
    if (rx !== ry) {
      const narrowed = rx === undefined || (ry !== undefined && isConjunctionOf(ry, rx));
      const widened = ry === undefined;
      r(widened ? 'medium' : narrowed ? 'high' : 'medium', narrowed && !widened ? 'selector-narrowed' : 'selector-changed', `resource selector ${widened ? 'removed (every object is captured)' : narrowed ? 'narrowed' : 'changed'}: ${rx === undefined ? '(all objects)' : code(rx)} → ${ry === undefined ? '(all objects)' : code(ry)}`);
    }
    const newlyExcluded = sy.excludeKinds.filter((k) => !sx.excludeKinds.includes(k));
    if (newlyExcluded.length) r('high', 'selector-narrowed', `kinds no longer captured: ${newlyExcluded.join(', ')}`);
    if (sx.includeClusterResources && !sy.includeClusterResources) r('high', 'selector-narrowed', 'cluster-scoped resources are no longer captured');
    if (x.profile !== y.profile) r('high', 'profile-changed', `profile changed ${q(x.profile)} → ${q(y.profile)}: new restore points go to another repository; existing ones stay in ${q(x.profile)}`);
    if (x.actions.export.enabled && !y.actions.export.enabled) r('high', 'export-disabled', 'export disabled: restore points only live in the cluster and are lost with it');
    else if (x.actions.export.volumeData && !y.actions.export.volumeData) r('high', 'export-disabled', 'volume data no longer exported: restore points hold manifests only');
    if (x.actions.snapshot.enabled && !y.actions.snapshot.enabled) r('medium', 'snapshot-disabled', 'volume snapshots disabled');
    for (const bnd of x.blueprints) {
      if (!y.blueprints.some((c) => c.blueprint === bnd.blueprint)) r('medium', 'blueprint-unbound', `blueprint ${q(bnd.blueprint)} no longer runs: backups of its workloads are no longer application-consistent`);
    }
  }
  return risks;
}

/**
 * Restore verification (spec.verify) changes a reviewer must see: a policy that starts verifying restores a full copy
 * of each application it selects at the next reconcile; one that stops, verifies less often, drops a check or accepts
 * a worse answer proves less about its restore points.
 */
function verifyRisks(before: PlanPolicy[], after: PlanPolicy[]): Risk[] {
  const risks: Risk[] = [];
  const bm = new Map(before.map((p) => [p.name, p]));
  for (const y of after) {
    const x = bm.get(y.name);
    const r = (code: string, message: string) => risks.push({ severity: 'medium', code, kind: 'Policy', name: y.name, message });
    const vx = x?.verify;
    const vy = y.verify;
    if (!x) continue; // a new policy's verification is part of adding it, like its first backups
    if (!vx && vy) {
      r('verify-added', `restore verification added (${q(vy.schedule.source)}): at the next reconcile the latest restore point of every namespace it selects is restored into a scratch namespace — a full copy, so the cluster needs room for it — then once per slot`);
      continue;
    }
    if (!vx) continue;
    if (!vy) {
      r('verify-removed', `restore verification removed (was ${q(vx.schedule.source)}): restore points are no longer proven restorable, and the compliance report stops checking last-verified`);
      continue;
    }
    if (vy.schedule.maxIntervalSeconds > vx.schedule.maxIntervalSeconds) {
      r('verify-frequency-lowered', `verification frequency lowered ${q(vx.schedule.source)} → ${q(vy.schedule.source)}: a restore point that does not restore may go unnoticed for ${humanSeconds(vy.schedule.maxIntervalSeconds)} instead of ${humanSeconds(vx.schedule.maxIntervalSeconds)}`);
    }
    for (const c of vx.checks) {
      const d = vy.checks.find((n) => n.name === c.name);
      if (!d) r('verify-check-removed', `verify check ${q(c.name)} removed: the restored copy is no longer asked ${code(c.query)}`);
      else {
        const weaker = weakenedExpectations(c.expect, d.expect);
        if (weaker.length) r('verify-check-weakened', `verify check ${q(c.name)} accepts more: ${weaker.join(', ')}`);
      }
    }
  }
  return risks;
}

/** Which conditions of a verify check's `expect` now accept answers they refused before. */
function weakenedExpectations(x: PlanVerifyExpect, y: PlanVerifyExpect): string[] {
  const out: string[] = [];
  const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));
  if (x.atLeast !== undefined && (y.atLeast === undefined || y.atLeast < x.atLeast)) out.push(`atLeast ${show(x.atLeast)} → ${show(y.atLeast)}`);
  if (x.atMost !== undefined && (y.atMost === undefined || y.atMost > x.atMost)) out.push(`atMost ${show(x.atMost)} → ${show(y.atMost)}`);
  if (x.equals !== undefined && y.equals !== x.equals) out.push(`equals ${show(x.equals)} → ${show(y.equals)}`);
  if (x.exists === true && y.exists !== true) out.push(`exists ${show(x.exists)} → ${show(y.exists)}`);
  return out;
}

function profileRisks(before: PlanProfile[], after: PlanProfile[]): Risk[] {
  const risks: Risk[] = [];
  const am = new Map(after.map((p) => [p.name, p]));
  for (const x of before) {
    const y = am.get(x.name);
    const r = (severity: Risk['severity'], code: string, message: string) => risks.push({ severity, code, kind: 'Profile', name: x.name, message });
    if (!y) {
      r('high', 'profile-removed', `profile removed: restore points stored in ${x.location} can no longer be restored or expired through it`);
      continue;
    }
    if (x.location !== y.location || x.s3?.endpoint !== y.s3?.endpoint) {
      r('high', 'repository-moved', `repository location changed ${x.location}${x.s3?.endpoint ? ` (${x.s3.endpoint})` : ''} → ${y.location}${y.s3?.endpoint ? ` (${y.s3.endpoint})` : ''}: existing restore points stay at the old location; the next backup starts a new repository (full, not incremental)`);
    }
    if (!deepEqual(x.encryption, y.encryption)) {
      const a = x.encryption.keySecret;
      const b = y.encryption.keySecret;
      r('high', 'encryption-key-changed', `encryption key reference changed ${a.namespace ? `${a.namespace}/` : ''}${a.name}[${a.key}] → ${b.namespace ? `${b.namespace}/` : ''}${b.name}[${b.key}]: unless it holds the same passphrase, existing restore points cannot be decrypted`);
    }
    const dx = x.immutability?.days ?? 0;
    const dy = y.immutability?.days ?? 0;
    if (dy < dx) r('medium', 'immutability-reduced', dy === 0 ? `object lock removed (was ${dx} days): new data can be deleted or overwritten` : `object lock shortened ${dx} → ${dy} days`);
  }
  return risks;
}

/** A Restore added (or re-targeted) in Git runs when merged: say what it will overwrite. */
function restoreRisks(before: PlanRestore[], after: PlanRestore[]): Risk[] {
  const risks: Risk[] = [];
  const bm = new Map(before.map((r) => [r.name, r]));
  for (const y of after) {
    const x = bm.get(y.name);
    if (x && deepEqual(x, y)) continue;
    const inPlace = y.target.namespace === y.source.namespace && y.target.cluster === y.source.cluster;
    const what = `${y.source.namespace} (policy ${y.source.policy}, restore point ${y.source.restorePoint}${y.source.before ? ` before ${y.source.before}` : ''}) into namespace ${y.target.namespace} on ${y.target.cluster}`;
    const overwrite = inPlace && y.existingResourcePolicy === 'update';
    risks.push({
      severity: overwrite ? 'high' : 'medium',
      code: 'restore-requested',
      kind: 'Restore',
      name: y.name,
      message: `merging ${x ? 'changes and re-runs' : 'runs'} a restore of ${what}${overwrite ? ': existing objects in the live namespace are overwritten (existingResourcePolicy: update)' : inPlace ? ' (in place; existing objects are skipped)' : ''}`,
    });
  }
  return risks;
}

/** True when `narrow` is `wide && …` or `… && wide` (textually, ignoring whitespace and outer parentheses). */
function isConjunctionOf(narrow: string, wide: string): boolean {
  const n = norm(narrow);
  const w = norm(wide);
  const wp = `(${w})`;
  return n !== w && (n.startsWith(`${w}&&`) || n.endsWith(`&&${w}`) || n.startsWith(`${wp}&&`) || n.endsWith(`&&${wp}`) || n.includes(`&&${w}&&`));
}

function norm(s: string): string {
  return s.replace(/\s+/g, '');
}

function q(s: string): string {
  return `"${s}"`;
}

function code(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return `\`${one.length > 120 ? `${one.slice(0, 117)}...` : one}\``;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The same shape with nothing in it (lists empty, scalars absent), for comparing an added or removed object leaf by leaf. */
function hollow(v: unknown): unknown {
  if (Array.isArray(v)) return [];
  return isObj(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, hollow(x)])) : undefined;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isNamedList(v: unknown[]): v is Named[] {
  return v.length > 0 && v.every((e) => isObj(e) && typeof e.name === 'string') && new Set(v.map((e) => (e as Named).name)).size === v.length;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}
