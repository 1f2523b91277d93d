/**
 * The fast path of reading a catalog document. Coffer writes every document with the `yaml` library's defaults
 * (document.ts): block mappings and sequences indented by two, one `key: value` per line, plain scalars, quotes only
 * where a plain scalar would read differently. `-o json` of 100,000 restore points spent most of its time in js-yaml
 * reading exactly that, so this reads that shape directly — and nothing else: any line, key or scalar outside it
 * (a comment, a tag or anchor, a block or folded scalar, a flow collection other than `[]`/`{}`, an escape other than
 * the JSON ones, a plain scalar a YAML 1.2 core schema could read as anything but the obvious string, integer, bool or
 * null, a duplicate key) returns undefined and the caller parses the text with js-yaml as before.
 *
 * Whatever this returns is what js-yaml's core schema (`parseDocument`) and the `yaml` library return for the same
 * text: `test/reconciler/catalog-plain-yaml.test.ts` compares all three on generated documents and their mutants.
 * `plainListItem` is the way back for `-o yaml`: the same shape printed as `yaml.stringify([doc])` prints it, held
 * to the library's output by the same test.
 */

type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

/** Thrown inside the parser when the text leaves the supported shape; never escapes `plainDocument`. */
const NOT_PLAIN = Symbol('not plain');

/**
 * Inside quoted scalars: printable ASCII and the Basic Multilingual Plane's other printable characters only — no tabs,
 * carriage returns, control characters, NEL (a line break in YAML 1.1), U+2028/9, byte order marks, surrogates or
 * astral ones.
 */
const OUTSIDE = /[^\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]/;
/** RFC 3339 times as Coffer writes them (`toISOString()`), and Kubernetes quantities: strings in both core schemas. */
const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z$/;
const QUANTITY = /^[1-9][0-9]*(?:\.[0-9]+)?(?:Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)$/;
/** Words some YAML schemas read as null or booleans: only the lower-case core ones are decoded here. */
const RESERVED = /^(?:null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;

/** Character classes (ASCII): 1 letter, 2 digit, 4 other key characters `._/-`, 8 other plain-string characters. */
const CLASS = new Uint8Array(128);
for (let c = 65; c <= 90; c++) CLASS[c] = CLASS[c + 32] = 1;
for (let c = 48; c <= 57; c++) CLASS[c] = 2;
for (const ch of '._/-') CLASS[ch.charCodeAt(0)] = 4;
for (const ch of ' :@+=,~()') CLASS[ch.charCodeAt(0)] = 8;

/**
 * The lines of the text, one at a time: `indent` and the content's span [`at`, `end`) of the current line (indent -1
 * past the last line). A blank line, or one of spaces, leaves the shape (only block scalars hold them).
 */
class Lines {
  private next = 0;
  indent = -1;
  at = 0;
  end = 0;

  constructor(readonly text: string) {
    this.advance();
  }

  advance(): void {
    const t = this.text;
    const start = this.next;
    if (start >= t.length) {
      this.indent = -1;
      return;
    }
    let end = t.indexOf('\n', start);
    if (end < 0) end = t.length;
    let i = start;
    while (i < end && t.charCodeAt(i) === 32) i++;
    if (i === end) throw NOT_PLAIN;
    this.indent = i - start;
    this.at = i;
    this.end = end;
    this.next = end + 1;
  }
}

/** The document as js-yaml and `yaml` would read it, or undefined when the text is not in the plain shape. */
export function plainDocument(text: string): Record<string, Value> | undefined {
  // Keys, plain scalars, indentation and indicators are checked character by character as ASCII below; only quoted
  // scalars may hold other characters, and they are checked against OUTSIDE (one scan of every text cost 1/8 of -o json).
  try {
    const lines = new Lines(text);
    if (lines.indent !== 0) return undefined;
    const doc = mapping(lines, 0, -1);
    return (lines.indent as number) === -1 ? doc : undefined;
  } catch (e) {
    if (e === NOT_PLAIN) return undefined;
    throw e;
  }
}

/**
 * A block mapping whose keys sit at `indent`; `from` ≥ 0: its first key starts there on the current line (a
 * `- key: value` item, keys lining up two columns in).
 */
function mapping(lines: Lines, indent: number, from: number): Record<string, Value> {
  const out: Record<string, Value> = {};
  const t = lines.text;
  for (let first = from >= 0; ; first = false) {
    if (!first) {
      if (lines.indent < indent) return out;
      if (lines.indent > indent) throw NOT_PLAIN; // a continuation line (a folded scalar) or odd indentation
    }
    const at = first ? from : lines.at;
    const end = lines.end;
    const colon = keyEnd(t, at, end);
    if (colon < 0) throw NOT_PLAIN;
    const key = t.slice(at, colon);
    if (colon - at <= 5 && RESERVED.test(key)) throw NOT_PLAIN; // `null:` is the key "" to `yaml`, "null" to js-yaml
    if (Object.prototype.hasOwnProperty.call(out, key)) throw NOT_PLAIN; // duplicate: an error, left to js-yaml
    if (colon + 1 === end) {
      lines.advance();
      out[key] = nested(lines, indent);
    } else {
      out[key] = scalar(t.slice(colon + 2, end));
      lines.advance();
    }
  }
}

/** Where the key starting at `at` ends (its `:`, followed by a space or the end of the line), else -1. */
function keyEnd(t: string, at: number, end: number): number {
  if (CLASS[t.charCodeAt(at)] !== 1) return -1;
  let i = at + 1;
  for (; i < end; i++) {
    const c = t.charCodeAt(i);
    if (c === 58 /* : */) break;
    if (c >= 128 || !(CLASS[c]! & 7)) return -1;
  }
  if (i >= end || (i + 1 < end && t.charCodeAt(i + 1) !== 32)) return -1;
  return i;
}

/** The block under `key:` — more indented than the key (Coffer's writer indents sequences too). */
function nested(lines: Lines, indent: number): Value {
  if (lines.indent <= indent) throw NOT_PLAIN; // `key:` alone is null, which the writer spells `null`
  const t = lines.text;
  const dash = t.charCodeAt(lines.at) === 45 && t.charCodeAt(lines.at + 1) === 32;
  return dash ? sequence(lines, lines.indent) : mapping(lines, lines.indent, -1);
}

function sequence(lines: Lines, indent: number): Value[] {
  const out: Value[] = [];
  const t = lines.text;
  for (;;) {
    if (lines.indent < indent) return out;
    const at = lines.at;
    if (lines.indent > indent || t.charCodeAt(at) !== 45 || t.charCodeAt(at + 1) !== 32) throw NOT_PLAIN;
    const item = at + 2;
    const c = t.charCodeAt(item);
    if (c === 32 || (c === 45 && t.charCodeAt(item + 1) === 32)) throw NOT_PLAIN;
    if (keyEnd(t, item, lines.end) >= 0) {
      // `- key: value` opens a mapping whose other keys line up with this first one, two columns in.
      out.push(mapping(lines, indent + 2, item));
    } else {
      out.push(scalar(t.slice(item, lines.end)));
      lines.advance();
      if (lines.indent > indent) throw NOT_PLAIN; // a folded scalar
    }
  }
}

function scalar(s: string): Value {
  const c = s.charCodeAt(0);
  if ((c === 34 /* " */ || c === 39) /* ' */ && OUTSIDE.test(s)) throw NOT_PLAIN;
  if (c === 34) return doubleQuoted(s);
  if (c === 39) {
    if (s.length < 2 || s.charCodeAt(s.length - 1) !== 39) throw NOT_PLAIN;
    const body = s.slice(1, -1);
    if (!body.includes("'")) return body;
    // A lone quote inside ends the scalar early: only doubled ones are content.
    if (body.replaceAll("''", '').includes("'")) throw NOT_PLAIN;
    return body.replaceAll("''", "'");
  }
  if (s === '[]') return [];
  if (s === '{}') return {};
  if (c < 128 && (CLASS[c] === 1 || c === 47 /* / */)) {
    // A plain string: conservative characters, no `: ` inside, no `:` or space at the end.
    const n = s.length;
    for (let i = 1; i < n; i++) {
      const d = s.charCodeAt(i);
      if (d >= 128 || CLASS[d] === 0) throw NOT_PLAIN;
      if (d === 58 && (i + 1 === n || s.charCodeAt(i + 1) === 32)) throw NOT_PLAIN;
    }
    if (s.charCodeAt(n - 1) === 32) throw NOT_PLAIN;
    if (n > 5 || !RESERVED.test(s)) return s;
    if (s === 'null') return null;
    if (s === 'true') return true;
    if (s === 'false') return false;
    throw NOT_PLAIN;
  }
  if (c >= 48 && c <= 57) {
    if (isInt(s)) return Number(s);
    if (TIME.test(s) || QUANTITY.test(s)) return s;
  }
  throw NOT_PLAIN;
}

/** Whether `s` written plain reads back as this string: the plain strings `scalar` takes. */
function isPlainString(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  const c = s.charCodeAt(0);
  if (c < 128 && (CLASS[c] === 1 || c === 47 /* / */)) {
    for (let i = 1; i < n; i++) {
      const d = s.charCodeAt(i);
      if (d >= 128 || CLASS[d] === 0) return false;
      if (d === 58 && (i + 1 === n || s.charCodeAt(i + 1) === 32)) return false;
    }
    return s.charCodeAt(n - 1) !== 32 && (n > 5 || !RESERVED.test(s));
  }
  return c >= 48 && c <= 57 && (TIME.test(s) || QUANTITY.test(s));
}

/** 0, or up to 15 digits without a leading zero: a safe integer in every reading. */
function isInt(s: string): boolean {
  const n = s.length;
  if (n > 15 || (n > 1 && s.charCodeAt(0) === 48)) return false;
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(i);
    if (d < 48 || d > 57) return false;
  }
  return true;
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };

/** A double-quoted scalar closed on its own line, with JSON's escapes only (`\uXXXX` included). */
function doubleQuoted(s: string): string {
  let out = '';
  let i = 1;
  for (;;) {
    const q = s.indexOf('"', i);
    const b = s.indexOf('\\', i);
    if (q < 0) throw NOT_PLAIN; // continued on the next line
    if (b < 0 || q < b) {
      if (q !== s.length - 1) throw NOT_PLAIN;
      return out + s.slice(i, q);
    }
    out += s.slice(i, b);
    const e = s[b + 1];
    if (e === 'u') {
      const hex = s.slice(b + 2, b + 6);
      if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw NOT_PLAIN;
      const code = parseInt(hex, 16);
      if (code >= 0xd800 && code <= 0xdfff) throw NOT_PLAIN; // surrogates: leave pairing rules to the libraries
      out += String.fromCharCode(code);
      i = b + 6;
    } else {
      const r = e === undefined ? undefined : ESCAPES[e];
      if (r === undefined) throw NOT_PLAIN;
      out += r;
      i = b + 2;
    }
  }
}

/**
 * Where the `yaml` writer folds a plain scalar holding spaces: past 80 columns. A line of this emitter that would hold
 * such a scalar further right than this is left to the library.
 */
const FOLD_SAFE = 76;

/**
 * `yaml.stringify([doc])` — the document as an item of a YAML list, what `-o yaml` prints ~200 µs a document — for a
 * document of the shape `plainDocument` reads (block mappings and sequences, keys and strings the writer leaves plain,
 * safe integers, booleans, null, empty `[]`/`{}`), else undefined and the caller asks the library. The same
 * differential test holds it to the library's output.
 */
export function plainListItem(doc: unknown): string | undefined {
  const out: string[] = [];
  try {
    item(doc, 0, out);
  } catch (e) {
    if (e === NOT_PLAIN) return undefined;
    throw e;
  }
  return `${out.join('\n')}\n`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** One sequence item whose dash is at column `dash`. */
function item(v: unknown, dash: number, out: string[]): void {
  const pad = `${' '.repeat(dash)}- `;
  if (Array.isArray(v)) {
    if (v.length) throw NOT_PLAIN; // a sequence in a sequence: `- - x`, left to the library
    out.push(`${pad}[]`);
  } else if (isRecord(v)) {
    if (Object.keys(v).length === 0) out.push(`${pad}{}`);
    else mappingLines(v, dash + 2, pad, out);
  } else out.push(`${pad}${scalarText(v, dash + 2)}`);
}

/** A mapping whose keys start at column `col`; its first line starts with `first` (a `- ` item's, or the indentation). */
function mappingLines(m: Record<string, unknown>, col: number, first: string, out: string[]): void {
  const pad = ' '.repeat(col);
  let prefix = first;
  for (const key of Object.keys(m)) {
    if (key.length > 100 || keyEnd(`${key}:`, 0, key.length + 1) !== key.length || (key.length <= 5 && RESERVED.test(key))) throw NOT_PLAIN;
    const v = m[key];
    const head = `${prefix}${key}:`;
    prefix = pad;
    if (Array.isArray(v)) {
      if (v.length === 0) out.push(`${head} []`);
      else {
        out.push(head);
        for (const x of v) item(x, col + 2, out);
      }
    } else if (isRecord(v)) {
      if (Object.keys(v).length === 0) out.push(`${head} {}`);
      else {
        out.push(head);
        mappingLines(v, col + 2, ' '.repeat(col + 2), out);
      }
    } else out.push(`${head} ${scalarText(v, head.length + 1)}`);
  }
}

/** A scalar starting at column `col`, as the writer prints it when it prints it plain. */
function scalarText(v: unknown, col: number): string {
  if (v === null) return 'null';
  if (v === true || v === false) return String(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && !Object.is(v, -0)) return String(v);
  if (typeof v === 'string' && isPlainString(v) && (!v.includes(' ') || col + v.length <= FOLD_SAFE)) return v;
  throw NOT_PLAIN;
}
