/**
 * Differential test of the fast paths (compiler/cel/optimize.ts): every
 * expression of the corpus is evaluated on every object twice, with and
 * without fast paths, and both must give the same value or the same error.
 * The objects include the awkward cases the fast paths hand back to the
 * library: missing keys, nulls, numbers where strings are expected, lists
 * where maps are expected, mixed-type lists.
 */
import { describe, expect, it } from 'vitest';
import { compileCel, type CelEnvironment } from '../../compiler/cel/index.ts';
import { celEnvironment } from '../../compiler/cel/environments.ts';
import { compileDirect } from '../../compiler/cel/direct.ts';

const objects: Record<string, unknown>[] = [
  { kind: 'Deployment', metadata: { name: 'web', namespace: 'prod-1', labels: { app: 'web', tier: 'backend' }, annotations: {} }, spec: { replicas: 3 } },
  { kind: 'Secret', metadata: { name: 'db-creds', namespace: 'prod-2', labels: { tier: 'db' }, annotations: { 'backup.coffer.dev/exclude': 'true' } } },
  { kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'dev', labels: {} } },
  { kind: 'Pod', metadata: { name: 'p', namespace: 'prod-1' } },
  { kind: 'Weird', metadata: { name: 42, namespace: null, labels: ['tier', 'app'], annotations: null }, spec: { replicas: '3' } },
  { kind: 7, metadata: { name: 'x', namespace: 'prod-x', labels: { tier: 5, app: true } } },
  { metadata: {} },
  {},
  { kind: 'Deployment', metadata: { name: 'api', namespace: 'prod-3', labels: { team: 'a', tier: 'backend' }, annotations: {} }, spec: { replicas: 2.5, containers: [{ name: 'api', ports: [{ containerPort: 8080 }, { containerPort: 80 }] }, { name: 'log', ports: [] }] } },
  { kind: 'StatefulSet', metadata: { name: 'db', namespace: 'prod-3', labels: {}, annotations: {} }, spec: { replicas: 9007199254740993, containers: [{ name: 'db', ports: [{ containerPort: '5432' }] }] } },
  { kind: 'DaemonSet', metadata: { name: 'ds', labels: { a: 'b' } }, spec: { replicas: -0, containers: 'none' } },
];

const corpus: string[] = [
  'object.kind == "Deployment"',
  'object.kind != "Deployment"',
  'object.kind in ["Deployment", "StatefulSet", "Secret"]',
  'object.kind in ["Deployment", 7]',
  'object.metadata.namespace.startsWith("prod-")',
  'object.metadata.name.endsWith("creds")',
  'object.metadata.name.contains("e")',
  '"tier" in object.metadata.labels',
  'object.metadata.labels["tier"] == "db"',
  'object.metadata.labels.tier in ["backend", "db"]',
  '"tier" in object.metadata.labels && object.metadata.labels["tier"] in ["backend", "db"]',
  '!("backup.coffer.dev/exclude" in object.metadata.annotations)',
  'object.metadata.labels.tier == "db" || object.kind == "Pod"',
  'object.kind == "Pod" || object.metadata.labels.tier == "db"',
  'object.metadata.labels.tier == "db" && object.kind == "Secret"',
  'object.kind == "Secret" && object.metadata.labels.tier == "db"',
  '!object.metadata.labels.app',
  'object.spec.replicas == 3',
  'object.spec.replicas > 2',
  'object.metadata.labels.app == true',
  'has(object.metadata.labels) && object.metadata.labels.exists(k, k.startsWith("t"))',
  'object.metadata.?labels.?tier.orValue("none") == "none"',
  'object.kind == "Deployment" ? object.metadata.name : object.metadata.namespace',
  '[object.kind, "x"].exists(k, k == "Pod")',
  'object.metadata.name.matches("^[a-z]+$")',
  'object.kind.lowerAscii() == "pod"',
  'object.kind == "Pod" ? object.metadata.namespace.startsWith("prod") : "tier" in object.metadata.labels',
  'object.metadata.labels.app ? "yes" : "no"',
  '"tier" in object.metadata.labels || object.metadata.name.contains("cfg")',
  '!(object.metadata.labels.tier in ["db"]) && object.metadata.namespace != "dev"',
  'object.metadata.labels.app in object.metadata.labels',
  'object.kind in object.metadata.annotations',
  'has(object.metadata.labels) && has(object.metadata.labels.tier)',
  'has(object.metadata.annotations) ? has(object.metadata.annotations.x) : has(object.spec)',
  'has(object.spec.replicas) || has(object.metadata.name)',
  'object.spec.replicas == 3',
  'object.spec.replicas != 2',
  'object.spec.replicas > 2',
  'object.spec.replicas <= 2.5',
  'object.spec.replicas >= 9007199254740992',
  'size(object.metadata.labels) == 0',
  'object.metadata.labels.size() >= 2',
  'object.metadata.labels.all(k, k.startsWith("t"))',
  'object.metadata.labels.exists(k, object.metadata.labels[k] == "backend")',
  'object.metadata.labels.exists_one(k, k == "tier")',
  'object.spec.containers.all(c, c.ports.exists(p, p.containerPort >= 1024))',
  'object.spec.containers.exists(c, c.ports.all(p, p.containerPort < 100))',
  'object.spec.containers.map(c, c.name)',
  'object.spec.containers.map(c, size(c.ports) > 0, c.name)',
  'object.spec.containers.filter(c, c.name.startsWith("a")).size() == 1',
  'object.metadata.labels.map(k, k).exists(object, object == "tier")',
  '[1, 2, 3].exists(x, x == object.spec.replicas)',
];

type Outcome = { value: unknown } | { error: string };

function outcome(src: string, env: CelEnvironment, optimize: boolean, object: unknown): Outcome {
  const p = compileCel(src, env, { optimize });
  try {
    return { value: p.evaluate({ object, namespaceObject: {} }) };
  } catch (e) {
    return { error: `${(e as { code?: string }).code}: ${(e as Error).message}` };
  }
}

describe('fast paths agree with the library', () => {
  for (const src of corpus) {
    it(src, () => {
      const fast = objects.map((o) => outcome(src, 'object', true, o));
      const plain = objects.map((o) => outcome(src, 'object', false, o));
      expect(fast).toEqual(plain);
      // The corpus must exercise both branches somewhere: a value on some object.
      expect(plain.some((r) => 'value' in r)).toBe(true);
    });
  }

  it('the corpus reaches errors too, so the fallback paths are compared', () => {
    const errors = corpus.flatMap((src) => objects.map((o) => outcome(src, 'object', true, o))).filter((r) => 'error' in r);
    expect(errors.length).toBeGreaterThan(20);
  });
});

describe('direct evaluation', () => {
  const roots = new Set(['object', 'namespaceObject']);
  const directOf = (src: string): unknown => {
    const parsed = celEnvironment('object').parse(src);
    expect(parsed.check().valid).toBe(true);
    return compileDirect(parsed.ast, roots, { remaining: 100_000 });
  };

  it('covers the usual selector shape', () => {
    for (const src of [
      'object.kind in ["Deployment", "Secret"] && object.metadata.namespace.startsWith("prod-") && "tier" in object.metadata.labels && !("x" in object.metadata.annotations)',
      'object.metadata.labels["app.kubernetes.io/name"] == "web" || object.kind != "Pod"',
      'object.kind == "Pod" ? object.metadata.name.endsWith("-0") : false',
      'has(object.metadata.labels.tier) && object.metadata.labels.tier == "db"',
    ]) {
      expect(typeof directOf(src)).toBe('function');
    }
  });

  it('covers comprehensions, size() and numeric comparisons', () => {
    for (const src of [
      'object.metadata.labels.exists(k, k == "a")',
      'size(object.metadata.labels) > 1',
      'object.spec.replicas == 3',
      'object.spec.containers.all(c, c.ports.exists(p, p.containerPort >= 1024))',
      'object.spec.containers.map(c, c.name).filter(n, n.startsWith("x")).size() == 0',
    ]) {
      expect(typeof directOf(src)).toBe('function');
    }
  });

  it('leaves arithmetic, regexes, optional chaining and other functions to the library', () => {
    for (const src of [
      'object.metadata.name + "x" == "ax"',
      'object.spec.replicas + 1 > 2',
      'quantity(object.spec.q).isGreaterThan(quantity("1"))',
      'timestamp(object.metadata.creationTimestamp) > timestamp("2020-01-01T00:00:00Z")',
      'object.metadata.name.matches("a")',
      'has(object.metadata.?labels.tier)',
    ]) {
      expect(directOf(src)).toBeUndefined();
    }
  });
});
