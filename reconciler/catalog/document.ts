import { createRequire } from 'node:module';
import jsyaml from 'js-yaml';
import { plainDocument } from './plain-yaml.ts';
import type * as Yaml from 'yaml';

/**
 * The `yaml` library (~115 KB), loaded with the first write: readers (listings, `-o json`) parse with plain-yaml.ts or
 * js-yaml and never evaluate it. The bundle keeps this require lazy and inside the bundle (build/bundle.ts, lazyYaml).
 */
let yamlLibrary: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  return (yamlLibrary ??= createRequire(import.meta.url)('yaml') as typeof Yaml);
}

/**
 * The one writer of catalog documents: plain YAML a human reviews in a pull request. Every RestorePoint, Run and
 * latest-run pointer Coffer commits goes through here (and the bench builds its catalogs with it), so what the
 * readers are measured and tested against is exactly what Coffer writes.
 */
export function documentText(doc: unknown): string {
  return yaml().stringify(doc);
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
  // The shape Coffer writes, read directly (plain-yaml.ts: the same result, ~3× faster); anything else by js-yaml.
  const plain = plainDocument(text);
  if (plain) return plain;
  try {
    return jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, json: false });
  } catch (e) {
    const mark = (e as { mark?: { line?: number; column?: number } }).mark;
    const reason = (e as { reason?: string }).reason ?? (e as Error).message.split('\n')[0]!;
    throw new DocumentParseError({ ...(mark?.line !== undefined ? { line: mark.line + 1, column: (mark.column ?? 0) + 1 } : {}), message: reason });
  }
}
