/** Where a diagnostic points: a file and a 1-based line and column. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export type Severity = 'error' | 'warning';

/**
 * One problem found in a policy repository. Every one names a file position so a
 * reviewer can jump to it; `path` is the dotted document path (e.g. spec.retention.daily).
 */
export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  file: string;
  line: number;
  column: number;
  /** Dotted path inside the document, '' for the whole document or file. */
  path: string;
  /** A second position that belongs to the same problem (the other duplicate). */
  related?: SourceLocation;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file ? `${d.file}:${d.line}:${d.column}: ` : '';
  const sev = d.severity === 'warning' ? 'warning: ' : '';
  return `${where}${sev}${d.message}`;
}

/** Stable order: file, line, column, code, message — so output never depends on load order. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort(
    (a, b) =>
      cmp(a.file, b.file) || a.line - b.line || a.column - b.column || cmp(a.code, b.code) || cmp(a.message, b.message),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function hasErrors(ds: Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

/** Thrown by the CLI edge when a repository does not compile; message lists every error. */
export class CompileFailed extends Error {
  readonly code = 'E_INVALID';
  constructor(readonly diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    super(`${errors.length} error(s):\n${errors.map(formatDiagnostic).join('\n')}`);
    this.name = 'CompileFailed';
  }
}

/** A source the loader could not read at all (missing directory, unknown Git ref). */
export class SourceError extends Error {
  readonly code = 'E_SOURCE';
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}
