import type { Diagnostic, Severity } from '../diagnostics.ts';
import type { SourceDocument } from '../documents.ts';
import { locate, locateInScalar, type PathSegment } from '../load/yaml.ts';
import { formatPath } from './paths.ts';

/** Collects diagnostics, turning a document path (and an offset inside a scalar) into file:line:col. */
export class Reporter {
  readonly diagnostics: Diagnostic[] = [];

  add(
    doc: SourceDocument,
    path: readonly PathSegment[],
    code: string,
    message: string,
    opts: { key?: boolean; offset?: number; severity?: Severity; related?: SourceDocument } = {},
  ): void {
    const loc = opts.offset !== undefined ? locateInScalar(doc.loaded, path, opts.offset) : locate(doc.loaded, path, opts.key ?? false);
    const d: Diagnostic = { code, severity: opts.severity ?? 'error', message, file: loc.file, line: loc.line, column: loc.column, path: formatPath(path) };
    if (opts.related) d.related = { file: opts.related.file, line: opts.related.line, column: opts.related.column };
    this.diagnostics.push(d);
  }

  push(d: Diagnostic): void {
    this.diagnostics.push(d);
  }
}
