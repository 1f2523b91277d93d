/**
 * Direct evaluation for the common expression shapes: field access, `in`,
 * `==`/`!=`, numeric `<`…`>=`, `&&`/`||`/`!`, `?:`, `has()`, `size()`,
 * `startsWith`/`endsWith`/`contains`, and the macros all/exists/exists_one/
 * map/filter over the environment's variables. When every node of a checked
 * AST is one of these, the program is compiled into a closure tree that reads
 * the caller's variables directly — no evaluation context, no evaluator
 * dispatch, no per-call allocation.
 *
 * Each closure handles only the plain-JSON happy path. Anything else (a
 * missing key, a non-string operand, an error CEL would absorb, the step
 * budget running out) throws the SLOW sentinel and the whole evaluation is
 * redone by the library, so results, errors and bounds stay the library's.
 * test/compiler/cel-optimize.test.ts checks that direct, fast-path and plain
 * library evaluation agree.
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
export function compileDirect(root: unknown, roots: ReadonlySet<string>, budget: { remaining: number }): DirectFn | undefined {
  const build = (n: unknown, scope: Scope = EMPTY_SCOPE): DirectFn | undefined => {
    if (isNode(n) && n.op === 'call' && n.meta.macro && (n.args as [string])[0] === 'has') return buildHas(n, scope);
    if (isNode(n) && n.op === 'rcall' && n.meta.alternate) return buildMacro(n, scope);
    if (!isNode(n) || n.meta.alternate || n.meta.macro) return undefined;
    switch (n.op) {
      case 'value': {
        const v = n.args;
        if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'number' || v === null) return () => v;
        return undefined;
      }
      case 'id': {
        const name = n.args as string;
        const slot = scope.get(name);
        if (slot !== undefined) return () => slot.v;
        if (!roots.has(name)) return undefined;
        return (vars) => {
          const v = vars[name];
          return isPlainObject(v) ? v : slow();
        };
      }
      case '.': {
        const [leftNode, name] = n.args as [Node, string];
        const L = build(leftNode, scope);
        return L && ((vars) => field(L(vars), name));
      }
      case '[]': {
        const [leftNode, indexNode] = n.args as [Node, Node];
        const key = stringLiteral(indexNode);
        const L = key === undefined ? undefined : build(leftNode, scope);
        return L && ((vars) => field(L(vars), key!));
      }
      case 'in': {
        const [leftNode, rightNode] = n.args as [Node, Node];
        const L = build(leftNode, scope);
        if (!L) return undefined;
        const set = constantStrings(rightNode);
        if (set) {
          return (vars) => {
            const l = L(vars);
            return typeof l === 'string' ? set.has(l) : slow();
          };
        }
        const R = build(rightNode, scope);
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
        const L = build(leftNode, scope);
        const R = L && build(rightNode, scope);
        if (!L || !R) return undefined;
        const negate = n.op === '!=';
        return (vars) => {
          const l = L(vars);
          const r = R(vars);
          if ((typeof l === 'string' && typeof r === 'string') || (typeof l === 'boolean' && typeof r === 'boolean')) return negate ? l !== r : l === r;
          // Numbers: int (bigint) and double (number) compare by value, as the library's `a == b`.
          if ((typeof l === 'bigint' || typeof l === 'number') && (typeof r === 'bigint' || typeof r === 'number')) return negate ? l != r : l == r; // eslint-disable-line eqeqeq
          return slow();
        };
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const [leftNode, rightNode] = n.args as [Node, Node];
        const L = build(leftNode, scope);
        const R = L && build(rightNode, scope);
        if (!L || !R) return undefined;
        const cmp = COMPARE[n.op]!;
        return (vars) => {
          const l = L(vars);
          const r = R(vars);
          if ((typeof l === 'bigint' || typeof l === 'number') && (typeof r === 'bigint' || typeof r === 'number')) return cmp(l, r);
          return slow();
        };
      }
      case 'call': {
        // size(list | map); strings (code points) stay with the library.
        const [name, argNodes] = n.args as [string, Node[]];
        if (name !== 'size' || argNodes.length !== 1) return undefined;
        const A = build(argNodes[0], scope);
        return A && ((vars) => sizeOf(A(vars)));
      }
      case '&&':
      case '||': {
        const [leftNode, rightNode] = n.args as [Node, Node];
        const L = build(leftNode, scope);
        const R = L && build(rightNode, scope);
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
        const A = build(n.args, scope);
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
        const C = build(c, scope);
        const A = C && build(a, scope);
        const B = A && build(b, scope);
        if (!C || !A || !B) return undefined;
        return (vars) => {
          const v = C(vars);
          return v === true ? A(vars) : v === false ? B(vars) : slow();
        };
      }
      case 'rcall': {
        const [name, receiver, argNodes] = n.args as [string, Node, Node[]];
        if (name === 'size' && argNodes.length === 0) {
          const S = build(receiver, scope);
          return S && ((vars) => sizeOf(S(vars)));
        }
        const method = STRING_METHODS[name];
        if (!method || argNodes.length !== 1) return undefined;
        const S = build(receiver, scope);
        const A = S && build(argNodes[0], scope);
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
  const buildHas = (n: Node, scope: Scope): DirectFn | undefined => {
    const [, argNodes] = n.args as [string, Node[]];
    const sel = argNodes[0];
    if (argNodes.length !== 1 || !isNode(sel) || sel.op !== '.' || sel.meta.alternate) return undefined;
    const [leftNode, name] = sel.args as [Node, string];
    const L = build(leftNode, scope);
    return (
      L &&
      ((vars) => {
        const o = L(vars);
        return isPlainObject(o) ? hasOwn.call(o, name) && o[name] !== undefined : slow();
      })
    );
  };
  /**
   * all / exists / exists_one / map / filter over a list (elements) or a map
   * (keys). Every step spends one unit of the program's budget; an exhausted
   * budget, a non-bool predicate or any error hands the whole evaluation to
   * the library, which applies CEL's error rules and the bounds.
   */
  const buildMacro = (n: Node, scope: Scope): DirectFn | undefined => {
    const [name, receiver, argNodes] = n.args as [string, Node, Node[]];
    const iterNode = argNodes[0];
    if (!isNode(iterNode) || iterNode.op !== 'id') return undefined;
    const kind = `${name}/${argNodes.length}`;
    if (!['all/2', 'exists/2', 'exists_one/2', 'map/2', 'map/3', 'filter/2'].includes(kind)) return undefined;
    const I = build(receiver, scope);
    if (!I) return undefined;
    const slot = { v: undefined as unknown };
    const inner = new Map(scope).set(iterNode.args as string, slot);
    const fns = argNodes.slice(1).map((a) => build(a, inner));
    if (fns.some((f) => f === undefined)) return undefined;
    const [F, T] = fns as DirectFn[];
    const items = (vars: Record<string, unknown>): unknown[] => {
      const c = I(vars);
      if (Array.isArray(c)) return c;
      if (isPlainObject(c)) return Object.keys(c);
      return slow();
    };
    const predicate = (vars: Record<string, unknown>, item: unknown): boolean => {
      if (--budget.remaining < 0) slow();
      slot.v = item;
      const r = F!(vars);
      return typeof r === 'boolean' ? r : slow();
    };
    switch (kind) {
      case 'all/2':
        return (vars) => {
          for (const x of items(vars)) if (!predicate(vars, x)) return false;
          return true;
        };
      case 'exists/2':
        return (vars) => {
          for (const x of items(vars)) if (predicate(vars, x)) return true;
          return false;
        };
      case 'exists_one/2':
        return (vars) => {
          let count = 0;
          for (const x of items(vars)) if (predicate(vars, x)) count++;
          return count === 1;
        };
      case 'filter/2':
        return (vars) => items(vars).filter((x) => predicate(vars, x));
      case 'map/2':
        return (vars) =>
          items(vars).map((x) => {
            if (--budget.remaining < 0) slow();
            slot.v = x;
            return F!(vars);
          });
      default: // map/3: filter then transform
        return (vars) => {
          const out: unknown[] = [];
          for (const x of items(vars)) if (predicate(vars, x)) out.push(T!(vars));
          return out;
        };
    }
  };
  return build(root);
}

type Scope = ReadonlyMap<string, { v: unknown }>;
const EMPTY_SCOPE: Scope = new Map();

const COMPARE: Record<string, (a: number | bigint, b: number | bigint) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function sizeOf(v: unknown): bigint {
  if (Array.isArray(v)) return BigInt(v.length);
  if (isPlainObject(v)) return BigInt(Object.keys(v).length);
  return slow();
}
