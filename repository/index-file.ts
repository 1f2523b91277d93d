import type { PackEntry } from './pack.ts';

/**
 * Index files (`index/…`, FORMAT.md "Index") read and written without the whole body as JS objects.
 *
 * Why: a backup of 200,000 small files writes one index file of ~18 MB of JSON. `JSON.parse` of it made 200,000
 * arrays and id strings at once (~75 MiB of JS heap beside ~60 MiB of buffers), and `JSON.stringify` of the body
 * the same on the way out: the peak RSS of every later backup (load) and of the first one (write) — 227–270 MiB
 * where the walk itself needs ~150 (FORMAT.md, "Small files, fourth pass"). Here the body is scanned byte by byte
 * into one pack's entries at a time, and written one pack at a time.
 *
 * The scanner takes only the exact text Coffer writes (JSON.stringify's, no whitespace, the keys in their order,
 * lowercase hex ids, integer fields); anything else — valid JSON in another shape, or damage — returns false and
 * the caller parses the body with JSON.parse as before, so what is accepted and every error stay the same.
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const END = 0x7d;
const ID_CHARS = 64;

const HEAD = Buffer.from('{"version":');
const SUPERSEDES = Buffer.from(',"supersedes":[');
const PACKS = Buffer.from(',"packs":[');
const PACK_ID = Buffer.from('{"id":');
const BLOBS = Buffer.from(',"blobs":[');

/** `true` for the bytes of 0-9 and a-f: ids are written as lowercase hex. */
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') HEX[c.charCodeAt(0)] = 1;

class Scanner {
  i = 0;
  constructor(private readonly b: Buffer) {}

  lit(s: Buffer): boolean {
    const { b, i } = this;
    if (i + s.length > b.length) return false;
    for (let k = 0; k < s.length; k++) if (b[i + k] !== s[k]) return false;
    this.i += s.length;
    return true;
  }

  byte(c: number): boolean {
    if (this.b[this.i] !== c) return false;
    this.i++;
    return true;
  }

  /** A quoted 64-character lowercase hex id: its start, or -1. */
  id(): number {
    const { b } = this;
    const at = this.i + 1;
    if (b[this.i] !== QUOTE || b[at + ID_CHARS] !== QUOTE) return -1;
    for (let k = at; k < at + ID_CHARS; k++) if (HEX[b[k]!] !== 1) return -1;
    this.i = at + ID_CHARS + 1;
    return at;
  }

  /** A non-negative integer as JSON.stringify writes it (no sign, fraction, exponent or leading zero) up to 2^32 − 1, else -1. */
  uint(): number {
    const { b } = this;
    let i = this.i;
    let n = 0;
    const start = i;
    while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x39 && i - start < 11) n = n * 10 + (b[i++]! - 0x30);
    if (i === start || (b[start] === 0x30 && i - start > 1) || n > 0xffffffff) return -1;
    this.i = i;
    return n;
  }

  get done(): boolean {
    return this.i === this.b.length;
  }

  text(at: number): string {
    return this.b.toString('latin1', at, at + ID_CHARS);
  }
}

/**
 * Scan an index file's JSON text; with `add`, each pack's entries are handed over once the pack is read whole.
 * Returns false at the first byte out of the shape Coffer writes — after `add` may have had the packs before it,
 * which is why `readIndexText` scans once without `add` first.
 */
export function scanIndexText(text: Buffer, add?: (pack: string, entries: PackEntry[]) => void): boolean {
  const s = new Scanner(text);
  if (!s.lit(HEAD) || s.uint() < 0 || !s.lit(SUPERSEDES)) return false;
  if (!s.byte(CLOSE)) {
    do if (s.id() < 0) return false;
    while (s.byte(COMMA));
    if (!s.byte(CLOSE)) return false;
  }
  if (!s.lit(PACKS)) return false;
  if (!s.byte(CLOSE)) {
    do {
      if (!s.lit(PACK_ID)) return false;
      const pack = s.id();
      if (pack < 0 || !s.lit(BLOBS)) return false;
      const entries: PackEntry[] = [];
      if (!s.byte(CLOSE)) {
        do {
          if (!s.byte(OPEN)) return false;
          const id = s.id();
          if (id < 0 || !s.byte(COMMA)) return false;
          const t = s.uint();
          if (t > 1 || !s.byte(COMMA)) return false;
          const offset = s.uint();
          if (offset < 0 || !s.byte(COMMA)) return false;
          const length = s.uint();
          if (length < 0 || !s.byte(COMMA)) return false;
          const rawLength = s.uint();
          if (rawLength < 0 || !s.byte(COMMA)) return false;
          const comp = s.uint();
          if (comp < 0 || !s.byte(CLOSE)) return false;
          if (add) entries.push({ id: s.text(id), type: t === 1 ? 'tree' : 'data', offset, length, rawLength, comp });
        } while (s.byte(COMMA));
        if (!s.byte(CLOSE)) return false;
      }
      if (!s.byte(END)) return false;
      add?.(s.text(pack), entries);
    } while (s.byte(COMMA));
    if (!s.byte(CLOSE)) return false;
  }
  return s.byte(END) && s.done;
}

/**
 * Read an index file's JSON text into `add`, one pack at a time: all of it or none (a first pass checks the shape
 * without making anything), and false when the text is not in Coffer's shape (the caller then uses JSON.parse).
 */
export function readIndexText(text: Buffer, add: (pack: string, entries: PackEntry[]) => void): boolean {
  if (!scanIndexText(text)) return false;
  scanIndexText(text, add);
  return true;
}

/**
 * The JSON text of an index file, in pieces of about `piece` characters: byte for byte
 * `JSON.stringify({ version, supersedes, packs: [{ id, blobs: [[id, t, offset, length, rawLength, comp], …] }, …] })`,
 * with each pack's entries asked for only when its turn comes.
 */
export function* indexText(version: number, supersedes: readonly string[], packs: readonly string[], entriesOf: (pack: string) => readonly PackEntry[], piece = 64 * 1024): Generator<string> {
  let out = `{"version":${JSON.stringify(version)},"supersedes":${JSON.stringify(supersedes)},"packs":[`;
  for (let p = 0; p < packs.length; p++) {
    out += `${p ? ',' : ''}{"id":${JSON.stringify(packs[p])},"blobs":[`;
    const entries = entriesOf(packs[p]!);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      out += `${k ? ',' : ''}[${JSON.stringify(e.id)},${e.type === 'tree' ? 1 : 0},${e.offset},${e.length},${e.rawLength},${e.comp}]`;
      if (out.length >= piece) {
        yield out;
        out = '';
      }
    }
    out += ']}';
  }
  yield `${out}]}`;
}
