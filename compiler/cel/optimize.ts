/**
 * Fast paths for the node shapes selectors are made of, installed on a
 * type-checked AST. Measured on 100,000 objects (test/bench/compile.ts), the
 * library spends most of a selector's time in generic run-time overload
 * dispatch: `x.startsWith("p")` on a dyn receiver, `x in ["a", "b"]` (which
 * also rebuilds the list literal on every evaluation), `==` on dyn values and
 * field access. Each fast path handles only the plain-JSON case whose CEL
 * meaning is unambiguous (strings, plain objects) and hands anything else to
 * the library's own handler with the operands it already computed, so
 * results and errors are the library's. test/compiler/cel-optimize.test.ts
 * checks optimized and unoptimized programs agree on a corpus.
 */
import { children, isNode as isAstNode } from './ast.ts';

interface Ev {
  run(n: Node, ctx: unknown): unknown;
}
type EvalFn = (ev: Ev, ast: Node, ctx: unknown) => unknown;
type Handle = (left: unknown, right: unknown, ast: Node, ev: Ev) => unknown;

interface Node {
  op: string;
  args: unknown;
  meta: { alternate?: Node; macro?: Record<string, unknown>; evaluate?: EvalFn };
  evaluate: EvalFn;
  left?: Node;
  right?: Node | string;
  handle?: Handle;
}

const hasOwn = Object.prototype.hasOwnProperty;
const isNode = (v: unknown): v is Node => isAstNode<Node>(v);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && (v as object).constructor === Object;
}


/** The evaluation a node has once checked (an own override if another pass installed one). */
export function currentEvaluate(n: Node): EvalFn {
  if (hasOwn.call(n, 'evaluate')) return n.evaluate;
  const alt = n.meta.alternate;
  if (alt) return (ev, _a, ctx) => alt.evaluate(ev, alt, ctx);
  const macro = n.meta.macro as { evaluate: (ev: unknown, m: unknown, ctx: unknown) => unknown } | undefined;
  if (macro) return (ev, _a, ctx) => macro.evaluate(ev, macro, ctx);
  return n.meta.evaluate!;
}

function stringLiteral(n: unknown): string | undefined {
  return isNode(n) && n.op === 'value' && typeof n.args === 'string' ? n.args : undefined;
}

/** A list literal made only of string literals, as a Set; undefined otherwise. */
function constantStringList(n: unknown): Set<string> | undefined {
  if (!isNode(n) || n.op !== 'list' || n.meta.alternate) return undefined;
  const items = n.args as unknown[];
  const out = new Set<string>();
  for (const i of items) {
    const s = stringLiteral(i);
    if (s === undefined) return undefined;
    out.add(s);
  }
  return out;
}

type Fast = (ctx: unknown, ev: Ev) => unknown;

/**
 * Compiles nodes into direct closures: a fast node calls its fast children
 * straight away instead of through the evaluator's megamorphic
 * `ast.evaluate` dispatch. Every fast node is also installed as the node's
 * own `evaluate`, so library nodes above it (comprehensions, calls) use it.
 */
class FastCompiler {
  private readonly memo = new Map<Node, Fast>();

  of(n: Node): Fast {
    let f = this.memo.get(n);
    if (f === undefined) {
      f = this.build(n) ?? ((ctx, ev) => n.evaluate(ev, n, ctx));
      this.memo.set(n, f);
    }
    return f;
  }

  /** A fast closure for `n`, installed as its evaluate; undefined when `n` keeps the library's. */
  private build(n: Node): Fast | undefined {
    if (n.meta.alternate || n.meta.macro || hasOwn.call(n, 'evaluate')) return undefined;
    const f = this.specialise(n);
    if (f !== undefined) n.evaluate = (ev, _ast, ctx) => f(ctx, ev);
    return f;
  }

  private specialise(n: Node): Fast | undefined {
    const real = currentEvaluate(n);
    const slow: Fast = (ctx, ev) => real.call(n, ev, n, ctx);
    switch (n.op) {
      case 'value': {
        const v = n.args;
        // Only immutable literals: list and map literals are never shared (comprehensions push into them).
        return typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'number' || v === null ? () => v : undefined;
      }
      case '.': {
        const [leftNode, name] = n.args as [Node, string];
        const handle = n.handle;
        if (typeof handle !== 'function') return undefined;
        const L = this.of(leftNode);
        return (ctx, ev) => {
          const l = L(ctx, ev);
          if (isPlainObject(l) && hasOwn.call(l, name)) {
            const v = l[name];
            if (v !== undefined && typeof v !== 'function') return v;
          }
          return handle(l, name, n, ev);
        };
      }
      case '[]': {
        const [leftNode, indexNode] = n.args as [Node, Node];
        const key = stringLiteral(indexNode);
        const handle = n.handle;
        if (typeof handle !== 'function' || key === undefined) return undefined;
        const L = this.of(leftNode);
        return (ctx, ev) => {
          const l = L(ctx, ev);
          if (isPlainObject(l) && hasOwn.call(l, key)) {
            const v = l[key];
            if (v !== undefined && typeof v !== 'function') return v;
          }
          return handle(l, key, n, ev);
        };
      }
      case 'in': {
        const [leftNode, rightNode] = n.args as [Node, Node];
        const handle = n.handle;
        if (typeof handle !== 'function') return undefined;
        const L = this.of(leftNode);
        const set = constantStringList(rightNode);
        if (set !== undefined) {
          return (ctx, ev) => {
            const l = L(ctx, ev);
            if (typeof l === 'string') return set.has(l);
            return handle(l, rightNode.evaluate(ev, rightNode, ctx), n, ev);
          };
        }
        const R = this.of(rightNode);
        return (ctx, ev) => {
          const l = L(ctx, ev);
          const r = R(ctx, ev);
          if (typeof l === 'string') {
            if (isPlainObject(r)) return hasOwn.call(r, l) && r[l] !== undefined;
            if (Array.isArray(r)) return r.includes(l);
          }
          return handle(l, r, n, ev);
        };
      }
      case '==':
      case '!=': {
        const [leftNode, rightNode] = n.args as [Node, Node];
        const handle = n.handle;
        if (typeof handle !== 'function') return undefined;
        const L = this.of(leftNode);
        const R = this.of(rightNode);
        const negate = n.op === '!=';
        return (ctx, ev) => {
          const l = L(ctx, ev);
          const r = R(ctx, ev);
          if ((typeof l === 'string' && typeof r === 'string') || (typeof l === 'boolean' && typeof r === 'boolean')) return negate ? l !== r : l === r;
          return handle(l, r, n, ev);
        };
      }
      case '&&':
      case '||': {
        // CEL's commutative && / ||: only the plain bool cases are fast; errors
        // and non-bool operands re-run the library's version for its exact result.
        const [leftNode, rightNode] = n.args as [Node, Node];
        const L = this.of(leftNode);
        const R = this.of(rightNode);
        const short = n.op === '||';
        return (ctx, ev) => {
          let l: unknown;
          try {
            l = L(ctx, ev);
          } catch {
            return slow(ctx, ev);
          }
          if (l === short) return short;
          if (l === !short) {
            const r = R(ctx, ev);
            if (typeof r === 'boolean') return r;
          }
          return slow(ctx, ev);
        };
      }
      case '!_': {
        const A = this.of(n.args as Node);
        return (ctx, ev) => {
          const v = A(ctx, ev);
          return typeof v === 'boolean' ? !v : slow(ctx, ev);
        };
      }
      case 'rcall': {
        const [name, receiver, argNodes] = n.args as [string, Node, Node[]];
        const method = STRING_METHODS[name];
        if (!method || argNodes.length !== 1) return undefined;
        const S = this.of(receiver);
        const A = this.of(argNodes[0]!);
        return (ctx, ev) => {
          const s = S(ctx, ev);
          if (typeof s === 'string') {
            const a = A(ctx, ev);
            if (typeof a === 'string') return method(s, a);
          }
          return slow(ctx, ev);
        };
      }
      default:
        return undefined;
    }
  }
}

const STRING_METHODS: Record<string, (s: string, a: string) => boolean> = {
  startsWith: (s, a) => s.startsWith(a),
  endsWith: (s, a) => s.endsWith(a),
  contains: (s, a) => s.includes(a),
};

/** Install fast paths on every eligible node of a checked AST. */
export function optimizeProgram(root: Node): void {
  const compiler = new FastCompiler();
  const seen = new Set<Node>();
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    compiler.of(n);
    for (const c of children(n)) stack.push(c);
  }
}
