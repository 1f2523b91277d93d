import { readdir, readFile, stat } from 'node:fs/promises';
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
  for (const e of entries) {
    if (!e.isFile()) continue;
    const parent = (e as { parentPath?: string; path?: string }).parentPath ?? (e as { path?: string }).path ?? dir;
    const rel = relative(dir, join(parent, e.name)).split(sep).join('/');
    if (isPolicySourcePath(rel)) paths.push(rel);
  }
  paths.sort();
  const files: SourceFile[] = [];
  for (const p of paths) {
    const full = join(dir, p);
    const size = (await stat(full)).size;
    files.push({ path: p, bytes: size > MAX_FILE_BYTES ? oversized(size) : await readFile(full) });
  }
  return files;
}

/** A stand-in whose byteLength reports the real size, so the parser's size check fires without reading the file. */
function oversized(size: number): Uint8Array {
  return { byteLength: size, length: 0 } as unknown as Uint8Array;
}
