/**
 * Coffer's blueprint argument templates: `{{ namespace }}`, `{{ workload.name }}`,
 * `{{ restorePoint.id }}`, `{{ artifacts.NAME.KEY }}`, `{{ phases.PHASE.output.KEY }}`, `{{ verify.query }}`,
 * with a few filters: `{{ x | quote }}` (POSIX shell single-quoting), `| default "v"`,
 * `| upper`, `| lower`, `| trim`.
 *
 * Deliberately not a programming language (unlike Go templates in Kanister): a template
 * can only look values up, so a blueprint in a pull request cannot run code in the
 * reconciler, and every reference is checked at compile time.
 */

export class TemplateError extends Error {
  readonly code: 'E_TEMPLATE' | 'E_TEMPLATE_RENDER';
  /** 0-based offset inside the template source. */
  readonly offset: number;
  constructor(message: string, offset: number, code: 'E_TEMPLATE' | 'E_TEMPLATE_RENDER' = 'E_TEMPLATE') {
    super(message);
    this.name = 'TemplateError';
    this.code = code;
    this.offset = offset;
  }
}

export type TemplateFilter = { name: 'quote' | 'upper' | 'lower' | 'trim' } | { name: 'default'; value: string };

export interface TemplateExpr {
  /** Variable path (e.g. ['phases', 'dump', 'output', 'path']), or undefined for a string literal. */
  path?: string[];
  literal?: string;
  filters: TemplateFilter[];
  /** Offset of the expression's first character inside the source. */
  offset: number;
  text: string;
}

export interface ParsedTemplate {
  readonly source: string;
  readonly parts: ReadonlyArray<string | TemplateExpr>;
}

/** What a template may reference where it is used; omitted lists are not checked. */
export interface TemplateScope {
  /** Names of phases whose output may be read (earlier phases of the same action). */
  phases?: readonly string[];
  /** Artifact name → keys recorded by the backup action. */
  artifacts?: Readonly<Record<string, readonly string[]>>;
  /** False where no workload is bound (a blueprint bound once per namespace). Default true. */
  workload?: boolean;
  /** True in a blueprint's verify action, the only one given a policy's check as `verify.*`. Default: not checked. */
  verify?: boolean;
}

/** The variables a template may use, with their fields (`*` = any name, checked against the scope). */
export const TEMPLATE_VARIABLES = {
  namespace: 'Namespace of the application being protected or restored.',
  cluster: 'Name of the cluster (coffer.yaml spec.cluster).',
  policy: 'Name of the policy running the blueprint.',
  workload: 'The bound workload: workload.kind, workload.name, workload.namespace.',
  restorePoint: 'The restore point: restorePoint.id, restorePoint.policy, restorePoint.namespace, restorePoint.time.',
  artifacts: 'Artifacts recorded by the backup action: artifacts.NAME.KEY.',
  phases: 'Output of an earlier phase: phases.PHASE.output.KEY.',
  verify: 'The policy check a verify action answers: verify.name, verify.query, verify.database (may be empty: use | default).',
} as const;

const FIELDS: Record<string, readonly string[] | undefined> = {
  workload: ['kind', 'name', 'namespace'],
  restorePoint: ['id', 'policy', 'namespace', 'time'],
  verify: ['name', 'query', 'database'],
};

const MAX_TEMPLATE = 64 * 1024;

/** Parses and checks a template; throws TemplateError (code E_TEMPLATE) with the offending offset. */
export function parseTemplate(source: string, scope: TemplateScope = {}): ParsedTemplate {
  if (source.length > MAX_TEMPLATE) throw new TemplateError(`template longer than ${MAX_TEMPLATE} characters`, 0);
  const parts: (string | TemplateExpr)[] = [];
  let i = 0;
  let text = '';
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    const close = source.indexOf('}}', i);
    if (close >= 0 && (open < 0 || close < open)) throw new TemplateError('unexpected "}}" without a matching "{{"', close);
    if (open < 0) {
      text += source.slice(i);
      break;
    }
    text += source.slice(i, open);
    const end = findClose(source, open + 2);
    if (end < 0) throw new TemplateError('unclosed "{{": add "}}"', open);
    const inner = source.slice(open + 2, end);
    if (text) parts.push(text);
    text = '';
    parts.push(parseExpr(inner, open + 2, scope));
    i = end + 2;
  }
  if (text) parts.push(text);
  return { source, parts };
}

/** Index of the `}}` closing an expression that starts at `from`, skipping "string literals"; -1 if none. */
function findClose(source: string, from: number): number {
  for (let i = from; i < source.length; i++) {
    const c = source[i]!;
    if (c === '"') {
      for (i++; i < source.length && source[i] !== '"'; i++) if (source[i] === '\\') i++;
      continue;
    }
    if (c === '{' && source[i + 1] === '{') return -1;
    if (c === '}' && source[i + 1] === '}') return i;
  }
  return -1;
}

const TOKEN = /\s*(?:("(?:[^"\\]|\\.)*")|([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*)|(\|)|(\S))/y;

function parseExpr(inner: string, base: number, scope: TemplateScope): TemplateExpr {
  const tokens: { kind: 'str' | 'path' | 'pipe'; value: string; offset: number }[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < inner.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(inner);
    if (!m) {
      if (/^\s*$/.test(inner.slice(at))) break;
      throw new TemplateError('invalid template expression', base + at);
    }
    const offset = base + m.index + m[0].length - m[0].trimStart().length;
    if (m[1]) tokens.push({ kind: 'str', value: JSON.parse(m[1]) as string, offset });
    else if (m[2]) tokens.push({ kind: 'path', value: m[2], offset });
    else if (m[3]) tokens.push({ kind: 'pipe', value: '|', offset });
    else throw new TemplateError(`unexpected character "${m[4]}" in template (only variables, "strings" and | filters are allowed)`, offset);
  }
  const first = tokens[0];
  if (!first) throw new TemplateError('empty template expression "{{ }}"', base);
  const expr: TemplateExpr = { filters: [], offset: first.offset, text: inner.trim() };
  if (first.kind === 'str') expr.literal = first.value;
  else if (first.kind === 'path') {
    expr.path = first.value.split('.');
    checkPath(expr.path, first.offset, scope);
  } else throw new TemplateError('a template expression cannot start with "|"', first.offset);
  let k = 1;
  while (k < tokens.length) {
    const t = tokens[k]!;
    if (t.kind !== 'pipe') throw new TemplateError('expected "|" before a filter', t.offset);
    const f = tokens[k + 1];
    if (!f || f.kind !== 'path') throw new TemplateError('expected a filter name after "|"', t.offset);
    if (f.value === 'default') {
      const v = tokens[k + 2];
      if (!v || v.kind !== 'str') throw new TemplateError('filter default needs a "string" argument', f.offset);
      expr.filters.push({ name: 'default', value: v.value });
      k += 3;
    } else if (f.value === 'quote' || f.value === 'upper' || f.value === 'lower' || f.value === 'trim') {
      expr.filters.push({ name: f.value });
      k += 2;
    } else {
      throw new TemplateError(`unknown filter "${f.value}" (known: quote, default, upper, lower, trim)`, f.offset);
    }
  }
  return expr;
}

function checkPath(path: string[], offset: number, scope: TemplateScope): void {
  const [root, ...rest] = path as [string, ...string[]];
  const full = path.join('.');
  if (!(root in TEMPLATE_VARIABLES)) {
    throw new TemplateError(`unknown template variable "${root}" (known: ${Object.keys(TEMPLATE_VARIABLES).join(', ')})`, offset);
  }
  const fields = FIELDS[root];
  if (root === 'namespace' || root === 'cluster' || root === 'policy') {
    if (rest.length) throw new TemplateError(`"${root}" is a string and has no field "${rest[0]}"`, offset + root.length + 1);
    return;
  }
  if (fields) {
    if (root === 'workload' && scope.workload === false) throw new TemplateError('"workload" is not available: this blueprint is bound once per namespace, not per workload', offset);
    if (root === 'verify' && scope.verify === false) throw new TemplateError('"verify" is only available in the verify action (it is the policy check being answered)', offset);
    if (rest.length !== 1 || !fields.includes(rest[0]!)) {
      throw new TemplateError(`"${full}" is not a field of ${root} (known: ${fields.map((f) => `${root}.${f}`).join(', ')})`, offset);
    }
    return;
  }
  if (root === 'artifacts') {
    if (rest.length < 1 || rest.length > 2) throw new TemplateError(`write artifacts.NAME.KEY, got "${full}"`, offset);
    if (scope.artifacts) {
      const keys = scope.artifacts[rest[0]!];
      if (!keys) {
        const known = Object.keys(scope.artifacts);
        throw new TemplateError(`unknown artifact "${rest[0]}" (${known.length ? `the backup action records: ${known.join(', ')}` : 'the backup action records no outputArtifacts'})`, offset + root.length + 1);
      }
      if (rest[1] !== undefined && !keys.includes(rest[1])) {
        throw new TemplateError(`artifact "${rest[0]}" has no key "${rest[1]}" (keys: ${keys.join(', ')})`, offset + root.length + rest[0]!.length + 2);
      }
    }
    return;
  }
  // phases.PHASE.output.KEY
  if (rest.length !== 3 || rest[1] !== 'output') throw new TemplateError(`write phases.PHASE.output.KEY, got "${full}"`, offset);
  if (scope.phases && !scope.phases.includes(rest[0]!)) {
    throw new TemplateError(
      `phase "${rest[0]}" is not an earlier phase of this action${scope.phases.length ? ` (earlier phases: ${scope.phases.join(', ')})` : ''}`,
      offset + root.length + 1,
    );
  }
}

/** Variables a template reads, as dotted paths (for plan output and dependency checks). */
export function templateReferences(t: ParsedTemplate): string[] {
  const refs = new Set<string>();
  for (const p of t.parts) if (typeof p !== 'string' && p.path) refs.add(p.path.join('.'));
  return [...refs].sort();
}

/** True when the string contains template syntax, so plain strings skip parsing. */
export function isTemplated(s: string): boolean {
  return s.includes('{{') || s.includes('}}');
}

/**
 * Renders a parsed template with run-time values. A missing value is an error
 * (E_TEMPLATE_RENDER) unless a `default` filter supplies one: silently rendering
 * an empty string into a shell command is how backups end up empty.
 */
export function renderTemplate(parsed: ParsedTemplate, context: Record<string, unknown>): string {
  let out = '';
  for (const p of parsed.parts) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    let value: unknown = p.literal;
    if (p.path) {
      value = context;
      for (const seg of p.path) {
        value = value !== null && typeof value === 'object' && Object.hasOwn(value, seg) ? (value as Record<string, unknown>)[seg] : undefined;
        if (value === undefined) break;
      }
    }
    let s: string | undefined = value === undefined || value === null ? undefined : typeof value === 'object' ? JSON.stringify(value) : String(value);
    for (const f of p.filters) {
      if (f.name === 'default') s = s === undefined || s === '' ? f.value : s;
      else if (s !== undefined) s = f.name === 'quote' ? shellQuote(s) : f.name === 'upper' ? s.toUpperCase() : f.name === 'lower' ? s.toLowerCase() : s.trim();
    }
    if (s === undefined) throw new TemplateError(`{{ ${p.text} }}: no value for "${p.path!.join('.')}"`, p.offset, 'E_TEMPLATE_RENDER');
    out += s;
  }
  return out;
}

/** POSIX shell single-quoting: safe to paste into `sh -c`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Renders every templated string inside a blueprint phase's `args` (deep copy; other
 * values untouched). Strings that are exactly one template rendering to digits become
 * numbers, so `replicas: "{{ phases.down.output.originalReplicas }}"` validates as an integer.
 */
export function renderArgs(value: unknown, context: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    if (!isTemplated(value)) return value;
    const parsed = parseTemplate(value);
    const out = renderTemplate(parsed, context);
    const whole = parsed.parts.length === 1 && typeof parsed.parts[0] !== 'string';
    return whole && /^(0|[1-9][0-9]{0,14})$/.test(out) ? Number(out) : out;
  }
  if (Array.isArray(value)) return value.map((v) => renderArgs(v, context));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderArgs(v, context);
    return out;
  }
  return value;
}
