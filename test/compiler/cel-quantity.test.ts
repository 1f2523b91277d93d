import { describe, expect, it } from 'vitest';
import { Quantity, QuantityError } from '../../compiler/cel/index.ts';

describe('Quantity.parse: Kubernetes quantity syntax as exact fractions', () => {
  it.each([
    ['0', 0n, 1n],
    ['1', 1n, 1n],
    ['+5', 5n, 1n],
    ['-3', -3n, 1n],
    ['1.5', 3n, 2n],
    ['.5', 1n, 2n],
    ['5.', 5n, 1n],
    ['500m', 1n, 2n],
    ['250m', 1n, 4n],
    ['100n', 1n, 10_000_000n],
    ['3u', 3n, 1_000_000n],
    ['1k', 1000n, 1n],
    ['2M', 2_000_000n, 1n],
    ['1G', 1_000_000_000n, 1n],
    ['1T', 10n ** 12n, 1n],
    ['1P', 10n ** 15n, 1n],
    ['1E', 10n ** 18n, 1n],
    ['1Ki', 1024n, 1n],
    ['1Mi', 1024n ** 2n, 1n],
    ['20Gi', 20n * 1024n ** 3n, 1n],
    ['1.5Gi', 3n * 1024n ** 3n / 2n, 1n],
    ['1Ti', 1024n ** 4n, 1n],
    ['1Pi', 1024n ** 5n, 1n],
    ['1Ei', 1024n ** 6n, 1n],
    ['1e3', 1000n, 1n],
    ['1E3', 1000n, 1n],
    ['1.5e-3', 3n, 2000n],
    ['12e+2', 1200n, 1n],
    ['007', 7n, 1n],
  ])('%s = %d/%d', (text, num, den) => {
    const q = Quantity.parse(text);
    expect([q.num, q.den]).toEqual([num, den]);
    expect(q.toString()).toBe(text);
  });

  it.each([[''], ['Gi'], ['1 Gi'], ['1gi'], ['1GB'], ['1KiB'], ['--1'], ['1..5'], ['1e'], ['0x10'], ['1Ki5'], ['one']])('%j is not a quantity', (text) => {
    expect(() => Quantity.parse(text)).toThrow(QuantityError);
    expect(Quantity.isQuantity(text)).toBe(false);
  });

  it('bounds digits and exponents', () => {
    expect(() => Quantity.parse('1'.repeat(41))).toThrow(/too many digits/);
    expect(() => Quantity.parse('1e41')).toThrow(/out of range/);
    expect(Quantity.parse('1e40').num).toBe(10n ** 40n);
  });
});

describe('Quantity arithmetic and comparison', () => {
  const q = Quantity.parse;
  it('compares exactly across suffixes', () => {
    expect(q('1Gi').compareTo(q('1024Mi'))).toBe(0);
    expect(q('1Gi').equals(q('1073741824'))).toBe(true);
    expect(q('1G').compareTo(q('1Gi'))).toBe(-1);
    expect(q('1001m').compareTo(q('1'))).toBe(1);
    expect(q('-1').compareTo(q('0'))).toBe(-1);
    expect(q('0.1').add(q('0.2')).equals(q('0.3'))).toBe(true);
    expect(q('1Gi').sub(q('512Mi')).equals(q('0.5Gi'))).toBe(true);
  });

  it('asInteger refuses fractions and values beyond int64', () => {
    expect(q('2Ki').asInteger()).toBe(2048n);
    expect(() => q('1500m').asInteger()).toThrow(/fractional part/);
    expect(q('8Ei').sub(q('1')).asInteger()).toBe(2n ** 63n - 1n);
    expect(() => q('8Ei').asInteger()).toThrow(/out of int64 range/);
  });

  it('sign, isInteger and approximate float', () => {
    expect(q('-5m').sign()).toBe(-1n);
    expect(q('0').sign()).toBe(0n);
    expect(q('3k').sign()).toBe(1n);
    expect(q('1.5').isInteger()).toBe(false);
    expect(q('1.5k').isInteger()).toBe(true);
    expect(q('250m').asApproximateFloat()).toBe(0.25);
  });
});
