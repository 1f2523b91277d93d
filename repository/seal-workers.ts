import { availableParallelism } from 'node:os';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { BROTLI_LGWIN, BROTLI_QUALITY, BROTLI_QUALITY_SPARSE, BROTLI_QUALITY_TEXT, ENTROPY_SKIP, KEEP_AT_MOST, SAMPLE_SLICE, SAMPLE_SLICES } from './compress.ts';
import type { ChunkerParams } from './chunker.ts';
import type { MasterKey } from './crypto.ts';
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
parentPort.on('message', (m) => {
  try {
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
      // small blobs back to back in buf: each compressed (sync: a pool trip costs more than 32 KiB of
      // brotli) and sealed exactly as maybeCompressSync + seal do, into one transferred buffer
      const parts = [];
      const comps = [];
      let total = 0;
      let at = 0;
      for (const len of m.lens) {
        const raw = buf.subarray(at, at + len);
        at += len;
        let data = raw;
        let comp = 0;
        const q = brotliQuality(raw);
        if (q) {
          const out = brotliCompressSync(raw, { chunkSize: len + 1024, params: { [zc.BROTLI_PARAM_QUALITY]: q, [zc.BROTLI_PARAM_SIZE_HINT]: len, [zc.BROTLI_PARAM_LGWIN]: LGWIN } });
          if (out.length <= len * KEEP) { data = out; comp = 1; }
        }
        parts.push(data);
        comps.push(comp);
        total += 12 + data.length + 16;
      }
      const ab = new ArrayBuffer(total);
      const out = Buffer.from(ab);
      const sealedLens = [];
      let o = 0;
      for (const data of parts) {
        const nonce = randomBytes(12);
        nonce.copy(out, o);
        const c = createCipheriv('aes-256-gcm', enc, nonce);
        const n = c.update(data).copy(out, o + 12);
        c.final();
        c.getAuthTag().copy(out, o + 12 + n);
        sealedLens.push(12 + n + 16);
        o += 12 + n + 16;
      }
      parentPort.postMessage({ seq: m.seq, sealed: ab, lens: sealedLens, comps }, [ab]);
      dead(total * 2);
      return;
    }
    const finish = (data, comp) => {
      const ab = new ArrayBuffer(12 + data.length + 16);
      const out = Buffer.from(ab);
      const nonce = randomBytes(12);
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
 * seal new blobs, so the main thread only reads, dispatches and packs. With two or more workers the
 * first one only cuts (a file's buffers are cut in order, so a cut must not wait behind seals); the
 * others hash and seal, with brotli on libuv's pool. Two steps per blob because dedupe needs the id
 * before deciding to seal: `id` first, then `seal` only for blobs the repository does not have.
 * Inputs are shared memory, outputs (sealed blobs) are transferred: no copies cross threads.
 */
export class SealWorkers {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private seq = 0;
  private failure: unknown;

  /** `limits`: V8 heap limits per worker (its buffers are outside them). A worker that cannot start fails every job with E_REPO_WORKER. */
  constructor(key: MasterKey, chunker: { gear: Uint32Array; params: ChunkerParams }, count: number, gcEvery = 32 * 1024 * 1024, limits?: ResourceLimits) {
    for (let i = 0; i < count; i++) {
      let worker: Worker;
      try {
        worker = new Worker(WORKER_SOURCE, {
          eval: true,
          workerData: { encrypt: new Uint8Array(key.encrypt), mac: new Uint8Array(key.mac), compression: { skip: ENTROPY_SKIP, slices: SAMPLE_SLICES, slice: SAMPLE_SLICE, quality: BROTLI_QUALITY, qualityText: BROTLI_QUALITY_TEXT, qualitySparse: BROTLI_QUALITY_SPARSE, lgwin: BROTLI_LGWIN, keep: KEEP_AT_MOST }, gear: new Uint32Array(chunker.gear), chunker: { ...chunker.params }, gcEvery },
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

  private send(op: 'id' | 'seal' | 'chunk' | 'sealMany', buf: Uint8Array, extra?: { start: number; end: number; final: boolean } | { lens: number[] }): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    // With two or more workers the first only cuts: a file's next buffer cannot be cut before its
    // previous one, so chunk jobs must never queue behind hashing and sealing. Batches of small blobs
    // go to whichever worker is least busy: a tree of small files has nothing to cut.
    const pool = this.slots.length < 2 || op === 'sealMany' ? this.slots : op === 'chunk' ? this.slots.slice(0, 1) : this.slots.slice(1);
    let slot = pool[0]!;
    for (const s of pool) if (s.busy < slot.busy) slot = s;
    const seq = this.seq++;
    const cost = extra && 'start' in extra ? extra.end - extra.start : buf.length;
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

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
