import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Document, LineCounter, Node, Pair } from 'yaml';
import type { Diagnostic } from '../diagnostics.ts';
import { fastDocuments } from './yaml-fast.ts';
import { MAX_FILE_BYTES, type SourceFile } from './source.ts';

/** One YAML document of a file, its plain value, and what is needed to map paths back to file:line:col. */
export interface LoadedDocument {
  file: string;
  /** 0-based index of the document inside a multi-document file. */
  index: number;
  value: Record<string, unknown>;
  /** The `yaml` library's nodes with their source ranges; for a file read by the fast path, parsed on first use. */
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
  text: string;
}

export type PathSegment = string | number;

/**
 * The `yaml` library, loaded on first use: a file the fast path reads (load/yaml-fast.ts) needs it only for a
 * diagnostic's position, so a valid repository never evaluates it (~8 ms of `coffer validate`). The bundle keeps this
 * require lazy and inside the bundle (build/bundle.ts, plugin lazyYaml).
 */
let yamlLibrary: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  return (yamlLibrary ??= createRequire(import.meta.url)('yaml') as typeof Yaml);
}

const MAX_ALIASES = 100;

/**
 * Parses one file into documents. Never throws: unreadable input (binary, too big,
 * bad YAML, alias bombs, runaway nesting) becomes diagnostics with a position.
 */
export function parseSourceFile(src: SourceFile, opts: { fast?: boolean } = {}): { documents: LoadedDocument[]; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const fail = (code: string, message: string, line = 1, column = 1) => {
    diagnostics.push({ code, severity: 'error', message, file: src.path, line, column, path: '' });
    return { documents: [], diagnostics };
  };
  if (src.problem) {
    diagnostics.push({ ...src.problem, file: src.path, line: 1, column: 1, path: '' });
    return { documents: [], diagnostics };
  }
  if (src.bytes.byteLength > MAX_FILE_BYTES) {
    return fail('E_FILE_TOO_LARGE', `file is ${formatMiB(src.bytes.byteLength)}, larger than the ${formatMiB(MAX_FILE_BYTES)} limit for policy files`);
  }
  const bad = findBinary(src.bytes);
  if (bad !== undefined) {
    const { line, column } = positionOfByte(src.bytes, bad.offset);
    return fail('E_BINARY', `file is not UTF-8 text: ${bad.what} at byte ${bad.offset}`, line, column);
  }
  let text = new TextDecoder('utf-8').decode(src.bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const deep = flowNestingBeyond(text, MAX_FLOW_DEPTH);
  if (deep !== undefined) {
    const lc = new (yaml().LineCounter)();
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lc.addNewLine(i + 1);
    const { line, col } = lc.linePos(deep);
    return fail('E_YAML', `document is nested too deeply (more than ${MAX_FLOW_DEPTH} levels of [ and {)`, line, col);
  }
  // js-yaml first (load/yaml-fast.ts); `fast: false` is the `yaml` library alone, which the fast path is tested against.
  const fast = opts.fast === false ? undefined : fastDocuments(text);
  if (fast) {
    let positioned: { docs: Document.Parsed[]; lineCounter: LineCounter } | undefined;
    const nodes = () => (positioned ??= parsePositioned(text));
    const documents = fast.map((value, index): LoadedDocument => ({
      file: src.path,
      index,
      value,
      text,
      get doc() {
        return nodes().docs[index]!;
      },
      get lineCounter() {
        return nodes().lineCounter;
      },
    }));
    return { documents, diagnostics };
  }
  let docs: Document.Parsed[];
  let lineCounter: LineCounter;
  try {
    ({ docs, lineCounter } = parsePositioned(text));
  } catch (e) {
    return fail('E_YAML', `cannot parse YAML: ${(e as Error).message}`);
  }
  const documents: LoadedDocument[] = [];
  docs.forEach((doc, index) => {
    for (const err of doc.errors) {
      const { line, col } = lineCounter.linePos(errorStart(text, err.message, err.pos[0]));
      diagnostics.push({ code: 'E_YAML', severity: 'error', message: yamlMessage(err.message), file: src.path, line, column: col, path: '' });
    }
    if (doc.errors.length > 0) return;
    for (const w of doc.warnings) {
      const { line, col } = lineCounter.linePos(w.pos[0]);
      diagnostics.push({ code: 'W_YAML', severity: 'warning', message: yamlMessage(w.message), file: src.path, line, column: col, path: '' });
    }
    if (doc.contents === null) return; // empty document (a trailing ---)
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      const unresolved = /Unresolved alias[^:]*: (.+)$/.exec((e as Error).message);
      const aliasAt = unresolved ? text.indexOf(`*${unresolved[1]}`, doc.range[0]) : -1;
      const { line, col } = lineCounter.linePos(aliasAt >= 0 ? aliasAt : (doc.contents.range?.[0] ?? 0));
      const msg = unresolved
        ? `alias *${unresolved[1]} refers to no anchor &${unresolved[1]} defined before it`
        :
        e instanceof RangeError
          ? 'document is nested too deeply'
          : /excessive alias count/i.test((e as Error).message)
            ? `too many alias expansions (more than ${MAX_ALIASES}); anchors and aliases cannot be used to inflate a document`
            : `cannot read YAML: ${(e as Error).message}`;
      diagnostics.push({ code: 'E_YAML', severity: 'error', message: msg, file: src.path, line, column: col, path: '' });
      return;
    }
    if (value === null || value === undefined) {
      if (isBlank(doc, text)) return; // an empty document between two ---
      // `~` or `null` written as a whole document: almost always a policy emptied by mistake, which would vanish silently.
      const { line, col } = lineCounter.linePos(doc.contents.range?.[0] ?? 0);
      diagnostics.push({ code: 'E_EMPTY_DOCUMENT', severity: 'error', message: 'document is null; write the policy (apiVersion, kind, metadata, spec) or delete the document', file: src.path, line, column: col, path: '' });
      return;
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      const { line, col } = lineCounter.linePos(doc.contents.range?.[0] ?? 0);
      diagnostics.push({
        code: 'E_DOCUMENT',
        severity: 'error',
        message: `a document must be a mapping with apiVersion, kind, metadata and spec, got ${describe(value)}`,
        file: src.path,
        line,
        column: col,
        path: '',
      });
      return;
    }
    documents.push({ file: src.path, index, value: value as Record<string, unknown>, doc, lineCounter, text });
  });
  if (docs.every((d) => isBlank(d, text)) && diagnostics.every((d) => d.severity !== 'error')) {
    // A file emptied (or reduced to comments) would otherwise make its policies disappear without a word.
    diagnostics.push({ code: 'E_EMPTY_FILE', severity: 'error', message: 'file holds no document (it is empty or only comments); write the policy or delete the file', file: src.path, line: 1, column: 1, path: '' });
  }
  return { documents, diagnostics };
}

/** The `yaml` library's parse, which keeps every node's source range: what diagnostics and file:line:col come from. */
function parsePositioned(text: string): { docs: Document.Parsed[]; lineCounter: LineCounter } {
  const { LineCounter, parseAllDocuments } = yaml();
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, stringKeys: false }) as Document.Parsed[];
  return { docs: Array.isArray(docs) ? docs : [], lineCounter };
}

/** A document with nothing written in it (as opposed to an explicit `~` or `null`). */
function isBlank(doc: Document.Parsed, text: string): boolean {
  const r = doc.contents?.range;
  return !r || text.slice(r[0], r[1]).trim() === '';
}

const MAX_FLOW_DEPTH = 256;

/**
 * Offset where a flow collection nests deeper than `limit`, found by a cheap scan
 * before parsing: the YAML library needs memory proportional to nesting and a few KB
 * of brackets can exhaust it.
 */
function flowNestingBeyond(text: string, limit: number): number | undefined {
  if (!text.includes('[') && !text.includes('{')) return undefined;
  let depth = 0;
  let quote = '';
  let prev = '\n';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '#' && (prev === ' ' || prev === '\n' || prev === '\t')) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if ((c === '"' || c === "'") && /[\s\[{,:-]/.test(prev)) quote = c;
    else if (c === '[' || c === '{') {
      if (++depth > limit) return i;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
    if (c !== ' ') prev = c;
    else prev = ' ';
  }
  return undefined;
}

/** Unclosed quotes and brackets are reported by the library at the end of input; point at the opening instead. */
function errorStart(text: string, message: string, pos: number): number {
  const open = /Missing closing "quote/.test(message) ? '"' : /Missing closing 'quote/.test(message) ? "'" : /^Flow sequence/.test(message) ? '[' : /^Flow map/.test(message) ? '{' : '';
  if (!open) return pos;
  const at = text.lastIndexOf(open, Math.max(0, pos - 1));
  return at >= 0 ? at : pos;
}

function yamlMessage(m: string): string {
  return m.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function formatMiB(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

/** First byte that makes the file not text: NUL, a control character, or invalid UTF-8. */
export function findBinary(b: Uint8Array): { offset: number; what: string } | undefined {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      if (c === 0) return { offset: i, what: 'NUL byte' };
      if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return { offset: i, what: `control character 0x${c.toString(16).padStart(2, '0')}` };
      if (c === 0x7f) return { offset: i, what: 'control character 0x7f' };
      i++;
      continue;
    }
    const len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? (c <= 0xef ? 3 : 0) : c >= 0xc2 ? 2 : 0;
    if (len === 0 || i + len > n) return { offset: i, what: 'invalid UTF-8 sequence' };
    for (let k = 1; k < len; k++) if ((b[i + k]! & 0xc0) !== 0x80) return { offset: i, what: 'invalid UTF-8 sequence' };
    i += len;
  }
  return undefined;
}

function positionOfByte(b: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) if (b[i] === 0x0a) { line++; lineStart = i + 1; }
  return { line, column: offset - lineStart + 1 };
}

/** Finds the YAML node at a document path; with `key`, the key of the last segment (for "unknown field" errors). */
export function findNode(doc: Document.Parsed, path: readonly PathSegment[], key = false): { node: Node | undefined; pair?: Pair; depth: number } {
  const { isMap, isPair, isScalar, isSeq } = yaml();
  let node: unknown = doc.contents;
  let pair: Pair | undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isMap(node)) {
      const p = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
      if (!p) return { node: node as Node, depth: i };
      pair = p as Pair;
      if (key && i === path.length - 1) return { node: p.key as Node, pair, depth: i + 1 };
      node = p.value;
    } else if (isSeq(node) && typeof seg === 'number' || (isSeq(node) && /^\d+$/.test(String(seg)))) {
      const item = (node as { items: unknown[] }).items[Number(seg)];
      if (item === undefined) return { node: node as Node, depth: i };
      node = item;
    } else {
      return { node: (node ?? undefined) as Node | undefined, depth: i };
    }
  }
  return { node: (node ?? undefined) as Node | undefined, pair, depth: path.length };
}

/** file:line:col of the node at `path` (or of its deepest existing ancestor). */
export function locate(d: LoadedDocument, path: readonly PathSegment[], key = false): { file: string; line: number; column: number } {
  const { node, pair } = findNode(d.doc, path, key);
  let offset = node?.range?.[0];
  if (offset === undefined && pair && yaml().isScalar(pair.key)) offset = pair.key.range?.[0];
  if (offset === undefined) offset = d.doc.contents?.range?.[0] ?? 0;
  const { line, col } = d.lineCounter.linePos(offset);
  return { file: d.file, line, column: col };
}

/**
 * Maps a 0-based offset inside a scalar's value (a CEL expression) to file:line:col,
 * across plain, quoted, literal (|) and folded (>) scalars: the value's characters are
 * matched in order against the scalar's source, skipping indentation, folding and escapes.
 */
export function locateInScalar(d: LoadedDocument, path: readonly PathSegment[], valueOffset: number): { file: string; line: number; column: number } {
  const { node, depth } = findNode(d.doc, path);
  if (!node || depth < path.length || !yaml().isScalar(node) || typeof node.value !== 'string' || !node.range) return locate(d, path);
  const value = node.value;
  const start = node.range[0];
  const end = node.range[1];
  const src = d.text.slice(start, end);
  let j = 0;
  if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') {
    const nl = src.indexOf('\n');
    j = nl < 0 ? src.length : nl + 1;
  } else if (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') {
    j = 1;
  }
  const target = Math.max(0, Math.min(valueOffset, value.length));
  for (let i = 0; i < target; i++) {
    const ch = value[i]!;
    let k = j;
    while (k < src.length && !sameChar(src[k]!, ch)) k++;
    if (k >= src.length) break;
    j = k + 1;
  }
  // Skip indentation / line breaks the value folded away, to land on the character itself.
  if (target < value.length) {
    const ch = value[target]!;
    let k = j;
    while (k < src.length && !sameChar(src[k]!, ch)) k++;
    if (k < src.length) j = k;
  }
  const { line, col } = d.lineCounter.linePos(start + Math.min(j, src.length));
  return { file: d.file, line, column: col };
}

function sameChar(srcCh: string, valCh: string): boolean {
  return srcCh === valCh || (valCh === ' ' && srcCh === '\n') || (valCh === '\n' && srcCh === '\n');
}
