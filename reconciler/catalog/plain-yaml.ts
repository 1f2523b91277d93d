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
 */

type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

/** Thrown inside the parser when the text leaves the supported shape; never escapes `plainDocument`. */
const NOT_PLAIN = Symbol('not plain');

/** Keys: start with a letter, then what label keys and field names use. Never `__proto__` (no underscore first). */
const KEY = /^([A-Za-z][A-Za-z0-9._/-]*):(?: (.*))?$/;
/** Plain scalars taken as strings: they start with a letter or `/` and use a conservative character set. */
const PLAIN_STRING = /^[A-Za-z/][A-Za-z0-9 ._/:@+=,~()-]*$/;
const INT = /^(?:0|[1-9][0-9]{0,14})$/;
/** RFC 3339 times as Coffer writes them (`toISOString()`), and Kubernetes quantities: strings in both core schemas. */
const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z$/;
const QUANTITY = /^[1-9][0-9]*(?:\.[0-9]+)?(?:Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)$/;
/** Words some YAML schemas read as null or booleans: only the lower-case core ones are decoded here. */
const RESERVED = /^(?:null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;

const OUTSIDE = /[^\n\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]/;

interface Line {
  indent: number;
  text: string;
}

/** The document as js-yaml and `yaml` would read it, or undefined when the text is not in the plain shape. */
export function plainDocument(text: string): Record<string, Value> | undefined {
  // Printable ASCII, newlines and the Basic Multilingual Plane's other printable characters only: no tabs, carriage
  // returns, control characters, NEL (a line break in YAML 1.1), byte order marks, surrogates or astral characters.
  if (OUTSIDE.test(text)) return undefined;
  const lines: Line[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let indent = start;
    while (indent < end && text.charCodeAt(indent) === 32) indent++;
    // A blank line (or one of spaces) only appears inside block scalars, which this does not read.
    if (indent === end) return undefined;
    lines.push({ indent: indent - start, text: text.slice(indent, end) });
    start = end + 1;
  }
  if (lines.length === 0 || lines[0]!.indent !== 0) return undefined;
  const at = { i: 0 };
  try {
    const doc = mapping(lines, at, 0, undefined);
    return at.i === lines.length ? doc : undefined;
  } catch (e) {
    if (e === NOT_PLAIN) return undefined;
    throw e;
  }
}

/** A block mapping whose keys sit at `indent`; `first` is a key line already taken from a `- key: value` item. */
function mapping(lines: Line[], at: { i: number }, indent: number, first: string | undefined): Record<string, Value> {
  const out: Record<string, Value> = {};
  let text = first;
  for (;;) {
    if (text === undefined) {
      const line = lines[at.i];
      if (!line || line.indent < indent) return out;
      if (line.indent > indent) throw NOT_PLAIN; // a continuation line (a folded scalar) or odd indentation
      text = line.text;
      at.i++;
    }
    const m = KEY.exec(text);
    if (!m) throw NOT_PLAIN;
    const key = m[1]!;
    if (RESERVED.test(key)) throw NOT_PLAIN; // `null:` is the key "" to `yaml`, "null" to js-yaml
    if (Object.prototype.hasOwnProperty.call(out, key)) throw NOT_PLAIN; // duplicate: an error, read by js-yaml
    out[key] = m[2] === undefined ? nested(lines, at, indent) : scalar(m[2]);
    text = undefined;
  }
}

/** The block under `key:` — more indented than the key (Coffer's writer indents sequences too). */
function nested(lines: Line[], at: { i: number }, indent: number): Value {
  const line = lines[at.i];
  if (!line || line.indent <= indent) throw NOT_PLAIN; // `key:` alone is null, which the writer spells `null`
  return line.text.startsWith('- ') ? sequence(lines, at, line.indent) : mapping(lines, at, line.indent, undefined);
}

function sequence(lines: Line[], at: { i: number }, indent: number): Value[] {
  const out: Value[] = [];
  for (;;) {
    const line = lines[at.i];
    if (!line || line.indent < indent) return out;
    if (line.indent > indent || !line.text.startsWith('- ')) throw NOT_PLAIN;
    at.i++;
    const item = line.text.slice(2);
    if (item.startsWith(' ') || item.startsWith('- ')) throw NOT_PLAIN;
    // `- key: value` opens a mapping whose other keys line up with this first one, two columns in.
    if (KEY.test(item)) out.push(mapping(lines, at, indent + 2, item));
    else {
      const next = lines[at.i];
      if (next && next.indent > indent) throw NOT_PLAIN; // a folded scalar
      out.push(scalar(item));
    }
  }
}

function scalar(s: string): Value {
  const c = s.charCodeAt(0);
  if (c === 34 /* " */) return doubleQuoted(s);
  if (c === 39 /* ' */) {
    if (s.length < 2 || !s.endsWith("'")) throw NOT_PLAIN;
    const body = s.slice(1, -1);
    // A lone quote inside ends the scalar early: only doubled ones are content.
    if (body.replaceAll("''", '').includes("'")) throw NOT_PLAIN;
    return body.replaceAll("''", "'");
  }
  if (s === '[]') return [];
  if (s === '{}') return {};
  if (s.endsWith(' ') || s.includes(': ') || s.includes(' #') || s.endsWith(':')) throw NOT_PLAIN;
  if (PLAIN_STRING.test(s)) {
    if (!RESERVED.test(s)) return s;
    if (s === 'null') return null;
    if (s === 'true') return true;
    if (s === 'false') return false;
    throw NOT_PLAIN;
  }
  if (INT.test(s)) return Number(s);
  if (TIME.test(s) || QUANTITY.test(s)) return s;
  throw NOT_PLAIN;
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
