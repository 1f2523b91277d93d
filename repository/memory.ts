import { createRequire } from 'node:module';
import * as v8 from 'node:v8';
import type { ResourceLimits } from 'node:worker_threads';
import { RepoError } from './errors.ts';

const MiB = 1024 * 1024;

/**
 * How a memory budget is spent (all sizes in bytes). The budget bounds what the mover allocates for data:
 * read buffers, sealed blobs in flight (the seal ring), pack buffers, restore ranges, dead buffers awaiting GC. Not in it: the
 * Node runtime and its code (~42 MiB RSS), each worker thread's isolate (~10–15 MiB of V8 pages), glibc's arenas
 * (freed blob buffers they keep: 20–90 MiB in a first backup) and the index (~50 B per blob, off the V8 heap:
 * blob-index.ts). It is a ceiling the plan stays under, not a target: at the default budget the plan leaves part of
 * it unspent where spending it bought no speed (fewer file readers). Where each phase's peak RSS goes, measured with
 * smaps at the peak: FORMAT.md, "Peak RSS, rss".
 */
export interface MemoryPlan {
  budget: number;
  /**
   * Backup: files read at once (each holds a current and a read-ahead buffer). Two at the default budget, with five
   * buffers: three (seven 12 MiB buffers) bought no speed and cost 20–30 MiB of peak RSS on the 512 MiB mixed bench;
   * one was 40–70% slower on 3,000 files of 40–240 KiB with a cold cache, where reads wait on the disk one file at a
   * time (FORMAT.md, "Peak RSS, rss").
   */
  fileReaders: number;
  /** Backup: read buffers at most (chunker max + one read each; chunks are views into them until sealed). */
  readBuffers: number;
  /** Backup: bytes of chunks admitted to hashing/sealing and not yet packed. */
  sealBytesInFlight: number;
  /**
   * Backup: the ring the seal workers write sealed blobs into, each region freed once written to its pack (byte-ring.ts;
   * at least the chunker's max blob plus its seal, whatever the plan says). It is what `sealBytesInFlight` was
   * subtracted for: the sealed copies; the gate's own bytes are views into the read buffers. Before it, sealed blobs
   * were buffers of their own, up to 32 MiB live on the main thread plus their garbage (FORMAT.md, "Sealed blobs in
   * flight, pipe").
   */
  sealRing: number;
  /** Backup: pack uploads in flight; pack buffers alive = uploads + the one filling. */
  packUploads: number;
  /** Bytes of short-lived buffers (sealed blobs, compressor output) a thread may leave for its GC before one is forced. */
  gcEvery: number;
  /** Growth of the main thread's JS heap after which a full collection runs (`paceHeap`). */
  heapGrowth: number;
  /**
   * Restore: sealed pack ranges read and not yet written, 3/40 of the budget (12 MiB at the default). 512 MiB mixed,
   * peak RSS: 32 MiB 166–197, 16 MiB 139–153, 12 MiB 140–144 and no slower, 8 MiB 130–136 but 23% slower in three of
   * three paired rounds (FORMAT.md, "Peak RSS, rss"). The range buffers kept may reach this plus one run (restore-files.ts).
   * Runs of large blobs are cut at a third of it, so three are in flight (restore-files.ts: with two, the restore workers
   * waited for jobs; with one, 8 MiB runs under 12, a core sat idle; FORMAT.md).
   */
  restoreBytesInFlight: number;
  /**
   * check --read-data: the most its ring of pack runs may hold (check.ts `checkRingBytes` sizes it to the repository
   * below this): a sixteenth of the budget, 10 MiB at the default. Every byte of the ring becomes resident (FORMAT.md,
   * "check --read-data in runs").
   */
  checkBytesInFlight: number;
  /**
   * Backup: seal worker threads at most. Below 128 MiB none: each worker thread's malloc arena held up to
   * 64 MiB of freed blob buffers (glibc keeps a thread's arena), which a 256 MiB Pod cannot afford; brotli
   * still runs on libuv's pool, so both cores still work (measured in FORMAT.md).
   */
  sealWorkers: number;
}

/** The smallest budget that still runs: one reader, three read buffers, one upload. */
export const MIN_BUDGET = 96 * MiB;

/**
 * Used when neither `--memory-budget` nor a cgroup limit says otherwise. Chosen by measurement (FORMAT.md):
 * larger budgets bought no speed on the 1 GiB bench, only RSS.
 */
export const DEFAULT_BUDGET = 160 * MiB;

/** What a container's limit keeps back from the budget: the runtime, worker isolates, malloc arenas (measured, FORMAT.md). */
const RUNTIME_RESERVE = 160 * MiB;

/**
 * Spend `budget` bytes. Pure: the same budget always gives the same plan. Read buffers are the largest item
 * (`chunkMax + readSize` each, 10 MiB with the default chunker), so the number of files read at once is what a
 * small budget gives up first.
 */
export function planMemory(budget: number, chunker: { max: number }, packSize: number, readSize: number): MemoryPlan {
  const b = Math.max(budget, MIN_BUDGET);
  const readBuf = chunker.max + readSize;
  const pack = packSize + MiB;
  const packUploads = b >= 192 * MiB ? 2 : 1;
  const gcEvery = Math.min(32 * MiB, Math.max(8 * MiB, Math.floor(b / 16)));
  const sealBytesInFlight = Math.min(24 * MiB, Math.max(8 * MiB, Math.floor(b / 10)));
  // what is left after packs, sealed blobs in flight and two threads' worth of garbage bounds the read buffers: two per
  // reader and one more (BufferPool's floor); a third reader only when there is room for five (it bought no speed)
  const forReads = b - (packUploads + 1) * pack - sealBytesInFlight - 2 * gcEvery;
  const room = Math.floor((forReads / readBuf - 1) / 2);
  const fileReaders = Math.max(1, Math.min(room, room >= 5 ? 3 : 2));
  const readBuffers = 2 * fileReaders + 1;
  return {
    budget: b,
    fileReaders,
    readBuffers,
    sealBytesInFlight,
    sealRing: sealBytesInFlight,
    packUploads,
    gcEvery,
    heapGrowth: gcEvery,
    restoreBytesInFlight: Math.min(32 * MiB, Math.max(8 * MiB, Math.floor((b * 3) / 40))),
    checkBytesInFlight: Math.floor(b / 16),
    sealWorkers: b >= 128 * MiB ? 2 : 0,
  };
}

/** `256MiB`, `1GiB`, `300M`, `268435456`: binary units (K/M/G with or without `iB`). */
export function parseBytes(s: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kib|m|mib|g|gib)?\s*$/i.exec(s);
  if (!m) throw new RepoError('E_REPO_MEMORY', `${what} "${s}": expected a size such as 256MiB or 1GiB`);
  const unit = (m[2] ?? 'b').toLowerCase()[0]!;
  const mult = unit === 'g' ? 1024 ** 3 : unit === 'm' ? MiB : unit === 'k' ? 1024 : 1;
  return Math.round(Number(m[1]) * mult);
}

/**
 * The container's memory limit, from cgroup v2 (`memory.max`) or v1 (`memory.limit_in_bytes`), or undefined
 * when there is none ("max", or v1's "unlimited" near 2^63). `read` returns a file's text or undefined.
 */
export function cgroupMemoryLimit(read: (file: string) => string | undefined): number | undefined {
  for (const f of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    const t = read(f)?.trim();
    if (!t || t === 'max' || !/^\d+$/.test(t)) continue;
    const n = Number(t);
    if (n > 0 && n < 2 ** 50) return n;
  }
  return undefined;
}

/**
 * The budget in force: the flag's value, else the cgroup limit less RUNTIME_RESERVE (at least MIN_BUDGET, at most
 * DEFAULT_BUDGET), else DEFAULT_BUDGET. A limit only ever lowers the default: more bought no speed, only RSS, and
 * the mover Job's 2 GiB limit (MOVER_RESOURCES) gave a 1.8 GiB budget — 32 MiB of garbage per thread between
 * collections, 115 MiB of check runs in flight — that no bench measured. `--memory-budget` can still raise it.
 */
export function resolveBudget(flag: string | undefined, read: (file: string) => string | undefined): { budget: number; source: 'flag' | 'cgroup' | 'default' } {
  if (flag !== undefined) {
    const n = parseBytes(flag, '--memory-budget');
    if (n < MIN_BUDGET) throw new RepoError('E_REPO_MEMORY', `--memory-budget "${flag}": at least ${MIN_BUDGET / MiB}MiB is needed (one file reader, three read buffers, one pack upload)`);
    return { budget: n, source: 'flag' };
  }
  const limit = cgroupMemoryLimit(read);
  if (limit !== undefined) return { budget: Math.min(DEFAULT_BUDGET, Math.max(MIN_BUDGET, limit - RUNTIME_RESERVE)), source: 'cgroup' };
  return { budget: DEFAULT_BUDGET, source: 'default' };
}

/** Semi-space of every worker isolate (MiB): V8's young generation is three of them. */
export const WORKER_SEMI_SPACE_MIB = 1;

/**
 * Heap limits for a worker thread: a WORKER_SEMI_SPACE_MIB semi-space (and `limits` besides). The workers' JS is
 * messages and a few objects per blob, their buffers are outside the V8 heap, and V8's default lets each worker's
 * semi-spaces grow to 16 MiB. Measured (FORMAT.md, "Peak RSS, rss"): 30,000 small files, restore 162–165 → 150–152 MiB,
 * check 126–128 → 119–121, CPU within noise. Through `resourceLimits`, not `--max-semi-space-size`: while any V8 flag
 * differs from its default (set at start-up or at run time), V8 refuses Node's built-in code cache for every Node
 * module compiled, so each worker compiled Node's own modules from source: +115 M instructions per worker (FORMAT.md, "V8 flags and Node's code cache"). A start-up
 * `--max-semi-space-size` also overrides `resourceLimits` in every isolate.
 */
export function workerHeapLimits(limits?: ResourceLimits): ResourceLimits {
  return { maxYoungGenerationSizeMb: 3 * WORKER_SEMI_SPACE_MIB, ...limits };
}

/** V8's collector: a young-generation collection with `{ type: 'minor' }`, else a full one. */
export type GcFn = (opts?: { type: 'minor' | 'major' }) => void;

/**
 * Attempts a thread makes to get V8's gc. The flag is per process: another thread may set it back between this one
 * setting it and making its context, which then has no `gc` ("gc is not defined"). A thread that lost that race kept no
 * collector for the rest of its run — a 1 GiB restore peaked at 143–153 MiB instead of 121–135 in half the runs — so a
 * failed attempt is made again at the next call.
 */
export const GC_ATTEMPTS = 8;

let collect: GcFn | undefined;

/**
 * This thread's V8 collector, exposed when first called (a no-op where it cannot be). Why: each sealed blob is a
 * fresh buffer (AES-GCM and brotli have no "into" form in Node), and V8 only collects dead ArrayBuffers after ~64 MiB
 * of external memory per isolate — three isolates' worth of garbage was a third of the backup's peak RSS. Forcing a
 * collection every `gcEvery` bytes bounds it. Why at the first call: `--expose-gc` is set for the moment it takes to
 * make one context, and a module any thread compiles in that moment misses Node's code cache (cli/v8-flags.ts); by
 * the time there is garbage to collect, the threads have loaded their modules. The same source as the worker
 * threads' (EXPOSE_GC_SOURCE), run here.
 */
export function gcFunction(): GcFn {
  return (collect ??= collectorFrom(createRequire(import.meta.url)));
}

/** EXPOSE_GC_SOURCE's `collectGarbage`, its `require` given (tests give one that loses the race). */
export function collectorFrom(require: (id: string) => unknown): GcFn {
  return new Function('require', `${EXPOSE_GC_SOURCE}\nreturn collectGarbage;`)(require) as GcFn;
}

/**
 * `collectGarbage(opts)` for this thread, as plain JavaScript (the worker sources include it; `gcFunction` runs it
 * here). V8's `gc`: the global one when the process was started with `--expose-gc`, else one from a new context made
 * while the flag is set (it exposes `gc` to new contexts only), with the flag then back to its default.
 */
export const EXPOSE_GC_SOURCE = String.raw`const gcV8 = require('node:v8');
const gcVm = require('node:vm');
let gcFn = null;
let gcFailed = 0;
function collectGarbage(opts) {
  if (!gcFn && gcFailed < ${GC_ATTEMPTS}) {
    try {
      if (typeof globalThis.gc === 'function') gcFn = globalThis.gc;
      else {
        gcV8.setFlagsFromString('--expose-gc');
        try {
          const f = gcVm.runInNewContext('gc');
          if (typeof f !== 'function') throw new Error('gc is not a function');
          gcFn = f;
        } finally {
          gcV8.setFlagsFromString('--no-expose-gc');
        }
      }
    } catch {
      gcFailed++;
    }
  }
  if (gcFn) gcFn(opts);
}`;

/**
 * Counts bytes of short-lived buffers and forces a collection every `every` bytes: a young-generation one, and every
 * FULL_EVERY-th a full one. Since the seal ring (byte-ring.ts) it paces the small and inline blobs only: a large blob's
 * sealed bytes are no buffer of their own any more. Why the full ones: on the main thread a sealed blob stays referenced until its pack write
 * (the seal gate plus the pack writer's queue, up to 32 MiB), so it outlives two young collections and is moved to the
 * old generation, where only a full collection frees its buffer — and V8 waits for ~64 MiB of external growth before
 * one. Measured (FORMAT.md, "Peak RSS, second pass"), first backup: a 1 GiB file 253–287 → 210–247 MiB, 512 MiB mixed
 * 214–243 → 193–194, CPU within noise; every second one cost 1.3 CPU-s more for ~10 MiB, and a rule on the growth of
 * external memory (a full one after 20 MiB) kept less of the gain (the live blobs in flight swing by 16 MiB).
 */
export class GcPacer {
  private since = 0;
  private count = 0;
  constructor(
    private readonly every: number,
    private readonly gc: GcFn = gcFunction(),
  ) {}
  add(bytes: number): void {
    this.since += bytes;
    if (this.since < this.every) return;
    this.since = 0;
    this.gc(++this.count % FULL_EVERY === 0 ? undefined : { type: 'minor' });
  }
}

/** GcPacer: every FULL_EVERY-th collection is a full one. */
export const FULL_EVERY = 4;

/** A full collection now, when the garbage of a finished phase (a parsed index, a walk's trees) would otherwise linger. */
export function collectNow(): void {
  gcFunction()();
}

/**
 * Full collections on this thread whenever its JS heap has grown by `step` bytes (or by half, when that is more)
 * since the last one, checked every 100 ms; returns the stop function. Why: V8 sizes its first full collection by
 * the machine's memory, so in a command that lives seconds the old generation only grows — the parsed trees of a
 * walk, the index files' text, a restore batch's plan stay resident as garbage (an unchanged backup of 30,000 small
 * files: 17 → 44 MiB of heap, 27 of it dead). A collection of a 20–40 MiB heap costs 10–30 ms; the half keeps a
 * large heap (a long-lived process restoring in-process) from being collected every few MiB.
 */
export function paceHeap(step: number, env: HeapPacerEnv = v8Pacer()): () => void {
  const gc = env.gc;
  if (!gc) return () => undefined;
  let floor = env.heapUsed();
  return env.every(100, () => {
    if (env.heapUsed() < floor + Math.max(step, floor / 2)) return;
    gc();
    floor = env.heapUsed();
  });
}

/** What `paceHeap` reads and calls: this thread's V8 heap and collector, and a timer (a test drives its own). */
export interface HeapPacerEnv {
  gc: (() => void) | undefined;
  heapUsed: () => number;
  /** Calls `tick` every `ms` until the returned function is called. */
  every: (ms: number, tick: () => void) => () => void;
}

function v8Pacer(): HeapPacerEnv {
  const gc = gcFunction();
  return {
    gc: () => gc(),
    heapUsed: () => v8.getHeapStatistics().used_heap_size,
    every: (ms, tick) => {
      const timer = setInterval(tick, ms);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
