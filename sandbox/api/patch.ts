/**
 * The three PATCH flavours besides apply: RFC 6902 JSON patch, RFC 7386 merge
 * patch and Kubernetes strategic merge patch (list merge by key, `$patch`,
 * `$setElementOrder`, `$deleteFromPrimitiveList`, `$retainKeys`). Pure:
 * (object, patch) → object.
 */
import jsonpatch from 'fast-json-patch';
import { badRequest, ApiError } from './errors.ts';
import { clone, isObject } from './object.ts';
import { listSemantics, smpMergeKey } from './mergekeys.ts';

export function applyJsonPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp');
  try {
    return jsonpatch.applyPatch(clone(doc), patch as jsonpatch.Operation[], true, false).newDocument;
  } catch (e) {
    const err = e as { name?: string; message: string; operation?: { path?: string; op?: string } };
    if (err.name === 'TEST_OPERATION_FAILED') throw new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request');
    const path = err.operation?.path ?? '';
    if (err.name === 'OPERATION_PATH_UNRESOLVABLE' || err.name === 'OPERATION_PATH_CANNOT_ADD')
      throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request`, { causes: [{ reason: 'FieldValueInvalid', message: `doc is missing path: "${path}": missing value`, field: path }] });
    throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request`, { causes: [{ message: err.message.split('\n')[0] }] });
  }
}

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: Record<string, unknown> = isObject(doc) ? { ...doc } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/**
 * Strategic merge patch for built-in kinds. `parentField` tracks the field
 * name above a list so Service ports and container ports get their own keys.
 */
export function applyStrategicMergePatch(doc: unknown, patch: unknown, parentField?: string): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _drop, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const base: Record<string, unknown> = isObject(doc) ? { ...doc } : {};
  const retain = Array.isArray(patch.$retainKeys) ? (patch.$retainKeys as string[]) : undefined;

  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/') || k.startsWith('$deleteFromPrimitiveList/')) continue;
    if (v === null) {
      delete base[k];
      continue;
    }
    const cur = base[k];
    if (Array.isArray(v)) {
      base[k] = mergeList(k, Array.isArray(cur) ? cur : [], v, parentField, patch[`$setElementOrder/${k}`]);
    } else if (isObject(v)) {
      const merged = applyStrategicMergePatch(cur, v, k);
      if (merged === undefined) delete base[k];
      else base[k] = merged;
    } else base[k] = v;
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$deleteFromPrimitiveList/') && Array.isArray(v)) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(base[f])) base[f] = (base[f] as unknown[]).filter((x) => !v.includes(x));
    }
    if (k.startsWith('$setElementOrder/') && Array.isArray(v)) {
      const f = k.slice('$setElementOrder/'.length);
      if (!(f in patch) && Array.isArray(base[f])) base[f] = reorder(f, base[f] as unknown[], v, parentField);
    }
  }
  if (retain) for (const k of Object.keys(base)) if (!retain.includes(k)) delete base[k];
  return base;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

function mergeList(field: string, cur: unknown[], patch: unknown[], parentField: string | undefined, order: unknown): unknown[] {
  const sample = cur.length ? cur : patch;
  const sem = listSemantics(field, sample, parentField);
  // A `{$patch: replace}` element replaces the whole list.
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map(stripDirectives);
  if (sem.type === 'set') {
    const out = [...cur];
    for (const p of patch) if (!out.includes(p)) out.push(p);
    return out;
  }
  const mk = smpMergeKey(field, sample, parentField);
  if (!mk || !patch.every(isObject)) return patch.map(stripDirectives);
  const out: unknown[] = cur.map((x) => x);
  for (const p of patch as Record<string, unknown>[]) {
    if (!(mk in p)) throw badRequest(`map: ${JSON.stringify(p)} does not contain declared merge key: ${mk}`);
    const idx = out.findIndex((x) => isObject(x) && x[mk] === p[mk]);
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = applyStrategicMergePatch(out[idx], p, field);
    else out.push(stripDirectives(p));
  }
  return Array.isArray(order) ? reorder(field, out, order, parentField) : out;
}

/** Orders items as `$setElementOrder` lists them; items it does not name keep their place at the end. */
function reorder(field: string, items: unknown[], order: unknown[], parentField: string | undefined): unknown[] {
  const mk = smpMergeKey(field, items, parentField);
  const keyOf = (x: unknown) => (mk && isObject(x) ? x[mk] : x);
  const pos = new Map<unknown, number>();
  order.forEach((o, i) => pos.set(isObject(o) && mk ? o[mk] : o, i));
  const listed = items.filter((x) => pos.has(keyOf(x))).sort((a, b) => pos.get(keyOf(a))! - pos.get(keyOf(b))!);
  const rest = items.filter((x) => !pos.has(keyOf(x)));
  return [...listed, ...rest];
}
