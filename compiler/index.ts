/**
 * The compiler's programmatic API: a policy repository (directory or Git commit)
 * in, a validated deterministic Plan plus diagnostics out. Everything else in
 * compiler/ is reachable from here.
 */
import { posix, sep } from 'node:path';
import { compileSources, type CompileResult } from './compile.ts';
import { readDirectory } from './load/directory.ts';
import { readGitCommit } from './load/git.ts';
import type { SourceFile } from './load/source.ts';

export type { CompileResult } from './compile.ts';
export type { Diagnostic, SourceLocation } from './diagnostics.ts';
export { CompileFailed, SourceError, formatDiagnostic, hasErrors } from './diagnostics.ts';
export type { DocumentIndex, SourceDocument } from './documents.ts';
export { documentKey, documentsOfKind } from './documents.ts';
export type * from './plan/types.ts';
export { planJson } from './plan/build.ts';
export { canonicalJson, sha256 } from './plan/canonical.ts';
export { parseTemplate, renderTemplate, TemplateError } from './template.ts';
export { locate, locateInScalar } from './load/yaml.ts';
export { compileSources } from './compile.ts';

/**
 * Compiles one or more directories as one repository (e.g. an app repo plus a blueprint
 * library). File paths in diagnostics are relative to each directory, or — with
 * `prefixPaths` (what the CLI uses) — the directory as given joined with the file, so
 * they can be opened from where the command ran.
 */
export async function compileFromDirectory(dir: string | string[], opts: { prefixPaths?: boolean } = {}): Promise<CompileResult> {
  const dirs = Array.isArray(dir) ? dir : [dir];
  const files: SourceFile[] = [];
  for (const d of dirs) {
    const read = await readDirectory(d);
    const prefix = opts.prefixPaths || dirs.length > 1 ? posix.normalize(d.split(sep).join('/')).replace(/\/+$/, '') : '.';
    files.push(...(prefix === '.' ? read : read.map((f) => ({ ...f, path: `${prefix}/${f.path}` }))));
  }
  return compileSources(files, '');
}

/**
 * Compiles the repository as of `ref` (branch, tag, commit id, `HEAD~1`, …) straight
 * from the object database: no checkout, so the working tree is never touched.
 * `subdir` compiles only a folder of the repository.
 */
export async function compileFromGit(gitdir: string, ref: string, subdir = ''): Promise<CompileResult> {
  const { commit, files } = await readGitCommit(gitdir, ref, subdir);
  return compileSources(files, commit);
}
