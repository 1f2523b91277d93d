/**
 * Coffer's CEL front end: compile an expression once against a declared
 * environment (parse, type-check, static bounds), then evaluate it many times.
 *
 * Library: @marcbachmann/cel-js, chosen by measurement (test/bench/compile.ts):
 * it type-checks against declared variables and functions and evaluates a
 * compiled selector an order of magnitude faster than `cel-js`.
 */
import { ParseError, TypeError as CelTypeError, EvaluationError } from '@marcbachmann/cel-js';
import { BoundExceeded, checkProgram, DEFAULT_LIMITS, instrumentProgram, type Budget, type CelLimits } from './bounds.ts';
import { CEL_VARIABLES, celEnvironment, knownFunctionNames, type CelEnvironment } from './environments.ts';
import { CelError, CelEvalError } from './errors.ts';
import { compileDirect, SLOW, type DirectFn } from './direct.ts';
import { optimizeProgram } from './optimize.ts';

export { CelError, CelEvalError } from './errors.ts';
export { CEL_ENVIRONMENTS, CEL_VARIABLES, type CelEnvironment, type CelVariable } from './environments.ts';
export { DEFAULT_LIMITS, type CelLimits } from './bounds.ts';
export { Quantity, QuantityError } from './quantity.ts';

export interface CompileOptions {
  /** Require the expression's static type to be bool (dyn is accepted and checked when evaluated). */
  expect?: 'bool';
  /** Override bounds (tests, or a stricter reconciler setting). */
  limits?: Partial<CelLimits>;
  /** Install the fast paths of optimize.ts (default true; false gives the library's plain evaluation). */
  optimize?: boolean;
}

/** A compiled, type-checked expression; safe to evaluate many times. */
export interface CelProgram {
  readonly source: string;
  readonly env: CelEnvironment;
  /** The static result type the checker inferred: 'bool', 'string', 'dyn', … */
  readonly resultType: string;
  /** Evaluate with the environment's variables, e.g. `{ object, namespaceObject }`. Throws CelEvalError. */
  evaluate(vars: Record<string, unknown>): unknown;
  /** Evaluate and require a bool (for selectors and conditions). Throws CelEvalError otherwise. */
  test(vars: Record<string, unknown>): boolean;
}

interface LibError {
  code?: string;
  summary?: string;
  message: string;
  range?: { start: number; end: number };
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

function suggestion(name: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = levenshtein(name.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(name.length / 3)) ? ` (did you mean '${best}'?)` : '';
}

/** Turn a library parse/type error into a CelError with a cel-go-like message and the offset. */
function toCelError(e: LibError, source: string, env: CelEnvironment): CelError {
  const summary = e.summary ?? e.message.split('\n')[0] ?? 'invalid expression';
  const start = e.range?.start ?? 0;
  const end = e.range?.end ?? start;
  const vars = CEL_VARIABLES[env].map((v) => v.name);
  const declared = `declared in the '${env}' environment: ${vars.join(', ')}`;
  let m: RegExpExecArray | null;
  if ((m = /^Unknown variable: (.+)$/.exec(summary))) {
    const name = m[1]!;
    const similar = suggestion(name, vars);
    const anyVariable = Object.values(CEL_VARIABLES).some((vs) => vs.some((v) => v.name === name));
    const quote = similar === '' && !anyVariable && /^[A-Za-z_][\w-]*$/.test(name) ? ` (a string needs quotes: "${name}")` : '';
    return new CelError(`undeclared reference to '${name}'${similar}${quote}; variables ${declared}`, source, start, end);
  }
  if ((m = /^Reserved identifier: (.+)$/.exec(summary))) {
    const name = m[1]!;
    const hint = name === 'namespace' ? " — use 'namespaceObject' for the Namespace (as in Kubernetes admission CEL)" : '';
    return new CelError(`'${name}' is a reserved word in CEL${hint}`, source, start, end);
  }
  if ((m = /^found no matching overload for '([A-Za-z_][A-Za-z0-9_.]*)\((.*)\)'$/.exec(summary))) {
    const full = m[1]!;
    const fn = full.includes('.') ? full.slice(full.lastIndexOf('.') + 1) : full;
    if (!knownFunctionNames().has(fn)) {
      return new CelError(`undeclared reference to function '${fn}'${suggestion(fn, knownFunctionNames())}`, source, start, end);
    }
    return new CelError(`no matching overload for '${full}(${m[2]})'`, source, start, end);
  }
  const limit = /exceeded (maxAstNodes|maxDepth|maxListElements|maxMapEntries|maxCallArguments) \((\d+)\)/i.exec(summary);
  if (limit) {
    const what: Record<string, string> = {
      maxAstNodes: 'the expression is too large: more than N syntax nodes',
      maxDepth: 'the expression nests more than N levels deep',
      maxListElements: 'a list literal has more than N elements',
      maxMapEntries: 'a map literal has more than N entries',
      maxCallArguments: 'a call has more than N arguments',
    };
    return new CelError(what[limit[1]!]!.replace('N', limit[2]!), source, start, end);
  }
  if (e instanceof ParseError) return new CelError(`syntax error: ${summary.charAt(0).toLowerCase()}${summary.slice(1)}${syntaxHint(source, start)}`, source, start, end);
  return new CelError(summary.charAt(0).toLowerCase() + summary.slice(1), source, start, end);
}

/** Hints for the mistakes people coming from other languages make most. */
function syntaxHint(source: string, at: number): string {
  const around = source.slice(Math.max(0, at - 4), at + 4);
  if (/(^|[^=!<>])=($|[^=])/.test(around) && !/==|!=|<=|>=/.test(source.slice(Math.max(0, at - 1), at + 2))) return " (compare with '==')";
  if (/===|!==/.test(around)) return " (CEL compares with '==' and '!=')";
  if (/\bin\s*\(/.test(source)) return ' (a list is written in brackets: ["a", "b"])';
  const word = /\b(and|or|not)\b/i.exec(source.slice(Math.max(0, at - 4), at + 4));
  if (word) return ` (CEL writes '${word[1]}' as ${{ and: "'&&'", or: "'||'", not: "'!'" }[word[1]!.toLowerCase() as 'and' | 'or' | 'not']})`;
  if (at >= source.trimEnd().length) return ' (the expression ends too early)';
  return '';
}

function isLibError(e: unknown): e is LibError {
  return e instanceof ParseError || e instanceof CelTypeError || e instanceof EvaluationError;
}

/**
 * Parse and type-check `source` once against `env`. Throws CelError (code
 * E_CEL, `offset` inside the expression) for syntax errors, undeclared
 * variables or functions, type errors, invalid literal regexes or quantities,
 * and expressions past the static bounds.
 */
export function compileCel(source: string, env: CelEnvironment, opts: CompileOptions = {}): CelProgram {
  const key = typeof source === 'string' ? `${env}\u0000${opts.expect ?? ''}\u0000${opts.optimize !== false}\u0000${opts.limits ? JSON.stringify(opts.limits) : ''}\u0000${source}` : undefined;
  const hit = key === undefined ? undefined : programCache.get(key);
  if (hit !== undefined) {
    // Refresh recency: the cache keeps the most recently used programs.
    programCache.delete(key!);
    programCache.set(key!, hit);
    return hit;
  }
  const program = compileUncached(source, env, opts);
  if (programCache.size >= PROGRAM_CACHE_MAX) programCache.delete(programCache.keys().next().value as string);
  programCache.set(key!, program);
  return program;
}

/**
 * Compiled programs by environment, options and source. Validation, the plan,
 * plan --diff (two commits, mostly the same expressions) and every reconcile
 * compile the same expressions again; a program is immutable to its callers
 * and evaluation is synchronous, so sharing one is safe.
 */
const programCache = new Map<string, CelProgram>();
const PROGRAM_CACHE_MAX = 5000;

function compileUncached(source: string, env: CelEnvironment, opts: CompileOptions): CelProgram {
  const limits: CelLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (typeof source !== 'string') throw new CelError('CEL expression must be a string', '', 0);
  if (source.length > limits.maxSourceLength) {
    throw new CelError(`expression is ${source.length} characters long (at most ${limits.maxSourceLength})`, source.slice(0, 200), 0);
  }
  if (source.trim() === '') throw new CelError('empty expression', source, 0);
  const environment = celEnvironment(env);
  let parsed: ReturnType<typeof environment.parse>;
  try {
    parsed = environment.parse(source);
  } catch (e) {
    if (isLibError(e)) throw toCelError(e, source, env);
    // The parser enforces AST limits with its own errors; keep them as compile errors.
    throw new CelError(e instanceof Error ? e.message : String(e), source, 0);
  }
  const checked = parsed.check();
  if (!checked.valid) {
    const err: unknown = checked.error;
    if (isLibError(err)) throw toCelError(err, source, env);
    throw new CelError(err instanceof Error ? err.message : 'type check failed', source, 0);
  }
  const ast = parsed.ast as never;
  checkProgram(ast, source, limits);
  const budget: Budget = { remaining: limits.maxIterations };
  const optimize = opts.optimize !== false;
  let instrumented = false;
  let direct: DirectFn | undefined;
  const resultType = checked.type ?? 'dyn';
  if (opts.expect === 'bool' && resultType !== 'bool' && resultType !== 'dyn') {
    throw new CelError(`expression must evaluate to bool, but its type is ${resultType}`, source, 0, source.length);
  }
  const aliasWorkload = env === 'workload';
  const rootNames = new Set(CEL_VARIABLES[env].map((v) => v.name));

  const evaluate = (vars: Record<string, unknown>): unknown => {
    if (!instrumented) {
      if (optimize) {
        optimizeProgram(ast);
        direct = compileDirect(ast, rootNames, budget);
      }
      instrumentProgram(ast, limits, budget);
      instrumented = true;
    }
    let ctx = vars;
    if (aliasWorkload && (vars.workload === undefined) !== (vars.object === undefined)) {
      const w = vars.workload ?? vars.object;
      ctx = { ...vars, object: w, workload: w };
    }
    if (direct !== undefined) {
      budget.remaining = limits.maxIterations;
      try {
        return direct(ctx);
      } catch (e) {
        if (e !== SLOW) throw toEvalError(e, source);
      }
    }
    budget.remaining = limits.maxIterations;
    let result: unknown;
    try {
      result = parsed(ctx);
    } catch (e) {
      // Once the budget is spent, whatever error surfaced (possibly one a quantifier absorbed) is a cost error.
      if (budget.remaining < 0) throw new CelEvalError(`evaluation cost limit exceeded: more than ${limits.maxIterations} comprehension steps`, source, 'cost_limit');
      throw toEvalError(e, source);
    }
    if (budget.remaining < 0) throw new CelEvalError(`evaluation cost limit exceeded: more than ${limits.maxIterations} comprehension steps`, source, 'cost_limit');
    return result;
  };

  return {
    source,
    env,
    resultType,
    evaluate,
    test(vars) {
      const r = evaluate(vars);
      if (typeof r !== 'boolean') throw new CelEvalError(`expression returned ${describe(r)}, not a bool`, source, 'not_bool');
      return r;
    },
  };
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'bigint') return `int ${v}`;
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function toEvalError(e: unknown, source: string): CelEvalError {
  if (e instanceof CelEvalError) return e;
  if (e instanceof BoundExceeded) return new CelEvalError(e.message, source, e.reason, e.offset);
  // A bound hit inside a quantifier surfaces as the quantifier's own error; unwrap causes.
  const cause = (e as { cause?: unknown })?.cause;
  if (cause instanceof BoundExceeded) return new CelEvalError(cause.message, source, cause.reason, cause.offset);
  if (isLibError(e)) {
    const summary = e.summary ?? e.message.split('\n')[0]!;
    return new CelEvalError(summary, source, e.code ?? 'evaluation_error', e.range?.start);
  }
  return new CelEvalError(e instanceof Error ? e.message : String(e), source, 'evaluation_error');
}
