import { API_VERSION, KINDS, type Kind } from '../../schemas/index.ts';
import type { SourceDocument } from '../documents.ts';
import { locate, type LoadedDocument } from '../load/yaml.ts';
import type { Reporter } from './reporter.ts';
import { show, suggest, validateKind } from './schema.ts';

const USER_KINDS = new Set<string>(KINDS);

/**
 * Recognises each YAML document as a Coffer kind and checks it against its JSON Schema.
 * Documents of other tools (apiVersion not coffer.dev/…) are skipped with a warning, so a
 * policy repository may also hold e.g. a kustomization.yaml.
 * Returns every recognised document; `schemaValid` says whether later stages may trust its
 * shape (they still check the others, defensively, so all errors show up in one run).
 */
export function classifyDocuments(loaded: LoadedDocument[], reporter: Reporter): SourceDocument[] {
  const out: SourceDocument[] = [];
  for (const l of loaded) {
    const v = l.value;
    // Where the document starts is looked up when a diagnostic names it: it takes the positioned parse (load/yaml.ts).
    let pos: { line: number; column: number } | undefined;
    const doc: SourceDocument = {
      kind: 'Policy',
      name: '',
      file: l.file,
      get line() {
        return (pos ??= locate(l, [])).line;
      },
      get column() {
        return (pos ??= locate(l, [])).column;
      },
      value: v,
      loaded: l,
    };
    const apiVersion = v.apiVersion;
    if (typeof apiVersion !== 'string') {
      reporter.add(doc, ['apiVersion'], 'E_SCHEMA', `document: missing required field "apiVersion" (every Coffer document starts with apiVersion: ${API_VERSION})`);
      continue;
    }
    if (!apiVersion.startsWith('coffer.dev/')) {
      reporter.add(doc, ['apiVersion'], 'W_FOREIGN', `skipping a document with apiVersion ${show(apiVersion)}: not a Coffer document`, { severity: 'warning' });
      continue;
    }
    const kind = v.kind;
    if (typeof kind !== 'string' || !USER_KINDS.has(kind)) {
      const hint = typeof kind === 'string' ? suggest(kind, [...KINDS]) : undefined;
      reporter.add(
        doc,
        ['kind'],
        'E_SCHEMA',
        kind === undefined
          ? 'document: missing required field "kind"'
          : `kind must be one of ${KINDS.join(', ')}, got ${show(kind)}${hint ? `; did you mean "${hint}"?` : ''}`,
      );
      continue;
    }
    doc.kind = kind as Kind;
    const meta = v.metadata as { name?: unknown } | undefined;
    doc.name = typeof meta?.name === 'string' ? meta.name : '';
    const problems = validateKind(doc.kind, v);
    for (const p of problems) reporter.add(doc, p.path, 'E_SCHEMA', p.message, { key: p.atKey });
    doc.schemaValid = problems.length === 0;
    out.push(doc);
  }
  return out;
}
