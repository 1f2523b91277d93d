import * as fs from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { compileSources, type CompileResult } from '../compile.ts';
import { SourceError } from '../diagnostics.ts';
import { readDirectory } from './directory.ts';
import { discoverBlueprints, missingBlueprints } from './discover.ts';
import type { SourceFile } from './source.ts';

/** Where a repository of policies sits in Git: the .git directory and the folder inside it. */
export async function locateInGit(dir: string): Promise<{ gitdir: string; root: string; subdir: string }> {
  // isomorphic-git only when Git is asked for: `coffer validate DIR` starts without loading it.
  const { default: git } = await import('isomorphic-git');
  let root: string;
  try {
    root = await git.findRoot({ fs, filepath: resolve(dir) });
  } catch {
    throw new SourceError(`${dir}: not inside a Git repository (needed for --ref and --diff)`);
  }
  const subdir = relative(root, resolve(dir)).split(sep).join('/');
  return { gitdir: `${root}/.git`, root, subdir };
}

/**
 * Compiles what a CLI invocation names: directories (paths shown as typed, so they open
 * from the shell) or, with `ref`, the same folder as of a Git revision. Blueprints a policy binds but the folders do
 * not define are looked for beside them (`discoverBlueprints`); `discovered` lists the files taken from there.
 */
export async function compileTarget(dirs: string[], ref: string | undefined, cwd: string): Promise<CompileResult & { discovered?: string[] }> {
  const list = dirs.length ? dirs : ['.'];
  if (ref !== undefined) {
    if (list.length > 1) throw new SourceError('--ref takes a single DIR');
    const { gitdir, subdir } = await locateInGit(resolve(cwd, list[0]!));
    const { readGitCommit } = await import('./git.ts');
    const { commit, files } = await readGitCommit(gitdir, ref, subdir);
    const prefix = displayPrefix(list[0]!);
    return compileSources(prefix ? files.map((f) => ({ ...f, path: `${prefix}/${f.path}` })) : files, commit);
  }
  const files: SourceFile[] = [];
  for (const d of list) {
    const read = await readDirectory(isAbsolute(d) ? d : resolve(cwd, d));
    const prefix = displayPrefix(d);
    files.push(...(prefix ? read.map((f) => ({ ...f, path: `${prefix}/${f.path}` })) : read));
  }
  const first = compileSources(files, '');
  const missing = missingBlueprints(first.documents);
  if (missing.length === 0) return first;
  const found = await discoverBlueprints(list, missing, cwd);
  const result = found.files.length ? compileSources([...files, ...found.files], '') : first;
  const searched = [...list.map((d) => displayPrefix(d) || '.'), ...found.searched].join(', ');
  for (const d of result.diagnostics) {
    if (d.code === 'E_REFERENCE' && d.message.startsWith('Blueprint "')) d.message = `${d.message.replace(/ \(no Blueprint is defined in this repository\)$/, '')} (searched: ${searched})`;
  }
  return { ...result, ...(found.files.length ? { discovered: found.files.map((f) => f.path) } : {}) };
}

function displayPrefix(d: string): string {
  const p = d.split(sep).join('/').replace(/\/+$/, '').replace(/^(\.\/)+/, '');
  return p === '.' || p === '' ? '' : p;
}
