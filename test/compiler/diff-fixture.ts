/**
 * The policy repositories the plan-diff suites commit into: the git CLI with a fixed identity and dates (so the
 * commits, hence the goldens, are reproducible), a text edit that must change something, and golden files rewritten
 * by UPDATE_GOLDEN=1.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com', GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z' };

/** `git ARGS` in `repo()` (read at each call: suites create the repository in beforeAll). */
export const gitIn = (repo: () => string) => (...args: string[]): string => execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', ...args], { cwd: repo(), env: GIT_ENV, encoding: 'utf8' }).trim();

/** Replaces `from` with `to` in a file of `repo()`; an edit that changes nothing is a broken fixture. */
export const editIn = (repo: () => string) => (file: string, from: string | RegExp, to: string): void => {
  const p = join(repo(), file);
  const before = readFileSync(p, 'utf8');
  const after = before.replace(from, to);
  if (after === before) throw new Error(`edit of ${file} changed nothing`);
  writeFileSync(p, after);
};

export function golden(path: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN || !existsSync(path)) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}
