/**
 * The compiler's programmatic API: a policy repository (directory or Git commit)
 * in, a validated deterministic Plan plus diagnostics out. Everything else in
 * compiler/ is reachable from here.
 */
import { compileSources, type CompileResult } from './compile.ts';
import { readDirectory } from './load/directory.ts';
import { readGitCommit } from './load/git.ts';
import { compileTarget } from './load/target.ts';

export type { CompileResult } from './compile.ts';
export type { Diagnostic, SourceLocation } from './diagnostics.ts';
export { CompileFailed, SourceError, formatDiagnostic, hasErrors } from './diagnostics.ts';
export type { DocumentIndex, SourceDocument } from './documents.ts';
export { documentKey, documentsOfKind } from './documents.ts';
export type * from './plan/types.ts';
export { planJson } from './plan/build.ts';
export { canonicalJson, sha256 } from './plan/canonical.ts';
export { parseTemplate, renderTemplate, renderArgs, TemplateError } from './template.ts';
export { validateKind, validateFunctionArgs } from './validate/schema.ts';
export { diffPlans, diffResults, diffToMarkdown } from './diff/index.ts';
export { explain } from './explain.ts';
export { locate, locateInScalar } from './load/yaml.ts';
export { compileSources } from './compile.ts';
export { compileTarget, locateInGit } from './load/target.ts';
export { resolveCommit } from './load/git.ts';

/**
 * Compiles one or more directories as one repository (e.g. an app repository plus a
 * blueprint library). Diagnostic paths are relative to the directory when there is
 * one, else prefixed with each directory as given.
 */
export async function compileFromDirectory(dir: string | string[]): Promise<CompileResult> {
  const dirs = Array.isArray(dir) ? dir : [dir];
  if (dirs.length === 1) return compileSources(await readDirectory(dirs[0]!), '');
  return compileTarget(dirs, undefined, process.cwd());
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
