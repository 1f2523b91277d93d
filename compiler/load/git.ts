import * as fs from 'node:fs';
import git from 'isomorphic-git';
import { SourceError } from '../diagnostics.ts';
import { isPolicySourcePath, type SourceFile } from './source.ts';

export interface GitSource {
  /** Full commit id the files were read from. */
  commit: string;
  files: SourceFile[];
}

/**
 * Resolves REF (branch, tag, remote branch, full or short commit id, with optional
 * ~N / ^ suffixes like `HEAD~1` or `origin/main^`) to a commit id, without a checkout.
 */
export async function resolveCommit(gitdir: string, ref: string): Promise<string> {
  const m = /^(.*?)((?:~\d*|\^\d?)*)$/.exec(ref)!;
  const base = m[1]!;
  const suffix = m[2] ?? '';
  let oid: string;
  try {
    oid = await git.resolveRef({ fs, gitdir, ref: base });
  } catch {
    try {
      oid = await git.expandOid({ fs, gitdir, oid: base });
    } catch {
      throw new SourceError(`${ref}: unknown revision in ${gitdir}`);
    }
  }
  oid = await peel(gitdir, oid, ref);
  for (const step of suffix.match(/~\d*|\^\d?/g) ?? []) {
    const count = step[0] === '~' ? Number(step.slice(1) || '1') : 1;
    const parentIndex = step[0] === '^' ? Number(step.slice(1) || '1') - 1 : 0;
    for (let i = 0; i < count; i++) {
      const { commit } = await git.readCommit({ fs, gitdir, oid });
      const parent = commit.parent[step[0] === '^' ? parentIndex : 0];
      if (!parent) throw new SourceError(`${ref}: commit ${oid.slice(0, 12)} has no such parent`);
      oid = parent;
    }
  }
  return oid;
}

async function peel(gitdir: string, oid: string, ref: string): Promise<string> {
  for (let i = 0; i < 10; i++) {
    const obj = await git.readObject({ fs, gitdir, oid });
    if (obj.type === 'commit') return oid;
    if (obj.type === 'tag') {
      oid = (obj.object as { object: string }).object;
      continue;
    }
    throw new SourceError(`${ref}: points at a ${obj.type}, not a commit`);
  }
  throw new SourceError(`${ref}: tag chain too long`);
}

/** Reads the policy files of a commit straight from the object database (no working tree involved). */
export async function readGitCommit(gitdir: string, ref: string, subdir = '', opts: { allowMissingDir?: boolean } = {}): Promise<GitSource> {
  const commit = await resolveCommit(gitdir, ref);
  const { commit: c } = await git.readCommit({ fs, gitdir, oid: commit });
  let tree = c.tree;
  for (const part of subdir.split('/').filter((p) => p && p !== '.')) {
    const { tree: entries } = await git.readTree({ fs, gitdir, oid: tree });
    const next = entries.find((e) => e.path === part && e.type === 'tree');
    if (!next) {
      // A pull request that creates the policy folder: its base simply has no policies.
      if (opts.allowMissingDir) return { commit, files: [] };
      throw new SourceError(`${subdir}: no such directory at ${ref}`);
    }
    tree = next.oid;
  }
  const files: SourceFile[] = [];
  await walk(gitdir, tree, '', files);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { commit, files };
}

async function walk(gitdir: string, tree: string, prefix: string, out: SourceFile[]): Promise<void> {
  const { tree: entries } = await git.readTree({ fs, gitdir, oid: tree });
  for (const e of entries) {
    const path = prefix ? `${prefix}/${e.path}` : e.path;
    if (e.type === 'tree') {
      if (isPolicySourcePath(`${path}/x.yaml`)) await walk(gitdir, e.oid, path, out);
    } else if (e.type === 'blob' && isPolicySourcePath(path)) {
      const { blob } = await git.readBlob({ fs, gitdir, oid: e.oid });
      out.push({ path, bytes: blob });
    }
  }
}
