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
  const links: Array<{ path: string; target: string }> = [];
  await walk(gitdir, tree, '', files, links);
  const read = new Set(files.map((f) => f.path));
  for (const l of links) files.push({ path: l.path, bytes: new Uint8Array(), problem: gitLinkProblem(l.path, l.target, read) });
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { commit, files };
}

async function walk(gitdir: string, tree: string, prefix: string, out: SourceFile[], links: Array<{ path: string; target: string }>): Promise<void> {
  const { tree: entries } = await git.readTree({ fs, gitdir, oid: tree });
  for (const e of entries) {
    const path = prefix ? `${prefix}/${e.path}` : e.path;
    if (e.type === 'tree') {
      if (isPolicySourcePath(`${path}/x.yaml`)) await walk(gitdir, e.oid, path, out, links);
    } else if (e.type === 'blob' && e.mode === '120000' && (isPolicySourcePath(path) || isPolicySourcePath(`${path}/x.yaml`))) {
      // Git stores a symlink as a blob holding its target; parsing that text as YAML would give a baffling error.
      const { blob } = await git.readBlob({ fs, gitdir, oid: e.oid });
      links.push({ path, target: new TextDecoder().decode(blob) });
    } else if (e.type === 'blob' && isPolicySourcePath(path)) {
      const { blob } = await git.readBlob({ fs, gitdir, oid: e.oid });
      out.push({ path, bytes: blob });
    }
  }
}

/** A symlink in a commit: the file it names is read already when it is inside the folder; anything else is refused. */
function gitLinkProblem(path: string, target: string, read: Set<string>): NonNullable<SourceFile['problem']> {
  const parts = path.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg && seg !== '.') parts.push(seg);
  }
  const resolved = target.startsWith('/') ? undefined : parts.join('/');
  if (resolved && read.has(resolved)) return { code: 'W_SYMLINK_DUPLICATE', severity: 'warning', message: `symbolic link to ${resolved}, which is read already; this link is skipped` };
  return { code: 'E_SYMLINK', severity: 'error', message: `symbolic link to ${target}, which is not a policy file inside the folder read from Git; commit the file itself` };
}
