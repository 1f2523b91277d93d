import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { applyDelta, packEntryHeader } from './objects.ts';
import type { ObjectType } from './objects.ts';

const TYPE_CODES: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
const TYPE_NAMES = ['', 'commit', 'tree', 'blob', 'tag'] as const;

/**
 * Writes objects as one pack (`objects/pack/pack-<checksum>.pack`, format v2, whole objects, no deltas) with its
 * index (.idx v2), as `git index-pack` would lay them out. A retention commit makes ~1,100 new objects (500 index
 * files, 600 trees): one file pair instead of 1,100 loose files (open, write, rename each) is what keeps it under 2 s.
 * The .pack is renamed into place before the .idx, and readers find packs by their .idx, so no reader ever sees half
 * a pack. Returns the pack's name (`pack-<hex>`).
 */
export function writePack(gitdir: string, objects: ReadonlyArray<{ oid: string; type: ObjectType; data: Uint8Array }>): string {
  const sorted = [...objects].sort((a, b) => (a.oid < b.oid ? -1 : a.oid > b.oid ? 1 : 0));
  const dir = join(gitdir, 'objects', 'pack');
  mkdirSync(dir, { recursive: true });
  const tmp = `${join(dir, 'pack')}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    // Written as it is deflated, in ~1 MiB writes: the pack is never held (or copied) whole in memory.
    const fd = openSync(`${tmp}.pack`, 'w', 0o444);
    const hash = createHash('sha1');
    const offsets: number[] = [];
    const crcs: number[] = [];
    let offset = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const emit = (b: Buffer, last = false): void => {
      if (!last) hash.update(b);
      pending.push(b);
      pendingBytes += b.length;
      offset += b.length;
      if (pendingBytes >= 1 << 20 || last) {
        const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
        pending = [];
        pendingBytes = 0;
      }
    };
    let checksum: Buffer;
    try {
      const head = Buffer.alloc(12);
      head.write('PACK', 0, 'latin1');
      head.writeUInt32BE(2, 4);
      head.writeUInt32BE(sorted.length, 8);
      emit(head);
      for (const o of sorted) {
        const header = entryHeader(TYPE_CODES[o.type], o.data.length);
        const body = deflateSync(o.data, { level: 1 });
        offsets.push(offset);
        crcs.push(crc32(body, crc32(header)));
        emit(header);
        emit(body);
      }
      checksum = hash.digest();
      emit(checksum, true); // the trailing checksum: written, not hashed
    } finally {
      closeSync(fd);
    }
    const name = `pack-${checksum.toString('hex')}`;
    writeFileSync(`${tmp}.idx`, indexBytes(sorted.map((o) => o.oid), crcs, offsets, checksum), { mode: 0o444 });
    renameSync(`${tmp}.pack`, join(dir, `${name}.pack`));
    renameSync(`${tmp}.idx`, join(dir, `${name}.idx`));
    return name;
  } finally {
    rmSync(`${tmp}.pack`, { force: true });
    rmSync(`${tmp}.idx`, { force: true });
  }
}

/** Type and inflated size: 3 bits of type and 4 bits of size, then 7 bits of size per byte while the top bit is set. */
export function entryHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let byte = (type << 4) | (size & 15);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(byte | 0x80);
    byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}

/** Index v2: magic, version, fan-out, sorted names, CRC-32s, 31-bit offsets (larger ones in a 64-bit table), checksums. */
function indexBytes(oids: readonly string[], crcs: readonly number[], offsets: readonly number[], packChecksum: Buffer): Buffer {
  const n = oids.length;
  const large = offsets.filter((o) => o >= 0x80000000);
  const buf = Buffer.alloc(8 + 1024 + n * 28 + large.length * 8 + 40);
  buf.writeUInt32BE(0xff744f63, 0);
  buf.writeUInt32BE(2, 4);
  const fanout = new Array<number>(256).fill(0);
  for (const oid of oids) fanout[Number.parseInt(oid.slice(0, 2), 16)]!++;
  let total = 0;
  for (let i = 0; i < 256; i++) buf.writeUInt32BE((total += fanout[i]!), 8 + i * 4);
  let at = 8 + 1024;
  for (const oid of oids) at += buf.write(oid, at, 'hex');
  for (const c of crcs) at = buf.writeUInt32BE(c, at);
  let li = 0;
  for (const o of offsets) at = buf.writeUInt32BE(o >= 0x80000000 ? (0x80000000 | li++) >>> 0 : o, at);
  for (const o of large) at = buf.writeBigUInt64BE(BigInt(o), at);
  at += packChecksum.copy(buf, at);
  createHash('sha1').update(buf.subarray(0, at)).digest().copy(buf, at);
  return buf;
}

/**
 * The .idx v2 of a received pack (`git index-pack`'s job): every entry is inflated once (zlib reports how much input
 * it consumed, which is where the next entry starts), deltas are applied to their bases (OFS by offset, REF by name,
 * in this pack; a fetch never asks for a thin pack) and each object is hashed. isomorphic-git's own indexer counts its
 * fan-out with a loop over every object for each of the 256 buckets: 11 s for a 10,000-point catalog's tip, minutes
 * at 100,000. Whole objects are kept only while a later delta may need them (bases are kept, others dropped).
 */
export function indexPack(pack: Buffer): Buffer {
  if (pack.toString('latin1', 0, 4) !== 'PACK' || pack.readUInt32BE(4) !== 2) throw new Error('not a version 2 pack');
  const count = pack.readUInt32BE(8);
  const end = pack.length - 20;
  const entries: Array<{ offset: number; type: number; data: Buffer; base?: number | string; crc: number }> = [];
  let pos = 12;
  for (let i = 0; i < count; i++) {
    const offset = pos;
    const { type, size, base, dataAt } = packEntryHeader(pack, pos, offset);
    pos += dataAt;
    const { buffer, engine } = inflateSync(pack.subarray(pos, end), { info: true, chunkSize: Math.max(64, size + 64) }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    if (buffer.length !== size) throw new Error(`pack entry at ${offset}: inflates to ${buffer.length} bytes, header says ${size}`);
    pos += engine.bytesWritten;
    entries.push({ offset, type, data: buffer, ...(base !== undefined ? { base } : {}), crc: crc32(pack.subarray(offset, pos)) });
  }
  if (pos !== end) throw new Error(`pack: ${end - pos} bytes after the last entry`);
  // Only what a delta builds on stays in memory once hashed.
  const bases = new Set(entries.map((e) => e.base).filter((b) => b !== undefined));
  const byOffset = new Map(entries.map((e) => [e.offset, e]));
  const byOid = new Map<string, (typeof entries)[number]>();
  const resolved = new Map<number, { type: number; data: Buffer }>();
  const oids = new Map<number, string>();
  const resolve = (e: (typeof entries)[number]): { type: number; data: Buffer } => {
    const hit = resolved.get(e.offset);
    if (hit) return hit;
    if (e.base === undefined) return { type: e.type, data: e.data };
    const baseEntry = typeof e.base === 'number' ? byOffset.get(e.base) : byOid.get(e.base);
    if (!baseEntry) throw new Error(`pack entry at ${e.offset}: delta base ${e.base} is not in the pack`);
    const b = resolve(baseEntry);
    const out = { type: b.type, data: applyDelta(b.data, e.data) };
    if (bases.has(e.offset)) resolved.set(e.offset, out);
    return out;
  };
  // Whole objects first (REF deltas name them by oid), then deltas in pack order (bases precede their deltas).
  for (const e of entries) {
    if (e.base !== undefined) continue;
    const oid = hashObject(TYPE_NAMES[e.type]!, e.data);
    oids.set(e.offset, oid);
    byOid.set(oid, e);
    if (!bases.has(e.offset) && !bases.has(oid)) e.data = EMPTY;
  }
  for (const e of entries) {
    if (e.base === undefined) continue;
    const o = resolve(e);
    const oid = hashObject(TYPE_NAMES[o.type]!, o.data);
    oids.set(e.offset, oid);
    byOid.set(oid, e);
    if (bases.has(oid)) resolved.set(e.offset, o);
  }
  const order = entries.map((e) => ({ oid: oids.get(e.offset)!, crc: e.crc, offset: e.offset })).sort((a, b) => (a.oid < b.oid ? -1 : a.oid > b.oid ? 1 : 0));
  return indexBytes(
    order.map((o) => o.oid),
    order.map((o) => o.crc),
    order.map((o) => o.offset),
    pack.subarray(end),
  );
}

const EMPTY = Buffer.alloc(0);

function hashObject(type: string, data: Buffer): string {
  return createHash('sha1').update(`${type} ${data.length}\0`).update(data).digest('hex');
}
