import * as fs from 'node:fs';
import { constants, lstatSync, promises as fsp, readdirSync, type BigIntStats } from 'node:fs';
import { hostname as osHostname, userInfo } from 'node:os';
import * as path from 'node:path';
import { type Codec, type CompressionSetting, maybeCompress, maybeCompressSync, writerCodec } from './compress.ts';
import { blobId as blobIdSync, SEAL_OVERHEAD, seal } from './crypto.ts';
import { RepoError } from './errors.ts';
import { acquireLock } from './lock.ts';
import type { BlobType } from './pack.ts';
import type { PackWriter, Repository } from './repo.ts';
import { defaultWorkerCount, type FileBatch, type FileRead, SealWorkers, shared, SMALL_FILE_MAX, STAT_FIELDS, type StatBatch } from './seal-workers.ts';
import { findSnapshot, listSnapshots, loadTree, SPECIAL_TYPES, type Snapshot, type SnapshotWarning, type Tree, type TreeNode } from './tree.ts';
import { ByteGate } from './byte-gate.ts';
import { ByteRing } from './byte-ring.ts';
import { readXattrs, xattrSupport } from './xattr.ts';
import { collectNow, DEFAULT_BUDGET, GcPacer, type MemoryPlan, paceHeap, planMemory } from './memory.ts';

export interface BackupProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
  bytesStored: number;
  elapsedMs: number;
}

export interface BackupOptions {
  tags?: Record<string, string>;
  /** Snapshot id/prefix to compare against; `null` forces a full read; omitted picks the latest with the same paths and host. */
  parent?: string | null;
  hostname?: string;
  time?: Date;
  onProgress?: (p: BackupProgress) => void;
  /** Re-index packs no index lists even without a stale lock (after a manual unlock). */
  recoverPacks?: boolean;
  /** Seal worker threads (0 = all on the main thread); default one per core up to 2 (none under a 128 MiB budget), or COFFER_BACKUP_WORKERS. */
  workers?: number;
  /** Bytes the run may spend on buffers (memory.ts `planMemory`); default DEFAULT_BUDGET. */
  memoryBudget?: number;
  /**
   * How files ≤ 32 KiB are read: `auto` (default) reads them on the seal workers (`workers`) once SMALL_BATCH_AFTER
   * have been read on this thread, which switches between blocking reads and SMALL_READS concurrent ones by how
   * fast reads come back (page cache warm or cold); tests pin `blocking`, `concurrent` or `workers` (blocking
   * without seal workers).
   */
  smallFileReads?: 'auto' | 'blocking' | 'concurrent' | 'workers';
  /** `--compression` (compress.ts `writerCodec`): auto (default) zstd 3, or brotli where the zstd add-on cannot load; max; off. */
  compression?: CompressionSetting;
  /** Called with a file's or directory's path between the walk's lstat and each open of it: a test seam to swap or change it there. */
  beforeOpen?: (path: string) => void;
  /** Parent snapshots of at least this many files have the walk's lstats made on the seal workers; default STAT_AHEAD_FILES (tests set it low). */
  statAheadFiles?: number;
  /**
   * Seal workers started before the repository was open, without a key (backup-start.ts `openForBackup`): given the
   * repository's key here (`SealWorkers.init`) and used instead of `workers`; closed when the backup ends, however it ends.
   */
  sealWorkers?: SealWorkers;
}

export interface BackupStats {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirs: number;
  bytesProcessed: number;
  bytesRead: number;
  blobsNew: number;
  bytesAddedRaw: number;
  bytesStored: number;
  packsRecovered: number;
  /** Files that disappeared between listing and reading (skipped). */
  filesVanished: number;
  /** Files that changed while being read, after one re-read (kept as read; listed in `warnings`). */
  filesChangedWhileRead: number;
  /** Files and directories that could not be read (skipped; listed in `warnings`). */
  filesUnreadable: number;
  seconds: number;
}

export type BackupWarning = SnapshotWarning;

export interface BackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  stats: BackupStats;
  warnings: BackupWarning[];
}

/** In-memory file for `backupEntries`: manifests, Secrets, stdin. */
export interface Entry {
  path: string;
  data: Buffer;
  mode?: number;
  mtime?: Date;
}

/** Blobs smaller than this are hashed and sealed inline: a round trip to a worker costs more than the work. */
const INLINE_BELOW = SMALL_FILE_MAX;

/** Small files read and sealed on the main thread before the rest go to the seal workers in batches (`fileBatcher`; with main-thread reads pinned, BlobSaver.saveSmall's sealing batches). */
const SMALL_BATCH_AFTER = 64;

/** A batch of small blobs goes to a seal worker once it holds this many bytes (~230 files of 1–8 KiB): each message costs 2–4 ms of the main thread on a CPU-starved box (256 KiB batches: postMessage 8–10% of a 30,000-file backup). */
const SMALL_BATCH_BYTES = 1024 * 1024;

/** ... or this long after its first blob: short beside the sealed bytes in flight (the gate), long beside a disk read. */
const SMALL_BATCH_WAIT_MS = 10;

/**
 * The shared state of one backup run: dedupe, compression, encryption and packing of blobs.
 * Pipeline: the main thread reads and chunks; seal workers (seal-workers.ts) compute blob ids and
 * compress + encrypt new blobs from shared read buffers; libuv's pool reads ahead, hashes packs and
 * writes them. Without workers (one core, or `workers: 0`) the main thread does the HMAC and AES-GCM
 * itself and brotli runs on the pool — the same bytes either way.
 */
class BlobSaver {
  readonly gate: ByteGate;
  /** Small and inline blobs' sealed buffers, dead once written to a pack, collected on this pace (large blobs are sealed into `ring`). */
  private readonly pacer: GcPacer;
  blobsNew = 0;
  bytesAddedRaw = 0;
  private errors: unknown;
  private workers: SealWorkers | undefined;
  constructor(
    private readonly repo: Repository,
    readonly packer: PackWriter,
    private readonly workerCount: number,
    private readonly plan: MemoryPlan,
    private readonly codec: Codec,
    started?: SealWorkers,
  ) {
    this.gate = new ByteGate(plan.sealBytesInFlight);
    this.pacer = new GcPacer(plan.gcEvery);
    if (started) {
      started.init(repo.key, { gear: repo.chunker.gear, params: repo.chunker.params }, plan.gcEvery);
      this.workers = started;
    }
  }

  private zeroIds = new Map<number, Promise<string>>();

  /** Workers start on the first large blob, so a backup that reads nothing (unchanged files) never pays their start-up (unless started before the key was derived: `BackupOptions.sealWorkers`). */
  pool(): SealWorkers | undefined {
    if (this.workerCount <= 0) return undefined;
    if (!this.workers) {
      this.workers = new SealWorkers(this.repo.key, { gear: this.repo.chunker.gear, params: this.repo.chunker.params }, this.workerCount, this.plan.gcEvery, undefined, this.codec);
    }
    return this.workers;
  }

  async close(): Promise<void> {
    await this.workers?.close();
  }

  /** Blob id of an all-zero chunk, saved once per length: holes cost no hashing after the first. */
  zeroId(view: Buffer): Promise<string> {
    let p = this.zeroIds.get(view.length);
    if (!p) {
      p = this.save('data', Buffer.from(view));
      p.catch((e: unknown) => {
        this.errors ??= e;
      });
      this.zeroIds.set(view.length, p);
    }
    return p;
  }

  /**
   * Start saving; resolves to the blob id. `done` is called as soon as `data` is no longer needed
   * (deduplicated, or sealed) — before the pack writer's backpressure — so a read buffer is not
   * pinned while packs are fsynced (measured: 13 read buffers of 16 MiB alive at once otherwise).
   */
  async save(type: BlobType, data: Buffer, done?: () => void, knownId?: string): Promise<string> {
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        done?.();
      }
    };
    try {
      return await this.saveInner(type, data, release, knownId);
    } finally {
      release();
    }
  }

  /** `knownId`: the id the cut worker computed with the cut (SealWorkers.chunk): no `id` trip to a worker. */
  private async saveInner(type: BlobType, data: Buffer, release: () => void, knownId?: string): Promise<string> {
    // Trees stay here whatever their size: an unchanged backup only hashes them (a 1000-entry tree in ~0.2 ms),
    // and a large directory's or file's tree must not start the workers for that.
    const workers = type === 'data' && data.length >= INLINE_BELOW ? this.pool() : undefined;
    if (!workers) {
      const id = blobIdSync(this.repo.key, data);
      if (this.packer.has(id)) return id;
      this.packer.pending.add(id);
      const { data: c, comp } = await maybeCompress(data, this.codec);
      const sealed = seal(this.repo.key.encrypt, c);
      release();
      this.pacer.add(sealed.length + (c === data ? 0 : c.length));
      this.blobsNew++;
      this.bytesAddedRaw += data.length;
      await this.packer.add(id, type, sealed, data.length, comp);
      return id;
    }
    const buf = shared(data);
    const id = knownId ?? (await workers.blobId(buf));
    if (this.packer.has(id)) return id;
    this.packer.pending.add(id);
    // sealed into the ring, freed once written (no buffer per blob, nothing left for the GC): the ring bounds these bytes
    this.ring ??= new ByteRing(Math.max(this.plan.sealRing, this.repo.config.chunker.max + SEAL_OVERHEAD));
    const ring = this.ring;
    const region = await ring.reserve(data.length + SEAL_OVERHEAD);
    const free = () => ring.free(region);
    try {
      const { sealed, comp } = await workers.seal(buf, region.view);
      ring.trim(region, sealed.length);
      release();
      this.blobsNew++;
      this.bytesAddedRaw += data.length;
      await this.packer.add(id, type, sealed, data.length, comp, free);
    } catch (e) {
      free();
      throw e;
    }
    return id;
  }

  /** Made on the first large blob sealed on a worker: an unchanged backup never touches its pages. */
  private ring: ByteRing | undefined;

  /**
   * A small blob (a small file's whole content): the id on this thread (a few µs for ≤ 32 KiB: the
   * dedupe decision is made at once), then brotli + AES-GCM. The first SMALL_BATCH_AFTER new ones are sealed
   * here too (no worker start for a handful of files); after that they go to the seal workers in batches
   * (`flushSmall`), so a tree of small files compresses on every core, not only on the thread that walks
   * (brotli's per-call set-up is ~65 µs per file, most of a small file's CPU). The returned promise is the
   * pack writer's (gate-bounded, so 200,000 small files never queue unbounded bytes).
   */
  async saveSmall(type: BlobType, data: Buffer): Promise<{ id: string; stored: Promise<void> }> {
    if (this.errors) throw this.errors;
    const id = blobIdSync(this.repo.key, data);
    if (this.packer.has(id)) return { id, stored: Promise.resolve() };
    this.packer.pending.add(id);
    this.blobsNew++;
    this.bytesAddedRaw += data.length;
    const workers = ++this.smallSeen > SMALL_BATCH_AFTER ? this.pool() : undefined;
    let stored: Promise<void>;
    if (workers) {
      await this.gate.acquire(data.length);
      stored = this.batchSmall(workers, { id, type, data }).finally(() => this.gate.release(data.length));
    } else {
      const { data: c, comp } = maybeCompressSync(data, this.codec);
      const sealed = seal(this.repo.key.encrypt, c);
      this.pacer.add(sealed.length + (c === data ? 0 : c.length));
      await this.gate.acquire(sealed.length);
      stored = this.packer.add(id, type, sealed, data.length, comp).finally(() => this.gate.release(sealed.length));
    }
    stored.catch((e: unknown) => {
      this.errors ??= e;
    });
    return { id, stored };
  }

  private smallSeen = 0;
  private batch: { items: { id: string; type: BlobType; data: Buffer; resolve: (p: Promise<void>) => void; reject: (e: unknown) => void }[]; bytes: number } | undefined;

  /**
   * Queue a small blob for the next batch. A batch goes when it holds SMALL_BATCH_BYTES, or SMALL_BATCH_WAIT_MS
   * after its first blob, so a partial batch never waits for files that are not coming. (Flushing whenever the
   * walk yielded to the event loop sent a message every few files once reads went concurrent.)
   */
  private batchSmall(workers: SealWorkers, item: { id: string; type: BlobType; data: Buffer }): Promise<void> {
    return new Promise<Promise<void>>((resolve, reject) => {
      if (!this.batch) {
        this.batch = { items: [], bytes: 0 };
        setTimeout(() => this.flushSmall(workers), SMALL_BATCH_WAIT_MS);
      }
      this.batch.items.push({ ...item, resolve, reject });
      this.batch.bytes += item.data.length;
      if (this.batch.bytes >= SMALL_BATCH_BYTES) this.flushSmall(workers);
    }).then((p) => p);
  }

  private flushSmall(workers: SealWorkers): void {
    const b = this.batch;
    if (!b) return;
    this.batch = undefined;
    const buf = new Uint8Array(new SharedArrayBuffer(b.bytes));
    let at = 0;
    for (const it of b.items) {
      buf.set(it.data, at);
      at += it.data.length;
    }
    workers.sealMany(buf, b.items.map((it) => it.data.length)).then(
      (sealed) => {
        this.pacer.add(sealed.reduce((a, x) => a + x.sealed.length, 0));
        b.items.forEach((it, i) => it.resolve(this.packer.add(it.id, it.type, sealed[i]!.sealed, it.data.length, sealed[i]!.comp)));
      },
      (e: unknown) => {
        for (const it of b.items) it.reject(e);
      },
    );
  }

  /** The seal workers run already (something was read): statAhead uses them, but does not start them for an unchanged backup. */
  get started(): boolean {
    return this.workers !== undefined;
  }

  /** Seal workers are configured (they start on first use). */
  get threaded(): boolean {
    return this.workerCount > 0;
  }

  /** A blob a seal worker already hashed and sealed (`readFiles`): packed unless the repository has it. */
  addSealed(type: BlobType, blob: { id: string; sealed: Buffer; comp: number }, rawLength: number): { id: string; stored: Promise<void> } {
    const { id } = blob;
    if (this.packer.has(id)) return { id, stored: Promise.resolve() };
    this.packer.pending.add(id);
    this.blobsNew++;
    this.bytesAddedRaw += rawLength;
    this.pacer.add(blob.sealed.length);
    const stored = this.packer.add(id, type, blob.sealed, rawLength, blob.comp);
    stored.catch((e: unknown) => {
      this.errors ??= e;
    });
    return { id, stored };
  }

  /** Gate-bounded save: waits for room before starting, returns the id's promise without awaiting it. */
  async saveBounded(type: BlobType, data: Buffer, done?: () => void, knownId?: string): Promise<{ id: Promise<string> }> {
    if (this.errors) throw this.errors;
    await this.gate.acquire(data.length);
    const p = this.save(type, data, done, knownId).finally(() => this.gate.release(data.length));
    p.catch((e: unknown) => {
      this.errors ??= e;
    });
    return { id: p };
  }
}

/** Files per `readFiles` batch: ~1–2 ms of a worker's time warm, so two workers stay busy while the walk lists on. */
const FILE_BATCH = 64;

/** ... or fewer when their lstat sizes add up to this. */
const FILE_BATCH_BYTES = 512 * 1024;

/** Batches sent and not yet packed: bounds the sealed bytes held (≤ 4 × 64 × 32 KiB) and keeps the walk from running ahead. */
const FILE_BATCHES_IN_FLIGHT = 4;

/** A small file's read on a seal worker, and the blob it made (packed, or already in the repository). */
type WorkerRead = Exclude<FileRead, { kind: 'read' }> | { kind: 'read'; size: number; saved?: { id: string; stored: Promise<void> } };

/** Files waiting for the next `readFiles` batch: paths, their lstat's [size, inode, mtime ns, ctime ns], who waits. */
interface FileQueue {
  paths: string[];
  meta: bigint[];
  resolves: ((r: WorkerRead) => void)[];
  bytes: number;
}

/**
 * Small files queued for the seal workers (`SealWorkers.readFiles`): each worker opens, reads, checks, hashes,
 * compresses and seals a batch with blocking calls, where the main thread paid a thread-pool trip (or a blocking
 * wait) per syscall. The main thread only walks, decides dedupe and packs. A batch goes when full, when its
 * directory's listing ends (`flush`), or SMALL_BATCH_WAIT_MS after its first file.
 */
class FileBatcher {
  private queue: FileQueue | undefined;
  private readonly inFlight = new ByteGate(FILE_BATCHES_IN_FLIGHT);
  private failure: unknown;
  constructor(
    private readonly saver: BlobSaver,
    private readonly workers: SealWorkers,
  ) {}

  /** Queue one file; the returned promise settles once its batch is back (and its blob handed to the pack writer). */
  add(abs: string, st: BigIntStats): Promise<WorkerRead> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.queue) {
      const q = (this.queue = { paths: [], meta: [], resolves: [], bytes: 0 });
      setTimeout(() => {
        if (this.queue === q) void this.flush();
      }, SMALL_BATCH_WAIT_MS);
    }
    const q = this.queue;
    q.paths.push(abs);
    q.meta.push(st.size, st.ino, st.mtimeNs, st.ctimeNs);
    q.bytes += Number(st.size);
    return new Promise<WorkerRead>((resolve) => q.resolves.push(resolve));
  }

  /** The queued batch is full: the walk flushes it (and waits for room) before listing on. */
  get full(): boolean {
    return !!this.queue && (this.queue.resolves.length >= FILE_BATCH || this.queue.bytes >= FILE_BATCH_BYTES);
  }

  /**
   * Send the queued batch once fewer than FILE_BATCHES_IN_FLIGHT are out; resolves when it is sent, not when it is
   * back. (Until 2026-12-07 it resolved when the batch was back: the walk waited for every full batch and at every
   * directory's end, so one worker read while the walk and the other worker idled.)
   */
  async flush(): Promise<void> {
    const q = this.queue;
    if (!q) return;
    this.queue = undefined;
    await this.inFlight.acquire(1);
    void this.send(q);
  }

  /** One batch to a worker and back: each file's promise settles, its blob goes to the pack writer; never rejects. */
  private async send(q: FileQueue): Promise<void> {
    let stored: Promise<unknown>[] = [];
    try {
      const batch: FileBatch = { paths: q.paths.join('\0'), meta: BigInt64Array.from(q.meta, (v) => BigInt.asIntN(64, v)) };
      const reads = await this.workers.readFiles(batch, q.bytes);
      q.resolves.forEach((resolve, i) => {
        const r = reads[i]!;
        if (r.kind !== 'read') return resolve(r);
        const saved = r.blob ? this.saver.addSealed('data', r.blob, r.size) : undefined;
        if (saved) stored.push(saved.stored);
        resolve({ kind: 'read', size: r.size, saved });
      });
    } catch (e) {
      // a dead worker: every queued file fails the backup (as a failed seal does)
      this.failure ??= e;
      stored = [];
      for (const resolve of q.resolves) resolve({ kind: 'error', error: e as NodeJS.ErrnoException });
    } finally {
      void Promise.allSettled(stored).then(() => this.inFlight.release(1));
    }
  }
}

/** A directory's tree in the parent snapshot, prefetched or loaded now; undefined when it cannot be read (its files are then read as new). */
function parentTree(w: Walker, id: string): Promise<Tree | undefined> {
  const p = w.trees.get(id);
  if (!p) return loadTree(w.repo, id).catch(() => undefined);
  w.trees.delete(id);
  return p;
}

/** Mark a promise as handled now (it is awaited later, after the directory walk) so an early failure is not an unhandled rejection. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(ignore);
  return p;
}

/** One function for every `quiet` (a closure per call was a small file's garbage too). */
const ignore = (): undefined => undefined;

function nsString(v: bigint): string {
  return v.toString();
}

/**
 * Unchanged as restic judges it: size, mtime and ctime to the nanosecond, and inode — and every blob of its
 * content is in the repository. A content change with size and mtime put back (`touch -d`) still moves ctime,
 * which user space cannot set. The device number is not compared (nor by restic): a volume mounted again on
 * another node or in a new mover Pod gets a new st_dev, and every file would be read again for nothing.
 */
function sameFileAs(w: Walker, old: TreeNode | undefined, size: number, mtime: string, ctime: string, ino: number): old is TreeNode & { size: number; content: string[] } {
  return !!old && old.type === 'file' && old.size === size && old.mtime === mtime && old.ctime === ctime && old.inode === ino && Array.isArray(old.content) && old.content.every((id) => w.saver.packer.has(id));
}

/**
 * An unchanged file's node can be the parent's own object: setxattr moves ctime, so its attributes are the
 * parent's (no syscall per unchanged file), and nothing else the node records differs (chmod/chown move ctime
 * too, but are checked anyway): no new object per unchanged file (node building was ~15% of an unchanged
 * backup's CPU), and a directory of them keeps its tree id. Without the add-on (xattrSupport false) this run
 * records no attributes, so a parent node without them is what this run would make.
 */
function reusableNode(w: Walker, old: TreeNode, nlink: number, mode: number, uid: number, gid: number): boolean {
  const attrsAsParent = w.parentXattrs || (!w.xattrs && old.xattrs === undefined);
  return attrsAsParent && nlink === 1 && old.links === undefined && old.mode === (mode & 0o7777) && old.uid === uid && old.gid === gid;
}

/** Count an unchanged file: neither read nor hashed. */
function unmodified(w: Walker, size: number): void {
  w.stats.filesUnmodified++;
  w.progress.files++;
  w.progress.bytes += size;
  w.stats.bytesProcessed += size;
  w.tick();
}

/** Files and bytes a snapshot recorded (its summary; 0 for one written without them). */
function parentTotals(snap: Snapshot | undefined): { files: number; bytes: number } {
  const sum = snap?.summary;
  const n = (k: string) => (typeof sum?.[k] === 'number' ? (sum[k] as number) : 0);
  return { files: n('filesNew') + n('filesChanged') + n('filesUnmodified'), bytes: n('bytesProcessed') };
}

/** Entries per `lstat` job of statAhead: a few ms of a worker's time cold, well under a ms warm. */
const STAT_AHEAD_CHUNK = 256;

/**
 * Files in the parent snapshot from which the walk's lstats go to the seal workers (statAhead) from the start. Their
 * start costs ~0.25 s of wall and ~0.5 CPU-s (30,000 unchanged files: 0.70–0.85 → 0.94–1.01 s, quiet); each entry
 * they lstat saves this thread ~8.7 µs cold (200,000 unchanged files: main thread 3.3 → 1.65 CPU-s): even from ~30,000.
 */
export const STAT_AHEAD_FILES = 64_000;

/** Jobs of statAhead out at once: both workers stat while this thread compares, and a huge directory's replies wait in bounded memory. */
const STAT_AHEAD_JOBS = 4;

/**
 * A directory's entries lstat'ed on the seal workers, STAT_AHEAD_CHUNK per job, STAT_AHEAD_JOBS ahead of the walk:
 * with a parent snapshot the walk's lstats were most of the main thread's time (a 10%-changed backup of 30,000
 * files: 0.64 s of 2.3 s, cold cache), and that thread is the critical path there. Only where the parent has the
 * directory (in a first backup every file is read anyway, and this thread's lstat of it would follow) and once the
 * workers run.
 * `chunk(j)` is entries [j × STAT_AHEAD_CHUNK, …), asked in order.
 */
function statAhead(w: Walker, dir: string, names: string[]): { chunk: (j: number) => Promise<StatBatch> } | undefined {
  // Not before the workers run, unless the parent is large (STAT_AHEAD_FILES): an unchanged backup reads nothing and
  // would start them for its lstats alone, which pays only past ~30,000 files.
  const workers = w.saver.started || w.statAheadAll ? w.saver.pool() : undefined;
  if (!workers || names.length === 0) return undefined;
  const jobs: Promise<StatBatch>[] = [];
  const send = (j: number) => {
    const at = j * STAT_AHEAD_CHUNK;
    if (at < names.length) jobs[j] = quiet(workers.lstat(dir, names.slice(at, at + STAT_AHEAD_CHUNK), STAT_AHEAD_CHUNK * 64));
  };
  for (let j = 0; j < STAT_AHEAD_JOBS; j++) send(j);
  return {
    chunk: (j) => {
      send(j + STAT_AHEAD_JOBS);
      const p = jobs[j]!;
      delete jobs[j];
      return p;
    },
  };
}

function baseNode(name: string, st: BigIntStats): Omit<TreeNode, 'type'> {
  return {
    name,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: nsString(st.mtimeNs),
  };
}

async function saveTree(saver: BlobSaver, nodes: TreeNode[]): Promise<string> {
  nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const special = nodes.filter((n) => SPECIAL_TYPES.has(n.type));
  const tree: Tree = special.length ? { nodes: nodes.filter((n) => !SPECIAL_TYPES.has(n.type)), special } : { nodes };
  const p = await saver.saveBounded('tree', Buffer.from(JSON.stringify(tree)));
  return p.id;
}

/** The same node objects in the same order (identity: nodes reused from the parent snapshot's tree). */
function sameNodes(a: TreeNode[], b: TreeNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface Walker {
  repo: Repository;
  saver: BlobSaver;
  stats: BackupStats;
  progress: BackupProgress;
  pool: BufferPool;
  readers: ByteGate;
  /** Small files: read concurrently (`cold`: the page cache made a read wait) through `reads` (SMALL_READS); `streak`: reads in a row pointing the other way, `count`: files read concurrently (every PROBE_EVERY-th is a probe); `pinned`: never switch. */
  small: { cold: boolean; reads: ByteGate; streak: number; count: number; pinned: boolean; mode: NonNullable<BackupOptions['smallFileReads']>; seen: number };
  /** Small files read on the seal workers (`smallFileReads` auto or workers, with workers), made on first use. */
  files?: FileBatcher;
  warnings: BackupWarning[];
  /** The node being made for each hard-linked inode (`dev:ino`) read in this run: its other paths are not read again. */
  linked: Map<string, Promise<TreeNode | null>>;
  /** Parent-snapshot trees loading ahead of the walk (`parentTree`), by id: the next sibling directory's. */
  trees: Map<string, Promise<Tree | undefined>>;
  /** The parent recorded xattrs: an unchanged file's are its parent's. A parent from before xattrs were recorded (or made where the add-on is missing) is not trusted for them. */
  parentXattrs: boolean;
  /** This process can read extended attributes (xattr.ts `xattrSupport`). */
  xattrs: boolean;
  tick: () => void;
  beforeOpen: ((path: string) => void) | undefined;
  /** The parent has STAT_AHEAD_FILES files or more: statAhead starts the seal workers for its lstats. */
  statAheadAll: boolean;
  /** Count the totals beside the walk from the start (no parent with totals to start from). */
  scanTotals: boolean;
  /** Start counting the totals beside the walk, once (set by the walk; called when the parent's totals are passed). */
  startScan?: () => void;
}

/**
 * Bytes per read; a read buffer is this plus the chunker's max (room for the previous read's unfinished tail). 2 MiB,
 * not 4: a buffer goes back to the pool once its last chunk is sealed, so smaller ones pin less, and the cut worker's
 * jobs come twice as often, half as long. One 1 GiB file, 5 pairs at load 13–15: peak RSS 155–167 vs 163–171 MiB, CPU
 * equal (6.32/5.81/5.97 vs 6.27/6.05/5.94 s); mixed 155/164 vs 171/165 (FORMAT.md, "Sealed blobs in flight, pipe").
 */
const READ_SIZE = 2 * 1024 * 1024;

/**
 * Read buffers are recycled: each holds the previous read's unfinished tail
 * plus one read, chunks are views into it, and it returns to the pool when
 * its last chunk has been hashed, compressed and sealed. Without this, GC lag
 * on multi-GiB files let RSS grow to ~900 MiB; with it, memory is the byte
 * gate plus a handful of buffers.
 */
export class BufferPool {
  private free: Buffer[] = [];
  private waiters: ((b: Buffer) => void)[] = [];
  /** Buffers allocated so far (never more than `max`). */
  made = 0;
  constructor(
    readonly size: number,
    private readonly max: number,
  ) {}
  /**
   * A free buffer, a new one below `max`, or the next one given back. The cap is what bounds memory:
   * with files read concurrently, chunks waiting for their seal pinned up to 13 buffers of 16 MiB.
   * It cannot deadlock while max > 2 × readers: chunks release their buffer when sealed, which
   * never waits for a buffer.
   */
  take(): Promise<Buffer> {
    const f = this.free.pop();
    if (f) return Promise.resolve(f);
    if (this.made < this.max) {
      this.made++;
      // shared memory, so seal workers read chunks cut from it without a copy
      return Promise.resolve(Buffer.from(new SharedArrayBuffer(this.size)));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  /**
   * Every buffer is kept for reuse: they are shared with seal workers, and a dropped one lives until
   * each worker's GC runs (measured: peak RSS 360–440 MiB instead of ~320 when dropping beyond 4).
   */
  give(b: Buffer): void {
    const w = this.waiters.shift();
    if (w) w(b);
    else this.free.push(b);
  }
}

/** A pool buffer shared by the chunks cut from it. */
class Lease {
  private refs = 1;
  constructor(
    readonly buf: Buffer,
    private readonly pool: BufferPool,
  ) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.pool.give(this.buf);
  }
}

const ZERO_PAGE = Buffer.alloc(1024 * 1024);

function isZero(b: Buffer, start: number, end: number): boolean {
  for (let o = start; o < end; o += ZERO_PAGE.length) {
    const n = Math.min(ZERO_PAGE.length, end - o);
    if (b.compare(ZERO_PAGE, 0, n, o, o + n) !== 0) return false;
  }
  return true;
}

/**
 * Chunk one file, double-buffered (the next read is in flight while this one
 * is chunked). Runs of zeros (holes in sparse files, zeroed disks) take a fast
 * path with identical results: the chunker's cut over zeros is the same
 * offset every time, and the blob id of a zero chunk is computed once.
 */
async function chunkFile(w: Walker, file: string): Promise<{ content: Promise<string[]>; size: number; after: BigIntStats }> {
  w.beforeOpen?.(file);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, FILE_OPEN);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new Swapped('symbolic link');
    throw e;
  }
  try {
    const kind = notRegular(await fh.stat({ bigint: true }));
    if (kind) throw new Swapped(kind);
  } catch (e) {
    await fh.close();
    throw e;
  }
  // per chunk, or per buffer cut on a worker (its chunks' ids in order)
  const ids: Promise<string | string[]>[] = [];
  let admitting: Promise<void> = Promise.resolve();
  let failed: unknown;
  let size = 0;
  let after: BigIntStats;
  const { max } = w.repo.config.chunker;
  try {
    const chunker = w.repo.chunker;
    // the previous buffer's unfinished tail, already copied to the front of this one (just before `max`)
    let tail = 0;
    let eof = false;
    const readInto = async (lease: Lease, at: number): Promise<number> => {
      let n = 0;
      while (n < READ_SIZE) {
        const { bytesRead } = await fh.read(lease.buf, at + n, READ_SIZE - n, null);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return n;
    };
    // Reads go after a gap of `max` bytes reserved for the previous tail.
    const startRead = () => {
      const lease = w.pool.take().then((b) => new Lease(b, w.pool));
      return { lease, n: lease.then((l) => readInto(l, max)) };
    };
    let next: ReturnType<typeof startRead> | undefined = startRead();
    let cur: Lease | undefined;
    try {
      while (!eof) {
        // a chunk of this file could not be admitted (the backup is failing): stop reading it
        if (failed !== undefined) throw failed;
        const reading: ReturnType<typeof startRead> = next!;
        next = undefined;
        cur = await reading.lease;
        const got = await reading.n;
        if (got < READ_SIZE) eof = true;
        else next = startRead();
        w.stats.bytesRead += got;
        size += got;
        const buf = cur.buf;
        let start = max - tail;
        const end = max + got;
        // Large inputs are cut on a seal worker, so the main thread only reads and dispatches. A file's
        // last ≤ 2×min bytes are cut here: at most one min-length scan (< 1 ms), where a trip to the cut
        // worker queues behind other files' 8 MiB cuts (measured: a 256 KiB file waited 245 ms).
        const workers = eof && end - start <= 2 * w.repo.config.chunker.min ? undefined : w.saver.pool();
        if (workers) {
          const { lengths, zeros, ids: cutIds } = await workers.chunk(buf, start, end, eof);
          // This buffer's chunks wait for the seal gate behind the previous buffer's, while this loop copies the tail
          // and sends the next buffer's cut: the cut worker no longer idles while the gate is full.
          const block = admitChunks(w, cur, start, lengths, zeros, cutIds, admitting);
          admitting = block.then(
            () => undefined,
            (e: unknown) => void (failed ??= e),
          );
          // handled here: it may fail while the loop awaits a read, before anything awaits `ids`
          ids.push(quiet(block.then((out) => Promise.all(out))));
          for (const n of lengths) start += n;
          w.progress.bytes += start - (max - tail);
          w.tick();
        } else
          for (;;) {
            if (start === end) break;
            let n: number;
            let zero = false;
            if (buf[start] === 0 && end - start >= max && isZero(buf, start, start + max)) {
              n = chunker.zeroCut();
              zero = true;
            } else n = chunker.cut(buf, start, end, eof);
            if (n === 0) break;
            const view = buf.subarray(start, start + n);
            if (zero) ids.push(w.saver.zeroId(view));
            else {
              const lease = cur;
              lease.retain();
              const { id } = await w.saver.saveBounded('data', view, () => lease.release());
              ids.push(id);
            }
            start += n;
            w.progress.bytes += n;
            w.tick();
          }
        // The tail goes straight to the front of the next buffer (its read lands after `max`), before this one can
        // return to the pool: one copy, where a copy out and a copy in allocated a buffer per read (0.6 MiB on average).
        // Only the last read cuts to the end, so a tail means a next read.
        tail = end - start;
        if (tail) buf.copy((await next!.lease).buf, max - tail, start, end);
        cur.release();
        cur = undefined;
      }
    } catch (e) {
      // a failed read (EIO…): give back the current and read-ahead buffers, or the pool's cap shrinks for good
      cur?.release();
      if (next) {
        await next.n.catch(() => undefined);
        (await next.lease).release();
      }
      // blobs already started may be what a later file deduplicates against: they must reach a pack before finish
      await Promise.allSettled(ids);
      throw e;
    }
    // fstat after the last read: if size, mtime or ctime moved, a writer was at work while we read
    after = await fh.stat({ bigint: true });
  } finally {
    await fh.close();
  }
  return { content: quiet(Promise.all(ids).then((a) => a.flat())), size, after };
}

/**
 * Admit the chunks cut from `lease`'s buffer at `start` to the seal gate, in order, once the previous buffer's are
 * (`before`); resolves to their ids' promises. Holds the buffer until then (its chunks then hold it until sealed).
 */
async function admitChunks(w: Walker, lease: Lease, start: number, lengths: number[], zeros: boolean[], cutIds: string[] | undefined, before: Promise<void>): Promise<Promise<string>[]> {
  lease.retain();
  try {
    await before;
    const out: Promise<string>[] = [];
    for (let k = 0; k < lengths.length; k++) {
      const n = lengths[k]!;
      const view = lease.buf.subarray(start, start + n);
      if (zeros[k]) out.push(w.saver.zeroId(view));
      else {
        lease.retain();
        out.push((await w.saver.saveBounded('data', view, () => lease.release(), cutIds?.[k])).id);
      }
      start += n;
    }
    return out;
  } finally {
    lease.release();
  }
}

/**
 * Every open of a file the walk listed: O_NOFOLLOW so a symlink swapped in is not followed, O_NONBLOCK so a
 * FIFO swapped in cannot block the open (or a read); both are no-ops for the regular file expected.
 */
const FILE_OPEN = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** What the opened descriptor is when it is not a regular file (swapped since the walk's lstat), else undefined. */
function notRegular(st: BigIntStats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isFIFO()) return 'FIFO';
  if (st.isDirectory()) return 'directory';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isSocket()) return 'socket';
  return 'non-regular file';
}

/** The path listed as a regular file is something else when opened: not read, listed as changed during the backup. */
class Swapped extends Error {
  constructor(readonly kind: string) {
    super(`was a regular file when listed and a ${kind} when opened; not backed up`);
  }
}

/** A write, truncate, chmod or rename-over between two stats of one file (ctime moves with any of them). */
function moved(a: BigIntStats, b: BigIntStats): boolean {
  return a.size !== b.size || a.mtimeNs !== b.mtimeNs || a.ctimeNs !== b.ctimeNs || a.ino !== b.ino;
}

/**
 * Read a file whose metadata holds still while it is read. A file that changed during the read is read
 * once more (its first blobs are left for prune); if it changes again it is kept as last read and listed
 * in the snapshot's warnings, with the metadata from before that read, so the next backup reads it again.
 */
async function readStable(w: Walker, file: string, st: BigIntStats): Promise<{ content: Promise<string[]>; size: number; st: BigIntStats }> {
  // The discarded read's blobs are still being sealed, and the re-read deduplicates against them (same
  // content, only the metadata moved): the node waits for them too, or the snapshot could be written before
  // they reach a pack and name a blob the repository never got.
  let earlier: Promise<unknown> = Promise.resolve();
  for (let attempt = 1; ; attempt++) {
    const r = await chunkFile(w, file).catch(async (e: unknown) => {
      await earlier.catch(() => undefined);
      throw e;
    });
    const content = attempt === 1 ? r.content : quiet(Promise.all([earlier, r.content]).then(([, c]) => c));
    if (!moved(st, r.after)) return { ...r, content, st };
    if (attempt === 2) {
      w.stats.filesChangedWhileRead++;
      w.warnings.push({ path: file, code: 'CHANGED_WHILE_READ', message: 'changed while it was read, twice; stored as read the second time, which may mix old and new content' });
      return { ...r, content, st };
    }
    earlier = r.content;
    st = r.after;
  }
}

/**
 * A node now or later. Boxed on purpose: an async function that returns a promise hands its caller
 * the settled value, so returning the pending node unboxed made the walk wait for every file before
 * starting the next — one file at a time whatever FILE_READERS said (measured: 15 changed files
 * read strictly one after the other).
 */
interface Pending {
  node: TreeNode | Promise<TreeNode | null>;
}

/** Record why a path is missing from the snapshot; anything but an I/O or permission error still fails the backup. */
function unreadable(w: Walker, abs: string, e: unknown): null {
  const err = e as NodeJS.ErrnoException;
  if (!err?.code || !READ_ERRORS.has(err.code)) throw e;
  w.stats.filesUnreadable++;
  w.warnings.push({ path: abs, code: err.code, message: err.message });
  return null;
}

/** Errors that mean "this one path cannot be read", not "the backup is broken". */
const READ_ERRORS = new Set(['EACCES', 'EPERM', 'EIO', 'ENXIO', 'ELOOP', 'EINVAL', 'ENODEV', 'ESTALE', 'EOVERFLOW']);

async function backupNode(w: Walker, abs: string, name: string, st: BigIntStats, old: TreeNode | undefined): Promise<Pending | undefined> {
  if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = await fsp.readlink(abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return unreadable(w, abs, e) ?? undefined;
    }
    return { node: { ...baseNode(name, st), type: 'symlink', target } };
  }
  if (st.isDirectory()) {
    let names: string[];
    try {
      // Synchronous listing and lstat: each is a few µs from the dentry cache, where the walk awaited a
      // thread-pool trip per entry, one after the other (20–100 µs each on a loaded box).
      w.beforeOpen?.(abs);
      names = readdirSync(abs).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') {
        w.stats.filesChangedWhileRead++;
        w.warnings.push({ path: abs, code: 'CHANGED_WHILE_READ', message: 'was a directory when listed and not one when opened; not backed up' });
        return undefined;
      }
      return unreadable(w, abs, e) ?? undefined;
    }
    w.stats.dirs++;
    const oldTree = old?.type === 'dir' && old.subtree ? await parentTree(w, old.subtree) : undefined;
    const oldByName = new Map(oldTree?.nodes.map((n) => [n.name, n]));
    const oldDirs = oldTree?.nodes.filter((n) => n.type === 'dir' && n.subtree !== undefined) ?? [];
    let nextDir = 0;
    const prefetched: string[] = [];
    const children: (TreeNode | Promise<TreeNode | null>)[] = [];
    const ahead = oldTree ? statAhead(w, abs, names) : undefined;
    let batch: StatBatch | undefined;
    for (let i = 0; i < names.length; i++) {
      const child = names[i]!;
      // abs is already normal and child a plain name: no path.join per entry
      const cabs = abs === '/' ? `/${child}` : `${abs}/${child}`;
      if (ahead) {
        const k = i % STAT_AHEAD_CHUNK;
        if (k === 0) batch = await ahead.chunk(i / STAT_AHEAD_CHUNK);
        const o = k * STAT_FIELDS;
        const f = batch!.nums;
        const prev = oldByName.get(child);
        // a regular file as the parent has it, unmoved: the parent's node, with no lstat on this thread
        if (f[o] === 1 && sameFileAs(w, prev, f[o + 1]!, batch!.times[2 * k]!, batch!.times[2 * k + 1]!, f[o + 2]!) && reusableNode(w, prev, f[o + 3]!, f[o + 4]!, f[o + 5]!, f[o + 6]!)) {
          unmodified(w, prev.size!);
          children.push(prev);
          continue;
        }
      }
      let cst: BigIntStats;
      try {
        cst = lstatSync(cabs, { bigint: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // vanished while walking
        unreadable(w, cabs, e);
        continue;
      }
      if (cst.isDirectory()) {
        // the next sibling directory's parent tree loads (a cold pack read, decrypt, decompress, HMAC) while this one is walked
        while (nextDir < oldDirs.length && oldDirs[nextDir]!.name <= child) nextDir++;
        const sibling = oldDirs[nextDir]?.subtree;
        if (sibling !== undefined && !w.trees.has(sibling)) {
          w.trees.set(sibling, loadTree(w.repo, sibling).catch(() => undefined));
          prefetched.push(sibling);
        }
      }
      const n = await backupNode(w, cabs, child, cst, oldByName.get(child));
      if (n) children.push(n.node);
    }
    // a sibling that vanished or is no longer a directory: its tree is not held to the end
    for (const id of prefetched) w.trees.delete(id);
    // this directory's small files are all queued: its tree waits for them, so they go now
    await w.files?.flush();
    const node = { ...baseNode(name, st), ...xattrsOf(w, abs) };
    return {
      node: quiet(
        (async () => {
          const resolved = (await Promise.all(children)).filter((n): n is TreeNode => n !== null);
          // Every child is the parent snapshot's own node object, in the same order: the tree would serialize to the
          // stored blob byte for byte, so its id is the parent's (no JSON, no HMAC: ~10% of an unchanged backup
          // of 30,000 files). Then the directory's node may be the parent's too, and so on up to the root.
          const same = old?.subtree !== undefined && oldTree !== undefined && sameNodes(resolved, oldTree.nodes) && w.saver.packer.has(old.subtree);
          const subtree = same ? old.subtree! : await saveTree(w.saver, resolved);
          const fresh: TreeNode = { ...node, type: 'dir', subtree };
          return same && JSON.stringify(fresh) === JSON.stringify(old) ? old! : fresh;
        })(),
      ),
    };
  }
  if (st.isFile()) {
    // no parent node (a first backup): not even the two ns strings the comparison needs
    if (old && sameFileAs(w, old, Number(st.size), nsString(st.mtimeNs), nsString(st.ctimeNs), Number(st.ino))) {
      unmodified(w, Number(st.size));
      if (reusableNode(w, old, Number(st.nlink), Number(st.mode), Number(st.uid), Number(st.gid))) return { node: old };
      return { node: fileNode(name, st, Number(st.size), old.content, w.parentXattrs ? old.xattrs : xattrList(w, abs)) };
    }
    w.progress.files++;
    if (st.size <= BigInt(SMALL_FILE) && st.nlink === 1n) {
      return backupSmallFile(w, abs, name, st, old);
    }
    const key = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
    const first = key ? w.linked.get(key) : undefined;
    if (first) {
      // another path of an inode read in this run: same content and metadata, only the name differs
      return {
        node: quiet(
          first.then((n) => {
            if (!n) return null;
            if (old) w.stats.filesChanged++;
            else w.stats.filesNew++;
            w.stats.bytesProcessed += n.size ?? 0;
            return { ...n, name };
          }),
        ),
      };
    }
    // Its blobs go to the seal workers: they start now (~30 ms), while the file is opened and its first buffer read,
    // not once that read is in (a backup that reads no large file never starts them for it).
    w.saver.pool();
    // Up to plan.fileReaders files are read at once (restic reads two): with a cold page cache a
    // tree of small files is bound by per-file latency, not bandwidth.
    await w.readers.acquire(1);
    const node = quiet(readLargeFile(w, abs, name, st, old, true));
    if (key) w.linked.set(key, node);
    return { node };
  }
  if (st.isFIFO()) return { node: { ...baseNode(name, st), type: 'fifo' } };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    return { node: { ...baseNode(name, st), type: st.isCharacterDevice() ? 'chardev' : 'blockdev', rdev: Number(st.rdev) } };
  }
  // Sockets are recreated by the program that listens on them; restic skips them too.
  return undefined;
}

/**
 * A file read past the small-file path: `readers` bounds how many at once (`admitted` when the caller already
 * holds a slot). Resolves to its node, or null when it vanished or could not be read (counted, warned).
 */
async function readLargeFile(w: Walker, abs: string, name: string, st: BigIntStats, old: TreeNode | undefined, admitted = false): Promise<TreeNode | null> {
  if (!admitted) await w.readers.acquire(1);
  let r: Awaited<ReturnType<typeof readStable>>;
  try {
    r = await readStable(w, abs, st);
  } catch (e) {
    if (e instanceof Swapped) {
      w.stats.filesChangedWhileRead++;
      w.warnings.push({ path: abs, code: 'CHANGED_WHILE_READ', message: e.message });
      return null;
    }
    // deleted between listing and reading (a live volume): skip it, like restic, and count it
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return unreadable(w, abs, e);
    w.stats.filesVanished++;
    return null;
  } finally {
    w.readers.release(1);
  }
  if (old) w.stats.filesChanged++;
  else w.stats.filesNew++;
  w.stats.bytesProcessed += r.size;
  const content = await r.content;
  return fileNode(name, r.st, r.size, content, xattrList(w, abs));
}

/** Files up to this size are read whole in one read and sealed on this thread (one blob each; INLINE_BELOW's size). */
const SMALL_FILE = INLINE_BELOW;

/**
 * Small files read at once when the page cache is cold. A tree of small files is then bound by disk
 * latency, one read per file: one at a time (the rule until 2026-12-07) left the disk idle between
 * requests — 30,000 files of 1–8 KiB took 4.8× restic's time (restic reads two files at once). A pool
 * trip costs CPU that blocking calls do not (FORMAT.md, backup-side notes), so a warm cache keeps the
 * blocking calls (below); libuv's pool has 4 threads unless UV_THREADPOOL_SIZE in the environment says more.
 */
const SMALL_READS = 16;

/**
 * A blocking small-file read slower than this probably came from the disk: 30,000 files of 1–8 KiB after a cache
 * drop read in p10 54 µs, p50 80, p90 152, p99 648 (sum 3.8 s); the same from the cache p50 2 µs, p99 49 µs. The
 * old limit (0.3 ms) caught 2% of the cold reads, so the walk read one file after another at disk latency.
 */
const COLD_READ_MS = 0.05;

/** This many blocking reads in a row slower than COLD_READ_MS: the cache is cold, reads go concurrent (one slow read may be a descheduled thread). */
const SLOW_STREAK = 3;

/** While reads are concurrent, every PROBE_EVERY-th small file is read with a blocking call to time the cache (a concurrent read's time is mostly queueing); WARM_PROBES fast ones in a row: back to blocking reads. */
const PROBE_EVERY = 32;
const WARM_PROBES = 3;

/** Buffers of SMALL_FILE + 1 bytes (one more than a small file may hold, to see it grew), one per read in flight. */
const smallBuffers: Buffer[] = [];

/**
 * A small file (≤ SMALL_FILE, one link): read whole, one blob. Blocking calls while the page cache answers;
 * once SLOW_STREAK reads in a row waited for the disk, reads go SMALL_READS at a time on the thread pool until
 * WARM_PROBES blocking probes in a row were fast again (the probes are ordinary reads of the walk's files). The
 * walk waits until the blob is admitted by the saver's gate (a concurrent read keeps its slot until then), so
 * reads never run ahead of sealing. Anything unusual (grew past SMALL_FILE, changed while read) goes to the general path with its
 * re-read and warning.
 */
async function backupSmallFile(w: Walker, abs: string, name: string, st: BigIntStats, old: TreeNode | undefined): Promise<Pending> {
  const files = fileBatcher(w);
  if (files) {
    w.beforeOpen?.(abs);
    const read = files.add(abs, st);
    if (files.full) await files.flush();
    return {
      node: quiet(
        read.then((r) => {
          if (r.kind === 'error') return smallFailed(w, abs, r.error);
          if (r.kind === 'fallback') return readLargeFile(w, abs, name, st, old);
          w.stats.bytesRead += r.size;
          return smallNode(w, abs, name, st, old, r.size, r.saved);
        }),
      ),
    };
  }
  const probe = w.small.cold && !w.small.pinned && ++w.small.count % PROBE_EVERY === 0;
  if (w.small.cold && !probe) {
    await w.small.reads.acquire(1);
    const node = (async (): Promise<TreeNode | null> => {
      let read: Buffer | 'fallback';
      let saved: Awaited<ReturnType<typeof admitSmall>>;
      try {
        try {
          read = await readSmallFile(w, abs, st);
        } catch (e) {
          return smallFailed(w, abs, e);
        }
        if (read !== 'fallback') saved = await admitSmall(w, read);
      } finally {
        w.small.reads.release(1);
      }
      return read === 'fallback' ? readLargeFile(w, abs, name, st, old) : smallNode(w, abs, name, st, old, read.length, saved);
    })();
    return { node: quiet(node) };
  }
  let read: Buffer | 'fallback';
  const t = performance.now();
  try {
    read = readSmallFileSync(w, abs, st);
  } catch (e) {
    return { node: Promise.resolve(smallFailed(w, abs, e)) };
  }
  if (!w.small.pinned) {
    const slow = performance.now() - t > COLD_READ_MS;
    // blocking: count slow reads in a row; concurrent (this was a probe): count fast ones
    w.small.streak = slow === !w.small.cold ? w.small.streak + 1 : 0;
    if (w.small.streak >= (w.small.cold ? WARM_PROBES : SLOW_STREAK)) {
      w.small.cold = !w.small.cold;
      w.small.streak = 0;
    }
  }
  if (read === 'fallback') return { node: quiet(readLargeFile(w, abs, name, st, old)) };
  const saved = await admitSmall(w, read);
  return { node: quiet(smallNode(w, abs, name, st, old, read.length, saved)) };
}

/** A small file's read failed: gone (counted, no node) or unreadable (listed in the summary). */
function smallFailed(w: Walker, abs: string, e: unknown): null {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return unreadable(w, abs, e);
  w.stats.filesVanished++;
  return null;
}

/**
 * The seal workers' batcher when small files are read there: with `auto`, after the first SMALL_BATCH_AFTER small
 * files (a backup of a handful of files never starts the workers for them); pinned `workers` at once.
 */
function fileBatcher(w: Walker): FileBatcher | undefined {
  const { mode } = w.small;
  if (mode === 'blocking' || mode === 'concurrent' || !w.saver.threaded) return undefined;
  if (mode === 'auto' && ++w.small.seen <= SMALL_BATCH_AFTER) return undefined;
  return (w.files ??= new FileBatcher(w.saver, w.saver.pool()!));
}

/** The bytes read, or 'fallback' when the file grew past SMALL_FILE or moved since the walk's lstat. */
function smallResult(w: Walker, st: BigIntStats, buf: Buffer, n: number, after: BigIntStats): Buffer | 'fallback' {
  if (n > SMALL_FILE || BigInt(n) !== st.size || moved(st, after)) return 'fallback';
  w.stats.bytesRead += n;
  return Buffer.from(buf.subarray(0, n));
}

/**
 * Open a small file for reading, or 'fallback' when the path is no longer the regular file the walk's lstat saw
 * (a symlink, a FIFO, a device or another inode swapped in): the general path then re-reads or lists it.
 * The fstat before the read is what keeps a FIFO with a writer (EAGAIN) or a device from being read here.
 */
function openSmall(w: Walker, abs: string, st: BigIntStats): number | 'fallback' {
  w.beforeOpen?.(abs);
  let fd: number;
  try {
    fd = fs.openSync(abs, FILE_OPEN);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') return 'fallback';
    throw e;
  }
  let same = false;
  try {
    const now = fs.fstatSync(fd, { bigint: true });
    same = now.isFile() && now.ino === st.ino;
  } finally {
    if (!same) fs.closeSync(fd);
  }
  return same ? fd : 'fallback';
}

/**
 * Done reading a small file: the buffer is full (it grew past SMALL_FILE), or the lstat's size is in. Reading on
 * to the end-of-file read was a second syscall per file (a second pool trip when reads are concurrent); growth
 * or a rewrite after the lstat still shows in the fstat that follows (`smallResult`). A size of 0 (procfs)
 * reads to the end.
 */
function readAll(buf: Buffer, n: number, st: BigIntStats): boolean {
  return n === buf.length || (st.size > 0n && BigInt(n) >= st.size);
}

/** Open, read, fstat, close with blocking calls: no thread-pool trip (restic reads with blocking calls on its goroutines too). */
function readSmallFileSync(w: Walker, abs: string, st: BigIntStats): Buffer | 'fallback' {
  const fd = openSmall(w, abs, st);
  if (fd === 'fallback') return fd;
  const buf = smallBuffers.pop() ?? Buffer.allocUnsafeSlow(SMALL_FILE + 1);
  try {
    let n = 0;
    for (;;) {
      const got = fs.readSync(fd, buf, n, buf.length - n, null);
      if (got === 0 || readAll(buf, (n += got), st)) break;
    }
    return smallResult(w, st, buf, n, fs.fstatSync(fd, { bigint: true }));
  } finally {
    smallBuffers.push(buf);
    fs.closeSync(fd);
  }
}

/**
 * The same with the read on the thread pool: the read is what waits for the disk. Open, fstat and close stay
 * blocking calls — the walk's lstat just brought the inode into the cache — so it is one pool trip per file,
 * not four (four cost ~100 µs of CPU per file more than blocking calls, measured).
 */
async function readSmallFile(w: Walker, abs: string, st: BigIntStats): Promise<Buffer | 'fallback'> {
  const fd = openSmall(w, abs, st);
  if (fd === 'fallback') return fd;
  const buf = smallBuffers.pop() ?? Buffer.allocUnsafeSlow(SMALL_FILE + 1);
  try {
    let n = 0;
    for (;;) {
      const got = await new Promise<number>((resolve, reject) => fs.read(fd, buf, n, buf.length - n, null, (err, k) => (err ? reject(err) : resolve(k))));
      if (got === 0 || readAll(buf, (n += got), st)) break;
    }
    return smallResult(w, st, buf, n, fs.fstatSync(fd, { bigint: true }));
  } finally {
    smallBuffers.push(buf);
    fs.closeSync(fd);
  }
}

/** Hand a small file's bytes to the saver (id now, sealing inline or batched on the workers); resolves once admitted by its gate. */
function admitSmall(w: Walker, data: Buffer): Promise<{ id: string; stored: Promise<void> }> | undefined {
  return data.length > 0 ? w.saver.saveSmall('data', data) : undefined;
}

/** A small file's node, once its blob is in a pack: the directory's tree (and the snapshot) never refers to a blob not yet stored. */
async function smallNode(w: Walker, abs: string, name: string, st: BigIntStats, old: TreeNode | undefined, size: number, saved: { id: string; stored: Promise<void> } | undefined): Promise<TreeNode> {
  if (old) w.stats.filesChanged++;
  else w.stats.filesNew++;
  w.stats.bytesProcessed += size;
  w.progress.bytes += size;
  w.tick();
  const node = fileNode(name, st, size, saved ? [saved.id] : [], xattrList(w, abs));
  if (saved) await saved.stored;
  return node;
}

/** `{xattrs}` when the path has user.* attributes; a failure to read them is a warning, not a lost file. */
function xattrsOf(w: Walker, abs: string): Pick<TreeNode, 'xattrs'> {
  const x = xattrList(w, abs);
  return x ? { xattrs: x } : {};
}

/** The path's user.* attributes, or undefined when it has none or they cannot be read (a warning, not a lost file). */
function xattrList(w: Walker, abs: string): TreeNode['xattrs'] {
  try {
    return readXattrs(abs);
  } catch (e) {
    w.warnings.push({ path: abs, code: 'XATTR', message: `extended attributes not recorded: ${(e as Error).message}` });
    return undefined;
  }
}

/**
 * A file's node: inode and ctime for change detection, device and link count when hard-linked. One object literal
 * per shape, its keys in the order the tree's JSON (and so its id) has always had them: built by spreading a base
 * node into a literal and that into another, it made ~1.6 KB of V8 garbage per file on the walk's thread, most of a
 * small file's share of its young-generation collections (FORMAT.md, "First-backup CPU, bcpu").
 */
function fileNode(name: string, st: BigIntStats, size: number, content: string[], xattrs: TreeNode['xattrs']): TreeNode {
  const mode = Number(st.mode) & 0o7777;
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const mtime = nsString(st.mtimeNs);
  const inode = Number(st.ino);
  const ctime = nsString(st.ctimeNs);
  const n: TreeNode =
    st.nlink > 1n
      ? { name, mode, uid, gid, mtime, type: 'file', inode, ctime, device: Number(st.dev), links: Number(st.nlink), size, content }
      : { name, mode, uid, gid, mtime, type: 'file', inode, ctime, size, content };
  if (xattrs) n.xattrs = xattrs;
  return n;
}

/**
 * Totals for the progress line, counted beside the walk (as restic's scanner does). Awaited before the walk it
 * was a second walk first, one pool trip per entry in turn: 1.4 s of an 8.6 s first backup and 2.7 s of a 3.7 s
 * unchanged one at 30,000 small files. The totals grow while it runs; it stops once the walk is done.
 */
async function scanTotals(p: string, acc: { files: number; bytes: number; done: boolean }, prog: BackupProgress): Promise<void> {
  if (acc.done) return;
  const st = await fsp.lstat(p).catch(() => undefined);
  if (!st || acc.done) return;
  if (st.isFile()) {
    acc.files++;
    acc.bytes += st.size;
    prog.totalFiles = Math.max(prog.totalFiles, acc.files);
    prog.totalBytes = Math.max(prog.totalBytes, acc.bytes);
  } else if (st.isDirectory()) {
    for (const c of await fsp.readdir(p).catch(() => [] as string[])) await scanTotals(path.join(p, c), acc, prog);
  }
}

function username(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

async function runBackup(
  repo: Repository,
  paths: string[],
  opts: BackupOptions,
  produce: (w: Walker, parentTree: Tree | undefined) => Promise<TreeNode[]>,
): Promise<BackupResult> {
  const started = Date.now();
  const lock = await acquireLock(repo, false, 'backup').catch(async (e: unknown) => {
    await opts.sealWorkers?.close();
    throw e;
  });
  let closeSaver = async (): Promise<void> => opts.sealWorkers?.close();
  try {
    await repo.loadIndex();
    // A stale lock means an earlier run died (kill -9, power loss) and may have left packs no index
    // lists: re-index them so their blobs are reused. Otherwise skip listing every pack — a cost that
    // grows with the repository (and is a paged LIST on S3) for nothing.
    let packsRecovered = 0;
    if (lock.staleSeen.length || opts.recoverPacks) {
      packsRecovered = await repo.recoverOrphanPacks();
      for (const l of lock.staleSeen) await repo.backend.delete('locks', l);
    }
    const host = opts.hostname ?? osHostname();
    let parentId: string | undefined;
    if (typeof opts.parent === 'string') parentId = (await findSnapshot(repo, opts.parent)).id;
    else if (opts.parent === undefined) {
      const key = JSON.stringify([...paths].sort());
      parentId = (await listSnapshots(repo)).filter((s) => s.hostname === host && JSON.stringify([...s.paths].sort()) === key).at(-1)?.id;
    }
    const parentSnap = parentId ? await repo.loadJSON<Snapshot>('snapshots', parentId) : undefined;
    const parentTree = parentSnap ? await loadTree(repo, parentSnap.tree) : undefined;

    const plan = planMemory(opts.memoryBudget ?? DEFAULT_BUDGET, repo.config.chunker, repo.config.packSize, READ_SIZE);
    const packer = repo.newPackWriter(plan.packUploads);
    const saver = new BlobSaver(repo, packer, opts.sealWorkers?.count ?? opts.workers ?? Math.min(defaultWorkerCount(), plan.sealWorkers), plan, writerCodec(opts.compression), opts.sealWorkers);
    const stopHeapPacer = paceHeap(plan.heapGrowth);
    // after a failure the filling pack is dropped (after success there is none)
    closeSaver = () => (stopHeapPacer(), packer.discard(), saver.close());
    const stats: BackupStats = { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirs: 0, bytesProcessed: 0, bytesRead: 0, blobsNew: 0, bytesAddedRaw: 0, bytesStored: 0, packsRecovered, filesVanished: 0, filesChangedWhileRead: 0, filesUnreadable: 0, seconds: 0 };
    // A backup with a parent starts from the parent's totals rather than counting beside the walk (scanTotals): the
    // count is a second lstat of every file (30,000 small files: +0.3–1.0 CPU-s, FORMAT.md "First-backup CPU, bcpu"),
    // and the mover, which reports progress on every scheduled backup, would pay it each time. A tree that grew past
    // the parent's totals is counted after all (tick, startScan).
    const before = parentTotals(parentSnap);
    const progress: BackupProgress = { files: 0, totalFiles: before.files, bytes: 0, totalBytes: before.bytes, bytesStored: 0, elapsedMs: 0 };
    let last = 0;
    const tick = () => {
      if (!opts.onProgress) return;
      // The parent's totals passed: the tree grew since, so it is counted after all (restic's scanner would have).
      if (w.startScan && (progress.files > progress.totalFiles || progress.bytes > progress.totalBytes)) w.startScan();
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      progress.elapsedMs = now - started;
      progress.bytesStored = packer.bytesWritten;
      // The totals (counted beside the walk, or the parent's): never shown below what is already done.
      progress.totalFiles = Math.max(progress.totalFiles, progress.files);
      progress.totalBytes = Math.max(progress.totalBytes, progress.bytes);
      opts.onProgress(progress);
    };
    const w: Walker = { repo, saver, stats, progress, pool: new BufferPool(repo.config.chunker.max + READ_SIZE, plan.readBuffers), readers: new ByteGate(plan.fileReaders), small: { cold: opts.smallFileReads === 'concurrent', reads: new ByteGate(SMALL_READS), streak: 0, count: 0, pinned: (opts.smallFileReads ?? 'auto') !== 'auto', mode: opts.smallFileReads ?? 'auto', seen: 0 }, warnings: [], linked: new Map(), trees: new Map(), parentXattrs: parentSnap?.xattrs === true, xattrs: xattrSupport(), tick, beforeOpen: opts.beforeOpen, statAheadAll: before.files >= (opts.statAheadFiles ?? STAT_AHEAD_FILES), scanTotals: before.files === 0 };
    const rootNodes = await produce(w, parentTree);
    const names = new Set<string>();
    for (const n of rootNodes) {
      if (names.has(n.name)) throw new RepoError('E_REPO_PATH', `two backup paths share the name "${n.name}"; back them up separately`);
      names.add(n.name);
    }
    const tree = await saveTree(saver, rootNodes);
    w.warnings.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const packs = await packer.finish();
    // The seal workers' isolates and the pack buffers are done: let them go before the index is serialized, the
    // end of a small-file backup's RSS peak (30,000 files: its last 200 ms; FORMAT.md "Peak RSS, rss").
    await saver.close();
    collectNow();
    if (packs.length) await repo.writeIndex(packs);
    stats.blobsNew = saver.blobsNew;
    stats.bytesAddedRaw = saver.bytesAddedRaw;
    stats.bytesStored = packer.bytesWritten;
    stats.seconds = (Date.now() - started) / 1000;
    const snapshot: Snapshot = {
      version: 1,
      time: (opts.time ?? new Date()).toISOString(),
      tree,
      paths,
      hostname: host,
      username: username(),
      tags: opts.tags ?? {},
      ...(parentId ? { parent: parentId } : {}),
      ...(xattrSupport() ? { xattrs: true } : {}),
      program: 'coffer',
      summary: { ...stats, ...(w.warnings.length ? { warnings: w.warnings } : {}) },
    };
    // The snapshot is written last: everything it references is already durable.
    const snapshotId = await repo.saveJSON('snapshots', snapshot);
    progress.elapsedMs = Date.now() - started;
    opts.onProgress?.(progress);
    return { snapshotId, snapshot, stats, warnings: w.warnings };
  } finally {
    await closeSaver();
    await lock.release();
  }
}

/**
 * Back up files and directories. Each path becomes a top-level entry named by
 * its basename. With a parent snapshot, files with the same size, mtime, ctime
 * and inode reuse the parent's content list without being read.
 */
export async function backup(repo: Repository, paths: string[], opts: BackupOptions = {}): Promise<BackupResult> {
  if (!paths.length) {
    await opts.sealWorkers?.close();
    throw new RepoError('E_REPO_PATH', 'nothing to back up: give at least one path');
  }
  const abs = paths.map((p) => path.resolve(p));
  const sts: BigIntStats[] = [];
  for (const p of abs) {
    try {
      sts.push(await fsp.lstat(p, { bigint: true }));
    } catch {
      await opts.sealWorkers?.close();
      throw new RepoError('E_REPO_PATH', `${p}: no such file or directory`);
    }
  }
  return runBackup(repo, abs, opts, async (w, parentTree) => {
    const scan = { files: 0, bytes: 0, done: false };
    if (opts.onProgress) {
      w.startScan = () => {
        w.startScan = undefined;
        void (async () => {
          for (const p of abs) await scanTotals(p, scan, w.progress);
        })().catch(() => undefined);
      };
      if (w.scanTotals) w.startScan();
    }
    try {
      const oldByName = new Map(parentTree?.nodes.map((n) => [n.name, n]));
      const out: (TreeNode | Promise<TreeNode | null>)[] = [];
      for (let i = 0; i < abs.length; i++) {
        const name = path.basename(abs[i]!) || 'root';
        const n = await backupNode(w, abs[i]!, name, sts[i]!, oldByName.get(name));
        if (n) out.push(n.node);
      }
      await w.files?.flush();
      return (await Promise.all(out)).filter((n): n is TreeNode => n !== null);
    } finally {
      // The walk saw every file: its counts are the totals, whether or not the scan got that far.
      scan.done = true;
      w.progress.totalFiles = w.progress.files;
      w.progress.totalBytes = w.progress.bytes;
    }
  });
}

/**
 * Back up in-memory entries (exported manifests, Secret data, stdin) as a
 * snapshot of a virtual tree; `path` is slash-separated and relative. Entries
 * may come one at a time (an async iterable): each is stored as it arrives and
 * only its tree node is kept, so a bundle of any size is written in bounded memory.
 */
export async function backupEntries(repo: Repository, entries: Iterable<Entry> | AsyncIterable<Entry>, opts: BackupOptions & { paths?: string[] } = {}): Promise<BackupResult> {
  const now = opts.time ?? new Date();
  interface Dir {
    dirs: Map<string, Dir>;
    files: Map<string, Promise<TreeNode>>;
  }
  const ns = (t: Date) => (BigInt(t.getTime()) * 1_000_000n).toString();
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (Array.isArray(entries)) for (const e of entries) safeEntryPath(e.path);
  return runBackup(repo, opts.paths ?? ['/'], opts, async (w) => {
    if (Array.isArray(entries)) {
      w.progress.totalFiles = entries.length;
      w.progress.totalBytes = entries.reduce((s, e: Entry) => s + e.data.length, 0);
    }
    const root: Dir = { dirs: new Map(), files: new Map() };
    for await (const e of entries) {
      const parts = safeEntryPath(e.path);
      let d = root;
      for (const part of parts.slice(0, -1)) {
        if (d.files.has(part)) throw new RepoError('E_REPO_PATH', `entry path "${e.path}" goes through a file`);
        let next = d.dirs.get(part);
        if (!next) d.dirs.set(part, (next = { dirs: new Map(), files: new Map() }));
        d = next;
      }
      const leaf = parts.at(-1)!;
      if (d.dirs.has(leaf) || d.files.has(leaf)) throw new RepoError('E_REPO_PATH', `entry path "${e.path}" appears twice`);
      w.stats.filesNew++;
      w.progress.files++;
      const ids: Promise<string>[] = [];
      let start = 0;
      while (start < e.data.length) {
        const n = w.repo.chunker.cut(e.data, start, e.data.length, true);
        ids.push(quiet((await w.saver.saveBounded('data', Buffer.from(e.data.subarray(start, start + n)))).id));
        start += n;
      }
      w.progress.bytes += e.data.length;
      w.stats.bytesProcessed += e.data.length;
      const node = { name: leaf, type: 'file' as const, mode: e.mode ?? 0o600, uid, gid, mtime: ns(e.mtime ?? now), size: e.data.length };
      d.files.set(leaf, quiet(Promise.all(ids).then((content) => ({ ...node, content }))));
    }
    const build = async (d: Dir): Promise<TreeNode[]> => {
      const nodes: TreeNode[] = [];
      for (const [name, sub] of d.dirs) {
        w.stats.dirs++;
        const subtree = await saveTree(w.saver, await build(sub));
        nodes.push({ name, type: 'dir', mode: 0o755, uid, gid, mtime: ns(now), subtree });
      }
      for (const node of d.files.values()) nodes.push(await node);
      return nodes;
    };
    return build(root);
  });
}

function safeEntryPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (!parts.length || parts.some((p) => p === '..' || p.includes('\0'))) throw new RepoError('E_REPO_PATH', `entry path "${path}" is not a safe relative path`);
  return parts;
}
