import { cmp } from './summary.ts';

/**
 * Continue tokens of paged restore point listings, like the Kubernetes list API's: opaque to clients (base64url of a
 * small JSON), they carry the catalog commit the first page was read at — so every page reads the same snapshot —
 * and the key of the last item returned. A token whose commit is no longer in the repository (history rewritten and
 * pruned, a fresh cache) is refused with E_CATALOG_CONTINUE_EXPIRED, the catalog's 410 Gone.
 */
export interface ContinueToken {
  commit: string;
  /** Restore points: [cluster, namespace, policy, startTime, name]; runs: [startTime, name] (newest first). */
  after: readonly string[];
}

export class CatalogContinueError extends Error {
  constructor(
    readonly code: 'E_CATALOG_CONTINUE_INVALID' | 'E_CATALOG_CONTINUE_EXPIRED',
    message: string,
    /** The HTTP status the API answers with: 400 for a malformed token, 410 Gone for an expired one. */
    readonly status: 400 | 410,
  ) {
    super(message);
  }
}

export function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 1, c: t.commit, k: t.after })).toString('base64url');
}

export function decodeContinue(token: string, keyLength: number): ContinueToken {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: number; c?: unknown; k?: unknown };
    if (v.v === 1 && typeof v.c === 'string' && /^[0-9a-f]{40}$/.test(v.c) && Array.isArray(v.k) && v.k.length === keyLength && v.k.every((x) => typeof x === 'string')) {
      return { commit: v.c, after: v.k as string[] };
    }
  } catch {
    // fall through
  }
  throw new CatalogContinueError('E_CATALOG_CONTINUE_INVALID', 'continue token is not one this server issued; list again without it', 400);
}

export function continueExpired(commit: string): CatalogContinueError {
  return new CatalogContinueError(
    'E_CATALOG_CONTINUE_EXPIRED',
    `continue token is for catalog commit ${commit.slice(0, 12)}, which is no longer in the repository; list again without it to start from the current catalog`,
    410,
  );
}

/** Compares item keys (or their prefixes) field by field in code-unit order. */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = cmp(a[i]!, b[i]!);
    if (c) return c;
  }
  return 0;
}
