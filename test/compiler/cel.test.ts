import { describe, expect, it } from 'vitest';
import { CEL_VARIABLES, CelError, CelEvalError, compileCel, type CelEnvironment } from '../../compiler/cel/index.ts';

const pvc = {
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: {
    name: 'data-db-0',
    namespace: 'shop-prod',
    labels: { app: 'db', 'app.kubernetes.io/part-of': 'shop' },
    annotations: { 'backup.coffer.dev/hint': 'fsfreeze' },
    creationTimestamp: '2026-01-02T03:04:05Z',
  },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } }, storageClassName: 'fast' },
};
const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop-prod', labels: { app: 'web' } },
  spec: {
    replicas: 3,
    template: {
      spec: {
        containers: [
          { name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }, { containerPort: 443 }], resources: { limits: { memory: '512Mi', cpu: '500m' } } },
          { name: 'sidecar', image: 'envoy:1.30', ports: [{ containerPort: 9901 }] },
        ],
      },
    },
  },
};
const namespaceObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-prod', labels: { backup: 'true', tier: 'gold' } } };
const vars = { object: pvc, namespaceObject };

function evalIn(env: CelEnvironment, src: string, v: Record<string, unknown> = vars): unknown {
  return compileCel(src, env).evaluate(v);
}

function compileError(src: string, env: CelEnvironment = 'object'): CelError {
  try {
    compileCel(src, env, { expect: 'bool' });
  } catch (e) {
    expect(e).toBeInstanceOf(CelError);
    return e as CelError;
  }
  throw new Error(`expected a compile error for ${src}`);
}

describe('compileCel: compile-time errors carry a message and the offset inside the expression', () => {
  const cases: { src: string; env?: CelEnvironment; message: RegExp; offset: number }[] = [
    { src: 'objet.metadata.name == "x"', message: /undeclared reference to 'objet' \(did you mean 'object'\?\)/, offset: 0 },
    { src: 'object.metadata.name == "x" && namespaceObjekt.metadata.name == "y"', message: /undeclared reference to 'namespaceObjekt' \(did you mean 'namespaceObject'\?\)/, offset: 31 },
    { src: 'namespace.metadata.name == "x"', message: /'namespace' is a reserved word in CEL — use 'namespaceObject'/, offset: 0 },
    { src: 'object.metadata.name.startWith("db")', message: /undeclared reference to function 'startWith' \(did you mean 'startsWith'\?\)/, offset: 0 },
    { src: 'isProd(object)', message: /undeclared reference to function 'isProd'/, offset: 0 },
    { src: 'size(1, 2) == 1', message: /no matching overload for 'size\(int, int\)'/, offset: 0 },
    { src: '1 + "a" == 2', message: /no such overload: int \+ string/, offset: 0 },
    { src: 'object.metadata.name ==', message: /^syntax error: /, offset: 23 },
    { src: 'object.metadata.name == "unterminated', message: /^syntax error: /, offset: 24 },
    { src: '"x"', message: /must evaluate to bool, but its type is string/, offset: 0 },
    { src: 'object.kind = "Pod"', message: /syntax error: .* \(compare with '=='\)$/, offset: 12 },
    { src: 'object.kind === "Pod"', message: /\(CEL compares with '==' and '!='\)$/, offset: 14 },
    { src: 'object.kind == "Pod" and object.metadata.name == "x"', message: /\(CEL writes 'and' as '&&'\)$/, offset: 21 },
    { src: 'object.kind in ("Pod", "Secret")', message: /\(a list is written in brackets: \["a", "b"\]\)$/, offset: 21 },
    { src: 'object.kind == "Pod" && ', message: /\(the expression ends too early\)$/, offset: 24 },
    { src: 'object.metadata.labels["app"] == db', message: /undeclared reference to 'db' \(a string needs quotes: "db"\)/, offset: 33 },
    { src: 'size(object.metadata.labels)', message: /must evaluate to bool, but its type is int/, offset: 0 },
    { src: 'quantity(object.spec.resources.requests.storage) > quantity("1Gi")', message: /no such overload: Quantity > Quantity/, offset: 0 },
    { src: 'quantity("10GB").isGreaterThan(quantity("1Gi"))', message: /invalid quantity '10GB'/, offset: 9 },
    { src: 'object.metadata.name.matches("([a-z]+")', message: /invalid regular expression \(RE2 syntax\).*missing closing \)/, offset: 29 },
    { src: 'object.metadata.name.matches("(?<=a)b")', message: /invalid regular expression \(RE2 syntax\)/, offset: 29 },
    { src: '', message: /empty expression/, offset: 0 },
    { src: 'object.metadata.name.startsWith(1)', message: /no overload of method 'startsWith' accepts \(int\); it takes \(string\)/, offset: 0 },
    { src: 'object.kind == "Pod" && object.metadata.name.contains(true)', message: /no overload of method 'contains' accepts \(bool\)/, offset: 24 },
    { src: 'object.metadata.name.substring("1") == "x"', message: /no overload of method 'substring' accepts \(string\); it takes \(int\) or \(int, int\)/, offset: 0 },
    { src: 'object.kind == "Pod"', env: 'namespace', message: /undeclared reference to 'object'; variables declared in the 'namespace' environment: namespaceObject/, offset: 0 },
    { src: 'namespaceObject.metadata.name == "x"', env: 'transform', message: /undeclared reference to 'namespaceObject'/, offset: 0 },
  ];
  for (const c of cases) {
    it(`${c.env ?? 'object'}: ${c.src || '(empty)'}`, () => {
      const e = compileError(c.src, c.env);
      expect(e.code).toBe('E_CEL');
      expect(e.message).toMatch(c.message);
      expect(e.offset).toBe(c.offset);
      expect(e.source).toBe(c.src);
    });
  }

  it('rejects expressions past the parser limits (AST size, nesting depth)', () => {
    const wide = Array.from({ length: 1100 }, () => 'true').join(' || ');
    expect(compileError(wide).message).toBe('the expression is too large: more than 2000 syntax nodes');
    const deep = `${'('.repeat(60)}true${')'.repeat(60)}`;
    expect(compileError(deep).message).toBe('the expression nests more than 32 levels deep');
    const longList = `[${Array.from({ length: 1001 }, (_, i) => i).join(',')}].size() > 1`;
    expect(compileError(longList).message).toBe('a list literal has more than 1000 elements');
  });

  it('rejects a source longer than the limit without parsing it', () => {
    const e = compileError(`object.kind == "${'x'.repeat(20_000)}"`);
    expect(e.message).toMatch(/characters long \(at most 10000\)/);
  });
});

describe('compileCel: evaluation', () => {
  const table: { src: string; env?: CelEnvironment; want: unknown; vars?: Record<string, unknown> }[] = [
    // field access, labels with dots, `in` on maps and lists
    { src: 'object.metadata.labels.app == "db"', want: true },
    { src: 'object.metadata.labels["app.kubernetes.io/part-of"] == "shop"', want: true },
    { src: '"app" in object.metadata.labels', want: true },
    { src: '"missing" in object.metadata.labels', want: false },
    { src: 'object.kind in ["PersistentVolumeClaim", "Secret"]', want: true },
    { src: 'object.metadata.namespace in ["prod", "staging"]', want: false },
    // has() and optional chaining for fields that may be absent
    { src: 'has(object.metadata.annotations)', want: true },
    { src: 'has(object.metadata.finalizers)', want: false },
    { src: 'object.?metadata.?ownerReferences.orValue([]).size() == 0', want: true },
    { src: 'object.metadata.?annotations["backup.coffer.dev/hint"].orValue("none")', want: 'fsfreeze' },
    // string functions
    { src: 'object.metadata.name.startsWith("data-")', want: true },
    { src: 'object.metadata.name.endsWith("-0")', want: true },
    { src: 'object.metadata.namespace.contains("prod")', want: true },
    { src: 'object.metadata.name.matches("^data-[a-z]+-[0-9]+$")', want: true },
    { src: 'object.metadata.name.matches("(?i)^DATA-")', want: true },
    { src: 'object.metadata.name.lowerAscii() == "data-db-0" && "ABC".lowerAscii() == "abc"', want: true },
    { src: 'object.metadata.namespace.split("-")', want: ['shop', 'prod'] },
    { src: 'object.metadata.namespace.replace("-", "/")', want: 'shop/prod' },
    { src: '"a-b-c".replace("-", "", 1)', want: 'ab-c' },
    { src: 'object.metadata.name.find("[0-9]+")', want: '0' },
    { src: '"a1b22c333".findAll("[0-9]+")', want: ['1', '22', '333'] },
    { src: '"a1b22c333".findAll("[0-9]+", 2)', want: ['1', '22'] },
    // size
    { src: 'size(object.metadata.labels) == 2 && size(object.metadata.name) == 9', want: true },
    // macros
    { src: 'object.spec.accessModes.all(m, m.startsWith("ReadWrite"))', want: true },
    { src: 'object.spec.template.spec.containers.exists(c, c.image.startsWith("envoy"))', env: 'workload', want: true, vars: { object: deployment } },
    { src: 'object.spec.template.spec.containers.exists_one(c, c.ports.exists(p, p.containerPort == 443))', env: 'workload', want: true, vars: { object: deployment } },
    { src: 'object.spec.template.spec.containers.map(c, c.name)', env: 'workload', want: ['web', 'sidecar'], vars: { workload: deployment } },
    { src: 'object.spec.template.spec.containers.filter(c, size(c.ports) > 1).map(c, c.name)', env: 'workload', want: ['web'], vars: { object: deployment } },
    { src: 'object.metadata.labels.all(k, k.size() > 2)', want: true },
    // numbers from JSON compare with CEL ints
    { src: 'object.spec.replicas >= 2', env: 'workload', want: true, vars: { object: deployment } },
    { src: 'object.spec.replicas == 3', env: 'workload', want: true, vars: { object: deployment } },
    // timestamps and durations
    { src: 'timestamp(object.metadata.creationTimestamp) < timestamp("2026-06-01T00:00:00Z")', want: true },
    { src: 'timestamp(object.metadata.creationTimestamp) + duration("24h") == timestamp("2026-01-03T03:04:05Z")', want: true },
    { src: 'duration("1h30m") > duration("90m")', want: false },
    { src: 'timestamp(object.metadata.creationTimestamp).getFullYear() == 2026', want: true },
    // Kubernetes quantity library
    { src: 'quantity(object.spec.resources.requests.storage).isGreaterThan(quantity("10Gi"))', want: true },
    { src: 'quantity(object.spec.resources.requests.storage).isLessThan(quantity("10Gi"))', want: false },
    { src: 'quantity(object.spec.resources.requests.storage).compareTo(quantity("20480Mi"))', want: 0n },
    { src: 'quantity("1Gi") == quantity("1024Mi")', want: true },
    { src: 'quantity("1G") == quantity("1Gi")', want: false },
    { src: 'quantity("500m").add(quantity("0.5")) == quantity("1")', want: true },
    { src: 'quantity("2Ki").asInteger()', want: 2048n },
    { src: 'quantity("1.5e3").asInteger()', want: 1500n },
    { src: 'quantity("-250m").sign()', want: -1n },
    { src: 'quantity("1.5").isInteger()', want: false },
    { src: 'quantity("1.5").asApproximateFloat()', want: 1.5 },
    { src: 'isQuantity("10Gi") && !isQuantity("10GB")', want: true },
    { src: 'object.spec.template.spec.containers.exists(c, has(c.resources) && quantity(c.resources.limits.memory).isGreaterThan(quantity("256Mi")))', env: 'workload', want: true, vars: { object: deployment } },
    // list helpers
    { src: '[3, 1, 2].max() == 3 && [3, 1, 2].min() == 1 && [1, 2, 3].sum() == 6', want: true },
    { src: '[1, 2, 2, 5].isSorted() && !["b", "a"].isSorted()', want: true },
    { src: '["a", "b", "c"].indexOf("c")', want: 2n },
    // environments
    { src: 'namespaceObject.metadata.labels["backup"] == "true"', env: 'namespace', want: true },
    { src: 'workload.metadata.name == object.metadata.name', env: 'workload', want: true, vars: { workload: deployment } },
    { src: 'object.metadata.namespace == namespaceObject.metadata.name', env: 'object', want: true },
    { src: 'object.kind == "PersistentVolumeClaim" ? object.spec.storageClassName : ""', env: 'transform', want: 'fast', vars: { object: pvc } },
  ];
  for (const c of table) {
    it(`${c.env ?? 'object'}: ${c.src}`, () => {
      expect(evalIn(c.env ?? 'object', c.src, c.vars ?? vars)).toEqual(c.want);
    });
  }

  it('compiles once and evaluates many objects with the same program', () => {
    const p = compileCel('object.metadata.labels.app == "db"', 'object', { expect: 'bool' });
    const objects = ['db', 'web', 'db', 'cache'].map((app) => ({ ...pvc, metadata: { ...pvc.metadata, labels: { app } } }));
    expect(objects.map((o) => p.test({ object: o }))).toEqual([true, false, true, false]);
    expect(p.source).toBe('object.metadata.labels.app == "db"');
    expect(p.env).toBe('object');
    expect(p.resultType).toBe('bool');
  });
});

describe('compileCel: run-time errors', () => {
  it('a missing key is a CelEvalError, not a crash', () => {
    const p = compileCel('object.metadata.annotations["x"] == "y"', 'object', { expect: 'bool' });
    const e = (() => {
      try {
        p.evaluate({ object: { metadata: {} } });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(CelEvalError);
    expect((e as CelEvalError).code).toBe('E_CEL_EVAL');
    expect((e as CelEvalError).message).toMatch(/No such key: annotations/);
  });

  it('&& absorbs an error when the other side is false (CEL commutative semantics)', () => {
    const p = compileCel('object.metadata.labels["tier"] == "db" && object.kind == "Secret"', 'object', { expect: 'bool' });
    expect(p.test({ object: pvc })).toBe(false);
    expect(() => p.test({ object: { ...pvc, kind: 'Secret' } })).toThrow(CelEvalError);
  });

  it('test() rejects a dyn expression that yields a non-bool', () => {
    const p = compileCel('object.metadata.name', 'object', { expect: 'bool' });
    expect(p.resultType).toBe('dyn');
    expect(() => p.test(vars)).toThrow(/returned string "data-db-0", not a bool/);
  });

  it('asInteger on a fractional quantity is an evaluation error naming the quantity', () => {
    const p = compileCel('quantity(object.spec.q).asInteger() > 0', 'object', { expect: 'bool' });
    expect(() => p.test({ object: { spec: { q: '1500m' } } })).toThrow(/cannot convert quantity 1500m to an integer/);
    expect(p.test({ object: { spec: { q: '2k' } } })).toBe(true);
  });

  it('quantity() of a bad string at run time is an evaluation error', () => {
    const p = compileCel('quantity(object.spec.q).isGreaterThan(quantity("1"))', 'object', { expect: 'bool' });
    expect(() => p.test({ object: { spec: { q: 'lots' } } })).toThrow(/invalid quantity 'lots'/);
  });
});

describe('CEL_VARIABLES', () => {
  it('declares the variables of each environment', () => {
    const names = (env: CelEnvironment): string[] => CEL_VARIABLES[env].map((v) => v.name);
    expect(names('namespace')).toEqual(['namespaceObject']);
    expect(names('object')).toEqual(['object', 'namespaceObject']);
    expect(names('workload')).toEqual(['object', 'workload', 'namespaceObject']);
    expect(names('transform')).toEqual(['object']);
  });
});
