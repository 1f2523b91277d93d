import { availableParallelism } from 'node:os';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { BROTLI_LGWIN, BROTLI_QUALITY, BROTLI_QUALITY_SPARSE, BROTLI_QUALITY_TEXT, ENTROPY_SKIP, KEEP_AT_MOST, SAMPLE_SLICE, SAMPLE_SLICES } from './compress.ts';
import type { ChunkerParams } from './chunker.ts';
import type { MasterKey } from './crypto.ts';
import { configureWorkerHeaps } from './memory.ts';
import { workerError } from './worker-error.ts';

/**
 * The worker's code, evaluated as a CommonJS script (`eval: true`). It is plain JavaScript with
 * only `node:` imports on purpose: a worker file in TypeScript would need the tsx loader in every
 * worker (and a file next to the esbuild bundle a mover image ships); an eval'd script loads the
 * same way under tsx, vitest, a bundle and `node cli/coffer.js` in the mover Job.
 *
 * It must produce exactly what the inline path produces (`Chunker.cut` with the zero-run fast path,
 * `blobId`, `maybeCompress`, `seal`): the same cut points, HMAC-SHA256 ids, the same entropy sample and skip threshold, the quality chosen (`brotliQuality`), the window with a size hint, the keep rule,
 * and `nonce ‖ AES-256-GCM ciphertext ‖ tag`. test/repository/seal-workers.test.ts compares both paths
 * blob by blob (ids, compression, stored lengths) on the same repository keys.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { createHmac, createCipheriv, randomBytes } = require('node:crypto');
const { brotliCompress, brotliCompressSync, constants: zc } = require('node:zlib');
const { openSync, fstatSync, read, readSync, closeSync, constants: fsc } = require('node:fs');
// Dead output buffers are collected every gcEvery bytes (memory.ts GcPacer: V8 waits for ~64 MiB otherwise).
let collectGarbage = null;
try {
  require('node:v8').setFlagsFromString('--expose-gc');
  collectGarbage = require('node:vm').runInNewContext('gc');
} catch {}
const gcEvery = workerData.gcEvery;
let garbage = 0;
function dead(n) {
  garbage += n;
  if (garbage < gcEvery || !collectGarbage) return;
  garbage = 0;
  collectGarbage({ type: 'minor' });
}
const enc = Buffer.from(workerData.encrypt);
const mac = Buffer.from(workerData.mac);
const { skip: SKIP, slices: SLICES, slice: SLICE, quality: QUALITY, qualityText: QUALITY_TEXT, qualitySparse: QUALITY_SPARSE, lgwin: LGWIN, keep: KEEP } = workerData.compression;
const gear = new Uint32Array(workerData.gear);
const { min, avg, max } = workerData.chunker;
const bits = Math.round(Math.log2(avg));
const topMask = (b) => (0xffffffff << (32 - b)) >>> 0;
const maskS = topMask(bits + 2) | 0;
const maskL = topMask(bits - 2) | 0;
// FastCDC, as Chunker.cut in chunker.ts
function cut(buf, start, end, final) {
  // locals, not script-scope bindings, in the hot loop (as Chunker.cut): 2x faster here
  const g = gear;
  const ms = maskS;
  const ml = maskL;
  const mn = min;
  const mx = max;
  const av = avg;
  const n = end - start;
  if (n <= mn) return final ? n : 0;
  const limit = start + (n < mx ? n : mx);
  const normal = start + (av < n ? av : n);
  let h = 0;
  let i = start + mn;
  // two bytes per iteration, every position checked (as Chunker.cut)
  for (const n2 = normal - 1; i < n2; i += 2) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & ms) === 0) return i + 1 - start;
    h = ((h << 1) + g[buf[i + 1]]) | 0;
    if ((h & ms) === 0) return i + 2 - start;
  }
  for (; i < normal; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & ms) === 0) return i + 1 - start;
  }
  for (const l2 = limit - 1; i < l2; i += 2) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & ml) === 0) return i + 1 - start;
    h = ((h << 1) + g[buf[i + 1]]) | 0;
    if ((h & ml) === 0) return i + 2 - start;
  }
  for (; i < limit; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & ml) === 0) return i + 1 - start;
  }
  if (limit - start === mx) return mx;
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
// Cut buf[start, end) into chunks; runs of zeros take chunkFile's fast path (flagged: the caller has their id).
function chunk(buf, start, end, final) {
  const lengths = [];
  const zeros = [];
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
    start += n;
  }
  return { lengths, zeros };
}
// as brotliQuality in compress.ts: 0 (raw), QUALITY_TEXT (every sampled slice compressible), QUALITY (at least half), QUALITY_SPARSE
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
function brotliQuality(buf) {
  if (buf.length < 64) return 0;
  const counts = new Uint32Array(256);
  if (buf.length <= SLICES * SLICE) return entropy(buf, 0, buf.length, counts) <= SKIP ? QUALITY : 0;
  const step = Math.floor((buf.length - SLICE) / (SLICES - 1));
  let low = 0;
  for (let s = 0; s < SLICES; s++) if (entropy(buf, s * step, s * step + SLICE, counts) <= SKIP) low++;
  return low === 0 ? 0 : low === SLICES ? QUALITY_TEXT : 2 * low >= SLICES ? QUALITY : QUALITY_SPARSE;
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
// A small blob, compressed exactly as maybeCompressSync does (sync: a pool trip costs more than 32 KiB of brotli).
function compressSmall(raw) {
  const len = raw.length;
  const q = brotliQuality(raw);
  if (q) {
    const out = brotliCompressSync(raw, { chunkSize: len + 1024, params: { [zc.BROTLI_PARAM_QUALITY]: q, [zc.BROTLI_PARAM_SIZE_HINT]: len, [zc.BROTLI_PARAM_LGWIN]: LGWIN } });
    if (out.length <= len * KEEP) return { data: out, comp: 1 };
  }
  return { data: raw, comp: 0 };
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
    const n = c.update(data).copy(out, o + 12);
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
function finish(fd, buf, n, f) {
  const after = fstatSync(fd, { bigint: true });
  if (n > SMALL || n !== f.size || after.size !== BigInt(f.size) || after.mtimeNs !== f.mtime || after.ctimeNs !== f.ctime || after.ino !== f.ino) return 0;
  return Buffer.from(buf.subarray(0, n));
}
function readSmallSync(f) {
  const fd = openSmall(f.path, f.ino);
  if (fd < 0) return 0;
  const buf = readBufs.pop() || Buffer.allocUnsafeSlow(SMALL + 1);
  try {
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0 || readAll(buf, (n += got), f.size)) break;
    }
    return finish(fd, buf, n, f);
  } finally {
    readBufs.push(buf);
    closeSync(fd);
  }
}
// The same with the read on libuv's pool (what waits for a cold disk); open, fstat, close stay blocking: the walk's
// lstat just brought the inode in.
async function readSmallAsync(f) {
  const fd = openSmall(f.path, f.ino);
  if (fd < 0) return 0;
  const buf = readBufs.pop() || Buffer.allocUnsafeSlow(SMALL + 1);
  try {
    let n = 0;
    for (;;) {
      const got = await new Promise((resolve, reject) => read(fd, buf, n, buf.length - n, null, (err, k) => (err ? reject(err) : resolve(k))));
      if (got === 0 || readAll(buf, (n += got), f.size)) break;
    }
    return finish(fd, buf, n, f);
  } finally {
    readBufs.push(buf);
    closeSync(fd);
  }
}
// Page cache warm or cold, as backup.ts judges it on the main thread: blocking reads while they are fast; after
// SLOW_STREAK slow ones in a row, COLD_READS reads at a time on the pool, every PROBE_EVERY-th file a blocking
// probe, WARM_PROBES fast probes in a row and back to blocking reads.
const cache = { cold: false, streak: 0, count: 0 };
const COLD_READ_MS = 0.05, SLOW_STREAK = 3, PROBE_EVERY = 32, WARM_PROBES = 3, COLD_READS = 8;
async function readOne(f) {
  const probe = cache.cold && ++cache.count % PROBE_EVERY === 0;
  if (cache.cold && !probe) return readSmallAsync(f);
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
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      const f = { path: paths[i], size: Number(meta[4 * i]), ino: BigInt.asUintN(64, meta[4 * i + 1]), mtime: meta[4 * i + 2], ctime: meta[4 * i + 3] };
      try {
        got[i] = await readOne(f);
      } catch (e) {
        got[i] = e;
      }
    }
  };
  const lanes = [];
  for (let k = 0; k < (cache.cold ? COLD_READS : 1); k++) lanes.push(lane());
  await Promise.all(lanes);
  const status = new Array(n); // 0 fallback, 1 read, 2 error
  const ids = new Array(n);
  const sizes = new Array(n);
  const comps = new Array(n);
  const codes = new Array(n);
  const parts = [];
  let total = 0;
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
parentPort.on('message', (m) => {
  try {
    if (m.op === 'files') {
      readFiles(m).catch((e) => parentPort.postMessage({ seq: m.seq, error: String((e && e.stack) || e) }));
      return;
    }
    const buf = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
    if (m.op === 'chunk') {
      const r = chunk(buf, m.start, m.end, m.final);
      parentPort.postMessage({ seq: m.seq, lengths: r.lengths, zeros: r.zeros });
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
    const finish = (data, comp) => {
      const ab = new ArrayBuffer(12 + data.length + 16);
      const out = Buffer.from(ab);
      const nonce = nextNonce();
      nonce.copy(out, 0);
      const c = createCipheriv('aes-256-gcm', enc, nonce);
      const n = c.update(data).copy(out, 12);
      c.final();
      c.getAuthTag().copy(out, 12 + n);
      parentPort.postMessage({ seq: m.seq, sealed: ab, comp }, [ab]);
      // the ciphertext, and the compressor's output (allocated at the input's size) when it ran
      dead(buf.length + data.length);
    };
    const q = brotliQuality(buf);
    if (!q) return finish(buf, 0);
    // brotli on libuv's pool: this thread hashes and seals other blobs meanwhile
    brotliCompress(buf, {
      chunkSize: Math.max(64 * 1024, buf.length),
      params: { [zc.BROTLI_PARAM_QUALITY]: q, [zc.BROTLI_PARAM_SIZE_HINT]: buf.length, [zc.BROTLI_PARAM_LGWIN]: LGWIN },
    }, (err, out) => {
      try {
        if (err) throw err;
        if (out.length > buf.length * KEEP) finish(buf, 0);
        else finish(out, 1);
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

/** One file of a `readFiles` batch: read (its blob sealed unless empty), `fallback` (the general path must look at it), or the read's error. */
export type FileRead = { kind: 'read'; size: number; blob?: { id: string; sealed: Buffer; comp: number } } | { kind: 'fallback' } | { kind: 'error'; error: NodeJS.ErrnoException };

interface Job {
  resolve: (v: Reply) => void;
  reject: (e: unknown) => void;
  slot: Slot;
  cost: number;
}

interface Reply {
  seq: number;
  id?: string;
  sealed?: ArrayBuffer;
  comp?: number;
  lengths?: number[];
  zeros?: boolean[];
  lens?: number[];
  comps?: number[];
  status?: number[];
  ids?: string[];
  sizes?: number[];
  codes?: [string, string][];
  error?: string;
}

interface Slot {
  worker: Worker;
  /** Bytes queued on this worker: a chunk job (8 MiB cut + HMAC) must not land behind a queue of seals. */
  busy: number;
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
 * first one only cuts (a file's buffers are cut in order, so a cut must not wait behind seals); the
 * others hash and seal, with brotli on libuv's pool. Two steps per blob because dedupe needs the id
 * before deciding to seal: `id` first, then `seal` only for blobs the repository does not have.
 * Inputs are shared memory, outputs (sealed blobs) are transferred: no copies cross threads.
 */
export class SealWorkers {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private seq = 0;
  private turn = 0;
  private failure: unknown;

  /** `limits`: V8 heap limits per worker (its buffers are outside them). A worker that cannot start fails every job with E_REPO_WORKER. */
  constructor(key: MasterKey, chunker: { gear: Uint32Array; params: ChunkerParams }, count: number, gcEvery = 32 * 1024 * 1024, limits?: ResourceLimits) {
    // small young generations for these isolates (memory.ts: resourceLimits cannot lower the start-up flag's)
    configureWorkerHeaps();
    for (let i = 0; i < count; i++) {
      let worker: Worker;
      try {
        worker = new Worker(WORKER_SOURCE, {
          eval: true,
          workerData: { encrypt: new Uint8Array(key.encrypt), mac: new Uint8Array(key.mac), compression: { skip: ENTROPY_SKIP, slices: SAMPLE_SLICES, slice: SAMPLE_SLICE, quality: BROTLI_QUALITY, qualityText: BROTLI_QUALITY_TEXT, qualitySparse: BROTLI_QUALITY_SPARSE, lgwin: BROTLI_LGWIN, keep: KEEP_AT_MOST }, smallFile: SMALL_FILE_MAX, gear: new Uint32Array(chunker.gear), chunker: { ...chunker.params }, gcEvery },
          // no tsx loader: the script is plain CommonJS with node: imports only
          execArgv: [],
          resourceLimits: limits,
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
  }

  private settle(r: Reply): void {
    const job = this.jobs.get(r.seq);
    if (!job) return;
    this.jobs.delete(r.seq);
    job.slot.busy -= job.cost;
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

  private send(op: 'id' | 'seal' | 'chunk' | 'sealMany' | 'files', buf: Uint8Array | undefined, extra?: { start: number; end: number; final: boolean } | { lens: number[] } | FileBatch, bytes = buf?.length ?? 0): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    // With two or more workers the first only cuts: a file's next buffer cannot be cut before its
    // previous one, so chunk jobs must never queue behind hashing and sealing. Batches of small blobs
    // go to whichever worker is least busy: a tree of small files has nothing to cut.
    const pool = this.slots.length < 2 || op === 'sealMany' || op === 'files' ? this.slots : op === 'chunk' ? this.slots.slice(0, 1) : this.slots.slice(1);
    // least busy; ties taken in turn (a walk slower than the workers found them all idle, and the first took every batch)
    const from = this.turn++ % pool.length;
    let slot = pool[from]!;
    for (let k = 1; k < pool.length; k++) {
      const s = pool[(from + k) % pool.length]!;
      if (s.busy < slot.busy) slot = s;
    }
    const seq = this.seq++;
    const cost = extra && 'start' in extra ? extra.end - extra.start : bytes;
    slot.busy += cost;
    return new Promise<Reply>((resolve, reject) => {
      this.jobs.set(seq, { resolve, reject, slot, cost });
      slot.worker.postMessage({ seq, op, buf, ...extra });
    });
  }

  /**
   * Chunk boundaries in buf[start, end) (Chunker.cut, repeated until it needs more data), each
   * flagged when it is a run of zeros (chunkFile's fast path: its id is computed once per backup).
   * Ids are separate jobs, so cutting one large file is not serialized behind its hashing.
   */
  async chunk(buf: Uint8Array, start: number, end: number, final: boolean): Promise<{ lengths: number[]; zeros: boolean[] }> {
    const r = await this.send('chunk', buf, { start, end, final });
    return { lengths: r.lengths!, zeros: r.zeros! };
  }

  /** HMAC-SHA256 blob id, computed on a worker. `buf` must be shared (see `shared`). */
  async blobId(buf: Uint8Array): Promise<string> {
    return (await this.send('id', buf)).id!;
  }

  /** Compress when it pays, then seal; same result as maybeCompress + seal. `buf` must be shared. */
  async seal(buf: Uint8Array): Promise<{ sealed: Buffer; comp: number }> {
    const r = await this.send('seal', buf);
    return { sealed: Buffer.from(r.sealed!), comp: r.comp! };
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

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
