import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { BROTLI_LGWIN, type Codec, Compression, ENTROPY_SKIP, KEEP_AT_MOST, SAMPLE_SLICE, SAMPLE_SLICES, writerCodec, ZSTD_SIZED_MAX, zstdAddon, zstdNapi } from './compress.ts';
import type { ChunkerParams } from './chunker.ts';
import type { MasterKey } from './crypto.ts';
import { EXPOSE_GC_SOURCE, workerHeapLimits } from './memory.ts';
import { RepoError } from './errors.ts';
import { workerError } from './worker-error.ts';

/**
 * The worker's code, evaluated as a CommonJS script (`eval: true`). It is plain JavaScript with
 * only `node:` imports on purpose: a worker file in TypeScript would need the tsx loader in every
 * worker (and a file next to the esbuild bundle a mover image ships); an eval'd script loads the
 * same way under tsx, vitest, a bundle and `node cli/coffer.js` in the mover Job. The one other module, the zstd
 * add-on, is required by the absolute path the main thread resolved (`zstdAddon().path`), so it loads the same way too.
 *
 * It must produce exactly what the inline path produces (`Chunker.cut` with the zero-run fast path,
 * `blobId`, `maybeCompress`, `seal`): the same cut points, HMAC-SHA256 ids, the same entropy sample and skip threshold, the tier and level chosen (`tier`, `Codec`), the same encoder (the zstd add-on loaded from the path the main thread resolved; brotli with the window and a size hint), the keep rule,
 * and `nonce ‖ AES-256-GCM ciphertext ‖ tag`. test/repository/seal-workers.test.ts compares both paths
 * blob by blob (ids, compression, stored lengths) on the same repository keys.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { createHash, createHmac, createCipheriv, randomBytes } = require('node:crypto');
const { brotliCompress, brotliCompressSync, constants: zc } = require('node:zlib');
const { openSync, fstatSync, lstatSync, read, readSync, closeSync, constants: fsc } = require('node:fs');
// Dead output buffers are collected every gcEvery bytes (memory.ts GcPacer: V8 waits for ~64 MiB otherwise).
${EXPOSE_GC_SOURCE}
let gcEvery = 0; // set by init
// The collection runs after the current task, once the blob's buffers (compressor output, the input's view) are no
// longer referenced: run inside it, it moved them to the old generation, where only a full collection frees them
// (FORMAT.md, "Peak RSS, second pass").
let garbage = 0;
let collecting = false;
function collectLater() {
  collecting = false;
  collectGarbage({ type: 'minor' });
}
function dead(n) {
  garbage += n;
  if (garbage < gcEvery || collecting) return;
  garbage = 0;
  collecting = true;
  setImmediate(collectLater);
}
// The keys, the gear and the chunker parameters come in the first message ('init'), not in workerData: a backup starts
// its workers while scrypt derives the key (SealWorkers.init), so their start-up overlaps it. Set once for the worker's
// life: a second init is refused, and a job before the first fails — no blob is hashed or sealed with any other key.
let enc = null;
let mac = null;
const { skip: SKIP, slices: SLICES, slice: SLICE, comp: COMP, levels: LEVELS, lgwin: LGWIN, keep: KEEP, zstdPath: ZSTD_PATH, napiPath: NAPI_PATH, sizedMax: SIZED_MAX } = workerData.compression;
// comp 2: large blobs through the zstd add-on on libuv's pool, one encoder per level (it holds only the level); small
// ones on this thread through libzstd's one-shot (zstd-napi) with one reused context, as compress.ts napiCompress
// does on the main thread, or through the add-on where zstd-napi did not load (NAPI_PATH unset)
const zstd = COMP === 2 ? require(ZSTD_PATH) : null;
const encoders = new Map();
function encoder(level) {
  let e = encoders.get(level);
  if (!e) encoders.set(level, (e = new zstd.Encoder(level)));
  return e;
}
const napi = COMP === 2 && NAPI_PATH ? require(NAPI_PATH) : null;
const cctx = napi ? new napi.CCtx() : null;
// A batch's frames go back to back into one buffer kept for the worker's life (no buffer per blob): sealAll copies
// them out before the next batch starts (compress and seal run in one task). Grown to fit the largest batch.
let scratch = Buffer.alloc(0);
let scratchAt = 0;
function napiCompress(raw, level) {
  const bound = napi.compressBound(raw.length);
  if (scratchAt + bound > scratch.length) {
    scratch = Buffer.allocUnsafeSlow(Math.max(2 * scratch.length, 256 * 1024, bound));
    scratchAt = 0;
  }
  const n = cctx.compress(scratch.subarray(scratchAt), raw, level);
  return scratch.subarray(scratchAt, (scratchAt += n));
}
// as contentSized in compress.ts: the frame's content size in its header, so a decoder allocates no 2 MiB window per blob.
// sizedHead gives the new header alone (the frame's blocks follow from FRAME_BLOCKS on), or null to keep the frame as
// it is: a large blob's header and blocks are encrypted one after the other, with no copy of the frame.
const FRAME_BLOCKS = 6;
function sizedHead(frame, size) {
  const fhd = frame[4];
  if (frame.length < 6 || frame.readUInt32LE(0) !== 0xfd2fb528 || (fhd & 0xfb) !== 0 || size > SIZED_MAX) return null;
  const flag = size < 256 ? 0 : size < 65536 + 256 ? 1 : 2;
  const bytes = flag === 0 ? 1 : flag === 1 ? 2 : 4;
  const head = Buffer.allocUnsafe(5 + bytes);
  frame.copy(head, 0, 0, 4);
  head[4] = (flag << 6) | 0x20 | (fhd & 0x04);
  if (bytes === 1) head[5] = size;
  else if (bytes === 2) head.writeUInt16LE(size - 256, 5);
  else head.writeUInt32LE(size, 5);
  return head;
}
function contentSized(frame, size) {
  const head = sizedHead(frame, size);
  return head ? Buffer.concat([head, frame.subarray(FRAME_BLOCKS)]) : frame;
}
let min = 0;
let avg = 0;
let max = 0;
let maskS = 0;
let maskL = 0;
let g32 = null; // the gear's bits as int32, as Chunker
const topMask = (b) => (0xffffffff << (32 - b)) >>> 0;
// keyFingerprint in this file: the main thread compares it with its own, so a key that arrived altered is never used
function fingerprint(e, k, gear, params) {
  return createHash('sha256').update('coffer seal worker v1').update(e).update(k).update(Buffer.from(gear.buffer, gear.byteOffset, gear.byteLength)).update(JSON.stringify([params.min, params.avg, params.max, params.normalization ?? 2])).digest('hex');
}
function init(m) {
  if (enc) throw new Error('a seal worker takes its key once');
  const e = Buffer.from(m.encrypt);
  const k = Buffer.from(m.mac);
  if (e.length !== 32 || k.length !== 32 || m.gear.length !== 256) throw new Error('init: a 32-byte encryption key, a 32-byte MAC key and a 256-entry gear table are required');
  const params = m.chunker;
  // as chunkMasks in chunker.ts (normalization 2 when the config has no field, 0: one mask from min on)
  const level = params.normalization ?? 2;
  const bits = Math.round(Math.log2(level === 0 ? params.avg - params.min : params.avg));
  ({ min, avg, max } = params);
  maskS = topMask(level === 0 ? bits : bits + 2) | 0;
  maskL = topMask(level === 0 ? bits : bits - 2) | 0;
  g32 = new Int32Array(m.gear);
  gcEvery = m.gcEvery;
  enc = e;
  mac = k;
  return fingerprint(e, k, m.gear, params);
}
const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
let scanH = 0;
// Chunker.scan in chunker.ts: every position tested, four bytes per load from an aligned view
function scan(buf, from, to, m, h0) {
  // locals, not script-scope bindings, in the hot loop: 2x faster here
  const g = g32;
  let h = h0;
  let i = from;
  const head = LE ? Math.min(to, from + ((4 - ((buf.byteOffset + from) & 3)) & 3)) : to;
  for (; i < head; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & m) === 0) return i + 1;
  }
  const words = (to - i) >> 2;
  if (words > 0) {
    const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let k = 0; k < words; k++) {
      const x = w[k];
      h = ((h << 1) + g[x & 255]) | 0;
      if ((h & m) === 0) return i + 4 * k + 1;
      h = ((h << 1) + g[(x >>> 8) & 255]) | 0;
      if ((h & m) === 0) return i + 4 * k + 2;
      h = ((h << 1) + g[(x >>> 16) & 255]) | 0;
      if ((h & m) === 0) return i + 4 * k + 3;
      h = ((h << 1) + g[x >>> 24]) | 0;
      if ((h & m) === 0) return i + 4 * k + 4;
    }
    i += 4 * words;
  }
  for (; i < to; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & m) === 0) return i + 1;
  }
  scanH = h;
  return -1;
}
// FastCDC, as Chunker.cut in chunker.ts
function cut(buf, start, end, final) {
  const n = end - start;
  if (n <= min) return final ? n : 0;
  const limit = start + (n < max ? n : max);
  const normal = start + (avg < n ? avg : n);
  const from = start + min;
  let at = scan(buf, from, normal, maskS, 0);
  if (at < 0) at = scan(buf, normal > from ? normal : from, limit, maskL, scanH);
  if (at >= 0) return at - start;
  if (limit - start === max) return max;
  return final ? n : 0;
}
const ZERO_PAGE = Buffer.alloc(1024 * 1024);
function isZero(b, start, end) {
  for (let o = start; o < end; o += ZERO_PAGE.length) {
    const n = Math.min(ZERO_PAGE.length, end - o);
    if (b.compare(ZERO_PAGE, 0, n, o, o + n) !== 0) return false;
  }
  return true;
}
let zeroCut = 0;
// Cut buf[start, end) into chunks and, when asked (withIds), compute each one's blob id (HMAC-SHA256) right after its
// cut, while its bytes are still in cache; runs of zeros take chunkFile's fast path (flagged, no id: the caller has theirs).
function chunk(buf, start, end, final, withIds) {
  const lengths = [];
  const zeros = [];
  const ids = [];
  while (start !== end) {
    let n;
    let zero = false;
    if (buf[start] === 0 && end - start >= max && isZero(buf, start, start + max)) {
      if (!zeroCut) zeroCut = cut(Buffer.alloc(max), 0, max, true);
      n = zeroCut;
      zero = true;
    } else n = cut(buf, start, end, final);
    if (n === 0) break;
    lengths.push(n);
    zeros.push(zero);
    if (withIds) ids.push(zero ? '' : createHmac('sha256', mac).update(buf.subarray(start, start + n)).digest('hex'));
    start += n;
  }
  return { lengths, zeros, ids };
}
// as tier in compress.ts: 0 raw, 1 sparse, 2 mostly, 3 text (every sampled slice compressible), 4 small
function entropy(buf, from, to, counts) {
  counts.fill(0);
  for (let i = from; i < to; i++) counts[buf[i]]++;
  const total = to - from;
  let e = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i];
    if (c) { const p = c / total; e -= p * Math.log2(p); }
  }
  return e;
}
const counts = new Uint32Array(256); // reused: 1 KiB of garbage per small file otherwise
function tier(buf) {
  if (buf.length < 64) return 0;
  if (buf.length <= SLICES * SLICE) return entropy(buf, 0, buf.length, counts) <= SKIP ? 4 : 0;
  const step = Math.floor((buf.length - SLICE) / (SLICES - 1));
  let low = 0;
  for (let s = 0; s < SLICES; s++) if (entropy(buf, s * step, s * step + SLICE, counts) <= SKIP) low++;
  return low === 0 ? 0 : low === SLICES ? 3 : 2 * low >= SLICES ? 2 : 1;
}
// Nonces drawn 4096 at a time, as crypto.ts does on the main thread: one randomBytes call per blob was a getpid
// (OpenSSL's fork check) and a lock per small file.
let nonces = Buffer.alloc(0);
let nonceAt = 0;
function nextNonce() {
  if (nonceAt + 12 > nonces.length) {
    nonces = randomBytes(12 * 4096);
    nonceAt = 0;
  }
  return nonces.subarray(nonceAt, (nonceAt += 12));
}
// A small blob, compressed exactly as maybeCompressSync does (sync: a pool trip costs more than 32 KiB of zstd or brotli).
function compressSmall(raw) {
  const len = raw.length;
  const level = LEVELS[tier(raw)];
  if (level) {
    const out = napi ? napiCompress(raw, level) : COMP === 2 ? contentSized(encoder(level).encodeSync(raw), len) : brotliCompressSync(raw, { chunkSize: len + 1024, params: { [zc.BROTLI_PARAM_QUALITY]: level, [zc.BROTLI_PARAM_SIZE_HINT]: len, [zc.BROTLI_PARAM_LGWIN]: LGWIN } });
    if (out.length <= len * KEEP) return { data: out, comp: COMP };
  }
  return { data: raw, comp: 0 };
}
// Large blobs compressed on libuv's pool at once, per worker (the rest wait here, in order): unbounded, every blob the
// seal gate admitted (16 MiB: ~16 of 1 MiB) was compressing at once on its own pool thread, each with a zstd context
// and a growing output in the threads' shared malloc arena, which keeps what it grew to — one 1 GiB file's first backup
// peaked at 213–220 MiB, with two at once 169–177, one 167 (FORMAT.md, "Sealed blobs in flight, pipe"). Two keep both
// cores compressing when the other threads wait.
const COMPRESSING_MAX = 2;
let compressing = 0;
const compressQueue = [];
// Run start(done) now if fewer than COMPRESSING_MAX run, else when one finishes; each calls its done() once.
function compressSlot(start) {
  const done = () => {
    const next = compressQueue.shift();
    if (next) next(done);
    else compressing--;
  };
  if (compressing < COMPRESSING_MAX) {
    compressing++;
    start(done);
  } else compressQueue.push(start);
}
// A large blob as maybeCompress does, on libuv's pool (this thread hashes and seals other blobs meanwhile):
// done(err, parts, comp), the stored bytes being the parts back to back (a zstd frame's new header, then its blocks).
function compressLarge(buf, done) {
  const level = LEVELS[tier(buf)];
  if (!level) return done(null, [buf], 0);
  const kept = (parts) => {
    let n = 0;
    for (const p of parts) n += p.length;
    return n > buf.length * KEEP ? done(null, [buf], 0) : done(null, parts, COMP);
  };
  const framed = (frame) => {
    const head = sizedHead(frame, buf.length);
    kept(head ? [head, frame.subarray(FRAME_BLOCKS)] : [frame]);
  };
  compressSlot((free) => {
    try {
      if (COMP === 2) encoder(level).encode(buf).then((frame) => (free(), framed(frame)), (e) => (free(), done(e)));
      else brotliCompress(buf, {
        chunkSize: Math.max(64 * 1024, buf.length),
        params: { [zc.BROTLI_PARAM_QUALITY]: level, [zc.BROTLI_PARAM_SIZE_HINT]: buf.length, [zc.BROTLI_PARAM_LGWIN]: LGWIN },
      }, (err, out) => (free(), err ? done(err) : kept([out])));
    } catch (e) {
      free();
      done(e);
    }
  });
}
// AES-GCM of data written into out at 'at', ENCRYPT_SLICE bytes per update: Node has no encrypt-into, and one update
// of a whole blob allocated a second blob-sized buffer per blob (up to 8 MiB, a different size each time); the pieces
// are as many bytes of garbage, but all one size under malloc's mmap threshold. Its own effect on peak RSS was not
// separable from the collection change at the load it was measured (FORMAT.md, "Peak RSS, second pass"); CPU equal or
// lower. GCM is a stream mode: the pieces' output is the one update's, byte for byte.
const ENCRYPT_SLICE = 64 * 1024;
function encryptInto(c, data, out, at) {
  let n = 0;
  for (let o = 0; o < data.length; o += ENCRYPT_SLICE) n += c.update(data.subarray(o, Math.min(o + ENCRYPT_SLICE, data.length))).copy(out, at + n);
  return n;
}
// nonce ‖ AES-256-GCM ciphertext ‖ tag for each part, back to back in one transferable buffer
function sealAll(parts, total) {
  const ab = new ArrayBuffer(total);
  const out = Buffer.from(ab);
  const lens = [];
  let o = 0;
  for (const data of parts) {
    const nonce = nextNonce();
    nonce.copy(out, o);
    const c = createCipheriv('aes-256-gcm', enc, nonce);
    const n = encryptInto(c, data, out, o + 12);
    c.final();
    c.getAuthTag().copy(out, o + 12 + n);
    lens.push(12 + n + 16);
    o += 12 + n + 16;
  }
  return { ab, lens };
}
const FILE_OPEN = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
const SMALL = workerData.smallFile;
const readBufs = [];
// Open as backup.ts openSmall does: -1 (fallback) when the path is a symlink now, or not the regular file the lstat saw.
function openSmall(path, ino) {
  let fd;
  try {
    fd = openSync(path, FILE_OPEN);
  } catch (e) {
    if (e.code === 'ELOOP') return -1;
    throw e;
  }
  let ok = false;
  try {
    const now = fstatSync(fd, { bigint: true });
    ok = now.isFile() && now.ino === ino;
  } finally {
    if (!ok) closeSync(fd);
  }
  return ok ? fd : -1;
}
// As backup.ts readAll: the buffer is full (grew past SMALL) or the lstat's size is in (size 0, procfs: to the end).
function readAll(buf, n, size) {
  return n === buf.length || (size > 0 && n >= size);
}
// After the last read, as backup.ts smallResult: the bytes, or 0 (fallback) when the file moved since the lstat.
// The bytes are the file's slot of its batch's buffer (f.slot), or a copy out of the shared read buffer.
function finish(fd, buf, n, f) {
  const after = fstatSync(fd, { bigint: true });
  if (n > SMALL || n !== f.size || after.size !== BigInt(f.size) || after.mtimeNs !== f.mtime || after.ctimeNs !== f.ctime || after.ino !== f.ino) return 0;
  return f.slot ? buf.subarray(0, n) : Buffer.from(buf.subarray(0, n));
}
function readSmallSync(f) {
  const fd = openSmall(f.path, f.ino);
  if (fd < 0) return 0;
  const buf = f.slot || readBufs.pop() || Buffer.allocUnsafeSlow(SMALL + 1);
  try {
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0 || readAll(buf, (n += got), f.size)) break;
    }
    return finish(fd, buf, n, f);
  } finally {
    if (!f.slot) readBufs.push(buf);
    closeSync(fd);
  }
}
// The same with the read on libuv's pool (what waits for a cold disk); open, fstat, close stay blocking: the walk's
// lstat just brought the inode in.
async function readSmallAsync(f) {
  const fd = openSmall(f.path, f.ino);
  if (fd < 0) return 0;
  const buf = f.slot || readBufs.pop() || Buffer.allocUnsafeSlow(SMALL + 1);
  try {
    let n = 0;
    for (;;) {
      const got = await new Promise((resolve, reject) => read(fd, buf, n, buf.length - n, null, (err, k) => (err ? reject(err) : resolve(k))));
      if (got === 0 || readAll(buf, (n += got), f.size)) break;
    }
    return finish(fd, buf, n, f);
  } finally {
    if (!f.slot) readBufs.push(buf);
    closeSync(fd);
  }
}
// Page cache warm or cold, as backup.ts judges it on the main thread: blocking reads while they are fast; after
// SLOW_STREAK slow ones in a row, COLD_READS reads at a time on the pool, every PROBE_EVERY-th file a blocking
// probe, WARM_PROBES fast probes in a row and back to blocking reads.
const cache = { cold: false, streak: 0, count: 0 };
// A read counts as slow over 0.25 ms, not backup.ts's 0.05: this box's cold SSD reads (p50 80 µs) are shorter than
// a worker's CPU per small file (~120 µs), and the other worker and the walk run meanwhile, so blocking reads keep
// the cores busy; a pool trip per file cost ~0.6 CPU-s per 30,000 files (first backup, cache dropped, 4 rounds
// alternating, load 8–12: 5.23–5.69 vs 5.92–6.43 CPU-s, wall within noise). Slower disks (network volumes, HDD)
// still switch to concurrent reads.
const COLD_READ_MS = 0.25, SLOW_STREAK = 3, PROBE_EVERY = 32, WARM_PROBES = 3, COLD_READS = 8;
// A blocking read, timed: SLOW_STREAK slow ones in a row turn concurrent reads on, WARM_PROBES fast probes off.
function readTimed(f) {
  const t = performance.now();
  const r = readSmallSync(f);
  const slow = performance.now() - t > COLD_READ_MS;
  cache.streak = slow === !cache.cold ? cache.streak + 1 : 0;
  if (cache.streak >= (cache.cold ? WARM_PROBES : SLOW_STREAK)) {
    cache.cold = !cache.cold;
    cache.streak = 0;
  }
  return r;
}
async function readOne(f) {
  const probe = cache.cold && ++cache.count % PROBE_EVERY === 0;
  if (cache.cold && !probe) return readSmallAsync(f);
  return readTimed(f);
}
// Small files read, hashed and sealed here: the main thread only walks. Every file read is sealed (dedupe is
// decided on the main thread, which drops a duplicate's sealed bytes): asking first would cost a round trip per
// batch for the rare duplicate small file.
async function readFiles(m) {
  // paths NUL-separated (no path holds a NUL) and [size, inode, mtime ns, ctime ns] per file in one BigInt64Array:
  // two values to clone instead of five per file
  const paths = m.paths.split('\0');
  const meta = m.meta;
  const n = paths.length;
  const got = new Array(n);
  // Each file with a size reads into its own slot of one buffer per batch (its lstat size + 1, so growth shows):
  // no buffer and no copy per file. Size 0 (procfs) reads through the shared read buffer, to the end.
  const at = new Array(n);
  let slots = 0;
  for (let i = 0; i < n; i++) {
    const size = Number(meta[4 * i]);
    at[i] = size > 0 && size <= SMALL ? slots : -1;
    if (at[i] >= 0) slots += size + 1;
  }
  const arena = Buffer.allocUnsafeSlow(slots);
  const file = (i) => {
    const size = Number(meta[4 * i]);
    return { path: paths[i], size, ino: BigInt.asUintN(64, meta[4 * i + 1]), mtime: meta[4 * i + 2], ctime: meta[4 * i + 3], slot: at[i] >= 0 ? arena.subarray(at[i], at[i] + size + 1) : null };
  };
  let next = 0;
  // warm: blocking reads in a plain loop (an async lane cost a promise and a microtask per file, and V8 ~0.1 s to
  // optimise); once reads look cold, the rest of the batch goes COLD_READS at a time
  while (next < n && !cache.cold) {
    const i = next++;
    try {
      got[i] = readTimed(file(i));
    } catch (e) {
      got[i] = e;
    }
  }
  const lane = async () => {
    while (next < n) {
      const i = next++;
      try {
        got[i] = await readOne(file(i));
      } catch (e) {
        got[i] = e;
      }
    }
  };
  if (next < n) {
    const lanes = [];
    for (let k = 0; k < COLD_READS; k++) lanes.push(lane());
    await Promise.all(lanes);
  }
  const status = new Array(n); // 0 fallback, 1 read, 2 error
  const ids = new Array(n);
  const sizes = new Array(n);
  const comps = new Array(n);
  const codes = new Array(n);
  const parts = [];
  let total = 0;
  scratchAt = 0; // the last batch's frames are sealed
  for (let i = 0; i < n; i++) {
    const data = got[i];
    if (data === 0) { status[i] = 0; continue; }
    if (!Buffer.isBuffer(data)) {
      status[i] = 2;
      codes[i] = [String((data && data.code) || ''), String((data && data.message) || data)];
      continue;
    }
    status[i] = 1;
    sizes[i] = data.length;
    if (data.length === 0) continue;
    ids[i] = createHmac('sha256', mac).update(data).digest('hex');
    const s = compressSmall(data);
    parts.push(s.data);
    comps[i] = s.comp;
    total += 12 + s.data.length + 16;
  }
  const r = sealAll(parts, total);
  parentPort.postMessage({ seq: m.seq, status, ids, sizes, comps, codes, sealed: r.ab, lens: r.lens }, [r.ab]);
  dead(total * 3);
}
// The walk's lstat of a directory's entries (backup.ts statAhead): per entry [kind (1 regular file, 0 anything else
// or an error: the walk lstats those itself), size, inode, nlink, mode, uid, gid] and the times as decimal ns strings.
function lstatMany(m) {
  const names = m.names.split('\0');
  const nums = new Float64Array(names.length * STAT_FIELDS);
  const times = new Array(2 * names.length);
  for (let i = 0; i < names.length; i++) {
    let st;
    try {
      st = lstatSync(m.dir === '/' ? '/' + names[i] : m.dir + '/' + names[i], { bigint: true });
    } catch {
      st = undefined;
    }
    const o = i * STAT_FIELDS;
    if (!st || !st.isFile()) { times[2 * i] = times[2 * i + 1] = ''; continue; }
    nums[o] = 1;
    nums[o + 1] = Number(st.size);
    nums[o + 2] = Number(st.ino);
    nums[o + 3] = Number(st.nlink);
    nums[o + 4] = Number(st.mode);
    nums[o + 5] = Number(st.uid);
    nums[o + 6] = Number(st.gid);
    times[2 * i] = st.mtimeNs.toString();
    times[2 * i + 1] = st.ctimeNs.toString();
  }
  parentPort.postMessage({ seq: m.seq, nums, times: times.join('\0') }, [nums.buffer]);
}
const STAT_FIELDS = workerData.statFields;
parentPort.on('message', (m) => {
  try {
    if (m.op === 'init') {
      parentPort.postMessage({ seq: m.seq, id: init(m) });
      return;
    }
    if (!enc) throw new Error('no key: the job came before init');
    if (m.op === 'lstat') return lstatMany(m);
    if (m.op === 'files') {
      readFiles(m).catch((e) => parentPort.postMessage({ seq: m.seq, error: String((e && e.stack) || e) }));
      return;
    }
    const buf = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
    if (m.op === 'chunk') {
      const r = chunk(buf, m.start, m.end, m.final, m.ids);
      parentPort.postMessage({ seq: m.seq, lengths: r.lengths, zeros: r.zeros, ids: m.ids ? r.ids : undefined });
      return;
    }
    if (m.op === 'id') {
      parentPort.postMessage({ seq: m.seq, id: createHmac('sha256', mac).update(buf).digest('hex') });
      return;
    }
    if (m.op === 'sealMany') {
      // small blobs back to back in buf: each compressed and sealed into one transferred buffer
      const parts = [];
      const comps = [];
      let total = 0;
      let at = 0;
      scratchAt = 0; // the last batch's frames are sealed
      for (const len of m.lens) {
        const raw = buf.subarray(at, at + len);
        at += len;
        const s = compressSmall(raw);
        parts.push(s.data);
        comps.push(s.comp);
        total += 12 + s.data.length + 16;
      }
      const r = sealAll(parts, total);
      parentPort.postMessage({ seq: m.seq, sealed: r.ab, lens: r.lens, comps }, [r.ab]);
      dead(total * 2);
      return;
    }
    // nonce ‖ AES-256-GCM of the parts ‖ tag: into m.out (a region of the main thread's ByteRing) when given, which
    // the reply only measures; else into a buffer of its own, transferred
    const finish = (parts, comp) => {
      let total = 0;
      for (const p of parts) total += p.length;
      const size = 12 + total + 16;
      if (m.out && m.out.length < size) throw new Error('a sealed blob of ' + size + ' bytes does not fit its ' + m.out.length + '-byte region');
      // not zero-filled (new ArrayBuffer() cleared every sealed byte first: 0.8% of a backup's CPU)
      const out = m.out ? Buffer.from(m.out.buffer, m.out.byteOffset, size) : Buffer.allocUnsafeSlow(size);
      const nonce = nextNonce();
      nonce.copy(out, 0);
      const c = createCipheriv('aes-256-gcm', enc, nonce);
      let n = 0;
      for (const p of parts) n += encryptInto(c, p, out, 12 + n);
      c.final();
      c.getAuthTag().copy(out, 12 + n);
      if (m.out) parentPort.postMessage({ seq: m.seq, length: size, comp });
      else parentPort.postMessage({ seq: m.seq, sealed: out.buffer, comp }, [out.buffer]);
      // the ciphertext's pieces, and the compressor's output (allocated at the input's size) when it ran
      dead(buf.length + total);
    };
    compressLarge(buf, (err, parts, comp) => {
      try {
        if (err) throw err;
        finish(parts, comp);
      } catch (e) {
        parentPort.postMessage({ seq: m.seq, error: String((e && e.stack) || e) });
      }
    });
  } catch (e) {
    parentPort.postMessage({ seq: m.seq, error: String((e && e.stack) || e) });
  }
});
`;

/** Files up to this size are small: read whole into one blob (backup.ts), on a seal worker when one runs (`readFiles`). */
export const SMALL_FILE_MAX = 32 * 1024;

/**
 * Small files for a seal worker to read, with the walk's lstat of each (a file that no longer matches it comes
 * back as `fallback`): `paths` NUL-separated, `meta` [size, inode, mtime ns, ctime ns] per file.
 */
export interface FileBatch {
  paths: string;
  meta: BigInt64Array;
}

/** Numbers per entry of an `lstat` reply: kind (1 = regular file), size, inode, nlink, mode, uid, gid. */
export const STAT_FIELDS = 7;

/** A directory's entries as a seal worker's `lstat` saw them: STAT_FIELDS numbers each, and mtime, ctime (ns, decimal) at 2i, 2i + 1. */
export interface StatBatch {
  nums: Float64Array;
  times: string[];
}

/** One file of a `readFiles` batch: read (its blob sealed unless empty), `fallback` (the general path must look at it), or the read's error. */
export type FileRead = { kind: 'read'; size: number; blob?: { id: string; sealed: Buffer; comp: number } } | { kind: 'fallback' } | { kind: 'error'; error: NodeJS.ErrnoException };

interface Job {
  resolve: (v: Reply) => void;
  reject: (e: unknown) => void;
  slot: Slot;
  cost: number;
  /** An `init` job: the fingerprint its reply must carry. */
  key?: string;
}

interface Reply {
  seq: number;
  id?: string;
  sealed?: ArrayBuffer;
  comp?: number;
  /** `seal` into a given region: the sealed blob's length there. */
  length?: number;
  lengths?: number[];
  zeros?: boolean[];
  lens?: number[];
  comps?: number[];
  status?: number[];
  ids?: string[];
  sizes?: number[];
  codes?: [string, string][];
  nums?: Float64Array;
  times?: string;
  error?: string;
}

interface Slot {
  worker: Worker;
  /** Bytes queued on this worker: a chunk job (8 MiB cut + HMAC) must not land behind a queue of seals. */
  busy: number;
}

/**
 * What a seal worker holds, hashed: its keys, gear and chunker parameters (the worker's `fingerprint` computes the same).
 * Compared in memory only, never stored or logged.
 */
export function keyFingerprint(key: MasterKey, chunker: { gear: Uint32Array; params: ChunkerParams }): string {
  const g = chunker.gear;
  const p = chunker.params;
  return createHash('sha256').update('coffer seal worker v1').update(key.encrypt).update(key.mac).update(Buffer.from(g.buffer, g.byteOffset, g.byteLength)).update(JSON.stringify([p.min, p.avg, p.max, p.normalization ?? 2])).digest('hex');
}

/** How many seal workers a backup starts by default: one per core on a multi-core machine, none on one core. `COFFER_BACKUP_WORKERS` overrides. */
export function defaultWorkerCount(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.COFFER_BACKUP_WORKERS;
  if (v !== undefined && v !== '' && Number.isInteger(Number(v)) && Number(v) >= 0) return Math.min(Number(v), 8);
  const cores = availableParallelism();
  return cores > 1 ? Math.min(cores, 2) : 0;
}

/**
 * A view of `data` that a worker can read without a copy: chunks are cut from read buffers
 * allocated on SharedArrayBuffers (see BufferPool in backup.ts); anything else (trees, zero
 * chunks, in-memory entries) is copied once into shared memory.
 */
export function shared(data: Uint8Array): Uint8Array {
  if (data.buffer instanceof SharedArrayBuffer) return data;
  const s = new Uint8Array(new SharedArrayBuffer(data.length));
  s.set(data);
  return s;
}

/**
 * Worker threads that cut read buffers into chunks, compute blob ids (HMAC-SHA256) and compress +
 * seal new blobs, and read small files whole (`readFiles`), so the main thread only walks, reads large files,
 * dispatches and packs. With two or more workers the
 * first one takes no seals (a file's buffers are cut in order, so a cut must not wait behind them): it cuts and,
 * while the others have more queued, hashes the chunks it cut (`chunk`); the others seal, compressing large blobs on libuv's pool. Other
 * blobs take two steps because dedupe needs the id before deciding to seal: `id` first, then `seal` only for blobs
 * the repository does not have.
 * Inputs are shared memory; a large blob is sealed into a region of the caller's ByteRing (shared too), other
 * outputs (batches of small blobs) are transferred: no copies cross threads.
 */
export class SealWorkers {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private seq = 0;
  private turn = 0;
  private failure: unknown;
  /** `keyFingerprint` of what `init` sent: the workers hold that key and no other. */
  private keyed: string | undefined;

  /**
   * `limits`: V8 heap limits per worker (its buffers are outside them). A worker that cannot start fails every job with
   * E_REPO_WORKER. Without `key` the workers start and wait: every job fails until `init` gives them the key — so
   * they can start while the key derives (backup-start.ts).
   */
  constructor(key: MasterKey | undefined, chunker: { gear: Uint32Array; params: ChunkerParams } | undefined, count: number, gcEvery = 32 * 1024 * 1024, limits?: ResourceLimits, codec: Codec = writerCodec()) {
    const compression = { skip: ENTROPY_SKIP, slices: SAMPLE_SLICES, slice: SAMPLE_SLICE, comp: codec.comp, levels: [...codec.levels], lgwin: BROTLI_LGWIN, keep: KEEP_AT_MOST, zstdPath: zstdAddon()?.path, napiPath: codec.comp === Compression.Zstd ? zstdNapi()?.path : undefined, sizedMax: ZSTD_SIZED_MAX };
    for (let i = 0; i < count; i++) {
      let worker: Worker;
      try {
        worker = new Worker(WORKER_SOURCE, {
          eval: true,
          workerData: { compression, smallFile: SMALL_FILE_MAX, statFields: STAT_FIELDS },
          // no tsx loader: the script is plain CommonJS with node: imports only
          execArgv: [],
          resourceLimits: workerHeapLimits(limits),
        });
      } catch (e) {
        // the thread could not be created at all (ERR_WORKER_INIT_FAILED: a pids limit, no memory)
        void this.close();
        throw workerError('seal', i, count, false, e);
      }
      const slot: Slot = { worker, busy: 0 };
      let started = false;
      worker.once('online', () => (started = true));
      worker.on('message', (r: Reply) => this.settle(r));
      worker.on('error', (e) => this.fail(workerError('seal', i, count, started, e)));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(workerError('seal', i, count, started, new Error(`exited with code ${code}`)));
      });
      this.slots.push(slot);
    }
    if (key && chunker) this.init(key, chunker, gcEvery);
  }

  /** Workers waiting for `init` (started without a key) or holding one. */
  get count(): number {
    return this.slots.length;
  }

  /**
   * Give every worker the repository's keys and chunker, once: jobs sent after this call queue behind it. Each worker
   * answers with the fingerprint of what it received, compared with this thread's: a mismatch fails the pool (every
   * job rejects with E_REPO_WORKER), so no blob is sealed with another key. A second call with the same key is a
   * no-op; with another key it throws (a pool serves one repository).
   */
  init(key: MasterKey, chunker: { gear: Uint32Array; params: ChunkerParams }, gcEvery: number): void {
    const expected = keyFingerprint(key, chunker);
    if (this.keyed !== undefined) {
      if (this.keyed !== expected) throw new RepoError('E_REPO_WORKER', 'seal workers already hold another repository key');
      return;
    }
    this.keyed = expected;
    // checked in `settle`, synchronously: a worker's replies come in order, so its init reply fails the pool before
    // any reply to a job sent after it is handled
    for (const slot of this.slots) void this.post(slot, 'init', { encrypt: new Uint8Array(key.encrypt), mac: new Uint8Array(key.mac), gear: new Uint32Array(chunker.gear), chunker: { ...chunker.params }, gcEvery }, 0, expected).catch(() => undefined);
  }

  private settle(r: Reply): void {
    const job = this.jobs.get(r.seq);
    if (!job) return;
    this.jobs.delete(r.seq);
    job.slot.busy -= job.cost;
    if (job.key !== undefined && (r.error !== undefined || r.id !== job.key)) {
      this.fail(new RepoError('E_REPO_WORKER', r.error !== undefined ? `a seal worker refused its key: ${r.error}` : 'a seal worker received a key other than the repository key; nothing was sealed with it'));
      return;
    }
    if (r.error !== undefined) job.reject(new Error(`seal worker: ${r.error}`));
    else job.resolve(r);
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    for (const [seq, job] of this.jobs) {
      this.jobs.delete(seq);
      job.reject(e);
    }
  }

  private send(op: 'id' | 'seal' | 'chunk' | 'sealMany' | 'files' | 'lstat', buf: Uint8Array | undefined, extra?: { start: number; end: number; final: boolean; ids: boolean } | { lens: number[] } | { out: Uint8Array } | FileBatch | { dir: string; names: string }, bytes = buf?.length ?? 0): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    // With two or more workers the first only cuts: a file's next buffer cannot be cut before its
    // previous one, so chunk jobs must never queue behind hashing and sealing. Batches of small blobs
    // go to whichever worker is least busy: a tree of small files has nothing to cut.
    const pool = this.slots.length < 2 || op === 'sealMany' || op === 'files' || op === 'lstat' ? this.slots : op === 'chunk' ? this.slots.slice(0, 1) : this.slots.slice(1);
    // least busy; ties taken in turn (a walk slower than the workers found them all idle, and the first took every batch)
    const from = this.turn++ % pool.length;
    let slot = pool[from]!;
    for (let k = 1; k < pool.length; k++) {
      const s = pool[(from + k) % pool.length]!;
      if (s.busy < slot.busy) slot = s;
    }
    return this.post(slot, op, { buf, ...extra }, extra && 'start' in extra ? extra.end - extra.start : bytes);
  }

  private post(slot: Slot, op: string, body: object, cost: number, key?: string): Promise<Reply> {
    const seq = this.seq++;
    slot.busy += cost;
    return new Promise<Reply>((resolve, reject) => {
      this.jobs.set(seq, { resolve, reject, slot, cost, key });
      slot.worker.postMessage({ seq, op, ...body });
    });
  }

  /**
   * Chunk boundaries in buf[start, end) (Chunker.cut, repeated until it needs more data), each
   * flagged when it is a run of zeros (chunkFile's fast path: its id is computed once per backup),
   * and, while the sealing workers have more queued than the cutting one, each other chunk's blob id, hashed on the
   * cutting worker right after the cut (`ids`, '' for zero runs; undefined when not hashed there: the caller asks
   * for `blobId`). In a first backup the sealing worker did HMAC and AES-GCM for every byte and the cutting one
   * touched half of them; in a changed backup most chunks are duplicates, nothing is sealed, and the ids are the
   * work left to share — so the queues decide, chunk job by chunk job.
   */
  async chunk(buf: Uint8Array, start: number, end: number, final: boolean): Promise<{ lengths: number[]; zeros: boolean[]; ids?: string[] }> {
    const [cutter, ...sealers] = this.slots;
    const ids = sealers.length > 0 && Math.min(...sealers.map((s) => s.busy)) > cutter!.busy;
    const r = await this.send('chunk', buf, { start, end, final, ids });
    return { lengths: r.lengths!, zeros: r.zeros!, ids: r.ids };
  }

  /** HMAC-SHA256 blob id, computed on a worker. `buf` must be shared (see `shared`). */
  async blobId(buf: Uint8Array): Promise<string> {
    return (await this.send('id', buf)).id!;
  }

  /**
   * Compress when it pays, then seal; same result as maybeCompress + seal. `buf` must be shared. With `out` (shared, at
   * least `buf.length` + SEAL_OVERHEAD bytes: a ByteRing region) the sealed blob is written there and `sealed` is its
   * first bytes; without, it comes back in a buffer of its own.
   */
  async seal(buf: Uint8Array, out?: Buffer): Promise<{ sealed: Buffer; comp: number }> {
    const r = await this.send('seal', buf, out && { out });
    return { sealed: out ? out.subarray(0, r.length!) : Buffer.from(r.sealed!), comp: r.comp! };
  }

  /**
   * Compress when it pays and seal each of several small blobs laid back to back in `buf` (shared), `lens`
   * their lengths: one message for many small files. Same bytes as maybeCompressSync + seal for each.
   */
  async sealMany(buf: Uint8Array, lens: number[]): Promise<{ sealed: Buffer; comp: number }[]> {
    const r = await this.send('sealMany', buf, { lens });
    const all = Buffer.from(r.sealed!);
    let at = 0;
    return r.lens!.map((n, i) => {
      const sealed = all.subarray(at, at + n);
      at += n;
      return { sealed, comp: r.comps![i]! };
    });
  }

  /**
   * Read small files (≤ SMALL_FILE_MAX) on a worker with blocking calls — open O_NOFOLLOW|O_NONBLOCK, fstat (a
   * regular file, the lstat's inode), read, fstat (size, mtime, ctime, inode unmoved), close — then hash, compress
   * and seal each, as backup.ts's main-thread path does. `bytes`: the batch's expected size (load balancing).
   */
  async readFiles(batch: FileBatch, bytes: number): Promise<FileRead[]> {
    const r = await this.send('files', undefined, batch, bytes);
    const all = Buffer.from(r.sealed!);
    let at = 0;
    let k = 0;
    return r.status!.map((s, i): FileRead => {
      if (s === 0) return { kind: 'fallback' };
      if (s === 2) {
        const [code, message] = r.codes![i]!;
        return { kind: 'error', error: Object.assign(new Error(message), code ? { code } : {}) };
      }
      const size = r.sizes![i]!;
      if (size === 0) return { kind: 'read', size };
      const n = r.lens![k++]!;
      const sealed = all.subarray(at, (at += n));
      return { kind: 'read', size, blob: { id: r.ids![i]!, sealed, comp: r.comps![i]! } };
    });
  }

  /**
   * lstat `names` (entries of the directory `dir`) on a worker, with blocking calls: the walk's lstats of a directory
   * whose parent snapshot has it, taken off the main thread (with a cold cache each waits for its inode). `cost`:
   * load-balancing weight, as the bytes of other jobs.
   */
  async lstat(dir: string, names: string[], cost: number): Promise<StatBatch> {
    const r = await this.send('lstat', undefined, { dir, names: names.join('\0') }, cost);
    return { nums: r.nums!, times: r.times!.split('\0') };
  }

  /**
   * Stop the workers; a job sent later rejects (E_REPO_WORKER) rather than wait forever. Jobs still out stay pending,
   * as before: after a failed backup nothing may await them, and rejecting them would be unhandled. Idempotent.
   */
  async close(): Promise<void> {
    this.failure ??= new RepoError('E_REPO_WORKER', 'the seal workers were closed');
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
