import jsyaml from 'js-yaml';
import YAML from 'yaml';

/**
 * The one writer of catalog documents: plain YAML a human reviews in a pull request. Every RestorePoint, Run and
 * latest-run pointer Coffer commits goes through here (and the bench builds its catalogs with it), so what the
 * readers are measured and tested against is exactly what Coffer writes.
 */
export function documentText(doc: unknown): string {
  return YAML.stringify(doc);
}

/** Where a document failed to parse: 1-based line and column, and the parser's first line of explanation. */
export interface ParseFailure {
  line?: number;
  column?: number;
  message: string;
}

export class DocumentParseError extends Error {
  constructor(readonly failure: ParseFailure) {
    super(failure.message);
  }
}

/**
 * Reads a catalog document. js-yaml with the YAML 1.2 core schema (what `documentText` writes: no timestamps, no
 * custom tags) parses Coffer's documents 6–9× faster than the `yaml` package's composer, which matters when a listing,
 * `-o json` or a reindex reads 100,000 of them; documents are small, so alias bombs are bounded by the blob size.
 */
export function parseDocument(text: string): unknown {
  try {
    return jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, json: false });
  } catch (e) {
    const mark = (e as { mark?: { line?: number; column?: number } }).mark;
    const reason = (e as { reason?: string }).reason ?? (e as Error).message.split('\n')[0]!;
    throw new DocumentParseError({ ...(mark?.line !== undefined ? { line: mark.line + 1, column: (mark.column ?? 0) + 1 } : {}), message: reason });
  }
}
