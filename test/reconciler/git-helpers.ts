import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';

/** Coffer's caches (bare clones, parsed documents) go to a temporary directory during tests, never to ~/.cache. */
if (!process.env.COFFER_CACHE_DIR) {
  const cache = mkdtempSync(join(tmpdir(), 'coffer-test-cache-'));
  process.env.COFFER_CACHE_DIR = cache;
  afterAll(() => {
    rmSync(cache, { recursive: true, force: true });
    if (process.env.COFFER_CACHE_DIR === cache) delete process.env.COFFER_CACHE_DIR;
  });
}

/** Runs the real git CLI (the independent reader every test checks Coffer's writes with). */
export function gitCli(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'Dev', GIT_AUTHOR_EMAIL: 'dev@example.com', GIT_COMMITTER_NAME: 'Dev', GIT_COMMITTER_EMAIL: 'dev@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: tmpdir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `coffer-${prefix}-`));
}

/** A policy repository with one commit on main, made by the git CLI. */
export function makePolicyRepo(dir: string, files: Record<string, string>, opts: { bare?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  gitCli(dir, 'init', '-q', '-b', 'main');
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  gitCli(dir, 'add', '-A');
  gitCli(dir, 'commit', '-q', '-m', 'initial policies');
  if (!opts.bare) return dir;
  const bare = `${dir}.git`;
  gitCli(dirname(dir), 'clone', '-q', '--bare', dir, bare);
  return bare;
}

export { startGitHttp, type GitHttpServer } from '../git-http.ts';

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
