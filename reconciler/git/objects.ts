import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, createInflate, deflateSync, inflateSync } from 'node:zlib';
import { writePack } from './pack-writer.ts';

/**
 * A read-only Git object store reader for bulk reads: pack indexes (.idx v2) are opened once and binary-searched,
 * pack entries are read with one positioned read and one inflate each, deltas (OFS and REF) are resolved with a small
 * base cache, and loose objects are the fallback. Listing 100,000 catalog documents through isomorphic-git costs one
 * `readBlob` call each (fs wrapper, gitdir stat, ref parsing); here a tree walk plus the blobs is plain buffer work.
 *
 * Synchronous on purpose: every read is a local positioned read of a few KiB, and an `await` per object would cost
 * more than the read. Alternates (`objects/info/alternates`) are not followed: Coffer's repositories never use them.
 */
export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

export interface GitObject {
  type: ObjectType;
  data: Buffer;
}

export interface TreeEntry {
  mode: string;
  name: string;
  oid: string;
  type: 'tree' | 'blob' | 'commit';
}

export class ObjectNotFoundError extends Error {
  readonly code = 'E_GIT_OBJECT_MISSING';
}

/** A pack entry whose data does not inflate (bad zlib stream, wrong checksum, or not the size its header says). */
export class CorruptObjectError extends Error {
  readonly code = 'E_GIT_OBJECT_CORRUPT';
}

/** The reused read buffer of an ObjectReader: its start size, and the largest it grows to (bigger reads get their own). */
const SCRATCH_MIN = 64 << 10;
const SCRATCH_MAX = 4 << 20;

const TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };

interface Pack {
  name: string;
  fd: number;
  size: number;
  /** The .pack's modification time: packs are searched newest first, as git does (`sort_pack`). */
  mtimeMs: number;
  idx: IdxFile;
  count: number;
  /** Offsets of the idx tables (v2: header 8, fanout 1024, then shas, crcs, offsets, large offsets). */
  shaAt: number;
  offAt: number;
  largeAt: number;
}

/**
 * The bytes of one pack index. A small one is read whole; a large one (a million-commit history has ~10 million
 * objects, a 280 MiB index) is read in blocks on demand and only the recently used blocks are kept, as git maps it:
 * a lookup touches ~17 entries of the sorted sha table, so a listing never pays for reading the whole index.
 */
class IdxFile {
  private static readonly KEEP_BYTES = 32 << 20;
  private whole: Buffer | undefined;
  private readonly blocks = new Map<number, Buffer>();
  private readBytes = 0;
  private fd: number | undefined;
  private readonly size: number;

  constructor(
    path: string,
    wholeBytes: number,
    private readonly block: number,
  ) {
    const fd = openSync(path, 'r');
    this.size = fstatSync(fd).size;
    if (this.size <= wholeBytes) {
      try {
        this.whole = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    } else this.fd = fd;
  }

  u32(pos: number): number {
    return this.locate(pos, 4).readUInt32BE(this.at);
  }

  bytes(pos: number, len: number): Buffer {
    const buf = this.locate(pos, len);
    return buf.subarray(this.at, this.at + len);
  }

  /**
   * `key` against the 20-byte sha at `pos`, compared where it lies and in JS: a view per binary-search step was
   * garbage, and `Buffer#compare` with a range (a native call) cost more than the byte or two a step compares.
   */
  compareSha(key: Buffer, pos: number): number {
    const buf = this.locate(pos, 20);
    const at = this.at;
    for (let i = 0; i < 20; i++) {
      const d = key[i]! - buf[at + i]!;
      if (d !== 0) return d;
    }
    return 0;
  }

  /** Where `locate` found the bytes in the buffer it returned (a field, not a tuple: no allocation per lookup step). */
  private at = 0;

  /** The buffer holding bytes `pos`..`pos + len` of the index, starting at `this.at`. */
  private locate(pos: number, len: number): Buffer {
    if (this.whole) {
      this.at = pos;
      return this.whole;
    }
    // Many lookups (a big commit, `-o json`): once the blocks read add up to a quarter of the file, read it whole —
    // unless it is huge (a million-commit history's), where memory stays bounded by the block cache. (A sixteenth
    // saved a compliance report 450 block reads but made one policy's listing, 274 blocks, read 39 MiB whole.)
    if (this.readBytes > this.size / 4 && this.size <= 128 << 20) {
      this.whole = readFileSync(this.fd!);
      this.close();
      this.at = pos;
      return this.whole;
    }
    if (pos + len > this.size) throw new Error(`pack index read past its end (${pos + len} > ${this.size})`);
    const b = Math.floor(pos / this.block);
    const at = pos - b * this.block;
    if (at + len > this.block) {
      const buf = Buffer.allocUnsafe(len);
      readSync(this.fd!, buf, 0, len, pos);
      this.at = 0;
      return buf;
    }
    let block = this.blocks.get(b);
    if (block) {
      // Most recently used last: the Map's first key is the one to drop.
      this.blocks.delete(b);
    } else {
      const n = Math.min(this.block, this.size - b * this.block);
      block = Buffer.allocUnsafe(n);
      readSync(this.fd!, block, 0, n, b * this.block);
      this.readBytes += n;
      if (this.blocks.size * this.block >= IdxFile.KEEP_BYTES) this.blocks.delete(this.blocks.keys().next().value as number);
    }
    this.blocks.set(b, block);
    this.at = at;
    return block;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.blocks.clear();
  }
}

export class ObjectReader {
  private packs: Pack[] = [];
  private readonly packNames = new Set<string>();
  private readonly bases = new Map<string, GitObject>();
  private readonly trees = new Map<string, readonly TreeEntry[]>();
  private treeEntries = 0;
  private baseBytes = 0;

  /** Pack indexes up to `wholeIndexBytes` (default 8 MiB) are read whole, larger ones in blocks of `indexBlockBytes`. */
  constructor(
    readonly gitdir: string,
    private readonly opts: { wholeIndexBytes?: number; indexBlockBytes?: number } = {},
  ) {
    this.scanPacks();
  }

  /** Opens packs that appeared since the last scan (a fetch or `git gc` while we run). */
  private scanPacks(): boolean {
    let names: string[];
    try {
      names = readdirSync(join(this.gitdir, 'objects', 'pack')).filter((f) => f.endsWith('.idx'));
    } catch {
      return false;
    }
    let added = false;
    for (const idxName of names) {
      const name = idxName.slice(0, -4);
      if (this.packNames.has(name)) continue;
      let idx: IdxFile;
      let fd: number;
      try {
        idx = new IdxFile(join(this.gitdir, 'objects', 'pack', idxName), this.opts.wholeIndexBytes ?? 8 << 20, this.opts.indexBlockBytes ?? 16 << 10);
      } catch {
        continue; // a pack being written or removed right now; the loose objects or a later scan cover it
      }
      try {
        fd = openSync(join(this.gitdir, 'objects', 'pack', `${name}.pack`), 'r');
      } catch {
        idx.close();
        continue;
      }
      if (idx.u32(0) !== 0xff744f63 || idx.u32(4) !== 2) {
        closeSync(fd);
        idx.close();
        throw new Error(`${join(this.gitdir, 'objects', 'pack', idxName)}: not a version 2 pack index`);
      }
      const count = idx.u32(8 + 255 * 4);
      const shaAt = 8 + 1024;
      const offAt = shaAt + count * 20 + count * 4;
      const st = fstatSync(fd);
      this.packs.push({ name, fd, size: st.size, mtimeMs: st.mtimeMs, idx, count, shaAt, offAt, largeAt: offAt + count * 4 });
      this.packNames.add(name);
      added = true;
    }
    // Newest first: recent commits' objects (a catalog's index files, rewritten by each commit) sit in the small recent
    // packs, and readdir's order once had every lookup search the 8.75 MiB index of the history pack first.
    if (added) this.packs.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.name < b.name ? -1 : 1));
    return added;
  }

  /**
   * Objects written while staging are kept in memory (and read from there) until `flush`, which writes them as one
   * pack when there are many, else as loose objects. A commit stages its objects and flushes before it publishes the
   * ref, so a ref never names an object that is not on disk. Staging nests (one per commit in progress).
   */
  private staged: Map<string, GitObject & { oid: string }> | undefined;
  private staging = 0;

  startStaging(): void {
    this.staging++;
    this.staged ??= new Map();
  }

  /** Writes what is staged; call before anything outside this process may need the objects. */
  flush(): void {
    const staged = this.staged;
    if (!staged?.size) return;
    this.staged = this.staging > 0 ? new Map() : undefined;
    if (staged.size >= PACK_THRESHOLD) {
      writePack(this.gitdir, [...staged.values()]);
      this.scanPacks();
    } else for (const o of staged.values()) writeLoose(this.gitdir, o.oid, o.type, o.data);
  }

  stopStaging(): void {
    this.flush();
    if (--this.staging <= 0) {
      this.staging = 0;
      this.staged = undefined;
    }
  }

  stage(oid: string, type: ObjectType, data: Uint8Array): boolean {
    if (!this.staged) return false;
    if (this.staged.has(oid)) return true;
    this.staged.set(oid, { oid, type, data: Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength) });
    return true;
  }

  close(): void {
    for (const p of this.packs) {
      closeSync(p.fd);
      p.idx.close();
    }
    this.packs = [];
    this.lastPack = undefined;
    this.packNames.clear();
    this.bases.clear();
    this.trees.clear();
    this.treeEntries = 0;
  }

  read(oid: string, asBase = false): GitObject {
    const found = this.tryRead(oid, asBase);
    if (found) return found;
    if (this.scanPacks()) {
      const again = this.tryRead(oid, asBase);
      if (again) return again;
    }
    throw new ObjectNotFoundError(`object ${oid} is missing from ${this.gitdir}`);
  }

  /** Whether the object exists; `rescan` also looks for packs added since (a fetch by another process). */
  has(oid: string, rescan = true): boolean {
    if (this.staged?.has(oid)) return true;
    if (this.packOf(oid)) return true;
    if (existsSync(join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2)))) return true;
    return rescan && this.scanPacks() && this.packOf(oid) !== undefined;
  }

  private tryRead(oid: string, asBase: boolean): GitObject | undefined {
    const staged = this.staged?.get(oid);
    if (staged) return staged;
    const p = this.packOf(oid);
    if (p) return this.readPacked(p, this.foundAt, asBase);
    let raw: Buffer;
    try {
      raw = inflateSync(readFileSync(join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2))));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const sp = raw.indexOf(0x20);
    const nul = raw.indexOf(0, sp);
    const type = raw.toString('latin1', 0, sp) as ObjectType;
    return { type, data: raw.subarray(nul + 1) };
  }

  /** The pack that answered the last lookup: the next object is most often in the same one (a commit's files). */
  private lastPack: Pack | undefined;
  /** The offset `packOf` found the object at. */
  private foundAt = 0;
  /** The lookup key, reused. */
  private readonly key = Buffer.alloc(20);

  /** The pack holding `oid` (its offset in `foundAt`): the last pack that answered first, then the others newest first. */
  private packOf(oid: string): Pack | undefined {
    const key = this.key;
    if (oid.length !== 40 || key.write(oid, 'hex') !== 20) return undefined; // not a full oid: in no pack
    const last = this.lastPack;
    if (last) {
      const off = this.find(last, key);
      if (off !== undefined) {
        this.foundAt = off;
        return last;
      }
    }
    for (const p of this.packs) {
      if (p === last) continue;
      const off = this.find(p, key);
      if (off !== undefined) {
        this.lastPack = p;
        this.foundAt = off;
        return p;
      }
    }
    return undefined;
  }

  /** Binary search of the idx's sorted sha table within the fanout bucket of the first byte. */
  private find(p: Pack, key: Buffer): number | undefined {
    const first = key[0]!;
    let lo = first === 0 ? 0 : p.idx.u32(8 + (first - 1) * 4);
    let hi = p.idx.u32(8 + first * 4);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = p.idx.compareSha(key, p.shaAt + mid * 20);
      if (c === 0) {
        const off = p.idx.u32(p.offAt + mid * 4);
        if (off & 0x80000000) return Number(p.idx.bytes(p.largeAt + (off & 0x7fffffff) * 8, 8).readBigUInt64BE(0));
        return off;
      }
      if (c > 0) lo = mid + 1; // the idx entry sorts before the key
      else hi = mid;
    }
    return undefined;
  }

  /** `asBase`: the object is a delta's base, worth keeping for the next deltas of its chain. */
  private readPacked(p: Pack, offset: number, asBase = false): GitObject {
    const cacheKey = `${p.name}:${offset}`;
    const cached = this.bases.get(cacheKey);
    if (cached) return cached;
    // Header: type and size in a varint, then (deltas) the base reference, then the zlib stream.
    // One read for the header and, for the small objects a listing reads (deltas of a few dozen bytes), the data too.
    const got = readSync(p.fd, this.scratch, 0, Math.min(1024, p.size - offset), offset);
    const { type, size, base: ref, dataAt: pos } = packEntryHeader(this.scratch, 0, offset);
    if (pos > got) throw new Error(`pack ${p.name}: truncated object header at ${offset}`);
    // Inflated before the base is read: reading the base reuses the scratch buffer.
    const data = this.inflateAt(p, offset + pos, size, this.scratch.subarray(pos, got), type !== 2);
    const base = typeof ref === 'number' ? this.readPacked(p, ref, true) : typeof ref === 'string' ? this.read(ref, true) : undefined;
    let obj: GitObject;
    if (base) obj = { type: base.type, data: applyDelta(base.data, data) };
    else {
      const t = TYPES[type];
      if (!t) throw new Error(`pack ${p.name}: unknown object type ${type} at ${offset}`);
      obj = { type: t, data };
    }
    if (asBase) this.remember(cacheKey, obj);
    return obj;
  }

  /**
   * Compressed entry data is read into this buffer, reused: an entry's whole window is read before inflating (a
   * 60 KiB run shard), and a buffer per object was ~100 MiB of garbage for one compliance report at 100,000 runs.
   * Windows above SCRATCH_MAX get a buffer of their own, so one big blob does not pin its size for the process.
   */
  private scratch = Buffer.allocUnsafe(SCRATCH_MIN);

  /**
   * Inflates `size` bytes starting at `at`. Deflate never grows data by more than ~0.1% + a few bytes, so that window
   * always holds the stream; a `compressible` entry (YAML and JSON blobs, deltas: an index shard inflates 18×) is
   * first tried with an eighth of it — reading the whole bound was 118 MiB read for a compliance report's 15 MiB of
   * entries — and read again whole when its stream is longer. Trees (20-byte hashes) compress ~2× and are read whole.
   */
  private inflateAt(p: Pack, at: number, size: number, prefetched: Buffer, compressible: boolean): Buffer {
    const bound = Math.min(size + 64 + Math.ceil(size / 1000) * 5, p.size - at);
    let window = compressible ? Math.min(bound, 1024 + (size >> 3)) : bound;
    let input = prefetched;
    for (;;) {
      if (input.length < window) {
        if (window > this.scratch.length && window <= SCRATCH_MAX) this.scratch = Buffer.allocUnsafe(Math.min(SCRATCH_MAX, Math.max(window, this.scratch.length * 2)));
        const buf = window <= this.scratch.length ? this.scratch : Buffer.allocUnsafe(window);
        input = buf.subarray(0, readSync(p.fd, buf, 0, window, at));
      }
      let out: Buffer | 'short';
      try {
        out = this.inflater.inflate(input, size);
      } catch (e) {
        throw new CorruptObjectError(`pack ${p.name}: object at ${at}: ${(e as Error).message}`);
      }
      if (out === 'short') {
        if (window >= p.size - at) throw new CorruptObjectError(`pack ${p.name}: object at ${at} is truncated`);
        window = window < bound ? bound : Math.min(window * 2, p.size - at);
        continue;
      }
      if (out.length !== size) throw new CorruptObjectError(`pack ${p.name}: object at ${at} inflates to ${out.length > size ? 'more' : 'fewer'} than the ${size} bytes its header says`);
      return out;
    }
  }

  private readonly inflater = new Inflater();

  /**
   * Recent delta bases are reused by the next deltas of their chain (a chain of 50 would otherwise re-inflate 50
   * times). Only bases are kept — `-o json` reads 100,000 documents once each — and each in a buffer of its own: a
   * small Buffer is a view of a shared 8 KiB slab (zlib's output, of a 16 KiB chunk), and 64 MiB of cached views once
   * held ~600 MiB of slabs.
   */
  private remember(key: string, obj: GitObject): void {
    // (The Inflater's buffers are one byte longer than their data: not worth a copy.)
    if (obj.data.buffer.byteLength > obj.data.length + 1) {
      const own = Buffer.allocUnsafeSlow(obj.data.length);
      obj.data.copy(own);
      obj = { type: obj.type, data: own };
    }
    this.bases.set(key, obj);
    this.baseBytes += obj.data.length;
    while (this.baseBytes > 32 * 1024 * 1024 && this.bases.size > 1) {
      const [k, v] = this.bases.entries().next().value as [string, GitObject];
      this.bases.delete(k);
      this.baseBytes -= v.data.length;
    }
  }

  /** Entries of a tree (or a commit's root tree). Parsed trees are cached: callers must not modify the array. */
  readTree(oid: string): readonly TreeEntry[] {
    const hit = this.trees.get(oid);
    if (hit) return hit;
    const o = this.read(oid);
    if (o.type === 'commit') return this.readTree(commitTree(o.data));
    if (o.type !== 'tree') throw new Error(`object ${oid} is a ${o.type}, not a tree`);
    const entries = parseTree(o.data);
    // Bounded by entries, not trees: a catalog has a few huge trees (a day of runs) and many of 200 restore points.
    this.treeEntries += entries.length;
    this.trees.set(oid, entries);
    while (this.treeEntries > 200_000 && this.trees.size > 1) {
      const [k, v] = this.trees.entries().next().value as [string, readonly TreeEntry[]];
      this.trees.delete(k);
      this.treeEntries -= v.length;
    }
    return entries;
  }

  /** The tree oid at `path` ('' = the root) of a commit or tree, or undefined when the path does not exist. */
  treeAt(commitOrTree: string, path: string): string | undefined {
    let o = this.read(commitOrTree);
    let oid = commitOrTree;
    if (o.type === 'commit') {
      oid = commitTree(o.data);
      o = this.read(oid);
    }
    for (const part of path.split('/').filter(Boolean)) {
      const e = this.readTree(oid).find((x) => x.name === part);
      if (!e || e.type !== 'tree') return undefined;
      oid = e.oid;
    }
    return oid;
  }
}

type ZlibHandle = { onerror: (message: string, errno: number, code?: string) => void; reset(): void; writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void };

/**
 * One zlib inflate stream reset and reused for every pack entry: `inflateSync` builds a stream (handle, 32 KiB window,
 * an EventEmitter) per call, which costs more than inflating the few dozen bytes of a typical delta. This drives the
 * stream's handle as zlib's own sync path does (`processChunkSync`), with Z_FINISH and the exact expected size, so the
 * stream end and its Adler-32 are still checked. Where the handle is not there (another runtime), `inflateSync`.
 */
export class Inflater {
  private stream: (ReturnType<typeof createInflate> & { _handle?: ZlibHandle; _writeState?: Uint32Array }) | undefined;
  private error: (Error & { code?: string }) | undefined;
  private fallback: boolean;

  /** `reuse: false`: `inflateSync` per call, the path taken where the handle is not there (and tested as such). */
  constructor(opts: { reuse?: boolean } = {}) {
    this.fallback = opts.reuse === false;
  }

  /** The `size` inflated bytes of the zlib stream at the start of `input`; 'short' when `input` ends before the stream. */
  inflate(input: Buffer, size: number): Buffer | 'short' {
    if (!this.fallback && !this.stream) {
      this.stream = this.open();
      if (typeof this.stream._handle?.writeSync !== 'function' || typeof this.stream._handle.reset !== 'function') {
        this.stream.close();
        this.stream = undefined;
        this.fallback = true;
      }
    }
    if (this.fallback) {
      try {
        return inflateSync(input, { chunkSize: Math.max(64, Math.min(size + 64, 1 << 20)) });
      } catch (e) {
        if ((e as { code?: string }).code === 'Z_BUF_ERROR') return 'short';
        throw e;
      }
    }
    const stream = this.stream!;
    const handle = stream._handle!;
    handle.reset();
    // One byte more than expected: a stream that inflates to more than `size` shows as output space used up.
    const out = Buffer.allocUnsafe(size + 1);
    handle.writeSync(constants.Z_FINISH, input, 0, input.length, out, 0, out.length);
    const error = this.error;
    if (error) {
      this.error = undefined;
      // Input that ends early (a window read too short) leaves the stream sound: the next reset starts it over. Any
      // other failure drops it (zlib's own handler would destroy it), and the next object gets a new one.
      if (error.code === 'Z_BUF_ERROR') return 'short';
      this.stream = undefined;
      stream.close();
      throw error;
    }
    return out.subarray(0, out.length - stream._writeState![0]!);
  }

  private open(): NonNullable<Inflater['stream']> {
    const stream = createInflate() as NonNullable<Inflater['stream']>;
    if (!stream._handle) return stream;
    // zlib reports a failed write synchronously through the handle's `onerror`, whose default destroys the stream.
    stream._handle.onerror = (message, errno, code) => {
      this.error = Object.assign(new Error(message), { errno, code: code ?? (errno === constants.Z_BUF_ERROR ? 'Z_BUF_ERROR' : errno === constants.Z_DATA_ERROR ? 'Z_DATA_ERROR' : undefined) });
    };
    return stream;
  }
}

/**
 * A pack entry's header at `pos` of `buf` (the entry starts at pack offset `offset`): type and inflated size in a
 * varint, then for deltas the base — a pack offset (OFS_DELTA) or an oid (REF_DELTA) — and where the zlib data starts.
 */
export function packEntryHeader(buf: Buffer, pos: number, offset: number): { type: number; size: number; base?: number | string; dataAt: number } {
  const start = pos;
  let byte = buf[pos++]!;
  const type = (byte >> 4) & 7;
  let size = byte & 15;
  let shift = 4;
  while (byte & 0x80) {
    byte = buf[pos++]!;
    size += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  }
  if (type === 6) {
    byte = buf[pos++]!;
    let rel = byte & 0x7f;
    while (byte & 0x80) {
      byte = buf[pos++]!;
      rel = (rel + 1) * 128 + (byte & 0x7f);
    }
    return { type, size, base: offset - rel, dataAt: pos - start };
  }
  if (type === 7) return { type, size, base: buf.toString('hex', pos, pos + 20), dataAt: pos + 20 - start };
  return { type, size, dataAt: pos - start };
}

export function commitTree(data: Buffer): string {
  if (data.toString('latin1', 0, 5) !== 'tree ') throw new Error('commit object without a tree line');
  return data.toString('latin1', 5, 45);
}

export function parseTree(data: Buffer): TreeEntry[] {
  const out: TreeEntry[] = [];
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    const nul = data.indexOf(0, sp);
    const mode = data.toString('latin1', pos, sp);
    const name = data.toString('utf8', sp + 1, nul);
    const oid = data.toString('hex', nul + 1, nul + 21);
    out.push({ mode, name, oid, type: mode === '40000' ? 'tree' : mode === '160000' ? 'commit' : 'blob' });
    pos = nul + 21;
  }
  return out;
}

/** Git's delta format: source and target sizes, then copy (from base) and insert (literal) instructions. */
export function applyDelta(base: Buffer, delta: Buffer): Buffer {
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    let b: number;
    do {
      b = delta[pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  const srcSize = varint();
  if (srcSize !== base.length) throw new Error(`delta base is ${base.length} bytes, delta expects ${srcSize}`);
  const out = Buffer.allocUnsafe(varint());
  let o = 0;
  while (pos < delta.length) {
    const op = delta[pos++]!;
    if (op & 0x80) {
      let off = 0;
      let len = 0;
      if (op & 1) off |= delta[pos++]!;
      if (op & 2) off |= delta[pos++]! << 8;
      if (op & 4) off |= delta[pos++]! << 16;
      if (op & 8) off += delta[pos++]! * 0x1000000;
      if (op & 16) len |= delta[pos++]!;
      if (op & 32) len |= delta[pos++]! << 8;
      if (op & 64) len |= delta[pos++]! << 16;
      if (len === 0) len = 0x10000;
      o += base.copy(out, o, off, off + len);
    } else if (op) {
      o += delta.copy(out, o, pos, pos + op);
      pos += op;
    } else {
      throw new Error('delta: reserved instruction 0');
    }
  }
  if (o !== out.length) throw new Error(`delta produced ${o} bytes, expected ${out.length}`);
  return out;
}

const readers = new Map<string, ObjectReader>();

/** One reader per git directory in this process (packs are opened once; new packs and loose objects are found on a miss). */
export function objectReader(gitdir: string): ObjectReader {
  let r = readers.get(gitdir);
  if (!r) readers.set(gitdir, (r = new ObjectReader(gitdir)));
  return r;
}

/**
 * Writes an object unless it exists already and returns its oid: staged while the reader stages (a commit in
 * progress), else as a loose object (zlib, temp file + rename, so a concurrent reader never sees half an object).
 * What isomorphic-git's writeBlob/writeTree do, without a wrapper per call.
 */
export function writeObject(gitdir: string, type: ObjectType, data: Uint8Array, reader?: ObjectReader): string {
  const oid = objectId(type, data);
  const r = reader ?? objectReader(gitdir);
  // Staged writes skip the existence check (a lookup in every pack index and a stat per object, ~0.8 s for a
  // retention's 1,100 objects): an object that exists already is written once more into the new pack, which git
  // allows and a reader never notices.
  if (r.stage(oid, type, data) || r.has(oid, false)) return oid;
  writeLoose(gitdir, oid, type, data);
  return oid;
}

/** The oid of the empty tree, which `editTree` returns when nothing is left. */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** The oid git gives an object: SHA-1 of `<type> <size>\0` and the data. */
export function objectId(type: ObjectType, data: Uint8Array): string {
  return createHash('sha1').update(`${type} ${data.length}\0`).update(data).digest('hex');
}

/** Packs below this many objects are not worth a file pair: a backup commit's ~12 objects stay loose, as git's would. */
const PACK_THRESHOLD = 64;

function writeLoose(gitdir: string, oid: string, type: ObjectType, data: Uint8Array): void {
  const dir = join(gitdir, 'objects', oid.slice(0, 2));
  const file = join(dir, oid.slice(2));
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, deflateSync(Buffer.concat([Buffer.from(`${type} ${data.length}\0`), data]), { level: 1 }));
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Serialises tree entries in Git's order (a directory sorts as if its name ended in '/') into one buffer: a retention
 * commit rewrites ~600 trees of 200 entries, and two small buffers per entry were most of its garbage.
 */
export function treeBytes(entries: ReadonlyArray<Pick<TreeEntry, 'mode' | 'name' | 'oid' | 'type'>>): Buffer {
  const key = (e: Pick<TreeEntry, 'name' | 'type'>): string => (e.type === 'tree' ? `${e.name}/` : e.name);
  let sorted = entries;
  for (let i = 1; i < entries.length; i++) {
    if (key(entries[i - 1]!) >= key(entries[i]!)) {
      sorted = [...entries].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      break;
    }
  }
  const mode = (e: Pick<TreeEntry, 'mode' | 'type'>): string => (e.type === 'tree' ? '40000' : e.mode);
  let size = 0;
  for (const e of sorted) size += mode(e).length + Buffer.byteLength(e.name) + 22;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const e of sorted) {
    at += out.write(mode(e), at, 'latin1');
    out[at++] = 0x20;
    at += out.write(e.name, at, 'utf8');
    out[at++] = 0;
    at += out.write(e.oid, at, 'hex');
  }
  return out;
}
