/**
 * The declared CEL environments Coffer compiles expressions against, one per
 * place an expression can appear, each with its variables and the Kubernetes
 * CEL extensions the library lacks (quantity, regex find/findAll, list
 * helpers, string replace). Environments are built once and shared: building
 * one is far more expensive than compiling an expression.
 */
import { Environment } from '@marcbachmann/cel-js';
import { Quantity, QuantityError } from './quantity.ts';
import { regexFind, regexFindAll } from './regex.ts';

export type CelEnvironment = 'namespace' | 'object' | 'workload' | 'transform';

export const CEL_ENVIRONMENTS: readonly CelEnvironment[] = ['namespace', 'object', 'workload', 'transform'];

/** A variable an environment declares, with the help text `coffer explain` and error hints use. */
export interface CelVariable {
  readonly name: string;
  readonly type: string;
  readonly description: string;
}

const OBJECT_VAR: CelVariable = { name: 'object', type: 'map<string, dyn>', description: 'The Kubernetes object being evaluated, as JSON (apiVersion, kind, metadata, spec, status).' };
const NAMESPACE_VAR: CelVariable = {
  name: 'namespaceObject',
  type: 'map<string, dyn>',
  description: "The Namespace object (metadata.name, metadata.labels, …). Named like Kubernetes admission CEL: 'namespace' is a reserved word in CEL.",
};
const WORKLOAD_VAR: CelVariable = { name: 'workload', type: 'map<string, dyn>', description: 'The workload (Deployment, StatefulSet, DaemonSet, …); the same value as `object`.' };

/** Variables per environment. The first is the one the environment is "about". */
export const CEL_VARIABLES: Readonly<Record<CelEnvironment, readonly CelVariable[]>> = {
  namespace: [NAMESPACE_VAR],
  object: [OBJECT_VAR, NAMESPACE_VAR],
  workload: [OBJECT_VAR, WORKLOAD_VAR, NAMESPACE_VAR],
  transform: [OBJECT_VAR],
};

/** Limits enforced by the parser (Kubernetes bounds its CEL the same way). */
export const PARSE_LIMITS = {
  maxAstNodes: 2000,
  maxDepth: 32,
  maxListElements: 1000,
  maxMapEntries: 1000,
  maxCallArguments: 16,
} as const;

function quantityOf(s: string): Quantity {
  try {
    return Quantity.parse(s);
  } catch (e) {
    // The library turns handler exceptions into evaluation errors that keep this message.
    throw e instanceof QuantityError ? new Error(e.message) : e;
  }
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    const x = Number(a);
    const y = Number(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (a instanceof Quantity && b instanceof Quantity) return a.compareTo(b);
  throw new Error(`cannot compare ${typeof a} with ${typeof b}`);
}

function minMax(list: unknown[], sign: 1 | -1, name: string): unknown {
  if (list.length === 0) throw new Error(`${name}() called on an empty list`);
  let best = list[0];
  for (let i = 1; i < list.length; i++) if (compareValues(list[i], best) * sign < 0) best = list[i];
  return best;
}

function sumOf(list: unknown[]): unknown {
  if (list.length === 0) return 0n;
  if (list.every((x) => typeof x === 'bigint')) return (list as bigint[]).reduce((a, b) => a + b, 0n);
  if (list.every((x) => x instanceof Quantity)) return (list as Quantity[]).reduce((a, b) => a.add(b));
  let total = 0;
  for (const x of list) {
    if (typeof x !== 'number' && typeof x !== 'bigint') throw new Error('sum() needs a list of numbers');
    total += Number(x);
  }
  return total;
}

/** Register the Kubernetes CEL extensions (quantity, regex, lists, strings) on an environment. */
function registerKubernetesExtensions(env: Environment): void {
  env.registerType('Quantity', Quantity);
  env
    .registerFunction('quantity(string): Quantity', quantityOf, { description: 'Parse a Kubernetes resource quantity such as "10Gi" or "500m".' })
    .registerFunction('isQuantity(string): bool', (s: string) => Quantity.isQuantity(s))
    .registerFunction('Quantity.isGreaterThan(Quantity): bool', (a: Quantity, b: Quantity) => a.compareTo(b) > 0)
    .registerFunction('Quantity.isLessThan(Quantity): bool', (a: Quantity, b: Quantity) => a.compareTo(b) < 0)
    .registerFunction('Quantity.compareTo(Quantity): int', (a: Quantity, b: Quantity) => BigInt(a.compareTo(b)))
    .registerFunction('Quantity.isInteger(): bool', (a: Quantity) => a.isInteger())
    .registerFunction('Quantity.asInteger(): int', (a: Quantity) => {
      try {
        return a.asInteger();
      } catch (e) {
        throw new Error((e as Error).message);
      }
    })
    .registerFunction('Quantity.asApproximateFloat(): double', (a: Quantity) => a.asApproximateFloat())
    .registerFunction('Quantity.sign(): int', (a: Quantity) => a.sign())
    .registerFunction('Quantity.add(Quantity): Quantity', (a: Quantity, b: Quantity) => a.add(b))
    .registerFunction('Quantity.add(int): Quantity', (a: Quantity, b: bigint) => a.add(new Quantity(b)))
    .registerFunction('Quantity.sub(Quantity): Quantity', (a: Quantity, b: Quantity) => a.sub(b))
    .registerFunction('Quantity.sub(int): Quantity', (a: Quantity, b: bigint) => a.sub(new Quantity(b)));
  env.registerOperator('Quantity == Quantity', (a: Quantity, b: Quantity) => a.equals(b));

  env
    .registerFunction('string.find(string): string', regexFind, { description: 'First RE2 match in the string, or "".' })
    .registerFunction('string.findAll(string): list<string>', (s: string, p: string) => regexFindAll(s, p))
    .registerFunction('string.findAll(string, int): list<string>', (s: string, p: string, n: bigint) => regexFindAll(s, p, Number(n)))
    .registerFunction('string.replace(string, string): string', (s: string, a: string, b: string) => s.split(a).join(b))
    .registerFunction('string.replace(string, string, int): string', (s: string, a: string, b: string, n: bigint) => {
      if (n < 0n) return s.split(a).join(b);
      const parts = s.split(a);
      const k = Number(n);
      return parts.length <= k + 1 ? parts.join(b) : parts.slice(0, k + 1).join(b) + a + parts.slice(k + 1).join(a);
    })
    .registerFunction('string.charAt(int): string', (s: string, i: bigint) => {
      const n = Number(i);
      if (n < 0 || n > s.length) throw new Error(`charAt index ${n} out of range`);
      return s.charAt(n);
    })
    .registerFunction('string.reverse(): string', (s: string) => [...s].reverse().join(''));

  env
    .registerFunction('list<dyn>.isSorted(): bool', (l: unknown[]) => {
      for (let i = 1; i < l.length; i++) if (compareValues(l[i - 1], l[i]) > 0) return false;
      return true;
    })
    .registerFunction('list<dyn>.sum(): dyn', (l: unknown[]) => sumOf(l))
    .registerFunction('list<dyn>.min(): dyn', (l: unknown[]) => minMax(l, 1, 'min'))
    .registerFunction('list<dyn>.max(): dyn', (l: unknown[]) => minMax(l, -1, 'max'))
    .registerFunction('list<dyn>.indexOf(dyn): int', (l: unknown[], x: unknown) => BigInt(l.findIndex((y) => looseEquals(y, x))))
    .registerFunction('list<dyn>.lastIndexOf(dyn): int', (l: unknown[], x: unknown) => {
      for (let i = l.length - 1; i >= 0; i--) if (looseEquals(l[i], x)) return BigInt(i);
      return -1n;
    });
}

function looseEquals(a: unknown, b: unknown): boolean {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) return Number(a) === Number(b);
  if (a instanceof Quantity && b instanceof Quantity) return a.equals(b);
  return a === b;
}

const built = new Map<CelEnvironment, Environment>();

/** The shared, fully declared Environment for one Coffer CEL environment. */
export function celEnvironment(env: CelEnvironment): Environment {
  let e = built.get(env);
  if (e === undefined) {
    e = new Environment({ enableOptionalTypes: true, homogeneousAggregateLiterals: false, limits: PARSE_LIMITS });
    registerKubernetesExtensions(e);
    for (const v of CEL_VARIABLES[env]) e.registerVariable(v.name, v.type, { description: v.description });
    built.set(env, e);
  }
  return e;
}

let functionNames: Set<string> | undefined;

/** Every function and method name any environment knows, for "undeclared function" diagnostics. */
export function knownFunctionNames(): Set<string> {
  if (functionNames === undefined) {
    functionNames = new Set();
    const defs = celEnvironment('object').getDefinitions() as { functions: { name?: string; signature?: string }[] };
    for (const f of defs.functions) {
      const name = f.name ?? /(?:^|\.)([A-Za-z_][A-Za-z0-9_]*)\(/.exec(f.signature ?? '')?.[1];
      if (name) functionNames.add(name);
    }
  }
  return functionNames;
}
