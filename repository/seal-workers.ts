import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ENTROPY_SKIP } from './compress.ts';
import type { MasterKey } from './crypto.ts';

/**
 * The worker's code, evaluated as a CommonJS script (`eval: true`). It is plain JavaScript with
 * only `node:` imports on purpose: a worker file in TypeScript would need the tsx loader in every
 * worker (and a file next to the esbuild bundle a mover image ships); an eval'd script loads the
 * same way under tsx, vitest, a bundle and `node cli/coffer.js` in the mover Job.
 *
 * It must produce exactly what the inline path produces (`blobId`, `maybeCompress`, `seal`): HMAC-SHA256
 * ids, the same entropy sample and skip threshold, brotli q1 lgwin 22 with a size hint, the 3 % rule,
 * and `nonce ‖ AES-256-GCM ciphertext ‖ tag`. test/repository/seal-workers.test.ts compares both paths
 * blob by blob (ids, compression, stored lengths) on the same repository keys.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { createHmac, createCipheriv, randomBytes } = require('node:crypto');
const { brotliCompressSync, constants: zc } = require('node:zlib');
const enc = Buffer.from(workerData.encrypt);
const mac = Buffer.from(workerData.mac);
const SKIP = workerData.entropySkip;
function sampleEntropy(buf) {
  const counts = new Uint32Array(256);
  const SLICES = 8, SLICE = 2048;
  let total = 0;
  if (buf.length <= SLICES * SLICE) {
    for (let i = 0; i < buf.length; i++) counts[buf[i]]++;
    total = buf.length;
  } else {
    const step = Math.floor((buf.length - SLICE) / (SLICES - 1));
    for (let s = 0; s < SLICES; s++) {
      const off = s * step;
      for (let i = off; i < off + SLICE; i++) counts[buf[i]]++;
    }
    total = SLICES * SLICE;
  }
  let e = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i];
    if (c) { const p = c / total; e -= p * Math.log2(p); }
  }
  return e;
}
parentPort.on('message', (m) => {
  try {
    const buf = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
    if (m.op === 'id') {
      parentPort.postMessage({ seq: m.seq, id: createHmac('sha256', mac).update(buf).digest('hex') });
      return;
    }
    let data = buf;
    let comp = 0;
    if (buf.length >= 64 && sampleEntropy(buf) <= SKIP) {
      const out = brotliCompressSync(buf, {
        chunkSize: Math.max(64 * 1024, buf.length),
        params: { [zc.BROTLI_PARAM_QUALITY]: 1, [zc.BROTLI_PARAM_SIZE_HINT]: buf.length, [zc.BROTLI_PARAM_LGWIN]: 22 },
      });
      if (!(out.length > buf.length * 0.97)) { data = out; comp = 1; }
    }
    const ab = new ArrayBuffer(12 + data.length + 16);
    const out = Buffer.from(ab);
    const nonce = randomBytes(12);
    nonce.copy(out, 0);
    const c = createCipheriv('aes-256-gcm', enc, nonce);
    const n = c.update(data).copy(out, 12);
    c.final();
    c.getAuthTag().copy(out, 12 + n);
    parentPort.postMessage({ seq: m.seq, sealed: ab, comp }, [ab]);
  } catch (e) {
    parentPort.postMessage({ seq: m.seq, error: String((e && e.stack) || e) });
  }
});
`;

interface Job {
  resolve: (v: Reply) => void;
  reject: (e: unknown) => void;
  slot: Slot;
}

interface Reply {
  seq: number;
  id?: string;
  sealed?: ArrayBuffer;
  comp?: number;
  error?: string;
}

interface Slot {
  worker: Worker;
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
 * Worker threads that compute blob ids (HMAC-SHA256) and compress + seal new blobs, so the
 * main thread only reads and chunks. Two steps per blob because dedupe needs the id before
 * deciding to seal: `id` first, then `seal` only for blobs the repository does not have.
 * Inputs are shared, outputs (sealed blobs) are transferred: no copies cross threads.
 */
export class SealWorkers {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private seq = 0;
  private failure: unknown;

  constructor(key: MasterKey, count: number) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { encrypt: new Uint8Array(key.encrypt), mac: new Uint8Array(key.mac), entropySkip: ENTROPY_SKIP },
        // no tsx loader: the script is plain CommonJS with node: imports only
        execArgv: [],
      });
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (r: Reply) => this.settle(r));
      worker.on('error', (e) => this.fail(e));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`seal worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  private settle(r: Reply): void {
    const job = this.jobs.get(r.seq);
    if (!job) return;
    this.jobs.delete(r.seq);
    job.slot.busy--;
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

  private send(op: 'id' | 'seal', buf: Uint8Array): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.busy < slot.busy) slot = s;
    const seq = this.seq++;
    slot.busy++;
    return new Promise<Reply>((resolve, reject) => {
      this.jobs.set(seq, { resolve, reject, slot });
      slot.worker.postMessage({ seq, op, buf });
    });
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

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
