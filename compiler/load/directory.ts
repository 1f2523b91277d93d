import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { SourceError } from '../diagnostics.ts';
import { MAX_FILE_BYTES, isPolicySourcePath, type SourceFile } from './source.ts';

/**
 * Reads every policy YAML file under `dir` (sorted, repository-relative paths).
 * Oversized files are returned truncated-to-empty with their real size encoded so the
 * parser reports them without the loader ever reading 50 MB into memory.
 */
export async function readDirectory(dir: string): Promise<SourceFile[]> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new SourceError(`${dir}: no such directory`);
  }
  if (!st.isDirectory()) throw new SourceError(`${dir}: not a directory`);
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const paths: string[] = [];
  const links = new Set<string>();
  const folderLinks: string[] = [];
  for (const e of entries) {
    if (!e.isFile() && !e.isSymbolicLink()) continue;
    const parent = (e as { parentPath?: string; path?: string }).parentPath ?? (e as { path?: string }).path ?? dir;
    const rel = relative(dir, join(parent, e.name)).split(sep).join('/');
    if (e.isSymbolicLink() && isPolicySourcePath(`${rel}/x.yaml`) && (await stat(join(dir, rel)).catch(() => undefined))?.isDirectory()) {
      folderLinks.push(rel);
      continue;
    }
    if (!isPolicySourcePath(rel)) continue;
    paths.push(rel);
    if (e.isSymbolicLink()) links.add(rel);
  }
  paths.sort();
  const root = await realpath(dir);
  const realFiles = new Set(paths.filter((p) => !links.has(p)).map((p) => join(root, p)));
  const files: SourceFile[] = folderLinks.map((p) => ({
    path: p,
    bytes: new Uint8Array(),
    problem: { code: 'E_SYMLINK', severity: 'error' as const, message: 'symbolic link to a folder: folders are not followed (name the folder itself, e.g. coffer validate policies shared)' },
  }));
  for (const p of paths) {
    const full = join(dir, p);
    if (links.has(p)) {
      const problem = await symlinkProblem(full, root, realFiles);
      if (problem) {
        files.push({ path: p, bytes: new Uint8Array(), problem });
        if (problem.severity === 'error' || problem.code === 'W_SYMLINK_DUPLICATE') continue;
      }
    }
    const size = (await stat(full)).size;
    files.push({ path: p, bytes: size > MAX_FILE_BYTES ? oversized(size) : await readFile(full) });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Symlinked policy files are followed when they stay inside the folder being read (a shared file linked into two
 * places is read once, with a warning) and refused otherwise: a link out of the repository would make what validates
 * depend on the machine, and Git stores only the link, so CI would see something else.
 */
async function symlinkProblem(full: string, root: string, realFiles: Set<string>): Promise<SourceFile['problem']> {
  let target: string;
  try {
    target = await realpath(full);
  } catch {
    return { code: 'E_SYMLINK', severity: 'error', message: 'symbolic link to a file that does not exist' };
  }
  const inside = relative(root, target);
  if (inside.startsWith('..') || inside === '') {
    return { code: 'E_SYMLINK', severity: 'error', message: `symbolic link to ${target}, outside the folder being validated; copy the file in or validate the folder it lives in` };
  }
  if (!(await stat(target)).isFile()) return { code: 'E_SYMLINK', severity: 'error', message: `symbolic link to ${inside.split(sep).join('/')}, which is not a file` };
  if (realFiles.has(target)) {
    return { code: 'W_SYMLINK_DUPLICATE', severity: 'warning', message: `symbolic link to ${inside.split(sep).join('/')}, which is read already; this link is skipped` };
  }
  return undefined;
}

/** A stand-in whose byteLength reports the real size, so the parser's size check fires without reading the file. */
function oversized(size: number): Uint8Array {
  return { byteLength: size, length: 0 } as unknown as Uint8Array;
}
