/**
 * Whatever a pull request puts in a selector, compileCel either returns a
 * program or throws CelError with an offset inside the expression, and
 * evaluation either returns or throws CelEvalError — never another exception
 * (which the CLI would print as a crash with a stack trace). Seeded random
 * token soups and mutations of valid selectors.
 */
import { describe, expect, it } from 'vitest';
import { CelError, CelEvalError, compileCel, type CelEnvironment } from '../../compiler/cel/index.ts';
import { mulberry32 } from '../prng.ts';

const TOKENS = [
  'object', 'namespaceObject', 'workload', 'metadata', 'labels', 'name', '.', '.', '?.', '[', ']', '(', ')', '{', '}', ',', ':',
  '"app"', "'x'", '"a\\"b"', 'r"\\d+"', 'b"x"', '1', '2.5', '-3', '0x1F', '7u', 'true', 'false', 'null', '==', '!=', '<', '>=',
  '&&', '||', '!', '?', '+', '-', '*', '/', '%', 'in', 'has', 'all', 'exists', 'exists_one', 'map', 'filter', 'size',
  'startsWith', 'matches', 'quantity', '"10Gi"', 'timestamp', 'duration', '"1h"', 'cel.bind', 'x', 'k', 'dyn', 'int',
  'string', 'type', '.orValue', '[?', '"\\u00e9"', '/*', '//', '\n', '\t', '$', '@', '`', '\\',
];

const VALID = [
  'object.metadata.labels["app"] == "db" && object.kind in ["Deployment", "StatefulSet"]',
  'namespaceObject.metadata.name.startsWith("prod-") || has(namespaceObject.metadata.labels.backup)',
  'object.spec.containers.exists(c, c.image.matches("^nginx:"))',
  'quantity(object.spec.resources.requests.storage).isGreaterThan(quantity("10Gi"))',
  'object.metadata.?annotations["x"].orValue("") != "skip"',
];

const SAMPLE = {
  object: { kind: 'Deployment', metadata: { name: 'db', labels: { app: 'db' }, annotations: {} }, spec: { containers: [{ image: 'nginx:1' }], resources: { requests: { storage: '20Gi' } } } },
  namespaceObject: { metadata: { name: 'prod-a', labels: { backup: 'true' } } },
};

function check(src: string, env: CelEnvironment): void {
  let program;
  try {
    program = compileCel(src, env);
  } catch (e) {
    expect(e).toBeInstanceOf(CelError);
    const ce = e as CelError;
    expect(ce.code).toBe('E_CEL');
    expect(ce.offset).toBeGreaterThanOrEqual(0);
    expect(ce.offset).toBeLessThanOrEqual(src.length);
    expect(ce.message.length).toBeGreaterThan(0);
    return;
  }
  try {
    program.evaluate({ ...SAMPLE, workload: SAMPLE.object });
  } catch (e) {
    expect(e).toBeInstanceOf(CelEvalError);
  }
}

describe('compileCel never crashes on junk', () => {
  it('random token soups', () => {
    const r = mulberry32(7);
    for (let i = 0; i < 400; i++) {
      const n = 1 + Math.floor(r() * 14);
      const src = Array.from({ length: n }, () => TOKENS[Math.floor(r() * TOKENS.length)]).join(r() < 0.5 ? ' ' : '');
      check(src, (['namespace', 'object', 'workload', 'transform'] as const)[i % 4]);
    }
  });

  it('single-character mutations of valid selectors', () => {
    const r = mulberry32(11);
    const alphabet = '()[]{}.,"\'!&|=<>+-*/%?:_ aZ09\\\n';
    for (let i = 0; i < 400; i++) {
      const base = VALID[i % VALID.length]!;
      const at = Math.floor(r() * base.length);
      const op = r();
      const ch = alphabet[Math.floor(r() * alphabet.length)]!;
      const src = op < 0.33 ? base.slice(0, at) + base.slice(at + 1) : op < 0.66 ? base.slice(0, at) + ch + base.slice(at) : base.slice(0, at) + ch + base.slice(at + 1);
      check(src, 'workload');
    }
  });

  it('binary junk and control characters', () => {
    const r = mulberry32(13);
    for (let i = 0; i < 100; i++) {
      const src = Array.from({ length: 1 + Math.floor(r() * 40) }, () => String.fromCharCode(Math.floor(r() * 0x3000))).join('');
      check(src, 'object');
    }
  });
});
