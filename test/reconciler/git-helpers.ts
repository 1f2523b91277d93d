import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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

/** Commits files to a branch with the git CLI's plumbing only (what a human or another tool would do). */
export function plainGitCommit(repo: string, branch: string, put: Record<string, string>, del: string[] = [], message = 'by hand'): string {
  const index = join(repo, '.git', `tmp-index-${createHash('sha1').update(message + Object.keys(put).join()).digest('hex').slice(0, 8)}`);
  const env = { ...process.env, GIT_INDEX_FILE: index, GIT_AUTHOR_NAME: 'Human', GIT_AUTHOR_EMAIL: 'h@example.com', GIT_COMMITTER_NAME: 'Human', GIT_COMMITTER_EMAIL: 'h@example.com' };
  const git = (args: string[], input?: string): string => execFileSync('git', args, { cwd: repo, env, input, encoding: 'utf8' }).trim();
  git(['read-tree', branch]);
  for (const [path, content] of Object.entries(put)) git(['update-index', '--add', '--cacheinfo', `100644,${git(['hash-object', '-w', '--stdin'], content)},${path}`]);
  for (const path of del) git(['update-index', '--force-remove', path]);
  const parent = git(['rev-parse', branch]);
  const commit = git(['commit-tree', git(['write-tree']), '-p', parent, '-m', message]);
  git(['update-ref', `refs/heads/${branch}`, commit, parent]);
  execFileSync('rm', ['-f', index]);
  return commit;
}
