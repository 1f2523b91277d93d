/**
 * Regular expressions for CEL with RE2 semantics (what Kubernetes and cel-go
 * use), through re2js: matching is linear in the input, so a pattern written
 * in a pull request cannot stall the reconciler with catastrophic
 * backtracking the way `new RegExp('(a+)+$')` does. Compiled patterns are
 * cached because selectors run the same pattern over many objects.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

/**
 * re2js (150 KB) is required on first use, not imported: most repositories have no regular expression in their CEL,
 * and `coffer validate` starts faster without parsing it (the bundle ships it in node_modules, build/bundle.ts).
 */
let re2: typeof RE2JS | undefined;
const engine = (): typeof RE2JS => (re2 ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JS }).RE2JS);

const cache = new Map<string, RE2JS>();
const CACHE_MAX = 512;

/** Compile (or fetch from cache) an RE2 pattern; throws re2js's syntax error as is. */
export function compileRegex(pattern: string): RE2JS {
  let re = cache.get(pattern);
  if (re === undefined) {
    re = engine().compile(pattern);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
    cache.set(pattern, re);
  }
  return re;
}

/** The reason a pattern is not valid RE2, or undefined when it compiles. */
export function regexSyntaxError(pattern: string): string | undefined {
  try {
    compileRegex(pattern);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** CEL `matches`: true when the pattern matches any substring (RE2 partial match). */
export function regexTest(input: string, pattern: string): boolean {
  return compileRegex(pattern).test(input);
}

/** Kubernetes `find`: the first match, or '' when none. */
export function regexFind(input: string, pattern: string): string {
  const m = compileRegex(pattern).exec(input);
  return m === null ? '' : String(m[0]);
}

/** Kubernetes `findAll`: every non-overlapping match, at most `limit` when limit >= 0. */
export function regexFindAll(input: string, pattern: string, limit = -1): string[] {
  const out: string[] = [];
  if (limit === 0) return out;
  const m = compileRegex(pattern).matcher(input);
  while (m.find()) {
    out.push(m.group() ?? '');
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}
