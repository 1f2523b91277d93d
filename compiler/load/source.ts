/** A file as read from a directory or a Git tree: repository-relative POSIX path plus raw bytes. */
export interface SourceFile {
  path: string;
  bytes: Uint8Array;
  /** Set when the loader could not (or chose not to) read the file, e.g. a symlink: reported at path:1:1 instead of parsing. */
  problem?: { code: string; severity: 'error' | 'warning'; message: string };
}

/** Files bigger than this are refused before parsing: policy files are kilobytes, a 50 MB one is a mistake. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** Directories never scanned: Coffer's own output (catalog, reports, runs), VCS and dependency folders. */
const SKIPPED_DIRS = new Set(['catalog', 'reports', 'runs', 'node_modules']);

/** True for the files a policy repository is made of (*.yaml / *.yml outside skipped folders). */
export function isPolicySourcePath(path: string): boolean {
  if (!/\.ya?ml$/i.test(path)) return false;
  const parts = path.split('/');
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i]!;
    if (p.startsWith('.') || (i === 0 && SKIPPED_DIRS.has(p)) || p === 'node_modules') return false;
  }
  return !parts[parts.length - 1]!.startsWith('.');
}
