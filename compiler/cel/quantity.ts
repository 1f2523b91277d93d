/**
 * Kubernetes resource quantities ("10Gi", "500m", "1.5e3") as exact rationals,
 * for the Kubernetes CEL quantity library (`quantity()`, `isGreaterThan`,
 * `compareTo`, `asInteger`, …). Exact BigInt arithmetic, so "1Gi" ==
 * "1024Mi" and "0.1" + "0.2" == "0.3" hold the way `kubectl` users expect.
 */

const QUANTITY_RE = /^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const DECIMAL_SI: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SI: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
/** Bounds that keep a hostile literal ("1e999999999") from allocating huge BigInts. */
const MAX_MANTISSA_DIGITS = 40;
const MAX_ABS_EXPONENT = 40;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

export class QuantityError extends Error {
  readonly code = 'E_QUANTITY';
}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** An exact quantity: num / den with den > 0 and the fraction reduced. */
export class Quantity {
  readonly num: bigint;
  readonly den: bigint;
  /** The string the quantity was parsed from, when it came from one. */
  readonly text: string | undefined;

  constructor(num: bigint, den = 1n, text?: string) {
    if (den < 0n) [num, den] = [-num, -den];
    const g = gcd(num, den) || 1n;
    this.num = num / g;
    this.den = den / g;
    this.text = text;
  }

  /** Parse Kubernetes quantity syntax; throws QuantityError naming the input. */
  static parse(s: string): Quantity {
    const m = QUANTITY_RE.exec(s);
    if (!m) throw new QuantityError(`invalid quantity '${s}': expected a number with an optional suffix (Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or eN)`);
    const [, sign, numeric, suffix = ''] = m as unknown as [string, string, string, string | undefined];
    const [intPart, fracPart = ''] = numeric.split('.');
    const digits = ((intPart ?? '') + fracPart).replace(/^0+(?=\d)/, '');
    if (digits.length > MAX_MANTISSA_DIGITS) throw new QuantityError(`quantity '${s}' has too many digits (at most ${MAX_MANTISSA_DIGITS})`);
    let num = BigInt(digits === '' ? '0' : digits);
    let den = 10n ** BigInt(fracPart.length);
    if (sign === '-') num = -num;
    if (suffix in BINARY_SI) {
      num *= 1024n ** BigInt(BINARY_SI[suffix]!);
    } else {
      const exp = suffix in DECIMAL_SI ? DECIMAL_SI[suffix]! : Number(suffix.slice(1));
      if (!Number.isFinite(exp) || Math.abs(exp) > MAX_ABS_EXPONENT) throw new QuantityError(`quantity '${s}' is out of range (exponent beyond ±${MAX_ABS_EXPONENT})`);
      if (exp >= 0) num *= 10n ** BigInt(exp);
      else den *= 10n ** BigInt(-exp);
    }
    return new Quantity(num, den, s);
  }

  static isQuantity(s: string): boolean {
    try {
      Quantity.parse(s);
      return true;
    } catch {
      return false;
    }
  }

  compareTo(o: Quantity): -1 | 0 | 1 {
    const a = this.num * o.den;
    const b = o.num * this.den;
    return a < b ? -1 : a > b ? 1 : 0;
  }

  equals(o: Quantity): boolean {
    return this.num === o.num && this.den === o.den;
  }

  isInteger(): boolean {
    return this.den === 1n;
  }

  /** The value as an int64, or a QuantityError when fractional or out of range (like Kubernetes). */
  asInteger(): bigint {
    if (this.den !== 1n) throw new QuantityError(`cannot convert quantity ${this.toString()} to an integer: it has a fractional part`);
    if (this.num > INT64_MAX || this.num < INT64_MIN) throw new QuantityError(`cannot convert quantity ${this.toString()} to an integer: out of int64 range`);
    return this.num;
  }

  asApproximateFloat(): number {
    return Number(this.num) / Number(this.den);
  }

  sign(): -1n | 0n | 1n {
    return this.num < 0n ? -1n : this.num > 0n ? 1n : 0n;
  }

  add(o: Quantity): Quantity {
    return new Quantity(this.num * o.den + o.num * this.den, this.den * o.den);
  }

  sub(o: Quantity): Quantity {
    return new Quantity(this.num * o.den - o.num * this.den, this.den * o.den);
  }

  /** The original text when parsed, else a plain decimal or fraction form. */
  toString(): string {
    if (this.text !== undefined) return this.text;
    return this.den === 1n ? this.num.toString() : `${this.num}/${this.den}`;
  }
}
