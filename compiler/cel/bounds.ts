/**
 * Static checks and run-time bounds on a type-checked CEL AST.
 *
 * The parser already bounds AST size and nesting. What it cannot bound is the
 * work a small expression does at run time: nested comprehensions over large
 * lists, strings or lists doubled inside `cel.bind`, and regular expressions.
 * Kubernetes rejects such expressions by estimated cost; our data (arbitrary
 * objects) has no declared sizes, so we combine a static comprehension-nesting
 * limit with a per-evaluation budget enforced by wrapping a few AST nodes:
 * each comprehension step spends one unit, and `+` checks the size of what it
 * built. `matches` is re-routed to RE2 (linear time) with cached patterns, and
 * literal regex and quantity arguments are validated at compile time.
 *
 * This walks the library's AST objects (`op`, `args`, `meta.alternate`,
 * `meta.macro`) — the one place Coffer depends on @marcbachmann/cel-js
 * internals; test/compiler/cel-bounds.test.ts pins the behaviour.
 */
import { celEnvironment } from './environments.ts';
import { CelError } from './errors.ts';
import { Quantity, QuantityError } from './quantity.ts';
import { children } from './ast.ts';
import { currentEvaluate } from './optimize.ts';
import { regexSyntaxError, regexTest } from './regex.ts';

/** Run-time and static bounds; defaults sized so real selectors never come near them. */
export interface CelLimits {
  /** Comprehension iterations (all/exists/map/filter/exists_one steps) per evaluation. */
  maxIterations: number;
  /** Longest string `+` may build, in UTF-16 units. */
  maxStringLength: number;
  /** Longest list `+` may build. */
  maxListLength: number;
  /** Comprehensions nested inside each other (static). */
  maxComprehensionNesting: number;
  /** Expression source length (static). */
  maxSourceLength: number;
}

export const DEFAULT_LIMITS: CelLimits = {
  maxIterations: 100_000,
  maxStringLength: 1 << 20,
  maxListLength: 100_000,
  maxComprehensionNesting: 3,
  maxSourceLength: 10_000,
};

/** The mutable per-evaluation budget a program's wrapped nodes draw from. */
export interface Budget {
  remaining: number;
}

/** Thrown inside evaluation when a bound is hit; the program turns it into CelEvalError. */
export class BoundExceeded extends Error {
  constructor(
    message: string,
    readonly reason: 'cost_limit' | 'size_limit',
    readonly offset: number,
  ) {
    super(message);
  }
}

/** The slice of the library's ASTNode we rely on. */
interface Node {
  op: string;
  args: unknown;
  pos: number;
  start: number;
  end: number;
  meta: { alternate?: Node; macro?: Record<string, unknown>; evaluate?: EvalFn };
  evaluate: EvalFn;
}
type EvalFn = (ev: { run(n: Node, ctx: unknown): unknown }, ast: Node, ctx: unknown) => unknown;

/** The evaluation a node uses now (an optimizer fast path when one is installed). */
function realEvaluate(n: Node): EvalFn {
  return currentEvaluate(n as never) as unknown as EvalFn;
}

function literalString(n: Node | undefined): string | undefined {
  return n && n.op === 'value' && typeof n.args === 'string' ? n.args : undefined;
}

/**
 * Check what the type checker cannot: literal regexes and quantities, and
 * comprehension nesting. Pure (the AST is not changed); run at compile time.
 */
export function checkProgram(root: Node, source: string, limits: CelLimits): void {
  const seen = new Set<Node>();
  const stack: [Node, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [n, nesting] = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    let inner = nesting;
    if (n.op === 'comprehension') {
      inner = nesting + 1;
      if (inner > limits.maxComprehensionNesting) {
        throw new CelError(
          `comprehensions nested ${inner} deep (at most ${limits.maxComprehensionNesting}): the work grows as the product of the list sizes`,
          source,
          n.start,
          n.end,
        );
      }
    } else if (n.op === 'rcall') {
      const [name, receiver, argNodes] = n.args as [string, Node, Node[]];
      checkDynMethodCall(n, name, receiver, argNodes, source);
      if (name === 'matches' || name === 'find' || name === 'findAll') {
        const pattern = literalString(argNodes[0]);
        if (pattern !== undefined) {
          const why = regexSyntaxError(pattern);
          if (why !== undefined) throw new CelError(`invalid regular expression (RE2 syntax): ${why}`, source, argNodes[0]!.start, argNodes[0]!.end);
        }
      }
    } else if (n.op === 'call') {
      const [name, argNodes] = n.args as [string, Node[]];
      const text = name === 'quantity' ? literalString(argNodes[0]) : undefined;
      if (text !== undefined) {
        try {
          Quantity.parse(text);
        } catch (e) {
          if (e instanceof QuantityError) throw new CelError(e.message, source, argNodes[0]!.start, argNodes[0]!.end);
          throw e;
        }
      }
    }
    const kids = children(n);
    // Reverse so the leftmost child is checked first: the first error reported is the leftmost one.
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i]!, inner]);
  }
}

type Typed = Node & { checkedType?: { name?: string } };

function compatible(param: string, arg: string | undefined): boolean {
  if (arg === undefined || arg === 'dyn' || param === 'dyn' || param === arg || /^[A-Z]$/.test(param)) return true;
  for (const kind of ['list<', 'map<', 'optional<']) if (param.startsWith(kind) && arg.startsWith(kind)) return true;
  return false;
}

/**
 * On a dyn receiver (any field of a Kubernetes object) the library resolves
 * methods only at run time, so `object.metadata.name.startsWith(1)` would
 * type-check. Reject calls that no overload of the method could accept,
 * whatever the receiver turns out to be.
 */
function checkDynMethodCall(n: Node, name: string, receiver: Node, argNodes: Node[], source: string): void {
  if ((receiver as Typed).checkedType?.name !== 'dyn') return;
  const overloads = methodOverloads().get(name);
  if (overloads === undefined || overloads.some((params) => params.includes('ast'))) return;
  const argTypes = argNodes.map((a) => (a as Typed).checkedType?.name);
  const ok = overloads.some((params) => params.length === argTypes.length && params.every((p, i) => compatible(p, argTypes[i])));
  if (!ok) {
    const takes = [...new Set(overloads.map((p) => `(${p.join(', ')})`))].join(' or ');
    throw new CelError(`no overload of method '${name}' accepts (${argTypes.map((t) => t ?? 'dyn').join(', ')}); it takes ${takes}`, source, n.start, n.end);
  }
}

let overloadIndex: Map<string, string[][]> | undefined;

function methodOverloads(): Map<string, string[][]> {
  if (overloadIndex === undefined) {
    overloadIndex = new Map();
    const defs = celEnvironment('object').getDefinitions() as { functions: { name: string; receiverType?: string | null; params?: { type: string }[] }[] };
    for (const f of defs.functions) {
      if (!f.receiverType) continue;
      const list = overloadIndex.get(f.name) ?? [];
      list.push((f.params ?? []).map((p) => p.type));
      overloadIndex.set(f.name, list);
    }
  }
  return overloadIndex;
}

/**
 * Install the run-time bounds (step budget, size checks, RE2 `matches`) on a
 * checked AST. Done on first evaluation, after the fast paths, so programs
 * that are only validated (coffer validate / plan) never pay for it.
 */
export function instrumentProgram(root: Node, limits: CelLimits, budget: Budget): void {
  const seen = new Set<Node>();
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if (n.op === 'comprehension') wrapStep(n, budget, limits);
    else if (n.op === '+') wrapSizeCheck(n, limits);
    else if (n.op === 'rcall') {
      const [name, , argNodes] = n.args as [string, Node, Node[]];
      if (name === 'matches' && argNodes.length === 1) wrapMatches(n);
    }
    for (const c of children(n)) stack.push(c);
  }
}

/**
 * A failing step costs far more than a passing one (the library builds an
 * error with a source excerpt, and exists()/all() absorb it and go on), so it
 * is charged ERROR_STEP_COST units: a predicate that fails on every element
 * cannot turn the budget into hundreds of thousands of exceptions.
 */
export const ERROR_STEP_COST = 100;

function wrapStep(comprehension: Node, budget: Budget, limits: CelLimits): void {
  const args = comprehension.args as { step: Node };
  const step = args.step;
  const real = realEvaluate(step);
  const offset = comprehension.start;
  step.evaluate = function boundedStep(ev, ast, ctx) {
    if (--budget.remaining < 0) {
      throw new BoundExceeded(`evaluation cost limit exceeded: more than ${limits.maxIterations} comprehension steps`, 'cost_limit', offset);
    }
    try {
      return real.call(this, ev, ast, ctx);
    } catch (e) {
      if (!(e instanceof BoundExceeded)) budget.remaining -= ERROR_STEP_COST;
      throw e;
    }
  };
}

function wrapSizeCheck(n: Node, limits: CelLimits): void {
  const real = realEvaluate(n);
  n.evaluate = function boundedPlus(ev, ast, ctx) {
    const r = real.call(this, ev, ast, ctx);
    if (typeof r === 'string') {
      if (r.length > limits.maxStringLength) throw new BoundExceeded(`string longer than ${limits.maxStringLength} characters`, 'size_limit', n.start);
    } else if (Array.isArray(r) && r.length > limits.maxListLength) {
      throw new BoundExceeded(`list longer than ${limits.maxListLength} elements`, 'size_limit', n.start);
    }
    return r;
  };
}

/** Replace the library's backtracking `new RegExp(p).test(s)` with cached RE2 matching. */
function wrapMatches(n: Node): void {
  const [, receiver, argNodes] = n.args as [string, Node, Node[]];
  const patternNode = argNodes[0]!;
  n.evaluate = function re2Matches(ev) {
    // ctx is the third argument; keep the signature the library calls us with.
    // eslint-disable-next-line prefer-rest-params
    const ctx = arguments[2];
    const s = ev.run(receiver, ctx);
    const p = ev.run(patternNode, ctx);
    if (typeof s !== 'string' || typeof p !== 'string') throw new Error(`matches() needs strings, got ${typeof s} and ${typeof p}`);
    const why = regexSyntaxError(p);
    if (why !== undefined) throw new Error(`invalid regular expression '${p}': ${why}`);
    return regexTest(s, p);
  };
}
