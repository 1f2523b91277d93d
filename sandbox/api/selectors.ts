/**
 * Label and field selectors in the string syntax clients put in `labelSelector`
 * and `fieldSelector` query parameters, plus the structured `LabelSelector`
 * objects workloads carry. Pure: parse once, match many.
 */
import { badRequest } from './errors.ts';

export type LabelOp = 'in' | 'notin' | 'exists' | '!' | '=' | '!=';
export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}
export type Matcher = (labels: Record<string, string> | undefined) => boolean;

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses (`a in (x,y),b`). */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x.length > 0);
}

function checkKey(key: string, whole: string): void {
  if (!KEY.test(key) || key.length > 316) throw badRequest(`unable to parse requirement: <nil>: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') in selector "${whole}"`);
}
function checkValue(v: string): void {
  if (!VALUE.test(v) || v.length > 63) throw badRequest(`unable to parse requirement: <nil>: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`);
}

/** Parses `app=web,tier!=db,env in (a,b),!legacy,owner` into requirements. */
export function parseLabelSelector(sel: string): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const part of splitTop(sel)) {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^!\s*(\S+)$/))) {
      checkKey(m[1], sel);
      reqs.push({ key: m[1], op: '!', values: [] });
    } else if ((m = part.match(/^(\S+)\s+(in|notin)\s*\((.*)\)$/))) {
      checkKey(m[1], sel);
      const values = m[3].split(',').map((v) => v.trim());
      values.forEach(checkValue);
      reqs.push({ key: m[1], op: m[2] as LabelOp, values });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      checkKey(m[1], sel);
      checkValue(m[3]);
      reqs.push({ key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [m[3]] });
    } else if ((m = part.match(/^([^=!\s()]+)$/))) {
      checkKey(m[1], sel);
      reqs.push({ key: m[1], op: 'exists', values: [] });
    } else {
      throw badRequest(`unable to parse requirement: found '${part}', expected: ',' or 'end of string'`);
    }
  }
  return reqs;
}

export function matchRequirements(reqs: LabelRequirement[]): Matcher {
  if (reqs.length === 0) return () => true;
  return (labels) => {
    const l = labels ?? {};
    for (const r of reqs) {
      const has = Object.prototype.hasOwnProperty.call(l, r.key);
      const v = l[r.key];
      switch (r.op) {
        case '=':
        case 'in':
          if (!has || !r.values.includes(v)) return false;
          break;
        case '!=':
        case 'notin':
          if (has && r.values.includes(v)) return false;
          break;
        case 'exists':
          if (!has) return false;
          break;
        case '!':
          if (has) return false;
          break;
      }
    }
    return true;
  };
}

export function labelMatcher(sel: string | null | undefined): Matcher {
  return sel ? matchRequirements(parseLabelSelector(sel)) : () => true;
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Structured `LabelSelector` (as in Deployment.spec.selector) to requirements; an empty selector matches everything. */
export function requirementsFromObject(sel: LabelSelectorObject | undefined): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const [key, v] of Object.entries(sel?.matchLabels ?? {})) reqs.push({ key, op: '=', values: [v] });
  for (const e of sel?.matchExpressions ?? []) {
    const op = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' } as Record<string, LabelOp>)[e.operator];
    if (!op) throw badRequest(`"${e.operator}" is not a valid label selector operator`);
    reqs.push({ key: e.key, op, values: e.values ?? [] });
  }
  return reqs;
}

/** Renders requirements back to the string form (used for Scale.status.selector). */
export function formatRequirements(reqs: LabelRequirement[]): string {
  return reqs
    .map((r) => {
      switch (r.op) {
        case '=':
          return `${r.key}=${r.values[0]}`;
        case '!=':
          return `${r.key}!=${r.values[0]}`;
        case 'in':
        case 'notin':
          return `${r.key} ${r.op} (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
      }
    })
    .join(',');
}

// ---- field selectors ----

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export function parseFieldSelector(sel: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  for (const part of splitTop(sel)) {
    const m = part.match(/^([^=!]+?)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid selector: '${sel}'; can't understand '${part}'`);
    out.push({ field: m[1].trim(), op: m[2] === '!=' ? '!=' : '=', value: m[3].trim() });
  }
  return out;
}

function getPath(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined || cur === null) return '';
  return String(cur);
}

/**
 * Compiles a field selector for objects whose kind supports `fields`
 * (besides metadata.name and metadata.namespace, which every kind has). An
 * unsupported field is the same 400 a real server gives.
 */
export function fieldMatcher(sel: string | null | undefined, supported: readonly string[], kindLabel: string): (obj: unknown) => boolean {
  if (!sel) return () => true;
  const reqs = parseFieldSelector(sel);
  for (const r of reqs) {
    if (r.field !== 'metadata.name' && r.field !== 'metadata.namespace' && !supported.includes(r.field)) {
      throw badRequest(`field label not supported: ${r.field}${kindLabel ? '' : ''}`);
    }
  }
  return (obj) => reqs.every((r) => (getPath(obj, r.field) === r.value) === (r.op === '='));
}

/** Field selector requirements that pin metadata.name / metadata.namespace (kubectl's `get NAME --watch` uses these). */
export function pinnedName(sel: string | null | undefined): string | undefined {
  if (!sel) return undefined;
  const r = parseFieldSelector(sel).find((x) => x.field === 'metadata.name' && x.op === '=');
  return r?.value;
}
