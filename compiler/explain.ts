import { API_VERSION, FUNCTIONS, KINDS, schemas, type JsonSchema } from '../schemas/index.ts';
import { CEL_VARIABLES, type CelEnvironment } from './cel/index.ts';

/** Fields holding CEL, and the environment they are compiled in. */
const CEL_FIELDS: Record<string, CelEnvironment> = {
  'Policy.spec.selector.namespaces': 'namespace',
  'Policy.spec.selector.resources': 'object',
  'Policy.spec.blueprints.workloads': 'workload',
  'TransformSet.spec.transforms.condition': 'transform',
  'Restore.spec.include.resources': 'object',
  'Wait.condition': 'object',
};

export class ExplainError extends Error {
  readonly code = 'E_EXPLAIN';
  constructor(message: string) {
    super(message);
    this.name = 'ExplainError';
  }
}

type S = Record<string, any>;

let owners: WeakMap<object, S> | undefined;

/**
 * The schema document a node was written in: a local `#/$defs/…` reference inside common.schema.json means common's
 * $defs, not those of the kind that reached it (resolving against the kind made `--recursive` crash on every kind).
 */
function ownerOf(node: S): S | undefined {
  if (!owners) {
    owners = new WeakMap();
    const all = schemas();
    const mark = (x: unknown, doc: S) => {
      if (!x || typeof x !== 'object' || owners!.has(x)) return;
      owners!.set(x, doc);
      for (const v of Object.values(x)) mark(v, doc);
    };
    for (const doc of [all.common, ...Object.values(all.kinds), ...Object.values(all.functions)] as S[]) mark(doc, doc);
  }
  return owners.get(node);
}

/** Follows $ref (local #/$defs/… or common.schema.json#/$defs/…), keeping the referring node's description. */
function deref(node: S, root: S): S {
  let n = node;
  let base: S = ownerOf(node) ?? root;
  for (let i = 0; i < 10 && typeof n.$ref === 'string'; i++) {
    const [file, frag] = (n.$ref as string).split('#');
    const doc: S = file ? findById(file) : base;
    const target = (frag ?? '').split('/').filter(Boolean).reduce<any>((acc, k) => acc?.[k], doc);
    if (!target) throw new ExplainError(`schema reference ${n.$ref} not found`);
    base = ownerOf(target) ?? doc;
    n = { ...target, ...(n.description ? { description: n.description } : {}), $ref: undefined, ...(target.$ref ? { $ref: target.$ref } : {}) };
    if (!target.$ref) delete n.$ref;
  }
  return n;
}

function findById(file: string): S {
  const all = schemas();
  if (file === 'common.schema.json') return all.common;
  for (const s of Object.values(all.kinds)) if ((s.$id as string).endsWith(`/${file}`)) return s;
  throw new ExplainError(`schema ${file} not found`);
}

/** A short type like kubectl's: <string>, <integer>, <[]Object>, <map[string]string>, <Object>. */
export function typeOf(node: S, root: S): string {
  const n = deref(node, root);
  if (n.anyOf || n.oneOf) {
    const types = [...new Set(((n.anyOf ?? n.oneOf) as S[]).map((b) => typeOf(b, root)))];
    return types.join(' | ');
  }
  if (n.const !== undefined) return typeof n.const;
  if (n.type === 'array') return `[]${typeOf(n.items ?? {}, root)}`;
  if (n.type === 'object' || n.properties) {
    if (!n.properties && n.additionalProperties && typeof n.additionalProperties === 'object') return `map[string]${typeOf(n.additionalProperties, root)}`;
    return 'Object';
  }
  if (Array.isArray(n.type)) return n.type.join(' | ');
  return n.type ?? (n.enum ? 'string' : 'any');
}

/** Resolves a kind name as users type it: Policy, policy, policies, kubeexec. */
function findRoot(name: string): { title: string; root: S; isFunction: boolean } {
  const lc = name.toLowerCase();
  const all = schemas();
  for (const k of KINDS) {
    const l = k.toLowerCase();
    if (lc === l || lc === `${l}s` || (l.endsWith('y') && lc === `${l.slice(0, -1)}ies`)) return { title: k, root: all.kinds[k], isFunction: false };
  }
  for (const f of FUNCTIONS) if (lc === f.toLowerCase()) return { title: f, root: all.functions[f], isFunction: true };
  throw new ExplainError(`unknown kind "${name}": known kinds are ${KINDS.join(', ')}; blueprint functions: ${FUNCTIONS.join(', ')}`);
}

/** Steps into a child field, through arrays and maps. */
function child(node: S, field: string, root: S): S | undefined {
  let n = deref(node, root);
  while (n.type === 'array' && n.items) n = deref(n.items, root);
  if (n.properties?.[field]) return n.properties[field];
  for (const b of [...(n.anyOf ?? []), ...(n.oneOf ?? [])] as S[]) {
    const d = deref(b, root);
    if (d.properties?.[field]) return d.properties[field];
  }
  if (n.additionalProperties && typeof n.additionalProperties === 'object' && !n.properties) return n.additionalProperties;
  return undefined;
}

function wrap(text: string, indent: string, width = 80): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width - indent.length) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join('\n');
}

/**
 * Documentation of a kind or field, in the layout of `kubectl explain`, straight
 * from the JSON Schemas (the single source of truth, so docs cannot drift).
 */
export function explain(target: string, opts: { recursive?: boolean } = {}): string {
  const [kindName, ...path] = target.split('.');
  const { title, root, isFunction } = findRoot(kindName!);
  let node: S = root;
  let parent: S | undefined;
  for (let i = 0; i < path.length; i++) {
    const next = child(node, path[i]!, root);
    if (!next) {
      const fields = Object.keys(deref(node, root).properties ?? (deref(node, root).items ? deref(deref(node, root).items, root).properties ?? {} : {}));
      throw new ExplainError(`field "${path[i]}" does not exist in ${[title, ...path.slice(0, i)].join('.')}${fields.length ? ` (fields: ${fields.join(', ')})` : ''}`);
    }
    parent = node;
    node = next;
  }
  const n = deref(node, root);
  const out: string[] = [];
  out.push(isFunction ? `FUNCTION: ${title}` : `KIND:     ${title}`, isFunction ? `SCHEMA:   schemas/functions/${title}.schema.json` : `VERSION:  ${API_VERSION}`, '');
  if (path.length) {
    const required = (deref(parent!, root).required ?? deref(deref(parent!, root).items ?? {}, root).required ?? []) as string[];
    out.push(`FIELD:    ${path[path.length - 1]} <${typeOf(node, root)}>${required.includes(path[path.length - 1]!) ? ' -required-' : ''}`, '');
  }
  out.push('DESCRIPTION:', wrap(String(n.description ?? '(no description)'), '    '));
  const env = CEL_FIELDS[[title, ...path].join('.')];
  if (env) {
    out.push('', `CEL ENVIRONMENT: ${env} (must return bool)`);
    for (const v of CEL_VARIABLES[env]) out.push(`    ${v.name} <${v.type}>`, wrap(v.description, '      '));
  }
  const extras: string[] = [];
  if (n.enum) extras.push(`Allowed values: ${(n.enum as unknown[]).join(', ')}`);
  if (n.default !== undefined) extras.push(`Default: ${JSON.stringify(n.default)}`);
  if (n.minimum !== undefined || n.maximum !== undefined) extras.push(`Range: ${n.minimum ?? '-∞'} … ${n.maximum ?? '∞'}`);
  if (extras.length) out.push('', ...extras.map((e) => `    ${e}`));
  const fieldsOf = (x: S): [S, string[]] => {
    let d = deref(x, root);
    while (d.type === 'array' && d.items) d = deref(d.items, root);
    if (!d.properties && d.additionalProperties && typeof d.additionalProperties === 'object') d = deref(d.additionalProperties, root);
    return [d.properties ?? {}, (d.required ?? []) as string[]];
  };
  const [props, required] = fieldsOf(node);
  if (Object.keys(props).length) {
    out.push('', 'FIELDS:');
    if (opts.recursive) {
      const walk = (p: S, req: string[], depth: number) => {
        for (const [k, v] of Object.entries(p)) {
          out.push(`${'   '.repeat(depth)}${k}\t<${typeOf(v as S, root)}>${req.includes(k) ? ' -required-' : ''}`);
          if (depth < 8) {
            const [cp, cr] = fieldsOf(v as S);
            walk(cp, cr, depth + 1);
          }
        }
      };
      walk(props, required, 1);
    } else {
      for (const [k, v] of Object.entries(props)) {
        out.push(`   ${k}\t<${typeOf(v as S, root)}>${required.includes(k) ? ' -required-' : ''}`);
        const desc = deref(v as S, root).description;
        if (desc) out.push(wrap(String(desc), '     '));
        out.push('');
      }
      if (out[out.length - 1] === '') out.pop();
    }
  }
  return `${out.join('\n')}\n`;
}

export type { JsonSchema };
