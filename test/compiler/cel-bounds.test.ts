/**
 * A hostile or careless expression in a pull request must not hang the
 * reconciler: these expressions are small enough to pass the parser, and each
 * is stopped by a bound, with a CelError at compile time or a CelEvalError
 * (reason cost_limit / size_limit) at run time. None of them would finish in
 * reasonable time (or memory) without the bound.
 */
import { describe, expect, it } from 'vitest';
import { CelError, CelEvalError, compileCel } from '../../compiler/cel/index.ts';

const list100 = `[${Array.from({ length: 100 }, (_, i) => i).join(', ')}]`;
const list1000 = `[${Array.from({ length: 1000 }, (_, i) => i).join(',')}]`;

function evalError(src: string, vars: Record<string, unknown> = { object: {} }, limits = {}): CelEvalError {
  const p = compileCel(src, 'object', { limits });
  try {
    p.evaluate(vars);
  } catch (e) {
    expect(e).toBeInstanceOf(CelEvalError);
    return e as CelEvalError;
  }
  throw new Error(`expected ${src.slice(0, 60)}… to hit a bound`);
}

describe('CEL evaluation bounds', () => {
const items = Array.from({ length: 1000 }, (_, i) => i);

  it('three nested comprehensions over a 1,000-element list from the object (10^9 steps) stop at the step budget', () => {
    const src = 'object.items.all(a, object.items.all(b, object.items.all(c, a + b + c >= 0)))';
    const e = evalError(src, { object: { items } });
    expect(e.reason).toBe('cost_limit');
    expect(e.message).toMatch(/evaluation cost limit exceeded: more than 100000 comprehension steps/);
  });

  it('the budget also stops exists(), whose errors CEL would otherwise absorb', () => {
    const src = 'object.items.exists(a, object.items.exists(b, object.items.exists(c, a + b + c < 0)))';
    expect(evalError(src, { object: { items } }).reason).toBe('cost_limit');
  });

  it('a predicate failing on every element is charged extra, so absorbed errors cannot multiply', () => {
    // a is a JSON number (double), b a literal int: `a + b` fails on every step, and exists() absorbs each failure.
    const src = `object.items.exists(a, ${list1000}.exists(b, object.items.exists(c, a + b + c < 0)))`;
    const e = evalError(src, { object: { items } });
    expect(e.reason).toBe('cost_limit');
  });

  it('the budget covers map() and filter() over object data', () => {
    const object = { items: Array.from({ length: 2000 }, (_, i) => i) };
    const src = 'object.items.map(a, object.items.filter(b, b == a)).size() > 0';
    expect(evalError(src, { object }).reason).toBe('cost_limit');
  });

  it('the budget is per evaluation: a program that stayed under it keeps working', () => {
    const p = compileCel(`${list100}.all(a, ${list100}.all(b, a + b >= 0))`, 'object');
    for (let i = 0; i < 3; i++) expect(p.evaluate({ object: {} })).toBe(true); // 10,100 steps each
    expect(() => compileCel(`${list100}.all(a, ${list100}.all(b, a + b >= 0))`, 'object', { limits: { maxIterations: 5000 } }).evaluate({ object: {} })).toThrow(/more than 5000 comprehension steps/);
  });

  it('string doubling inside cel.bind stops at the string size limit', () => {
    // Eight-fold per level: 16 characters become 16 × 8^10 (about 17 billion) without the bound.
    let src = 'cel.bind(s0, "xxxxxxxxxxxxxxxx", ';
    for (let i = 1; i <= 10; i++) src += `cel.bind(s${i}, ${Array(8).fill(`s${i - 1}`).join(' + ')}, `;
    src += `size(s10) > 0${')'.repeat(11)}`;
    const e = evalError(src);
    expect(e.reason).toBe('size_limit');
    expect(e.message).toMatch(/string longer than 1048576 characters/);
  });

  it('list doubling stops at the list size limit', () => {
    let src = `cel.bind(l0, ${list100}, `;
    for (let i = 1; i <= 10; i++) src += `cel.bind(l${i}, ${Array(8).fill(`l${i - 1}`).join(' + ')}, `;
    src += `size(l10) > 0${')'.repeat(11)}`;
    const e = evalError(src);
    expect(e.reason).toBe('size_limit');
    expect(e.message).toMatch(/list longer than 100000 elements/);
  });

  it('catastrophic-backtracking regexes run in linear time (RE2), literal or from data', () => {
    const hostile = `${'a'.repeat(5000)}!`;
    // With JavaScript's backtracking RegExp these take longer than the age of the universe.
    expect(compileCel(`object.s.matches("(a+)+$")`, 'object').evaluate({ object: { s: hostile } })).toBe(false);
    expect(compileCel(`object.s.matches(object.p)`, 'object').evaluate({ object: { s: hostile, p: '^(a|aa)+$' } })).toBe(false);
    expect(compileCel(`object.s.find("(a*)*b")`, 'object').evaluate({ object: { s: hostile } })).toBe('');
  });

  it('a regex from data that is not RE2 is an evaluation error, not a crash', () => {
    const e = evalError('object.s.matches(object.p)', { object: { s: 'ab', p: '(?<=a)b' } });
    expect(e.message).toMatch(/invalid regular expression '\(\?<=a\)b'/);
  });

  it('comprehensions nested four deep are rejected at compile time with the position of the innermost', () => {
    const src = '[1].all(a, [1].all(b, [1].all(c, [1].all(d, true))))';
    try {
      compileCel(src, 'object');
      throw new Error('expected a compile error');
    } catch (e) {
      expect(e).toBeInstanceOf(CelError);
      expect((e as CelError).message).toMatch(/comprehensions nested 4 deep \(at most 3\)/);
      expect((e as CelError).offset).toBe(src.indexOf('[1].all(d'));
    }
  });

  it('huge quantity exponents are refused instead of allocating giant numbers', () => {
    expect(() => compileCel('quantity("1e999999999").isInteger()', 'object')).toThrow(/out of range/);
    const p = compileCel('quantity(object.q).isInteger()', 'object');
    expect(() => p.evaluate({ object: { q: '1e999999999' } })).toThrow(CelEvalError);
  });
});
