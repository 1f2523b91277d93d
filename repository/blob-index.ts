import { RepoError } from './errors.ts';
import type { BlobType, PackEntry } from './pack.ts';

export interface BlobLocation extends PackEntry {
  pack: string;
}

interface PackRange {
  no: number;
  start: number;
  count: number;
}

const ID_BYTES = 32;

const inU32 = (n: number): boolean => n >= 0 && n <= 0xffffffff;

/**
 * The repository's index, stored once and without a JS object per blob: every pack's entries in typed arrays
 * (binary id, pack number, offset, lengths, type and compression; ~46 B per entry), and an open-addressing hash
 * table from id to entry (4–8 B per blob). Why: the index as two Maps of objects (`packs` and `index`, a
 * 64-character id string and two objects per blob, ~260 B per blob) was most of the live JS heap at 200,000 files,
 * and V8 sizes its heap pages at a multiple of what is live (FORMAT.md, "Restore and index memory").
 * Ids are lowercase hex SHA-256/HMAC values, uniformly distributed: their first four bytes are the hash.
 * Entries are materialised as objects only when asked for (`get`, `entries`), and die young.
 */
export class BlobIndex {
  private cap = 0;
  private used = 0;
  private ids = new Uint8Array(0);
  private ids32 = new Uint32Array(0);
  private packNo = new Uint32Array(0);
  private offsets = new Uint32Array(0);
  private lengths = new Uint32Array(0);
  private rawLengths = new Uint32Array(0);
  /** bit 0: tree; bits 1–7: compression */
  private meta = new Uint8Array(0);
  /** entry + 1 per bucket, 0 = empty */
  private table = new Uint32Array(16);
  private hashed = 0;
  private readonly packNames: string[] = [];
  private readonly packRanges = new Map<string, PackRange>();
  private readonly scratch = new Uint8Array(ID_BYTES);
  private readonly scratch32 = new Uint32Array(this.scratch.buffer);
  private readonly scratchBuf = Buffer.from(this.scratch.buffer);

  /** Blobs findable by id. */
  get size(): number {
    return this.hashed;
  }

  get packCount(): number {
    return this.packRanges.size;
  }

  clear(): void {
    this.cap = this.used = this.hashed = 0;
    this.ids = new Uint8Array(0);
    this.ids32 = new Uint32Array(0);
    this.packNo = this.offsets = this.lengths = this.rawLengths = new Uint32Array(0);
    this.meta = new Uint8Array(0);
    this.table = new Uint32Array(16);
    this.packNames.length = 0;
    this.packRanges.clear();
  }

  /**
   * Record a pack's entries (replacing an earlier record of the same pack); each blob not yet indexed becomes
   * findable at this pack. A blob stored in two packs stays at the first, as the Map it replaces did.
   */
  addPack(pack: string, entries: readonly PackEntry[]): void {
    // Each id is decoded once, straight into the slot it will take (index load at 200,000 blobs decoded every
    // id twice). Every entry is checked before any is recorded: slots past `used` are free, so a bad index file
    // leaves the index as it was.
    this.reserve(this.used + entries.length);
    const start = this.used;
    const ids = Buffer.from(this.ids.buffer, this.ids.byteOffset, this.ids.byteLength);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.id.length !== 2 * ID_BYTES || ids.write(e.id, (start + k) * ID_BYTES, 'hex') !== ID_BYTES) throw new RepoError('E_REPO_CORRUPT', `pack ${pack}: blob id "${e.id.slice(0, 70)}" is not 64 hex digits`);
      if (!(inU32(e.offset) && inU32(e.length) && inU32(e.rawLength)) || !(e.comp >= 0 && e.comp <= 127)) throw new RepoError('E_REPO_CORRUPT', `pack ${pack}: blob ${e.id.slice(0, 16)} has an entry out of range`);
    }
    const no = this.packRanges.get(pack)?.no ?? this.packNames.push(pack) - 1;
    for (const e of entries) {
      const i = this.used;
      this.packNo[i] = no;
      this.offsets[i] = e.offset;
      this.lengths[i] = e.length;
      this.rawLengths[i] = e.rawLength;
      this.meta[i] = (e.comp << 1) | (e.type === 'tree' ? 1 : 0);
      this.used++;
      if (this.findEntry(i) < 0) this.insert(i);
    }
    this.packRanges.set(pack, { no, start, count: entries.length });
  }

  has(id: string): boolean {
    return this.parse(id) && this.find() >= 0;
  }

  get(id: string): BlobLocation | undefined {
    if (!this.parse(id)) return undefined;
    const i = this.find();
    return i < 0 ? undefined : this.entry(i, id);
  }

  /** Make `id` unfindable (prune, before the blob is written to a new pack); the pack's own record keeps the entry. */
  delete(id: string): boolean {
    if (!this.parse(id)) return false;
    const mask = this.table.length - 1;
    let b = this.scratch32[0]! & mask;
    for (;;) {
      const s = this.table[b]!;
      if (s === 0) return false;
      if (this.matches(s - 1)) break;
      b = (b + 1) & mask;
    }
    // backward-shift deletion keeps every probe run unbroken without tombstones
    let hole = b;
    for (let j = (hole + 1) & mask; this.table[j] !== 0; j = (j + 1) & mask) {
      const home = this.ids32[(this.table[j]! - 1) * 8]! & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        this.table[hole] = this.table[j]!;
        hole = j;
      }
    }
    this.table[hole] = 0;
    this.hashed--;
    return true;
  }

  hasPack(pack: string): boolean {
    return this.packRanges.has(pack);
  }

  packIds(): IterableIterator<string> {
    return this.packRanges.keys();
  }

  /** A pack's entries as recorded (fresh objects), or undefined for a pack not in the index. */
  packEntries(pack: string): PackEntry[] | undefined {
    const r = this.packRanges.get(pack);
    if (!r) return undefined;
    const out: PackEntry[] = [];
    for (let i = r.start; i < r.start + r.count; i++) {
      const { pack: _, ...e } = this.entry(i, Buffer.from(this.ids.buffer, i * ID_BYTES, ID_BYTES).toString('hex'));
      out.push(e);
    }
    return out;
  }

  *values(): IterableIterator<BlobLocation> {
    for (const [, loc] of this) yield loc;
  }

  *[Symbol.iterator](): IterableIterator<[string, BlobLocation]> {
    for (let b = 0; b < this.table.length; b++) {
      const s = this.table[b]!;
      if (s === 0) continue;
      const id = Buffer.from(this.ids.buffer, (s - 1) * ID_BYTES, ID_BYTES).toString('hex');
      yield [id, this.entry(s - 1, id)];
    }
  }

  private entry(i: number, id: string): BlobLocation {
    const m = this.meta[i]!;
    const type: BlobType = (m & 1) === 1 ? 'tree' : 'data';
    return { id, type, offset: this.offsets[i]!, length: this.lengths[i]!, rawLength: this.rawLengths[i]!, comp: m >> 1, pack: this.packNames[this.packNo[i]!]! };
  }

  /** Decode `id` into the scratch bytes; false unless it is 64 hex digits. */
  private parse(id: string): boolean {
    return id.length === 2 * ID_BYTES && this.scratchBuf.write(id, 'hex') === ID_BYTES;
  }

  /** Whether entry `i`'s id equals the 8 words of `s` from `at`. */
  private matches(i: number, s: Uint32Array = this.scratch32, at = 0): boolean {
    const o = i * 8;
    const a = this.ids32;
    return a[o] === s[at] && a[o + 1] === s[at + 1] && a[o + 2] === s[at + 2] && a[o + 3] === s[at + 3] && a[o + 4] === s[at + 4] && a[o + 5] === s[at + 5] && a[o + 6] === s[at + 6] && a[o + 7] === s[at + 7];
  }

  /** The entry holding the scratch id, or -1. */
  private find(): number {
    const mask = this.table.length - 1;
    for (let b = this.scratch32[0]! & mask; ; b = (b + 1) & mask) {
      const s = this.table[b]!;
      if (s === 0) return -1;
      if (this.matches(s - 1)) return s - 1;
    }
  }

  /** The findable entry with the same id as entry `i` (not yet hashed), or -1. */
  private findEntry(i: number): number {
    const mask = this.table.length - 1;
    const at = i * 8;
    for (let b = this.ids32[at]! & mask; ; b = (b + 1) & mask) {
      const s = this.table[b]!;
      if (s === 0) return -1;
      if (this.matches(s - 1, this.ids32, at)) return s - 1;
    }
  }

  private insert(i: number): void {
    if ((this.hashed + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const mask = this.table.length - 1;
    let b = this.ids32[i * 8]! & mask;
    while (this.table[b] !== 0) b = (b + 1) & mask;
    this.table[b] = i + 1;
    this.hashed++;
  }

  private rehash(size: number): void {
    const old = this.table;
    this.table = new Uint32Array(size);
    const mask = size - 1;
    for (const s of old) {
      if (s === 0) continue;
      let b = this.ids32[(s - 1) * 8]! & mask;
      while (this.table[b] !== 0) b = (b + 1) & mask;
      this.table[b] = s;
    }
  }

  private reserve(n: number): void {
    if (n <= this.cap) return;
    const cap = Math.max(n, Math.ceil(this.cap * 1.5), 1024);
    const grow = <T extends Uint8Array | Uint32Array>(a: T, make: (n: number) => T, per = 1): T => {
      const b = make(cap * per);
      b.set(a.subarray(0, this.used * per));
      return b;
    };
    this.ids = grow(this.ids, (k) => new Uint8Array(k), ID_BYTES);
    this.ids32 = new Uint32Array(this.ids.buffer);
    this.packNo = grow(this.packNo, (k) => new Uint32Array(k));
    this.offsets = grow(this.offsets, (k) => new Uint32Array(k));
    this.lengths = grow(this.lengths, (k) => new Uint32Array(k));
    this.rawLengths = grow(this.rawLengths, (k) => new Uint32Array(k));
    this.meta = grow(this.meta, (k) => new Uint8Array(k));
    this.cap = cap;
  }
}

/** `Repository.packs`: the index's per-pack records read as a map of pack id → entries (built per call). */
export class PackView {
  constructor(private readonly index: BlobIndex) {}
  get size(): number {
    return this.index.packCount;
  }
  has(pack: string): boolean {
    return this.index.hasPack(pack);
  }
  get(pack: string): PackEntry[] | undefined {
    return this.index.packEntries(pack);
  }
  keys(): IterableIterator<string> {
    return this.index.packIds();
  }
  *[Symbol.iterator](): IterableIterator<[string, PackEntry[]]> {
    for (const pack of this.index.packIds()) yield [pack, this.index.packEntries(pack)!];
  }
}
