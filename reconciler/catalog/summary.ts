import { DocumentParseError, parseDocument } from './document.ts';
import type { Phase, RestorePoint } from './types.ts';

/**
 * The derived index: one small JSON file per (cluster, namespace, policy) directory of restore points, at
 * `<catalogDir>/.index/<cluster>/<namespace>/<policy>.json`, written in the same commit as the documents it
 * summarises. It records the oid of the directory tree it was built from, so a reader verifies it with one tree
 * entry it reads anyway: when someone commits documents with plain git (or merges), the oid no longer matches and
 * that one directory is read from its documents instead — the index can be stale, never wrong.
 *
 * `.index` cannot collide with a cluster: cluster names never start with a dot (layout.ts `checkSegment`).
 */
export const INDEX_DIR = '.index';
export const INDEX_KIND = 'RestorePointIndex';

/** What listings, retention and compliance need of a restore point, without its resource and volume details. */
export interface RestorePointSummary {
  cluster: string;
  namespace: string;
  policy: string;
  name: string;
  phase: Phase;
  startTime: string;
  endTime?: string;
  volumes: number;
  bytes: number;
  /** How it was taken when not by the schedule (`manual` points live outside the policy's GFS). */
  trigger?: RestorePoint['spec']['trigger'];
  /** On-demand points: kept until unpinned, or until this time (the TTL); absent = kept by the policy's retention. */
  pinned?: boolean;
  expires?: string;
  /** Path of the document in the catalog branch. */
  path: string;
}

/** One line of the index: the summary without what the directory already says (`file` only when not `<name>.yaml`). */
export type IndexItem = Pick<RestorePointSummary, 'name' | 'phase' | 'startTime' | 'endTime' | 'volumes' | 'bytes' | 'trigger' | 'pinned' | 'expires'> & { file?: string };

/** A document that could not be read as a restore point: where, and why. */
export interface CatalogProblem {
  path: string;
  line?: number;
  column?: number;
  message: string;
}

export interface RestorePointIndex {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: typeof INDEX_KIND;
  /** The oid of the documents' directory tree this index describes. */
  tree: string;
  items: IndexItem[];
  /** Documents of the directory that failed to parse (kept so every listing can still warn about them). */
  problems: Array<Omit<CatalogProblem, 'path'> & { file: string }>;
}

export class CatalogDocumentError extends Error {
  readonly code = 'E_CATALOG_DOCUMENT';
  constructor(readonly problem: CatalogProblem) {
    super(formatProblem(problem));
  }
}

/** `catalog/dev/shop/daily/x.yaml:3:7: message` — the shape compilers print, so editors can jump to it. */
export function formatProblem(p: CatalogProblem): string {
  return `${p.path}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ''}` : ''}: ${p.message}`;
}

export function indexPath(catalogDir: string, cluster: string, namespace: string, policy: string): string {
  return `${catalogDir}/${INDEX_DIR}/${cluster}/${namespace}/${policy}.json`;
}

/**
 * Parses one restore point document, refusing what a listing cannot show: YAML errors (with line and column), another
 * kind, or missing identity fields.
 */
export function parseRestorePoint(path: string, text: string): RestorePoint {
  let doc: unknown;
  try {
    doc = parseDocument(text);
  } catch (e) {
    if (e instanceof DocumentParseError) throw new CatalogDocumentError({ path, ...e.failure });
    throw e;
  }
  const rp = doc as RestorePoint;
  const fail = (message: string): never => {
    throw new CatalogDocumentError({ path, line: 1, message });
  };
  if (!rp || typeof rp !== 'object' || rp.kind !== 'RestorePoint') fail(`not a RestorePoint (kind: ${String((rp as { kind?: unknown } | null)?.kind)})`);
  const s = rp.spec as Partial<RestorePoint['spec']> | undefined;
  for (const f of ['cluster', 'namespace', 'policy', 'startTime', 'phase'] as const) if (typeof s?.[f] !== 'string') fail(`spec.${f} is missing or not a string`);
  if (typeof rp.metadata?.name !== 'string') fail('metadata.name is missing');
  return rp;
}

export function indexItem(rp: RestorePoint, file: string): IndexItem {
  return {
    name: rp.metadata.name,
    ...(file !== `${rp.metadata.name}.yaml` ? { file } : {}),
    phase: rp.spec.phase,
    startTime: rp.spec.startTime,
    ...(rp.spec.endTime ? { endTime: rp.spec.endTime } : {}),
    volumes: rp.spec.volumes?.length ?? 0,
    bytes: rp.spec.stats?.bytesRead ?? (rp.spec.volumes ?? []).reduce((n, v) => n + (v.sizeBytes ?? 0), 0),
    ...(rp.spec.trigger && rp.spec.trigger !== 'schedule' ? { trigger: rp.spec.trigger } : {}),
    ...(rp.spec.pinned ? { pinned: true } : {}),
    ...(rp.spec.expires ? { expires: rp.spec.expires } : {}),
  };
}

/** Items sorted by start time then name: the order listings and retention use. */
export function sortItems<T extends Pick<IndexItem, 'startTime' | 'name'>>(items: T[]): T[] {
  return items.sort((a, b) => cmp(a.startTime, b.startTime) || cmp(a.name, b.name));
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One item per line: the index stays readable and its diffs in `git log -p` show which restore point changed. */
export function renderIndex(index: RestorePointIndex): string {
  const items = index.items.map((i) => `    ${JSON.stringify(i)}`).join(',\n');
  const problems = index.problems.map((p) => `    ${JSON.stringify(p)}`).join(',\n');
  return `{\n  "apiVersion": "coffer.dev/v1alpha1",\n  "kind": "${INDEX_KIND}",\n  "tree": "${index.tree}",\n  "items": [${items ? `\n${items}\n  ` : ''}],\n  "problems": [${problems ? `\n${problems}\n  ` : ''}]\n}\n`;
}

/**
 * The index text without the documents `files`, naming `tree` instead of `baseTree`, edited line by line: a day's
 * retention deletes from ~500 indexes of ~200 lines, and parsing and rendering them all was a fifth of its time.
 * Only for the layout `renderIndex` writes (one item per line, its name — or file — first) and an index of
 * `baseTree`; undefined otherwise, and the caller parses and renders. A line is kept as it is, so this trusts what
 * a trusted index says exactly as far as parsing it would.
 */
export function withoutFiles(text: string, baseTree: string, tree: string, files: ReadonlySet<string>): string | undefined {
  const lines = text.split('\n');
  const head = ['{', '  "apiVersion": "coffer.dev/v1alpha1",', `  "kind": "${INDEX_KIND}",`, `  "tree": "${baseTree}",`];
  if (head.some((l, i) => lines[i] !== l) || lines.at(-1) !== '' || lines.at(-2) !== '}') return undefined;
  let at = head.length;
  /** The section's lines without the deleted files' (and without their commas); undefined when one is not understood. */
  const section = (name: string, fileOf: (line: string) => string | undefined, comma: string): string[] | undefined => {
    const open = lines[at++];
    if (open === `  "${name}": []${comma}`) return [];
    if (open !== `  "${name}": [`) return undefined;
    const kept: string[] = [];
    for (; at < lines.length - 2 && lines[at] !== `  ]${comma}`; at++) {
      const line = lines[at]!.endsWith(',') ? lines[at]!.slice(0, -1) : lines[at]!;
      const file = line.endsWith('}') ? fileOf(line) : undefined;
      if (file === undefined) return undefined;
      if (!files.has(file)) kept.push(line);
    }
    at++;
    return kept;
  };
  const items = section('items', (l) => {
    const m = ITEM_LINE.exec(l);
    const name = m ? jsonString(m[1]!) : undefined;
    return m?.[2] ? jsonString(m[2]) : name === undefined ? undefined : `${name}.yaml`;
  }, ',');
  const problems = items && section('problems', (l) => {
    const m = PROBLEM_LINE.exec(l);
    return m ? jsonString(m[1]!) : undefined;
  }, '');
  if (!items || !problems || at !== lines.length - 2) return undefined;
  const list = (l: string[]): string => (l.length ? `\n${l.join(',\n')}\n  ` : '');
  return `{\n  "apiVersion": "coffer.dev/v1alpha1",\n  "kind": "${INDEX_KIND}",\n  "tree": "${tree}",\n  "items": [${list(items)}],\n  "problems": [${list(problems)}]\n}\n`;
}

const STRING = String.raw`"(?:[^"\\]|\\.)*"`;
/** `    {"name":"…"` and, when the file is not `<name>.yaml`, `,"file":"…"` — the order `indexItem` writes. */
const ITEM_LINE = new RegExp(String.raw`^ {4}\{"name":(${STRING})(?:,"file":(${STRING}))?[,}]`);
const PROBLEM_LINE = new RegExp(String.raw`^ {4}\{"file":(${STRING})[,}]`);
const jsonString = (token: string): string | undefined => {
  try {
    return JSON.parse(token) as string;
  } catch {
    return undefined;
  }
};

/** The index file's content, or undefined when it is not one this version writes (then it is rebuilt, not trusted). */
export function parseIndex(text: string): RestorePointIndex | undefined {
  try {
    const v = JSON.parse(text) as RestorePointIndex;
    if (v?.kind !== INDEX_KIND || typeof v.tree !== 'string' || !Array.isArray(v.items) || !Array.isArray(v.problems)) return undefined;
    return v;
  } catch {
    return undefined;
  }
}
