/**
 * A catalog history written straight into one pack, fast enough for a million commits (`git fast-import` spent most
 * of 28 minutes on 200,000 commits re-hashing and delta-searching the big trees of every commit). Each commit is what
 * `Catalog.recordBackup` commits — the documents from Coffer's own writer (catalog-data.ts `backupFiles`), the trees
 * on their paths, and, when a day falls out of the tip's window, the run archive move (run-archive.ts: a segment
 * commit as second parent, `runs/<cluster>/archive.yaml`, the day's hourly index shards in the segment).
 *
 * Trees are laid out as `git repack -adf` lays out a growing file (checked with `git verify-pack -v` on a repacked
 * 10k catalog: the tip's trees and each archived day's last tree whole, older versions deltas against newer ones):
 * the newest version whole and each older one a delta against the next newer, computed from the edit itself (an
 * append, the removal of the oldest entry, an oid replaced) instead of searched for, in chains of at most 50 (git's
 * default depth). An earlier layout (each version a delta against the previous one) left every tip tree at the end
 * of a chain of up to 50, which no packed repository has. Blobs are stored whole, where git would delta similar
 * documents against each other (index shards at depth ~11 after `git repack -adf`). The .idx is written from what was
 * recorded while writing. The tip's derived indexes are left to `coffer catalog reindex` (as before), so the bench
 * still measures a catalog a human could have committed with plain git.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { constants, crc32, createDeflateRaw, type DeflateRaw } from 'node:zlib';
import { documentText } from '../../reconciler/catalog/document.ts';
import { commitBytes } from '../../reconciler/git/branch-writer.ts';
import { entryHeader } from '../../reconciler/git/pack-writer.ts';
import { RUN_ARCHIVE_KIND, segmentCommitBytes, windowStart, type RunArchive } from '../../reconciler/catalog/run-archive.ts';
import { dayShards } from '../../reconciler/catalog/run-index.ts';
import { restorePointName, runId, toLastRun } from '../../reconciler/catalog/index.ts';
import { backupRun, CLUSTER, dirCount, PER_DIR, restorePoint, slot, type Slot } from './catalog-data.ts';

const TYPE = { commit: 1, tree: 2, blob: 3 } as const;
const MAX_DEPTH = 50;

/** An append-only pack file with the bookkeeping for its .idx (oid, offset and CRC-32 of every entry). */
class PackFile {
  private readonly fd: number;
  private out = Buffer.allocUnsafe(8 << 20);
  private used = 0;
  private pos = 12;
  count = 0;
  private oids = Buffer.allocUnsafe(20 << 16);
  private offsets = new Float64Array(1 << 16);
  private crcs = new Uint32Array(1 << 16);

  constructor(private readonly path: string) {
    this.fd = fs.openSync(path, 'w+');
    const head = Buffer.alloc(12);
    head.write('PACK', 0, 'latin1');
    head.writeUInt32BE(2, 4);
    fs.writeSync(this.fd, head);
  }

  /** A whole object; returns its offset. */
  add(type: number, data: Buffer, oid = objectOid(type, data)): number {
    return this.entry(oid, entryHeader(type, data.length), data);
  }

  /** A delta (OFS_DELTA) against the entry at `base` (written earlier), of the object `oid`; returns its offset. */
  addDelta(oid: Buffer, base: number, bytes: Buffer): number {
    return this.entry(oid, deltaHeader(bytes.length, this.pos - base), bytes);
  }

  private entry(oid: Buffer, head: Buffer, data: Buffer): number {
    const offset = this.pos;
    const body = this.deflate(data);
    this.record(oid, offset, crc32(body, crc32(head)));
    this.write(head);
    this.write(body);
    return offset;
  }

  /**
   * One zlib stream per entry from one reused raw deflater: `deflateSync` sets up a new one (~256 KiB of state) per
   * call, most of the generator's time. A full flush ends each entry's data byte-aligned with an empty dictionary;
   * an empty final block, the zlib header and the Adler-32 make it a complete stream of its own.
   */
  private readonly deflater = createDeflateRaw({ level: 1 }) as DeflateRaw & { _handle: { writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void }; _writeState: Uint32Array };
  private zout = Buffer.allocUnsafe(1 << 20);
  private deflate(b: Buffer): Buffer {
    // zlib's own sync path (processChunkSync) closes the stream after one call; this is its inner loop, kept open.
    if (this.zout.length < b.length * 2 + 1024) this.zout = Buffer.allocUnsafe(b.length * 2 + 1024);
    this.deflater._handle.writeSync(constants.Z_FULL_FLUSH, b, 0, b.length, this.zout, 0, this.zout.length);
    const [outLeft, inLeft] = this.deflater._writeState as unknown as [number, number];
    if (inLeft !== 0 || outLeft === 0) throw new Error('deflate: output buffer too small');
    const raw = this.zout.subarray(0, this.zout.length - outLeft);
    const out = Buffer.allocUnsafe(raw.length + 8);
    out[0] = 0x78;
    out[1] = 0x01;
    raw.copy(out, 2);
    out[raw.length + 2] = 0x03;
    out[raw.length + 3] = 0x00;
    out.writeUInt32BE(adler32(b), raw.length + 4);
    return out;
  }

  private record(oid: Buffer, offset: number, crc: number): void {
    if (this.count === this.offsets.length) {
      const n = this.count * 2;
      const oids = Buffer.allocUnsafe(n * 20);
      this.oids.copy(oids);
      this.oids = oids;
      const offsets = new Float64Array(n);
      offsets.set(this.offsets);
      this.offsets = offsets;
      const crcs = new Uint32Array(n);
      crcs.set(this.crcs);
      this.crcs = crcs;
    }
    oid.copy(this.oids, this.count * 20);
    this.offsets[this.count] = offset;
    this.crcs[this.count] = crc;
    this.count++;
  }

  private write(b: Buffer): void {
    if (this.used + b.length > this.out.length) this.drain();
    if (b.length > this.out.length) fs.writeSync(this.fd, b);
    else this.used += b.copy(this.out, this.used);
    this.pos += b.length;
  }

  private drain(): void {
    fs.writeSync(this.fd, this.out, 0, this.used);
    this.used = 0;
  }

  /** Count, trailing checksum, and the .idx v2 beside it; returns the pack's name. */
  finish(dir: string): string {
    this.drain();
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.count);
    fs.writeSync(this.fd, count, 0, 4, 8);
    const hash = createHash('sha1');
    const chunk = Buffer.allocUnsafe(16 << 20);
    for (let at = 0; at < this.pos; ) {
      const n = fs.readSync(this.fd, chunk, 0, chunk.length, at);
      hash.update(chunk.subarray(0, n));
      at += n;
    }
    const checksum = hash.digest();
    fs.writeSync(this.fd, checksum, 0, 20, this.pos);
    fs.closeSync(this.fd);
    const name = `pack-${checksum.toString('hex')}`;
    fs.renameSync(this.path, join(dir, `${name}.pack`));
    fs.writeFileSync(join(dir, `${name}.idx`), this.idx(checksum));
    return name;
  }

  /** pack-writer.ts's index layout, from the binary oid table: ten million hex strings would not fit beside it. */
  private idx(packChecksum: Buffer): Buffer {
    const n = this.count;
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => this.oids.compare(this.oids, b * 20, b * 20 + 20, a * 20, a * 20 + 20));
    const large = order.filter((i) => this.offsets[i]! >= 0x80000000);
    const buf = Buffer.alloc(8 + 1024 + n * 28 + large.length * 8 + 40);
    buf.writeUInt32BE(0xff744f63, 0);
    buf.writeUInt32BE(2, 4);
    const fan = new Uint32Array(256);
    for (let i = 0; i < n; i++) fan[this.oids[i * 20]!]!++;
    let total = 0;
    for (let i = 0; i < 256; i++) buf.writeUInt32BE((total += fan[i]!), 8 + i * 4);
    let at = 8 + 1024;
    for (const i of order) at += this.oids.copy(buf, at, i * 20, i * 20 + 20);
    for (const i of order) at = buf.writeUInt32BE(this.crcs[i]!, at);
    let li = 0;
    for (const i of order) at = buf.writeUInt32BE(this.offsets[i]! >= 0x80000000 ? (0x80000000 | li++) >>> 0 : this.offsets[i]!, at);
    for (const i of large) at = buf.writeBigUInt64BE(BigInt(this.offsets[i]!), at);
    at += packChecksum.copy(buf, at);
    createHash('sha1').update(buf.subarray(0, at)).digest().copy(buf, at);
    return buf;
  }
}

function objectOid(type: number, data: Buffer): Buffer {
  return createHash('sha1').update(`${type === 1 ? 'commit' : type === 2 ? 'tree' : 'blob'} ${data.length}\0`).update(data).digest();
}

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (let i = 0; i < b.length; ) {
    const end = Math.min(b.length, i + 5552);
    for (; i < end; i++) {
      a += b[i]!;
      s += a;
    }
    a %= 65521;
    s %= 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/** Pack entry header (pack-writer.ts); for an OFS_DELTA (type 6) the distance back to its base follows, git's encoding. */
function deltaHeader(size: number, ofs: number): Buffer {
  const o: number[] = [ofs & 0x7f];
  for (let v = Math.floor(ofs / 128); v > 0; v = Math.floor(v / 128)) {
    v -= 1;
    o.unshift(0x80 | (v & 0x7f));
  }
  return Buffer.concat([entryHeader(6, size), Buffer.from(o)]);
}

const varint = (n: number, out: number[]): void => {
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
};

/** The new version as pieces: runs copied from the previous version, and literal bytes. */
type Piece = { from: number; len: number } | { lit: Buffer };

/** The pieces covering bytes [a, b) of the version they describe. */
function sub(pieces: readonly Piece[], a: number, b: number): Piece[] {
  const out: Piece[] = [];
  let pos = 0;
  for (const p of pieces) {
    const len = 'lit' in p ? p.lit.length : p.len;
    const s = Math.max(pos, a);
    const e = Math.min(pos + len, b);
    if (e > s) out.push('lit' in p ? { lit: p.lit.subarray(s - pos, e - pos) } : { from: p.from + (s - pos), len: e - s });
    pos += len;
  }
  return out;
}

/**
 * The pieces of the previous version relative to the new one: `pieces` say which runs of the new version were copied
 * from the previous one (in order — edits are splices), so those runs are copied back and the rest is literal.
 */
function invert(pieces: readonly Piece[], previous: Buffer): Piece[] {
  const out: Piece[] = [];
  let at = 0; // in the previous version
  let pos = 0; // in the new version
  for (const p of pieces) {
    if ('lit' in p) {
      pos += p.lit.length;
      continue;
    }
    if (p.from > at) out.push({ lit: previous.subarray(at, p.from) });
    out.push({ from: pos, len: p.len });
    at = p.from + p.len;
    pos += p.len;
  }
  if (at < previous.length) out.push({ lit: previous.subarray(at) });
  return out;
}

/** Git delta: base size, result size, then copy (offset, size) and insert (≤ 127 bytes) instructions. */
function encodeDelta(baseLen: number, newLen: number, pieces: readonly Piece[]): Buffer {
  const out: number[] = [];
  varint(baseLen, out);
  varint(newLen, out);
  const parts: Buffer[] = [];
  const flush = (): void => {
    if (out.length) parts.push(Buffer.from(out.splice(0)));
  };
  for (const p of pieces) {
    if ('lit' in p) {
      for (let i = 0; i < p.lit.length; i += 127) {
        const n = Math.min(127, p.lit.length - i);
        out.push(n);
        flush();
        parts.push(p.lit.subarray(i, i + n));
      }
      continue;
    }
    for (let done = 0; done < p.len; ) {
      const len = Math.min(p.len - done, 0xffffff);
      const off = p.from + done;
      let op = 0x80;
      const args: number[] = [];
      for (let i = 0; i < 4; i++) {
        const b = Math.floor(off / 2 ** (8 * i)) & 0xff;
        if (b) {
          op |= 1 << i;
          args.push(b);
        }
      }
      for (let i = 0; i < 3; i++) {
        const b = (len >> (8 * i)) & 0xff;
        if (b) {
          op |= 0x10 << i;
          args.push(b);
        }
      }
      out.push(op, ...args);
      done += len;
    }
  }
  flush();
  return Buffer.concat(parts);
}

/**
 * One tree kept serialized across commits. Edits splice the serialized bytes and, beside them, the pieces of the
 * new version relative to the previous one. Versions are laid out as `git repack` lays out a file's history: the
 * newest whole and each older version a delta against the next newer one, in chains of at most MAX_DEPTH — so the
 * tip's trees (and an archived day's last tree) are read with one inflate, as in a repository git has packed (a
 * fetched or gc'ed catalog). A version is hashed when committed but written only when its chain closes (MAX_DEPTH
 * older versions waiting, a small version, the tree dropped, or the end of the history): OFS_DELTA bases come first.
 */
class Tree {
  buf = Buffer.alloc(0);
  pieces: Piece[] = [];
  dirty = true;
  oid: Buffer | undefined;
  /** Older versions of the open chain, oldest first: each a delta against the next (the last against `buf`'s version). */
  private older: Array<{ oid: Buffer; delta: Buffer }> = [];
  /** Whether the version `oid` names is still unwritten (the head of the open chain). */
  private pending = false;
  lastKey = '';
  readonly children = new Map<string, Tree>();

  /** Sets (adds or replaces) an entry. */
  put(name: string, tree: boolean, oid: Buffer): void {
    const key = tree ? `${name}/` : name;
    const entry = Buffer.concat([Buffer.from(`${tree ? '40000' : '100644'} ${name}\0`, 'latin1'), oid]);
    if (key > this.lastKey) {
      this.splice(this.buf.length, 0, entry);
      this.lastKey = key;
      return;
    }
    const at = this.find(key);
    if (at.found) this.splice(at.pos, at.len, entry);
    else this.splice(at.pos, 0, entry);
  }

  remove(name: string, tree: boolean): void {
    const at = this.find(tree ? `${name}/` : name);
    if (!at.found) throw new Error(`no entry ${name}`);
    this.splice(at.pos, at.len, Buffer.alloc(0));
    if (!this.buf.length) this.lastKey = '';
    else if (at.pos === this.buf.length) this.lastKey = this.keyBefore(this.buf.length);
  }

  private keyBefore(end: number): string {
    let last = '';
    for (let p = 0; p < end; ) {
      const e = this.entryAt(p);
      last = e.key;
      p += e.len;
    }
    return last;
  }

  private entryAt(p: number): { key: string; len: number } {
    const sp = this.buf.indexOf(0x20, p);
    const nul = this.buf.indexOf(0, sp);
    const name = this.buf.toString('latin1', sp + 1, nul);
    return { key: this.buf[p] === 0x34 ? `${name}/` : name, len: nul + 21 - p };
  }

  /** Where `key` is (or would go): a linear scan, which only the small trees and the oldest entry ever need. */
  private find(key: string): { found: boolean; pos: number; len: number } {
    for (let p = 0; p < this.buf.length; ) {
      const e = this.entryAt(p);
      if (e.key === key) return { found: true, pos: p, len: e.len };
      if (e.key > key) return { found: false, pos: p, len: 0 };
      p += e.len;
    }
    return { found: false, pos: this.buf.length, len: 0 };
  }

  private previous: Buffer = Buffer.alloc(0);

  private splice(at: number, del: number, ins: Buffer): void {
    this.markDirty();
    this.pieces = [...sub(this.pieces, 0, at), ...(ins.length ? [{ lit: ins }] : []), ...sub(this.pieces, at + del, this.buf.length)];
    this.buf = Buffer.concat([this.buf.subarray(0, at), ins, this.buf.subarray(at + del)]);
  }

  /** Commits this tree's new version (after its dirty children's) and returns its oid; the bytes follow in `close`. */
  write(pack: PackFile): Buffer {
    for (const [name, child] of this.children) if (child.dirty) this.put(name, true, child.write(pack));
    if (!this.dirty && this.oid) return this.oid;
    const oid = objectOid(TYPE.tree, this.buf);
    if (this.pending) {
      // The previous version becomes a delta against this one, unless the chain is full or either is small.
      if (this.older.length < MAX_DEPTH && this.previous.length > 512 && this.buf.length > 512) {
        this.older.push({ oid: this.oid!, delta: encodeDelta(this.buf.length, this.previous.length, invert(this.pieces, this.previous)) });
        this.pending = false;
      } else this.close(pack);
    }
    this.oid = oid;
    this.pending = true;
    this.dirty = false;
    this.pieces = [];
    this.previous = this.buf;
    if (this.buf.length <= 512) this.close(pack);
    return oid;
  }

  /** Writes the open chain: its head whole, then the older versions newest first, each a delta against the one before. */
  close(pack: PackFile): void {
    if (!this.pending && !this.older.length) return;
    if (!this.pending) throw new Error('tree chain without its head');
    let base = pack.add(TYPE.tree, this.previous, this.oid);
    for (let i = this.older.length - 1; i >= 0; i--) base = pack.addDelta(this.older[i]!.oid, base, this.older[i]!.delta);
    this.older = [];
    this.pending = false;
  }

  /** Closes this tree's chain and its subtrees' (the end of the history). */
  closeAll(pack: PackFile): void {
    for (const child of this.children.values()) child.closeAll(pack);
    this.close(pack);
  }

  /** The subtree `name`, created (and entered in this tree on the next write) when absent. */
  dir(name: string): Tree {
    let t = this.children.get(name);
    if (!t) {
      this.children.set(name, (t = new Tree()));
      this.markDirty();
    }
    return t;
  }

  drop(name: string, pack: PackFile): void {
    this.children.get(name)?.closeAll(pack);
    this.children.delete(name);
    this.remove(name, true);
  }

  markDirty(): void {
    if (this.dirty) return;
    this.pieces = this.buf.length ? [{ from: 0, len: this.buf.length }] : [];
    this.dirty = true;
  }
}

/** `a/b/c` → the Tree at a/b (created on the way), each marked as changing. */
function parentOf(root: Tree, path: string): { tree: Tree; name: string } {
  const parts = path.split('/');
  let t = root;
  t.markDirty();
  for (const p of parts.slice(0, -1)) {
    t = t.dir(p);
    t.markDirty();
  }
  return { tree: t, name: parts.at(-1)! };
}

const wholeTree = (pack: PackFile, entries: Array<[string, boolean, Buffer]>): Buffer => {
  const t = new Tree();
  for (const [name, tree, oid] of entries.sort((a, b) => ((a[1] ? `${a[0]}/` : a[0]) < (b[1] ? `${b[0]}/` : b[0]) ? -1 : 1))) t.put(name, tree, oid);
  const oid = t.write(pack);
  t.close(pack);
  return oid;
};

/**
 * The text `documentText` writes for a slot's documents, made by putting the slot's times into the text written for
 * the first slot of its (namespace, policy) pair: YAML.stringify is most of the cost of a million commits, and the
 * documents of one pair differ only in fixed-width times. Every 1,000th is checked against `documentText` itself.
 */
class Documents {
  private readonly templates = new Map<string, { at: string[]; texts: string[] }>();
  private n = 0;

  texts(s: Slot): string[] {
    const real = (): string[] => {
      const rp = restorePoint(s);
      const run = backupRun(s, rp);
      return [documentText(rp), documentText(run), documentText(toLastRun(run, undefined))];
    };
    const key = `${s.namespace}/${s.policy}`;
    const t = this.templates.get(key);
    if (!t) {
      const texts = real();
      this.templates.set(key, { at: timesOf(s), texts });
      return texts;
    }
    const now = timesOf(s);
    const map = new Map(t.at.map((v, i) => [v, now[i]!]));
    const re = new RegExp(t.at.map((v) => v.replace(/[.]/g, '\\.')).join('|'), 'g');
    const texts = t.texts.map((x) => x.replace(re, (m) => map.get(m)!));
    if (++this.n % 1000 === 0 && real().join('\0') !== texts.join('\0')) throw new Error(`document templates drifted from documentText at ${key} ${s.start.toISOString()}`);
    return texts;
  }
}

/** The times a slot's documents hold: ISO start and end, and the compact start in names. */
function timesOf(s: Slot): string[] {
  const end = new Date(s.start.getTime() + 75_000);
  return [s.start.toISOString(), end.toISOString(), restorePointName('', s.start).slice(1)];
}

/**
 * Writes the history of `history` commits (`live` restore points at the tip) into `gitdir` as one pack and sets
 * `refs/heads/coffer-catalog`. Same shape as catalog-data.ts `buildHistory` (which it replaces for big histories).
 */
export function writeHistoryPack(gitdir: string, live: number, history: number): { commits: number; objects: number } {
  const dirs = dirCount(live);
  if (dirs * PER_DIR !== live) throw new Error(`live restore points must be a multiple of ${PER_DIR}`);
  const total = Math.max(live, history);
  const packDir = join(gitdir, 'objects', 'pack');
  fs.mkdirSync(packDir, { recursive: true });
  const pack = new PackFile(join(packDir, `tmp-${process.pid}.pack`));
  const root = new Tree();
  const days = new Map<string, Array<{ name: string; oid: string; slot: Slot }>>();
  const docs = new Documents();
  const segments: RunArchive['segments'] = [];
  const blob = (text: string): Buffer => {
    const data = Buffer.from(text);
    const oid = objectOid(TYPE.blob, data);
    pack.add(TYPE.blob, data, oid);
    return oid;
  };
  const commit = (data: Buffer): string => {
    const oid = objectOid(TYPE.commit, data);
    pack.add(TYPE.commit, data, oid);
    return oid.toString('hex');
  };
  let parent: string | undefined;
  let commits = 0;
  const firstBatch = Math.max(1, total - history + 1);
  for (let k = 0; k < total; ) {
    const n = k === 0 ? firstBatch : 1;
    const touched = new Set<string>();
    let newest = '';
    for (let j = k; j < k + n; j++) {
      const s = slot(j, dirs);
      const [rpText, runText, lastText] = docs.texts(s);
      const run = { metadata: { name: runId('backup', s.start, `${s.namespace}-${s.policy}`) } };
      const day = s.start.toISOString().slice(0, 10);
      const rpAt = parentOf(root, `catalog/${CLUSTER}/${s.namespace}/${s.policy}/${restorePointName(s.policy, s.start)}.yaml`);
      rpAt.tree.put(rpAt.name, false, blob(rpText!));
      // Keep PER_DIR points per directory: the backup that makes the 201st expires the oldest of that directory.
      if (j >= live) {
        const old = slot(j - live, dirs);
        rpAt.tree.remove(`${restorePointName(old.policy, old.start)}.yaml`, false);
      }
      const runOid = blob(runText!);
      const runAt = parentOf(root, `runs/${CLUSTER}/${day}/${run.metadata.name}.yaml`);
      runAt.tree.put(runAt.name, false, runOid);
      const list = days.get(day) ?? [];
      list.push({ name: `${run.metadata.name}.yaml`, oid: runOid.toString('hex'), slot: s });
      days.set(day, list);
      const lastAt = parentOf(root, `runs/${CLUSTER}/latest/${s.namespace}/${s.policy}.yaml`);
      lastAt.tree.put(lastAt.name, false, blob(lastText!));
      touched.add(day);
      if (day > newest) newest = day;
    }
    // The run archive, as runArchiveDeriver moves it: days older than the window that this commit did not touch.
    const top = [...days.keys()].reduce((m, d) => (d > m ? d : m), newest);
    const cut = windowStart(top);
    const move = [...days.keys()].filter((d) => d < cut && !touched.has(d)).sort();
    let segment: string | undefined;
    if (move.length) {
      const runsCluster = root.dir('runs').dir(CLUSTER);
      const dayTrees: Array<[string, boolean, Buffer]> = [];
      const shardTrees: Array<[string, boolean, Buffer]> = [];
      let records = 0;
      for (const d of move) {
        const entries = days.get(d)!;
        records += entries.length;
        dayTrees.push([d, true, runsCluster.children.get(d)!.oid!]);
        const shards = dayShards('runs', CLUSTER, d, entries, (e) => backupRun(e.slot, restorePoint(e.slot)));
        shardTrees.push([d, true, wholeTree(pack, [...shards].map(([p, text]) => [p.slice(p.lastIndexOf('/') + 1), false, blob(text)]))]);
        root.markDirty();
        root.dir('runs').markDirty();
        runsCluster.markDirty();
        runsCluster.drop(d, pack);
        days.delete(d);
      }
      const tree = wholeTree(pack, [['runs', true, wholeTree(pack, [[CLUSTER, true, wholeTree(pack, dayTrees)], ['.index', true, wholeTree(pack, [[CLUSTER, true, wholeTree(pack, shardTrees)]])]])]]);
      segment = commit(segmentCommitBytes(tree.toString('hex'), CLUSTER, move, records));
      for (const d of move) segments.push({ day: d, commit: segment });
      const archive: RunArchive = { apiVersion: 'coffer.dev/v1alpha1', kind: RUN_ARCHIVE_KIND, cluster: CLUSTER, segments };
      const at = parentOf(root, `runs/${CLUSTER}/archive.yaml`);
      at.tree.put(at.name, false, blob(documentText(archive)));
    }
    const s = slot(k + n - 1, dirs);
    const ts = Math.floor(s.start.getTime() / 1000) + 75;
    const msg = n === 1 ? `backup: ${s.namespace}/${s.policy} ${s.start.toISOString().slice(0, 16)}Z ok, 1 volume, 1.0 GiB\n` : `import ${n} restore points\n`;
    const tree = root.write(pack).toString('hex');
    const parents = [parent, segment].filter((p): p is string => !!p);
    parent = commit(commitBytes(tree, parents, { name: 'Coffer', email: 'coffer@localhost', timestamp: ts }, msg));
    k += n;
    commits++;
  }
  root.closeAll(pack);
  const objects = pack.count;
  pack.finish(packDir);
  fs.writeFileSync(join(gitdir, 'refs', 'heads', 'coffer-catalog'), `${parent}\n`);
  return { commits, objects };
}
