/**
 * Direct evaluation for the common selector shape: field access, `in`,
 * `==`/`!=`, `&&`/`||`/`!`, `?:`, `startsWith`/`endsWith`/`contains` over
 * the environment's root variables. When every node of a checked AST is one
 * of these, the program is compiled into a closure tree that reads the
 * caller's variables directly — no evaluation context, no evaluator dispatch,
 * no per-call allocation.
 *
 * Each closure handles only the plain-JSON happy path. Anything else (a
 * missing key, a non-string operand, an error CEL would absorb) throws the
 * SLOW sentinel and the whole evaluation is redone by the library, so results
 * and errors stay the library's. test/compiler/cel-optimize.test.ts checks
 * that direct, fast-path and plain library evaluation agree.
 */

/** Thrown (never an Error: no stack to capture) when the happy path does not apply. */
export const SLOW: unique symbol = Symbol('cel-slow-path');

export type DirectFn = (vars: Record<string, unknown>) => unknown;

interface Node {
  op: string;
  args: unknown;
  meta: { alternate?: Node; macro?: unknown };
}

const hasOwn = Object.prototype.hasOwnProperty;

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && typeof (v as Node).op === 'string' && 'meta' in v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && (v as object).constructor === Object;
}

function slow(): never {
  throw SLOW;
}

function stringLiteral(n: unknown): string | undefined {
  return isNode(n) && n.op === 'value' && !n.meta.alternate && typeof n.args === 'string' ? n.args : undefined;
}

function constantStrings(n: Node): Set<string> | undefined {
  if (n.op !== 'list' || n.meta.alternate || n.meta.macro) return undefined;
  const out = new Set<string>();
  for (const item of n.args as unknown[]) {
    const s = stringLiteral(item);
    if (s === undefined) return undefined;
    out.add(s);
  }
  return out;
}

function field(l: unknown, key: string): unknown {
  if (isPlainObject(l) && hasOwn.call(l, key)) {
    const v = l[key];
    if (v !== undefined && typeof v !== 'function') return v;
  }
  return slow();
}

const STRING_METHODS: Record<string, (s: string, a: string) => boolean> = {
  startsWith: (s, a) => s.startsWith(a),
  endsWith: (s, a) => s.endsWith(a),
  contains: (s, a) => s.includes(a),
};

/**
 * A direct closure for the whole AST, or undefined when any node is outside
 * the supported set. `roots` are the environment's variable names.
 */
export function compileDirect(root: unknown, roots: ReadonlySet<string>): DirectFn | undefined {
  const build = (n: unknown): DirectFn | undefined => {
    if (isNode(n) && n.op === 'call' && n.meta.macro && (n.args as [string])[0] === 'has') return buildHas(n);
    if (!isNode(n) || n.meta.alternate || n.meta.macro) return undefined;
    switch (n.op) {
      case 'value': {
        const v = n.args;
        // Numbers stay with the library: JSON numbers are doubles, CEL literals ints, and their
        // mixed comparisons would always take the slow path here.
        if (typeof v === 'string' || typeof v === 'boolean' || v === null) return () => v;
        return undefined;
      }
      case 'id': {
        const name = n.args as string;
        if (!roots.has(name)) return undefined;
        return (vars) => {
          const v = vars[name];
          return isPlainObject(v) ? v : slow();
        };
      }
      case '.': {
        const [leftNode, name] = n.args as [Node, string];
        const L = build(leftNode);
        return L && ((vars) => field(L(vars), name));
      }
      case '[]': {
        const [leftNode, indexNode] = n.args as [Node, Node];
        const key = stringLiteral(indexNode);
        const L = key === undefined ? undefined : build(leftNode);
        return L && ((vars) => field(L(vars), key!));
      }
      case 'in': {
        const [leftNode, rightNode] = n.args as [Node, Node];
        const L = build(leftNode);
        if (!L) return undefined;
        const set = constantStrings(rightNode);
        if (set) {
          return (vars) => {
            const l = L(vars);
            return typeof l === 'string' ? set.has(l) : slow();
          };
        }
        const R = build(rightNode);
        return (
          R &&
          ((vars) => {
            const l = L(vars);
            const r = R(vars);
            if (typeof l === 'string') {
              if (isPlainObject(r)) return hasOwn.call(r, l) && r[l] !== undefined;
              if (Array.isArray(r)) return r.includes(l);
            }
            return slow();
          })
        );
      }
      case '==':
      case '!=': {
        const [leftNode, rightNode] = n.args as [Node, Node];
        const L = build(leftNode);
        const R = L && build(rightNode);
        if (!L || !R) return undefined;
        const negate = n.op === '!=';
        return (vars) => {
          const l = L(vars);
          const r = R(vars);
          if ((typeof l === 'string' && typeof r === 'string') || (typeof l === 'boolean' && typeof r === 'boolean')) return negate ? l !== r : l === r;
          return slow();
        };
      }
      case '&&':
      case '||': {
        const [leftNode, rightNode] = n.args as [Node, Node];
        const L = build(leftNode);
        const R = L && build(rightNode);
        if (!L || !R) return undefined;
        const short = n.op === '||';
        return (vars) => {
          const l = L(vars);
          if (l === short) return short;
          if (l !== !short) return slow();
          const r = R(vars);
          return typeof r === 'boolean' ? r : slow();
        };
      }
      case '!_': {
        const A = build(n.args);
        return (
          A &&
          ((vars) => {
            const v = A(vars);
            return typeof v === 'boolean' ? !v : slow();
          })
        );
      }
      case '?:': {
        const [c, a, b] = n.args as [Node, Node, Node];
        const C = build(c);
        const A = C && build(a);
        const B = A && build(b);
        if (!C || !A || !B) return undefined;
        return (vars) => {
          const v = C(vars);
          return v === true ? A(vars) : v === false ? B(vars) : slow();
        };
      }
      case 'rcall': {
        const [name, receiver, argNodes] = n.args as [string, Node, Node[]];
        const method = STRING_METHODS[name];
        if (!method || argNodes.length !== 1) return undefined;
        const S = build(receiver);
        const A = S && build(argNodes[0]);
        if (!S || !A) return undefined;
        return (vars) => {
          const s = S(vars);
          const a = A(vars);
          return typeof s === 'string' && typeof a === 'string' ? method(s, a) : slow();
        };
      }
      default:
        return undefined;
    }
  };
  /** has(x.f): x must evaluate (else the library raises its error); then f present and not null-ish undefined. */
  const buildHas = (n: Node): DirectFn | undefined => {
    const [, argNodes] = n.args as [string, Node[]];
    const sel = argNodes[0];
    if (argNodes.length !== 1 || !isNode(sel) || sel.op !== '.' || sel.meta.alternate) return undefined;
    const [leftNode, name] = sel.args as [Node, string];
    const L = build(leftNode);
    return (
      L &&
      ((vars) => {
        const o = L(vars);
        return isPlainObject(o) ? hasOwn.call(o, name) && o[name] !== undefined : slow();
      })
    );
  };
  return build(root);
}
