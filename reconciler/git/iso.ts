import type IsoGit from 'isomorphic-git';
import type { HttpClient } from 'isomorphic-git';

/**
 * isomorphic-git (~210 KB of JavaScript with pako) and its HTTP client, loaded on first use. Only remotes (fetch,
 * push) and a few writes need them; reading a local repository goes through `objects.ts` and `refs.ts`, so
 * `coffer restorepoints` on a local catalog never parses the library (the bundle keeps it in a chunk of its own).
 */
export async function isoGit(): Promise<typeof IsoGit> {
  return (await import('isomorphic-git')).default;
}

export async function isoHttp(): Promise<HttpClient> {
  return (await import('isomorphic-git/http/node')).default;
}
