import { createHash, type Hash, randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Backend, TempWriter } from './backend/types.ts';
import { Chunker, type ChunkerParams, chunkMasks, DEFAULT_CHUNKER, gearTable } from './chunker.ts';
import { decompress } from './compress.ts';
import { BlobIndex, PackView } from './blob-index.ts';
import { AsyncCrypto, DEFAULT_SCRYPT, deriveKey, type MasterKey, newMasterKey, type ScryptParams, SEAL_OVERHEAD, seal, storageId, unseal } from './crypto.ts';
import { RepoError } from './errors.ts';
import { type BlobType, decodeHeader, encodeHeader, PACK_ENTRY_BYTES, type PackEntry } from './pack.ts';
import { indexText, readIndexText } from './index-file.ts';
import { decodeJSON, decodeText, encodeJSON, encodeText, parseJSON } from './serialize.ts';

export const FORMAT_VERSION = 1;

export interface RepoConfig {
  version: number;
  id: string;
  chunker: ChunkerParams;
  /** Secret seed of the gear table (base64). */
  gearSeed: string;
  compression: 'brotli';
  packSize: number;
}

/** A key file: the master key sealed under a password-derived key. Stored as plaintext JSON. */
export interface KeyFile {
  version: number;
  created: string;
  hostname: string;
  username: string;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  data: string;
}

export type { BlobLocation } from './blob-index.ts';

interface IndexFileBody {
  version: number;
  packs: { id: string; blobs: [string, 0 | 1, number, number, number, number][] }[];
}

export interface InitOptions {
  scrypt?: ScryptParams;
  chunker?: ChunkerParams;
  packSize?: number;
}

/** Pack files aim at ~16 MiB: few objects on S3, cheap range reads, bounded memory. */
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;

async function writeKeyFile(backend: Backend, master: MasterKey, password: string, params: ScryptParams): Promise<string> {
  const salt = randomBytes(32);
  const kek = await deriveKey(password, salt, params);
  const body = Buffer.from(JSON.stringify({ encrypt: master.encrypt.toString('base64'), mac: master.mac.toString('base64') }));
  const kf: KeyFile = {
    version: FORMAT_VERSION,
    created: new Date().toISOString(),
    hostname: hostname(),
    username: safeUser(),
    kdf: 'scrypt',
    ...params,
    salt: salt.toString('base64'),
    data: seal(kek, body).toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(kf, null, 2) + '\n');
  const id = storageId(bytes);
  await backend.put('keys', id, bytes);
  return id;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '');
  }
}

/** Create a repository: config and the first key. Refuses to overwrite an existing one. */
export async function initRepository(backend: Backend, password: string, opts: InitOptions = {}): Promise<Repository> {
  if (!password) throw new RepoError('E_REPO_PASSWORD', 'an empty password is not allowed');
  if (await backend.stat('config', 'config')) throw new RepoError('E_REPO_EXISTS', `${backend.location}: a repository already exists here`);
  chunkMasks(opts.chunker ?? DEFAULT_CHUNKER); // parameters no Chunker accepts are refused before anything is written
  const master = newMasterKey();
  const config: RepoConfig = {
    version: FORMAT_VERSION,
    id: randomBytes(16).toString('hex'),
    chunker: opts.chunker ?? DEFAULT_CHUNKER,
    gearSeed: randomBytes(32).toString('base64'),
    compression: 'brotli',
    packSize: opts.packSize ?? DEFAULT_PACK_SIZE,
  };
  const keyId = await writeKeyFile(backend, master, password, opts.scrypt ?? DEFAULT_SCRYPT);
  // config last: a crash before this leaves no half-initialised repository that others would open. Where the backend
  // can create-if-absent, two inits racing (two first backups) leave exactly one config; the loser removes its key.
  const encoded = encodeJSON(master.encrypt, config);
  if (backend.putIfAbsent) {
    if (!(await backend.putIfAbsent('config', 'config', encoded))) {
      await backend.delete('keys', keyId);
      throw new RepoError('E_REPO_EXISTS', `${backend.location}: a repository already exists here`);
    }
  } else await backend.put('config', 'config', encoded);
  return Repository.create(backend, master, config, keyId);
}

/**
 * Open with any key's password; a password no key accepts is E_REPO_PASSWORD. `whileDeriving` is called once, as soon as
 * the first key derivation is under way on the thread pool (this thread only waits for it): work that needs no key
 * starts there (backup-start.ts). It must not throw.
 */
export async function openRepository(backend: Backend, password: string, whileDeriving?: () => void): Promise<Repository> {
  const cfgBytes = await backend.get('config', 'config').catch((e: { code?: string }) => {
    if (e.code === 'E_REPO_NOT_FOUND') throw new RepoError('E_REPO_NOT_INITIALIZED', `${backend.location}: no repository here (run "coffer repo init" first)`);
    throw e;
  });
  const keys = await backend.list('keys');
  // Keys are tried concurrently (scrypt runs on the thread pool), so a repository with several keys opens as fast as one with one.
  const tried = await mapLimit(keys, 4, async (k): Promise<MasterKey | undefined> => {
    let kf: KeyFile;
    try {
      kf = JSON.parse((await backend.get('keys', k.name)).toString('utf8')) as KeyFile;
    } catch {
      return undefined;
    }
    const deriving = deriveKey(password, Buffer.from(kf.salt, 'base64'), { N: kf.N, r: kf.r, p: kf.p });
    const then = whileDeriving;
    whileDeriving = undefined;
    then?.();
    const kek = await deriving;
    let body: Buffer;
    try {
      body = unseal(kek, Buffer.from(kf.data, 'base64'), `key ${k.name}`);
    } catch {
      return undefined;
    }
    const mk = JSON.parse(body.toString('utf8')) as { encrypt: string; mac: string };
    return { encrypt: Buffer.from(mk.encrypt, 'base64'), mac: Buffer.from(mk.mac, 'base64') };
  });
  const i = tried.findIndex((m) => m !== undefined);
  if (i >= 0) {
    const master = tried[i]!;
    const config = decodeJSON<RepoConfig>(master.encrypt, cfgBytes, 'config');
    if (config.version > FORMAT_VERSION) throw new RepoError('E_REPO_VERSION', `repository format ${config.version} is newer than this Coffer supports (${FORMAT_VERSION})`);
    return Repository.create(backend, master, config, keys[i]!.name);
  }
  throw new RepoError('E_REPO_PASSWORD', `${backend.location}: wrong password (no key in the repository accepts it)`);
}

/** An open repository: keys, config, the in-memory index and the pack writer. */
export class Repository {
  /** blob id → location, and each pack's entries (blob-index.ts: stored once, in typed arrays) */
  readonly index = new BlobIndex();
  /** index file name → pack ids it lists */
  readonly indexFiles = new Map<string, string[]>();
  /** pack id → its entries, a view of `index` */
  readonly packs = new PackView(this.index);
  readonly chunker: Chunker;

  private constructor(
    readonly backend: Backend,
    readonly key: MasterKey,
    readonly config: RepoConfig,
    readonly keyId: string,
    readonly crypto: AsyncCrypto,
  ) {
    this.chunker = new Chunker(gearTable(Buffer.from(config.gearSeed, 'base64')), config.chunker);
  }

  static async create(backend: Backend, key: MasterKey, config: RepoConfig, keyId: string): Promise<Repository> {
    return new Repository(backend, key, config, keyId, await AsyncCrypto.create(key));
  }

  async saveJSON(type: 'index' | 'snapshots' | 'locks', value: unknown): Promise<string> {
    const bytes = encodeJSON(this.key.encrypt, value);
    const id = storageId(bytes);
    await this.backend.put(type, id, bytes);
    return id;
  }

  async loadJSON<T>(type: 'index' | 'snapshots' | 'locks', name: string): Promise<T> {
    return parseJSON<T>(await this.loadText(type, name), `${type}/${name}`);
  }

  private async loadText(type: 'index' | 'snapshots' | 'locks', name: string): Promise<Buffer> {
    const bytes = await this.backend.get(type, name);
    if (type !== 'locks' && storageId(bytes) !== name) throw new RepoError('E_REPO_CORRUPT', `${type}/${name}: content does not match its name (damaged file)`);
    return decodeText(this.key.encrypt, bytes, `${type}/${name}`);
  }

  /** Read every index file into memory. */
  async loadIndex(): Promise<void> {
    this.index.clear();
    this.indexFiles.clear();
    const files = await this.backend.list('index');
    await mapLimit(files, 8, async (f) => {
      const text = await this.loadText('index', f.name);
      // one pack's entries at a time (index-file.ts: JSON.parse of a 200,000-blob index was ~75 MiB of heap at once)
      const packIds: string[] = [];
      const scanned = readIndexText(text, (pack, entries) => {
        packIds.push(pack);
        this.addPack(pack, entries);
      });
      if (scanned) this.indexFiles.set(f.name, packIds);
      else this.addIndexBody(f.name, parseJSON<IndexFileBody>(text, `index/${f.name}`));
    });
  }

  private addIndexBody(name: string, body: IndexFileBody): void {
    const packIds: string[] = [];
    for (const p of body.packs) {
      packIds.push(p.id);
      const entries: PackEntry[] = p.blobs.map(([id, t, offset, length, rawLength, comp]) => ({ id, type: t === 1 ? 'tree' : 'data', offset, length, rawLength, comp }));
      this.addPack(p.id, entries);
    }
    this.indexFiles.set(name, packIds);
  }

  addPack(packId: string, entries: PackEntry[]): void {
    this.index.addPack(packId, entries);
  }

  /** Write an index file describing `packIds` (all must be in `this.packs`). */
  async writeIndex(packIds: string[], supersedes: string[] = []): Promise<string> {
    // written one pack at a time (index-file.ts): the whole body as arrays, then as one string, was the end of a first backup's RSS peak
    const bytes = await encodeText(this.key.encrypt, indexText(FORMAT_VERSION, supersedes, packIds, (id) => this.packs.get(id)!));
    const name = storageId(bytes);
    await this.backend.put('index', name, bytes);
    this.indexFiles.set(name, packIds);
    return name;
  }

  /** Read a pack's header from its tail: how orphaned packs are recovered and how check lists a pack's content. */
  async readPackHeader(packId: string, size?: number): Promise<PackEntry[]> {
    const total = size ?? (await this.backend.stat('data', packId))?.size;
    if (total === undefined) throw new RepoError('E_REPO_CORRUPT', `pack ${packId} is missing`);
    if (total < 4) throw new RepoError('E_REPO_CORRUPT', `pack ${packId}: truncated`);
    const tail = await this.backend.getRange('data', packId, total - 4, 4);
    const hl = tail.readUInt32LE(0);
    if (hl + 4 > total) throw new RepoError('E_REPO_CORRUPT', `pack ${packId}: header length ${hl} exceeds the file`);
    const sealed = await this.backend.getRange('data', packId, total - 4 - hl, hl);
    return decodeHeader(unseal(this.key.encrypt, sealed, `pack ${packId} header`), `pack ${packId}`);
  }

  /**
   * Re-index packs that no index lists — left by a backup killed after
   * uploading them — so the next backup reuses their blobs instead of
   * uploading them again. Returns the number of packs recovered.
   */
  async recoverOrphanPacks(): Promise<number> {
    const files = await this.backend.list('data');
    const orphans = files.filter((f) => !this.packs.has(f.name));
    const recovered: string[] = [];
    await mapLimit(orphans, 4, async (f) => {
      try {
        const entries = await this.readPackHeader(f.name, f.size);
        this.addPack(f.name, entries);
        recovered.push(f.name);
      } catch {
        // An unreadable orphan holds nothing any snapshot references; prune removes it.
      }
    });
    if (recovered.length) await this.writeIndex(recovered.sort());
    return recovered.length;
  }

  /** Load, authenticate, decompress and verify a blob's id. */
  async loadBlob(id: string, type?: BlobType): Promise<Buffer> {
    const loc = this.index.get(id);
    if (!loc) throw new RepoError('E_REPO_CORRUPT', `blob ${id.slice(0, 16)} is not in the index (data missing)`);
    if (type && loc.type !== type) throw new RepoError('E_REPO_CORRUPT', `blob ${id.slice(0, 16)} is a ${loc.type} blob, expected ${type}`);
    const sealed = await this.backend.getRange('data', loc.pack, loc.offset, loc.length);
    return this.openBlob(sealed, loc, loc.pack);
  }

  async openBlob(sealed: Buffer, e: PackEntry, pack: string): Promise<Buffer> {
    const what = `blob ${e.id.slice(0, 16)} in pack ${pack}`;
    // Decrypt synchronously (WebCrypto copies input and output: restore of 400 MiB took 1.6 s CPU
    // sync vs 2.3 s all-WebCrypto), but verify the id with WebCrypto's HMAC on the thread pool, which
    // overlaps with the next blob's decryption (1.37 s vs 1.50 s wall, same CPU). Decompression is
    // on the pool too.
    const plain = unseal(this.key.encrypt, sealed, what);
    const raw = await decompress(plain, e.comp, e.rawLength, what);
    if ((await this.crypto.blobId(raw)) !== e.id) throw new RepoError('E_REPO_CORRUPT', `${what}: content does not match its id`);
    return raw;
  }

  /** `uploads`: packs uploading at once (each holds a pack buffer; memory.ts plans it). */
  newPackWriter(uploads = 2): PackWriter {
    return new PackWriter(this, uploads);
  }

  async listKeys(): Promise<(Omit<KeyFile, 'data' | 'salt'> & { id: string; current: boolean })[]> {
    const out = [];
    for (const f of await this.backend.list('keys')) {
      const kf = JSON.parse((await this.backend.get('keys', f.name)).toString('utf8')) as KeyFile;
      out.push({ id: f.name, current: f.name === this.keyId, version: kf.version, created: kf.created, hostname: kf.hostname, username: kf.username, kdf: kf.kdf, N: kf.N, r: kf.r, p: kf.p });
    }
    return out;
  }

  async addKey(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
    if (!password) throw new RepoError('E_REPO_PASSWORD', 'an empty password is not allowed');
    return writeKeyFile(this.backend, this.key, password, params);
  }

  /** Remove a key by id or unique prefix; the key used to open the repository cannot be removed (it would lock you out mid-session). */
  async removeKey(idOrPrefix: string): Promise<string> {
    const matches = (await this.backend.list('keys')).filter((f) => f.name.startsWith(idOrPrefix));
    if (matches.length !== 1) throw new RepoError('E_REPO_KEY', matches.length ? `key prefix "${idOrPrefix}" is ambiguous` : `no key "${idOrPrefix}"`);
    const id = matches[0]!.name;
    if (id === this.keyId) throw new RepoError('E_REPO_KEY', `key ${id.slice(0, 8)} is the one in use; open the repository with another key to remove it`);
    await this.backend.delete('keys', id);
    return id;
  }
}

/** Stored bytes of a pack header for `n` blobs: sealed `version ‖ n × entry`, then its u32 length. */
function headerBytes(n: number): number {
  return SEAL_OVERHEAD + 1 + n * PACK_ENTRY_BYTES + 4;
}

/** Room kept after a pack's blobs for its header (≈ 25,000 entries). */
const HEADER_RESERVE = 1024 * 1024;

/**
 * Collects sealed blobs into packs of at most `packSize` bytes (a larger blob gets a pack of its own) and stores
 * them. Two ways, same bytes and names:
 * - *Streamed* (the backend has `createTemp`: files): each blob is appended to the pack's temporary file as it
 *   arrives, so a full pack only needs its header, fsync and rename, and no pack is held in memory — at most
 *   STREAM_QUEUED bytes of blobs wait for their write. Until 2026-12-07 every backend took the buffered way; with
 *   one upload slot (the default budget) sealing stalled while each full pack was written and fsynced (traced: adds
 *   waiting 20–97 ms on the slot at every pack while random data went through).
 * - *Buffered* (S3): blobs are copied into a reused pack buffer, uploaded whole, at most `maxUploads` at a time;
 *   `add` waits when uploads fall behind, which bounds memory. A pack is never concatenated at upload time (that
 *   doubled each pack in memory, plus its blobs left as garbage until the next GC).
 * Either way the pack's name (SHA-256 of its bytes) is hashed blob by blob as they come (`hash`), so it is known the
 * moment the pack is full: hashing a whole pack then (`subtle.digest`) copied its 16 MiB on this thread and hashed
 * them on the pool before the write could start — the last pack's hash was in the backup's serial tail.
 */
export class PackWriter {
  private buf: Buffer | undefined;
  /** The filling pack's temporary object (streamed). */
  private sink: Sink | undefined;
  /** Bytes handed to a sink and not yet written. */
  private queued = 0;
  private drained: (() => void)[] = [];
  private hash: Hash | undefined;
  private entries: PackEntry[] = [];
  private size = 0;
  private readonly spare: Buffer[] = [];
  private readonly uploads = new Set<Promise<void>>();
  private failure: unknown;
  private readonly streamed: boolean;
  readonly pending = new Set<string>();
  readonly written: string[] = [];
  bytesWritten = 0;

  constructor(
    private readonly repo: Repository,
    private readonly maxUploads = 2,
  ) {
    this.streamed = typeof repo.backend.createTemp === 'function';
  }

  has(id: string): boolean {
    return this.pending.has(id) || this.repo.index.has(id);
  }

  private get capacity(): number {
    return this.repo.config.packSize + HEADER_RESERVE;
  }

  /** Packs being finished at once: buffered, each holds its buffer; streamed, only a descriptor (fsync + rename). */
  private get slots(): number {
    return this.streamed ? STREAM_FINISHING : this.maxUploads;
  }

  /**
   * Backpressure lives here. Buffered: a full filling pack waits for a free upload slot before it is handed over,
   * so the bytes held stay bounded (`maxUploads` packs uploading plus the one filling). Measured before this rule: a
   * 1.2 GiB file held ~1 GiB of packs queued behind slow fsyncs. Blobs go on filling the next pack while uploads
   * are in flight: waiting at every add while an upload ran (the rule until 2026-12-07) stalled sealing for each
   * pack's write + fsync. Streamed: an add waits while more than STREAM_QUEUED bytes await their write, and
   * `sealed` itself is queued (not copied): the caller must not reuse its memory until `written` is called — after
   * its write (streamed) or its copy into the pack buffer (buffered), or once the write failed. When `add` throws,
   * `written` may not come: the caller frees the memory then (a ByteRing region is freed once, whoever calls first).
   */
  async add(id: string, type: BlobType, sealed: Uint8Array, rawLength: number, comp: number, written?: () => void): Promise<void> {
    if (this.failure) throw this.failure;
    const { packSize } = this.repo.config;
    while (this.entries.length && (this.size + sealed.length > packSize || this.size + sealed.length + headerBytes(this.entries.length + 1) > this.capacity)) {
      if (this.uploads.size < this.slots) {
        this.startUpload();
        break;
      }
      await Promise.race(this.uploads);
      if (this.failure) throw this.failure;
    }
    if (!this.hash) {
      this.hash = createHash('sha256');
      if (this.streamed) {
        const writer = this.repo.backend.createTemp!('data');
        writer.catch(() => undefined); // awaited by the first write; its failure fails the pack
        this.sink = { writer, queue: [], taken: 0, written: [] };
      } else {
        const need = sealed.length + headerBytes(1);
        this.buf = need > this.capacity ? Buffer.allocUnsafeSlow(need) : (this.spare.pop() ?? Buffer.allocUnsafeSlow(this.capacity));
      }
    }
    this.hash.update(sealed);
    if (this.sink) this.append(this.sink, sealed, written);
    else {
      this.buf!.set(sealed, this.size);
      written?.();
    }
    this.entries.push({ id, type, offset: this.size, length: sealed.length, rawLength, comp });
    this.size += sealed.length;
    // a full pack with no free slot stays filling: the next add (or flush) waits for the slot
    if (this.size >= packSize && this.uploads.size < this.slots) this.startUpload();
    while (this.queued > STREAM_QUEUED && !this.failure) await new Promise<void>((r) => this.drained.push(r));
    if (this.failure) throw this.failure;
  }

  /** Queue `data` for the sink: written after what is queued before it; a failed write fails the writer (and every later add). */
  private append(sink: Sink, data: Uint8Array, written?: () => void): void {
    this.queued += data.length;
    sink.queue.push(data);
    if (written) sink.written.push({ after: sink.taken + sink.queue.length, call: written });
    if (!sink.pump) {
      const p = this.pump(sink);
      p.catch(() => undefined); // awaited by the pack's upload
      sink.pump = p;
    }
  }

  /**
   * Write the sink's queue until it is empty: everything queued while one write is in flight goes in the next, as one
   * `writev` (a batch of 64 small files' blobs is one syscall and one pool trip, not 64).
   */
  private async pump(sink: Sink): Promise<void> {
    try {
      const writer = await sink.writer;
      while (sink.queue.length) {
        const parts = sink.queue;
        sink.queue = [];
        const upTo = (sink.taken += parts.length);
        try {
          await writer.write(parts);
        } finally {
          for (const b of parts) this.queued -= b.length;
          this.writtenUpTo(sink, upTo);
          const d = this.drained;
          this.drained = [];
          for (const f of d) f();
        }
      }
    } catch (e) {
      this.failure ??= e;
      // what was queued behind the failed write is never written: its memory is free too
      for (const b of sink.queue) this.queued -= b.length;
      sink.taken += sink.queue.length;
      sink.queue = [];
      this.writtenUpTo(sink, sink.taken);
      throw e;
    } finally {
      sink.pump = undefined;
    }
  }

  /** Call the `written` callbacks of the sink's first `parts` parts (each is called once). */
  private writtenUpTo(sink: Sink, parts: number): void {
    let k = 0;
    while (k < sink.written.length && sink.written[k]!.after <= parts) sink.written[k++]!.call();
    if (k) sink.written.splice(0, k);
  }

  async flush(): Promise<void> {
    while (this.uploads.size >= this.slots) await Promise.race(this.uploads);
    if (this.failure) throw this.failure;
    this.startUpload();
  }

  private startUpload(): void {
    if (!this.entries.length || !this.hash) return;
    const entries = this.entries;
    const header = seal(this.repo.key.encrypt, encodeHeader(entries));
    const size = this.size + header.length + 4;
    let pack: Buffer;
    let tail: Buffer;
    const buf = this.buf;
    if (buf) {
      header.copy(buf, this.size);
      buf.writeUInt32LE(header.length, this.size + header.length);
      pack = buf.subarray(0, size);
      tail = pack.subarray(this.size);
    } else {
      tail = Buffer.allocUnsafe(header.length + 4);
      header.copy(tail);
      tail.writeUInt32LE(header.length, header.length);
    }
    // the name: SHA-256 of the pack's bytes, blobs hashed as they came (`add`), then the header and its length
    const id = this.hash.update(tail).digest('hex');
    const sink = this.sink;
    if (sink) this.append(sink, tail);
    this.hash = undefined;
    this.sink = undefined;
    this.buf = undefined;
    this.entries = [];
    this.size = 0;
    const upload = (async () => {
      if (sink) {
        try {
          await sink.pump;
          // another pack's write failed meanwhile: the backup fails, so this pack is not left behind either
          if (this.failure) throw this.failure;
          await (await sink.writer).commit(id);
        } catch (e) {
          await sink.writer.then((w) => w.abort(), () => undefined);
          throw e;
        }
      } else await this.repo.backend.put('data', id, pack!);
      this.repo.addPack(id, entries);
      for (const e of entries) this.pending.delete(e.id);
      this.written.push(id);
      this.bytesWritten += size;
    })();
    const p: Promise<void> = upload
      .catch((e: unknown) => {
        this.failure ??= e;
      })
      .finally(() => {
        this.uploads.delete(p);
        // the backend is done with the bytes (a put never keeps them): the buffer takes the next pack
        if (buf && buf.length === this.capacity && this.spare.length < this.maxUploads) this.spare.push(buf);
      });
    this.uploads.add(p);
  }

  /** After a failure: drop the filling pack's temporary object (streamed), so no descriptor or file is left behind. */
  discard(): void {
    const sink = this.sink;
    this.sink = undefined;
    this.hash = undefined;
    this.entries = [];
    this.size = 0;
    if (sink) void Promise.resolve(sink.pump).catch(() => undefined).then(() => sink.writer.then((w) => w.abort(), () => undefined));
  }

  /** Flush the last partial pack and wait for every upload. */
  async finish(): Promise<string[]> {
    await this.flush();
    await Promise.all([...this.uploads]);
    // no pack follows: the spare buffers (17 MiB each) go before the index and snapshot are written
    this.spare.length = 0;
    if (this.failure) throw this.failure;
    return this.written;
  }
}

/** A pack being streamed: its temporary object, the blobs waiting for their write, and the writing loop while one runs. */
interface Sink {
  writer: Promise<TempWriter>;
  queue: Uint8Array[];
  /** Parts taken off `queue` so far (being written, written, or dropped after a failed write). */
  taken: number;
  /** `add`'s `written` callbacks, each due once `taken` reaches `after` (its part's number, counted from 1). */
  written: { after: number; call: () => void }[];
  pump?: Promise<void>;
}

/** Streamed packs: sealed bytes waiting for their write before `add` waits (a pack buffer's worth, as the buffered way holds). */
const STREAM_QUEUED = 16 * 1024 * 1024;

/** Streamed packs being finished (fsync, rename, directory fsync) at once: they hold a descriptor, not their bytes. */
const STREAM_FINISHING = 4;

/** Run `fn` over items with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
