/**
 * CRD validation rules (`x-kubernetes-validations`): CEL expressions over
 * `self`, evaluated with @marcbachmann/cel-js at every schema node that
 * declares them. Transition rules (those using `oldSelf`) are checked on
 * updates only, as Kubernetes does.
 */
import { parse } from '@marcbachmann/cel-js';
import { isObject } from './object.ts';
import type { FieldError } from './errors.ts';

type Rec = Record<string, unknown>;
type Program = ReturnType<typeof parse>;
const cache = new Map<string, Program | null>();

function compile(rule: string): Program | null {
  if (!cache.has(rule)) {
    try {
      cache.set(rule, parse(rule));
    } catch {
      cache.set(rule, null);
    }
  }
  return cache.get(rule)!;
}

/** JSON → CEL values: integers become CEL ints (BigInt), everything else stays. */
function toCel(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCel);
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v;
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Every failed rule under `schema` for `value` (and `old`, for transition rules), as field errors. */
export function celRuleErrors(schema: Rec | undefined, value: unknown, old: unknown, path: string, out: FieldError[] = []): FieldError[] {
  if (!schema || value === undefined) return out;
  const rules = schema['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const r of rules as Rec[]) {
      const rule = String(r.rule ?? '');
      const transition = /\boldSelf\b/.test(rule);
      if (transition && old === undefined) continue;
      const prog = compile(rule);
      if (!prog) continue;
      let ok: unknown;
      try {
        ok = prog({ self: toCel(value), ...(transition ? { oldSelf: toCel(old) } : {}) });
      } catch {
        ok = false;
      }
      if (ok !== true) {
        const field = r.fieldPath ? `${path}${String(r.fieldPath)}` : path;
        out.push({ type: 'FieldValueInvalid', field: field.replace(/^\./, ''), message: `Invalid value: "${typeName(value)}": ${r.message ? String(r.message) : `failed rule: ${rule}`}` });
      }
    }
  }
  const props = schema.properties as Record<string, Rec> | undefined;
  if (props && isObject(value)) {
    for (const [k, s] of Object.entries(props)) {
      if (path === '' && (k === 'metadata' || k === 'apiVersion' || k === 'kind')) continue;
      celRuleErrors(s, value[k], isObject(old) ? old[k] : undefined, `${path}.${k}`, out);
    }
  }
  if (isObject(schema.items) && Array.isArray(value)) value.forEach((x, i) => celRuleErrors(schema.items as Rec, x, undefined, `${path}[${i}]`, out));
  if (isObject(schema.additionalProperties) && isObject(value)) {
    for (const [k, x] of Object.entries(value)) celRuleErrors(schema.additionalProperties as Rec, x, isObject(old) ? old[k] : undefined, `${path}[${k}]`, out);
  }
  return out;
}
