/**
 * Field ownership for server-side apply: fieldsV1 sets computed from objects,
 * ownership transfer on updates, and the apply merge with conflict detection.
 * Lists use the same semantics as strategic merge (keyed lists are merged by
 * key, sets by value, everything else is atomic) so ownership is per item.
 */
import { ApiError } from './errors.ts';
import { deepEqual, isObject, type FieldSet, type KObject, type ManagedFieldsEntry } from './object.ts';
import { listSemantics, type ListSemantics } from './mergekeys.ts';

type Rec = Record<string, unknown>;

/** metadata fields that belong to the server, never to a field manager. */
const SERVER_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink', 'generateName']);

export type ListSemanticsFn = (field: string, sample: unknown[], parentField?: string) => ListSemantics;

function itemKey(item: unknown, sem: ListSemantics): string {
  if (sem.type === 'set' || !isObject(item)) return `v:${JSON.stringify(item)}`;
  const k: Rec = {};
  for (const key of sem.keys) if (item[key] !== undefined) k[key] = item[key];
  return `k:${JSON.stringify(k)}`;
}

/** The fieldsV1 set of every leaf present in `value` (top-level call: an object). */
export function fieldSetOf(value: unknown, sems: ListSemanticsFn = listSemantics, parentField?: string, top = true): FieldSet {
  const out: FieldSet = {};
  if (!isObject(value)) return out;
  for (const [k, v] of Object.entries(value)) {
    if (top && (k === 'apiVersion' || k === 'kind')) continue;
    if (top && k === 'status') continue;
    if (top && k === 'metadata') {
      const m: FieldSet = {};
      for (const [mk, mv] of Object.entries(rec(v))) {
        if (SERVER_META.has(mk)) continue;
        m[`f:${mk}`] = fieldsOfValue(mv, mk, sems, 'metadata');
      }
      if (Object.keys(m).length) out['f:metadata'] = m;
      continue;
    }
    out[`f:${k}`] = fieldsOfValue(v, k, sems, parentField);
  }
  return out;
}

function rec(v: unknown): Rec {
  return isObject(v) ? v : {};
}

function fieldsOfValue(v: unknown, field: string, sems: ListSemanticsFn, parentField?: string): FieldSet {
  if (isObject(v)) {
    const s: FieldSet = {};
    for (const [k, x] of Object.entries(v)) s[`f:${k}`] = fieldsOfValue(x, k, sems, field);
    return s;
  }
  if (Array.isArray(v)) {
    const sem = sems(field, v, parentField);
    if (sem.type === 'atomic') return {};
    const s: FieldSet = {};
    for (const item of v) {
      const key = itemKey(item, sem);
      s[key] = sem.type === 'set' || !isObject(item) ? {} : { '.': {}, ...fieldsOfValue(item, field, sems, parentField) };
      if (isObject(item)) {
        const inner = fieldsOfValue(item, field, sems, parentField);
        s[key] = { '.': {}, ...inner };
      }
    }
    return s;
  }
  return {};
}

/** Every leaf path in a set, as path arrays (`['f:spec','f:replicas']`). */
export function leaves(s: FieldSet, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(s)) {
    if (k === '.') continue;
    const p = [...prefix, k];
    const kids = Object.keys(v).filter((x) => x !== '.');
    if (kids.length === 0) out.push(p);
    else out.push(...leaves(v, p));
  }
  return out;
}

function hasPath(s: FieldSet, p: string[]): boolean {
  let cur: FieldSet | undefined = s;
  for (const seg of p) {
    cur = cur?.[seg];
    if (!cur) return false;
  }
  return true;
}

function addPath(s: FieldSet, p: string[]): void {
  let cur = s;
  for (const seg of p) cur = cur[seg] ??= {};
}

export function removePaths(s: FieldSet, remove: (p: string[]) => boolean, prefix: string[] = []): FieldSet {
  const out: FieldSet = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '.') {
      out[k] = v;
      continue;
    }
    const p = [...prefix, k];
    const kids = Object.keys(v).filter((x) => x !== '.');
    if (kids.length === 0) {
      if (!remove(p)) out[k] = v;
    } else {
      const sub = removePaths(v, remove, p);
      if (Object.keys(sub).some((x) => x !== '.')) out[k] = sub;
    }
  }
  return out;
}

function union(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = out[k] ? union(out[k], v) : v;
  return out;
}

/** The value at a fieldsV1 path inside an object (undefined when absent). */
function valueAt(obj: unknown, p: string[]): unknown {
  let cur: unknown = obj;
  for (const seg of p) {
    if (seg.startsWith('f:')) cur = isObject(cur) ? cur[seg.slice(2)] : undefined;
    else if (seg.startsWith('k:')) {
      const k = JSON.parse(seg.slice(2)) as Rec;
      cur = Array.isArray(cur) ? cur.find((x) => isObject(x) && Object.entries(k).every(([a, b]) => x[a] === b)) : undefined;
    } else if (seg.startsWith('v:')) {
      const v = JSON.parse(seg.slice(2));
      cur = Array.isArray(cur) && cur.some((x) => deepEqual(x, v)) ? v : undefined;
    } else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

function pathString(p: string[]): string {
  return p
    .map((seg) => {
      if (seg.startsWith('f:')) return `.${seg.slice(2)}`;
      if (seg.startsWith('k:')) {
        const k = JSON.parse(seg.slice(2)) as Rec;
        return `[${Object.entries(k).map(([a, b]) => `${a}=${JSON.stringify(b)}`).join(',')}]`;
      }
      if (seg.startsWith('v:')) return `[${seg.slice(2)}]`;
      return seg;
    })
    .join('');
}

function stripManaged(o: KObject | undefined): KObject | undefined {
  if (!o) return o;
  return { ...o, metadata: { ...o.metadata, managedFields: undefined } };
}

/**
 * Records a non-apply write (create, update, patch) by `manager`: fields whose
 * value changed become theirs and leave every other manager's set.
 */
export function recordUpdate(old: KObject | undefined, obj: KObject, manager: string, apiVersion: string, now: string, subresource?: string): ManagedFieldsEntry[] {
  const entries = (old?.metadata.managedFields ?? []).map((e) => ({ ...e }));
  const newSet = subresource === 'status' ? statusSet(obj) : fieldSetOf(obj);
  const oldObj = stripManaged(old);
  const changed = leaves(newSet).filter((p) => !deepEqual(valueAt(oldObj, p), valueAt(obj, p)));
  const present = (p: string[]) => valueAt(obj, p) !== undefined || (p[0] === 'f:status' ? false : false);
  const result: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    const isMine = e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? '');
    if (isMine) continue;
    const kept = removePaths(e.fieldsV1, (p) => changed.some((c) => c.join('\u0000') === p.join('\u0000')) || !present(p));
    if (Object.keys(kept).length) result.push({ ...e, fieldsV1: kept });
  }
  const mineOld = entries.find((e) => e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? ''));
  let mine: FieldSet = mineOld ? removePaths(mineOld.fieldsV1, (p) => !present(p)) : {};
  for (const c of changed) addPath(mine, c);
  if (!old) mine = newSet;
  if (Object.keys(mine).length) result.push({ manager, operation: 'Update', apiVersion, time: now, fieldsType: 'FieldsV1', fieldsV1: mine, ...(subresource ? { subresource } : {}) });
  return result;
}

function statusSet(obj: KObject): FieldSet {
  const s = fieldSetOf({ status: obj.status });
  return s;
}

function mergeApplied(cur: unknown, applied: unknown, field: string | undefined, parentField: string | undefined, sems: ListSemanticsFn): unknown {
  if (isObject(applied)) {
    const base: Rec = isObject(cur) ? { ...cur } : {};
    for (const [k, v] of Object.entries(applied)) base[k] = mergeApplied(base[k], v, k, field, sems);
    return base;
  }
  if (Array.isArray(applied) && field) {
    const sem = sems(field, applied, parentField);
    if (sem.type === 'atomic' || !Array.isArray(cur)) return applied;
    if (sem.type === 'set') {
      const out = [...cur];
      for (const x of applied) if (!out.some((y) => deepEqual(x, y))) out.push(x);
      return out;
    }
    const out = [...cur];
    for (const item of applied) {
      const k = itemKey(item, sem);
      const i = out.findIndex((x) => itemKey(x, sem) === k);
      if (i >= 0) out[i] = mergeApplied(out[i], item, field, parentField, sems);
      else out.push(item);
    }
    return out;
  }
  return applied;
}

/** Removes the value at a fieldsV1 path (a field, a keyed item or a set member). */
function deleteAt(obj: unknown, p: string[]): void {
  if (p.length === 0) return;
  const parent = valueAt(obj, p.slice(0, -1));
  const last = p[p.length - 1];
  if (last.startsWith('f:') && isObject(parent)) delete parent[last.slice(2)];
  else if ((last.startsWith('k:') || last.startsWith('v:')) && Array.isArray(parent)) {
    const target = valueAt(obj, p);
    const i = parent.indexOf(target);
    if (i >= 0) parent.splice(i, 1);
  }
}

/** apimachinery's printManager: Apply managers by name, Update managers with the version they wrote. */
function printManager(manager: string, entries: ManagedFieldsEntry[]): string {
  const e = entries.find((x) => x.manager === manager && x.operation === 'Update') ?? entries.find((x) => x.manager === manager);
  let s = JSON.stringify(manager);
  if (e?.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e?.operation === 'Update') s += ` using ${e.apiVersion}`;
  return s;
}

function conflictError(conflicts: { manager: string; apiVersion: string; path: string[] }[], entries: ManagedFieldsEntry[]): ApiError {
  let msg: string;
  if (conflicts.length === 1) msg = `Apply failed with 1 conflict: conflict with ${printManager(conflicts[0].manager, entries)}: ${pathString(conflicts[0].path)}`;
  else {
    const by = new Map<string, string[]>();
    for (const c of conflicts) by.set(c.manager, [...(by.get(c.manager) ?? []), pathString(c.path)]);
    const lines: string[] = [];
    for (const m of [...by.keys()].sort()) {
      lines.push(`conflicts with ${printManager(m, entries)}:`);
      for (const p of by.get(m)!) lines.push(`- ${p}`);
    }
    msg = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', msg, {
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${printManager(c.manager, entries)}`, field: pathString(c.path) })),
  });
}

export interface ApplyResult {
  obj: KObject;
  managedFields: ManagedFieldsEntry[];
}

/**
 * Server-side apply of `applied` onto `current` for `manager`. Conflicts are
 * fields the applier sets to a different value than their current owner set;
 * with `force` the applier takes them over. Fields the applier managed before
 * and no longer applies are removed unless someone else also owns them.
 */
export function serverSideApply(current: KObject, applied: KObject, manager: string, force: boolean, apiVersion: string, now: string, sems: ListSemanticsFn = listSemantics): ApplyResult {
  const entries = current.metadata.managedFields ?? [];
  const appliedSet = fieldSetOf(applied, sems);
  const appliedLeaves = leaves(appliedSet);
  const conflicts: { manager: string; apiVersion: string; path: string[] }[] = [];
  for (const e of entries) {
    if (e.manager === manager && e.operation === 'Apply') continue;
    if (e.subresource) continue;
    for (const p of appliedLeaves) {
      if (hasPath(e.fieldsV1, p) && !deepEqual(valueAt(current, p), valueAt(applied, p))) conflicts.push({ manager: e.manager, apiVersion: e.apiVersion, path: p });
    }
  }
  if (conflicts.length && !force) throw conflictError(conflicts, entries);
  const prevMine = entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource)?.fieldsV1 ?? {};
  const others = entries.filter((e) => !(e.manager === manager && e.operation === 'Apply' && !e.subresource));
  const key = (p: string[]) => p.join('\u0000');
  const appliedKeys = new Set(appliedLeaves.map(key));
  const conflictKeys = new Set(conflicts.map((c) => key(c.path)));

  const merged = mergeApplied(current, applied, undefined, undefined, sems) as KObject;
  merged.metadata = { ...current.metadata, ...merged.metadata };
  // Drop what this manager used to apply and no longer does, when nobody else owns it.
  const othersSet = others.reduce<FieldSet>((acc, e) => union(acc, e.fieldsV1), {});
  const stale = leaves(prevMine).filter((p) => !appliedKeys.has(key(p)) && !hasPath(othersSet, p));
  for (const p of stale.sort((a, b) => b.length - a.length)) deleteAt(merged, p);
  // Forced conflicts move to the applier.
  const newOthers: ManagedFieldsEntry[] = [];
  for (const e of others) {
    const kept = removePaths(e.fieldsV1, (p) => conflictKeys.has(key(p)));
    if (Object.keys(kept).length) newOthers.push({ ...e, fieldsV1: kept });
  }
  const result = [...newOthers];
  const mineIdx = entries.findIndex((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource);
  const entry: ManagedFieldsEntry = { manager, operation: 'Apply', apiVersion, time: now, fieldsType: 'FieldsV1', fieldsV1: appliedSet };
  if (mineIdx >= 0) result.splice(Math.min(mineIdx, result.length), 0, entry);
  else result.push(entry);
  return { obj: merged, managedFields: result };
}
