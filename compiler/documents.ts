import type { Kind } from '../schemas/index.ts';
import type { LoadedDocument } from './load/yaml.ts';

/** A valid-looking document of a known kind, with where it came from. */
export interface SourceDocument {
  kind: Kind;
  name: string;
  file: string;
  line: number;
  column: number;
  /** The document as plain data (after YAML parsing, before defaults). */
  value: Record<string, unknown>;
  /** Parsed YAML, to map any path inside the document back to file:line:col (see load/yaml.ts locate). */
  loaded: LoadedDocument;
  /** False when the document broke its JSON Schema (it is still indexed, so references to it resolve). */
  schemaValid?: boolean;
}

/** Documents keyed `Kind/name` (e.g. `Policy/db`), so each is found in one lookup. */
export type DocumentIndex = Record<string, SourceDocument>;

export function documentKey(kind: Kind, name: string): string {
  return `${kind}/${name}`;
}

/** Documents of one kind, sorted by name. */
export function documentsOfKind(index: DocumentIndex, kind: Kind): SourceDocument[] {
  return Object.values(index)
    .filter((d) => d.kind === kind)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
