/**
 * Seeded mutants of YAML texts, for the differential tests of the fast YAML readers (compiler/load/yaml-fast.ts,
 * reconciler/catalog/plain-yaml.ts) against the libraries: a failure names a reproducible mutant.
 */

/** A small deterministic generator (mulberry32). */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One edit: a token inserted, characters deleted, a line duplicated, re-indented or swapped with the next. */
export function mutate(text: string, rnd: () => number, tokens: readonly string[]): string {
  const at = Math.floor(rnd() * (text.length + 1));
  const lines = text.split('\n');
  const line = Math.floor(rnd() * lines.length);
  switch (Math.floor(rnd() * 6)) {
    case 0:
    case 1:
      return text.slice(0, at) + tokens[Math.floor(rnd() * tokens.length)]! + text.slice(at);
    case 2:
      return text.slice(0, at) + text.slice(at + 1 + Math.floor(rnd() * 4));
    case 3:
      return [...lines.slice(0, line + 1), lines[line]!, ...lines.slice(line + 1)].join('\n');
    case 4:
      return [...lines.slice(0, line), [' ', '  ', '\t', ''][Math.floor(rnd() * 4)]! + lines[line]!.slice(rnd() < 0.5 ? 0 : 1), ...lines.slice(line + 1)].join('\n');
    default:
      return [...lines.slice(0, line), lines[line + 1] ?? '', lines[line]!, ...lines.slice(line + 2)].join('\n');
  }
}

/** JSON with the numbers JSON cannot hold spelled out, so NaN, ±Infinity and -0 compare too; key order counts. */
export const canonical = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && (!Number.isFinite(x) || Object.is(x, -0)) ? `#${Object.is(x, -0) ? '-0' : x}` : x));
