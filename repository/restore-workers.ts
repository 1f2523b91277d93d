import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { zstdReader } from './compress.ts';
import type { MasterKey } from './crypto.ts';
import { EXPOSE_GC_SOURCE, workerHeapLimits } from './memory.ts';
import { joinParts, splitRun } from './restore-split.ts';
import { workerError } from './worker-error.ts';

/**
 * The worker's code, evaluated as a CommonJS script (`eval: true`), for the same reasons as the seal
 * workers (seal-workers.ts): plain JavaScript with `node:` imports only loads the same way under tsx,
 * vitest, the esbuild bundle and `node cli/coffer.js`. The main thread runs the same script as one of the
 * decoders (`workOnThisThread`), with a port of its own.
 *
 * Per blob it does exactly what `Repository.openBlob` does — AES-256-GCM open (`nonce ‖ ct ‖ tag`),
 * brotli or zstd decompression checked against the recorded raw length, HMAC-SHA256 id compared with the
 * index — then writes the plaintext to every target (fd, offset) with positioned writes, leaving
 * 64 KiB runs of zeros as holes (restore.ts truncates each file to its size, so sparse files stay
 * sparse). Nothing is written for a blob that fails any check. The input is a pack range read into
 * shared memory: no copy crosses threads, and no plaintext comes back.
 *
 * Files whose every blob is in the range (small files) are created and finished here too, so they cost
 * the main thread no round trip at all: created (O_CREAT|O_EXCL|O_NOFOLLOW) under their final name when
 * they are one blob, already authenticated (a rename saved per small file), else — or when the name is taken —
 * under a temporary name (the job's `tmp` and the file's index); written, truncated when a hole ends them,
 * chown'ed when their owner is not this process's, chmod'ed after it (chown clears setuid) unless created with
 * their final mode (`direct`: else 0600), their times set on the descriptor, closed, and renamed to `final` when
 * they were created under the temporary name. Per small file: open, write, futimes, close (restic: nine calls).
 * A file with a refused blob is removed. Synchronous calls: parallel creates in one directory measured no faster
 * here (the kernel serializes them on the directory), and keeping plaintext for later writes cost RSS.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { createHmac, createDecipheriv } = require('node:crypto');
const { brotliDecompressSync, zstdDecompressSync } = require('node:zlib');
const { writeSync, openSync, closeSync, ftruncateSync, fchmodSync, fchownSync, futimesSync, renameSync, unlinkSync, constants: fc } = require('node:fs');
const CREATE = fc.O_WRONLY | fc.O_CREAT | fc.O_EXCL | fc.O_NOFOLLOW;
const enc = Buffer.from(workerData.encrypt);
const mac = Buffer.from(workerData.mac);
const ZERO = Buffer.alloc(64 * 1024);
// zstd (comp 2): libzstd's decoder (zstd-napi, compress.ts zstdNapi: one context for the thread's life, output
// of the blob's size) from the path the main thread resolved; without it the writer's add-on, else Node's own (≥ 22.15),
// else refused naming what to install. Where those two exist, blobs of BUILTIN_FROM bytes or more go to Node's own.
const { dctx: ZSTD_DCTX, path: ZSTD_PATH, builtin: ZSTD_BUILTIN, builtinFrom: ZSTD_BUILTIN_FROM, missing: ZSTD_MISSING } = workerData.zstd;
const zstdDctx = ZSTD_DCTX ? new (require(ZSTD_DCTX).DCtx)() : null;
const zstdDecoder = !zstdDctx && ZSTD_PATH ? new (require(ZSTD_PATH).Decoder)() : null;
// The add-on's output is native memory freed by a finalizer that Node runs only after the current task: decoded
// bytes pile up across a whole message (a run) unless the loop yields (settle below).
let nativeHeld = 0;
function unzstd(plain, what, rawLength) {
  if (!zstdDctx && !zstdDecoder && !ZSTD_BUILTIN) throw Object.assign(new Error(what + ': ' + ZSTD_MISSING), { code: 'E_REPO_CODEC' });
  if (zstdDctx) {
    const out = Buffer.allocUnsafe(rawLength);
    let n;
    try {
      n = zstdDctx.decompress(out, plain);
    } catch (e) {
      // a sound frame longer than its index entry says: the length is what is wrong, as the other decoders report it
      if (/Destination buffer is too small/.test(messageOf(e))) throw new Error(what + ': decompressed to more than ' + rawLength + ' bytes, expected ' + rawLength);
      throw new Error(what + ': not a zstd frame (' + messageOf(e) + ')');
    }
    return n === rawLength ? out : out.subarray(0, n);
  }
  try {
    if (!zstdDecoder || (ZSTD_BUILTIN && rawLength >= ZSTD_BUILTIN_FROM)) return zstdDecompressSync(plain, { chunkSize: Math.max(64, rawLength + 1) });
    nativeHeld += rawLength;
    return zstdDecoder.decodeSync(plain);
  } catch (e) {
    throw new Error(what + ': not a zstd frame (' + messageOf(e) + ')');
  }
}
// Plaintext and decompressed buffers die after each blob: collected every gcEvery bytes (memory.ts GcPacer).
${EXPOSE_GC_SOURCE}
let garbage = 0;
function dead(n) {
  garbage += n;
  if (garbage < workerData.gcEvery) return;
  garbage = 0;
  collectGarbage({ type: 'minor' });
}
function writeAll(fd, data, off, len, pos) {
  while (len > 0) {
    const n = writeSync(fd, data, off, len, pos);
    off += n; len -= n; pos += n;
  }
}
// returns the end of the last byte written (0 when all zeros): a file ending in a hole needs a truncate
function writeSparse(fd, data, at) {
  let runStart = -1;
  let end = 0;
  for (let o = 0; o < data.length; o += ZERO.length) {
    const n = Math.min(ZERO.length, data.length - o);
    const zero = data.compare(ZERO, 0, n, o, o + n) === 0;
    if (!zero && runStart < 0) runStart = o;
    if (zero && runStart >= 0) { writeAll(fd, data, runStart, o - runStart, at + runStart); end = at + o; runStart = -1; }
  }
  if (runStart >= 0) { writeAll(fd, data, runStart, data.length - runStart, at + runStart); end = at + data.length; }
  return end;
}
const messageOf = (e) => (e && e.message) || String(e);
// Finish a file created here, its blobs all written: null, or why it was not kept (then nothing of it is left).
function finishFile(f, fd, end, failed) {
  let open = fd >= 0;
  if (failed === null) {
    try {
      if (end !== f.size) ftruncateSync(fd, f.size);
      if (f.chown) try { fchownSync(fd, f.uid, f.gid); } catch {}
      // after chown, which clears setuid bits
      if (!f.direct) fchmodSync(fd, f.mode);
      futimesSync(fd, f.mtime, f.mtime);
      open = false;
      closeSync(fd);
      if (f.tmp !== f.final) renameSync(f.tmp, f.final);
      return null;
    } catch (e) {
      failed = messageOf(e);
    }
  }
  if (open) try { closeSync(fd); } catch {}
  if (fd >= 0) try { unlinkSync(f.tmp); } catch {}
  return failed;
}
// A file of one blob, already verified, is created under its final name (O_EXCL: never an existing file or
// link); when that name is taken, or the file has more blobs, under a temporary name renamed at the end.
function create(f, verified, tmp) {
  const mode = f.direct ? f.mode : 0o600;
  if (verified) {
    try {
      const fd = openSync(f.final, CREATE, mode);
      f.tmp = f.final;
      return fd;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
  }
  f.tmp = f.final.slice(0, f.final.lastIndexOf('/') + 1) + tmp;
  return openSync(f.tmp, CREATE, mode);
}
function open(sealed, b, what) {
  if (sealed.length < 28) throw new Error(what + ': too short to be an encrypted object (' + sealed.length + ' bytes)');
  const d = createDecipheriv('aes-256-gcm', enc, sealed.subarray(0, 12));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  let plain;
  try {
    plain = d.update(sealed.subarray(12, sealed.length - 16));
    d.final();
  } catch {
    throw new Error(what + ': authentication failed (data is damaged or was tampered with)');
  }
  let raw;
  if (b.comp === 0) raw = plain;
  else if (b.comp === 1) {
    // output buffer of the blob's size (+1, so a right-sized blob needs no second chunk): a 64 KiB minimum made
    // every small blob's plaintext a 64 KiB malloc until GC, which counts only its length (memory.ts GcPacer)
    raw = brotliDecompressSync(plain, { chunkSize: Math.max(64, b.rawLength + 1) });
  } else if (b.comp === 2) raw = unzstd(plain, what, b.rawLength);
  else throw new Error(what + ': unknown compression ' + b.comp + ' (written by a newer Coffer?)');
  if (raw !== plain && raw.length !== b.rawLength) throw new Error(what + ': decompressed to ' + raw.length + ' bytes, expected ' + b.rawLength);
  garbageOfLast = plain.length + (raw === plain ? 0 : raw.length);
  if (createHmac('sha256', mac).update(raw).digest('hex') !== b.id) throw new Error(what + ': content does not match its id');
  return raw;
}
// Counted by the loop once the blob's plaintext is written and dropped, not here: a collection while the blob's
// buffers are still referenced moves them to the old generation, where only a full collection frees them (FORMAT.md,
// "Peak RSS, second pass": check of 1 GiB, minor collections every 2 MiB 186–194 MiB vs 150–160 every 10).
let garbageOfLast = 0;
const NATIVE_HELD_MAX = 2 * 1024 * 1024;
let settled = 0;
// After NATIVE_HELD_MAX bytes of the add-on's output: collect the dead buffers and give their finalizers a turn.
async function settle() {
  if (nativeHeld < NATIVE_HELD_MAX) return;
  nativeHeld = 0;
  // every 16th a full collection: buffers promoted to the old generation wait for one, and V8 does not count the
  // add-on's memory (1 GiB restore / check: 236 / 222 MiB with minor only, 160 / 154 with this, +0.15 CPU-s)
  collectGarbage(++settled % 16 === 0 ? undefined : { type: 'minor' });
  await new Promise((resolve) => setImmediate(resolve));
}
// On the main thread (workOnThisThread) a job also yields every YIELD_MS: the other thread's replies, the reads they
// free and its next job wait for this loop (a 4 GiB file's thread waited for a job 40% of the time).
const YIELD_MS = workerData.yieldMs || 0;
let yielded = 0;
async function yieldNow() {
  if (!YIELD_MS || performance.now() - yielded < YIELD_MS) return;
  await new Promise((resolve) => setImmediate(resolve));
  yielded = performance.now();
}
// async only for settle and yieldNow: a later message may start while this one yields; each keeps its own state,
// replies by seq
parentPort.on('message', async (m) => {
  const buf = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
  const results = [];
  const files = m.files || [];
  const fds = files.map(() => -1);
  const ends = files.map(() => 0);
  const failed = files.map(() => null);
  for (const b of m.blobs) {
    await settle();
    await yieldNow();
    const what = 'blob ' + b.id.slice(0, 16) + ' in pack ' + m.pack;
    let raw;
    garbageOfLast = 0;
    try {
      raw = open(buf.subarray(b.at, b.at + b.length), b, what);
      for (const t of b.targets) writeSparse(t[0], raw, t[1]);
      results.push(null);
    } catch (e) {
      results.push(e.code ? { message: messageOf(e), code: e.code } : { message: messageOf(e) });
      if (b.files) for (const t of b.files) if (failed[t[0]] === null) failed[t[0]] = messageOf(e);
      continue;
    }
    if (b.files) for (const t of b.files) {
      const j = t[0];
      if (failed[j] !== null) continue;
      try {
        if (fds[j] < 0) fds[j] = create(files[j], files[j].blobs === 1, m.tmp + j);
        ends[j] = Math.max(ends[j], writeSparse(fds[j], raw, t[1]));
      } catch (e) {
        failed[j] = messageOf(e);
      }
    }
    // dropped before a collection can run (dead, or settle at the next blob): see garbageOfLast
    raw = undefined;
    dead(garbageOfLast);
  }
  const fileResults = files.map((f, j) => finishFile(f, fds[j], ends[j], failed[j]));
  parentPort.postMessage({ seq: m.seq, results, files: fileResults });
});
`;

/** One blob to open and write: its place in the job's buffer and where its plaintext goes. */
export interface RestoreBlob {
  id: string;
  /** Offset of the sealed blob inside the job's buffer. */
  at: number;
  length: number;
  rawLength: number;
  comp: number;
  /** [fd, file offset] pairs: every place this blob's plaintext is written. */
  targets: [number, number][];
  /** [index into the job's `files`, file offset]: places in files the worker creates and finishes itself. */
  files?: [number, number][];
}

/**
 * A file whose every blob is in one job: the worker creates it (under `final` when it is one blob, else under a
 * temporary name in the same directory, renamed to `final` when complete), writes and finishes it.
 */
export interface WholeFile {
  /** Blobs the file is made of (1: created under `final` directly, see the worker). */
  blobs: number;
  final: string;
  size: number;
  mode: number;
  /** fchown to uid/gid (a file is created with this process's user and, here, group). */
  chown: boolean;
  /** Created with `mode`, which it then has exactly (no fchmod): no special bits, nothing the umask or an ACL removes. */
  direct: boolean;
  uid: number;
  gid: number;
  /** Seconds since the epoch (atime and mtime). */
  mtime: number;
}

/** Per whole file: null when it is in place, else why not (nothing is left of it). */
export type FileOutcome = string | null;

/** Per blob: null when written, else why it was refused (nothing was written for it). */
export type BlobOutcome = { message: string; code?: string } | null;

interface Job {
  pack: string;
  buf: Uint8Array;
  blobs: RestoreBlob[];
  files?: WholeFile[];
  tmp?: string;
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: unknown) => void;
  slot: Slot;
  cost: number;
}

interface Reply {
  seq: number;
  results: BlobOutcome[];
  files: FileOutcome[];
}

interface Slot {
  post(job: unknown): void;
  busy: number;
  /** Jobs sent and not yet answered. */
  jobs: number;
  /** Unset for the slot that runs on this thread. */
  thread?: Worker;
}

/** How long the main thread decodes before it lets its event loop run (the worker source's YIELD_MS). */
const MAIN_THREAD_YIELD_MS = 2;

/**
 * The worker's source run on this thread: jobs are handled here one event-loop turn after they are sent, replies
 * delivered to `onReply` a turn after they are made (as a thread's would be), and a job that throws fails with `onError`.
 */
function workOnThisThread(workerData: unknown, onReply: (r: Reply) => void, onError: (e: unknown) => void): (job: unknown) => void {
  let handle: ((job: unknown) => Promise<void>) | undefined;
  const parentPort = { on: (_: 'message', fn: typeof handle) => void (handle = fn), postMessage: (r: Reply) => setImmediate(onReply, r) };
  const nodeRequire = createRequire(import.meta.url);
  new Function('require', WORKER_SOURCE)((id: string) => (id === 'node:worker_threads' ? { parentPort, workerData } : nodeRequire(id)));
  return (job) => setImmediate(() => handle!(job).catch(onError));
}

/**
 * Restore decoders by default: one per core up to 2 (none on one core: the restore then decodes inline, without this
 * class). `COFFER_RESTORE_WORKERS` overrides. From 2 on, one of them is the main thread (see RestoreWorkers).
 */
export function defaultRestoreWorkers(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.COFFER_RESTORE_WORKERS;
  if (v !== undefined && v !== '' && Number.isInteger(Number(v)) && Number(v) >= 0) return Math.min(Number(v), 8);
  const cores = availableParallelism();
  return cores > 1 ? Math.min(cores, 2) : 0;
}

/**
 * Decoders that authenticate, decompress, verify and write restored blobs: the CPU work — AES-GCM, brotli or zstd,
 * HMAC-SHA256 and the copy into the page cache — on every core. The main thread plans, reads pack ranges (libuv
 * pool) and keeps the books, which leaves it mostly idle, so with `count` of 2 or more it is one of the decoders
 * itself (the same source, run here) beside `count − 1` worker threads: a worker thread's isolate, heap and malloc
 * arena cost ~25 MiB of peak RSS (1 GiB file restore 155–164 → 133–140 MiB, 30,000 small files 122–124 → 110–111;
 * FORMAT.md, "The main thread as a decoder"). `onThisThread: false` keeps every decoder on a thread of its own.
 */
export class RestoreWorkers {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private failure: unknown;
  /** Pack ranges split between decoders (restore-split.ts). */
  rangesSplit = 0;
  private readonly onThisThread: boolean;

  constructor(key: MasterKey, count: number, gcEvery = 32 * 1024 * 1024, o: { limits?: ResourceLimits; onThisThread?: boolean } = {}) {
    const workerData = { encrypt: new Uint8Array(key.encrypt), mac: new Uint8Array(key.mac), gcEvery, zstd: zstdReader() };
    const threads = o.onThisThread !== false && count > 1 ? count - 1 : count;
    for (let i = 0; i < threads; i++) {
      let worker: Worker;
      try {
        worker = new Worker(WORKER_SOURCE, { eval: true, workerData, execArgv: [], resourceLimits: workerHeapLimits(o.limits) });
      } catch (e) {
        void this.close();
        throw workerError('restore', i, count, false, e);
      }
      this.slots.push({ post: (job) => worker.postMessage(job), busy: 0, jobs: 0, thread: worker });
      let started = false;
      worker.once('online', () => (started = true));
      worker.on('message', (r: Reply) => this.reply(r));
      worker.on('error', (e) => this.fail(workerError('restore', i, count, started, e)));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(workerError('restore', i, count, started, new Error(`exited with code ${code}`)));
      });
    }
    // last: a tie goes to a thread, since this one also keeps the books
    this.onThisThread = threads < count;
    if (this.onThisThread) {
      const slot: Slot = { post: () => undefined, busy: 0, jobs: 0 };
      slot.post = workOnThisThread({ ...workerData, yieldMs: MAIN_THREAD_YIELD_MS }, (r) => this.reply(r), (e) => this.fail(workerError('restore', threads, count, true, e)));
      this.slots.push(slot);
    }
  }

  private reply(r: Reply): void {
    const p = this.pending.get(r.seq);
    if (!p) return;
    this.pending.delete(r.seq);
    p.slot.busy -= p.cost;
    p.slot.jobs--;
    p.resolve(r);
    this.dispatch();
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    for (const w of this.waiting.splice(0)) w.reject(e);
    for (const [seq, p] of this.pending) {
      this.pending.delete(seq);
      p.reject(e);
    }
  }

  /**
   * Open and write `blobs` (sealed inside `buf`, which must be shared memory), creating and finishing `files`
   * (temporary names start with `tmp`): split between the decoders (restore-split.ts), each part sent as `send` does.
   */
  async run(pack: string, buf: Uint8Array, blobs: RestoreBlob[], files: WholeFile[] = [], tmp = ''): Promise<{ results: BlobOutcome[]; files: FileOutcome[] }> {
    const parts = splitRun(blobs, files, this.slots.length);
    if (parts.length > 1) this.rangesSplit++;
    const replies = await Promise.all(parts.map((p, k) => this.send({ pack, buf, blobs: p.blobs, files: p.files, tmp: `${tmp}-${k}-` }, p.blobs.reduce((a, b) => a + b.rawLength, 0))));
    return parts.length === 1 ? replies[0]! : joinParts(parts, replies, blobs.length, files.length);
  }

  /** check --read-data: open every blob of a run of a pack (no targets) on one decoder. */
  verify(pack: string, buf: Uint8Array, blobs: RestoreBlob[]): Promise<{ results: BlobOutcome[] }> {
    return this.send({ pack, buf, blobs }, blobs.reduce((a, b) => a + b.rawLength, 0));
  }

  /**
   * Threads only: a job goes at once to the least busy decoder (bytes queued). With this thread among the decoders,
   * a job waits here until one is free: one queued behind this thread's own job waited while the other thread idled,
   * and its replies wait for this loop too (30,000 small files faster in 8 of 9 pairs, median −8%; FORMAT.md).
   */
  private readonly waiting: { job: Job; cost: number; resolve: (r: Reply) => void; reject: (e: unknown) => void }[] = [];

  private send(job: Job, cost: number): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, cost, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.waiting.length) {
      let slot: Slot | undefined;
      if (this.onThisThread) slot = this.slots.find((s) => s.jobs === 0);
      else for (const s of this.slots) if (!slot || s.busy < slot.busy) slot = s;
      if (!slot) return;
      const w = this.waiting.shift()!;
      slot.busy += w.cost;
      slot.jobs++;
      const seq = this.seq++;
      this.pending.set(seq, { resolve: w.resolve, reject: w.reject, slot, cost: w.cost });
      slot.post({ seq, ...w.job });
    }
  }

  /** Decoders: worker threads and, when it is one, this thread. */
  get size(): number {
    return this.slots.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.thread?.terminate()));
  }
}
