import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { promisify } from 'node:util';
import { RepoError } from './errors.ts';

/** Stored in each pack entry; the repository must decode every value on Node 20, 22 and 24. */
export const enum Compression {
  None = 0,
  Brotli = 1,
  /** One zstd frame (RFC 8878), any level. Since 2026-12-07. */
  Zstd = 2,
}

const brotliAsync = promisify(zlib.brotliCompress);
const unbrotliAsync = promisify(zlib.brotliDecompress);

/** Bits per byte of `buf[from, to)` from its byte histogram. */
function entropy(buf: Uint8Array, from: number, to: number, counts: Uint32Array): number {
  counts.fill(0);
  for (let i = from; i < to; i++) counts[buf[i]!]!++;
  const total = to - from;
  let e = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c) {
      const p = c / total;
      e -= p * Math.log2(p);
    }
  }
  return e;
}

export const ENTROPY_SKIP = 7.2;
/** `tier`'s byte histogram, reused (one per thread; `entropy` clears it). */
const counts = new Uint32Array(256);
/** Slices sampled from a blob larger than SAMPLE_SLICES × SAMPLE_SLICE bytes (a smaller one is measured whole). */
export const SAMPLE_SLICES = 16;
export const SAMPLE_SLICE = 2048;

/** How much of a blob compresses (`tier`), which picks the codec's level: an index into `Codec.levels`. */
export const enum Tier {
  /** Stored raw without trying: every sampled slice looks random, or under 64 bytes. */
  Raw = 0,
  /** Above 32 KiB, fewer than half of the sampled slices compressible. */
  Sparse = 1,
  /** Above 32 KiB, at least half of them compressible (not all). */
  Mostly = 2,
  /** Above 32 KiB, every sampled slice compressible. */
  Text = 3,
  /** Up to 32 KiB (a small file), measured whole and compressible. */
  Small = 4,
}

/**
 * How compressible `buf` looks, without compressing it.
 *
 * A blob up to 32 KiB (a small file) is measured whole; a larger one is sampled in 16 slices of 2 KiB spread over
 * it, and one slice at or below 7.2 bits/byte is enough to try (random data measures ~7.9 even in 2 KiB, text
 * 4.5–5.5). Why per slice: one histogram over all the slices (the rule until 2026-12-07) mixes a blob's text and
 * random parts into one distribution above 7.2, so a ~1 MiB chunk holding half a text run and half a random one
 * was stored raw — 169 MB of the 256 MiB one-large-file workload, 1.059× restic's bytes.
 */
export function tier(buf: Uint8Array): Tier {
  if (buf.length < 64) return Tier.Raw;
  if (buf.length <= SAMPLE_SLICES * SAMPLE_SLICE) return entropy(buf, 0, buf.length, counts) <= ENTROPY_SKIP ? Tier.Small : Tier.Raw;
  const step = Math.floor((buf.length - SAMPLE_SLICE) / (SAMPLE_SLICES - 1));
  let low = 0;
  for (let s = 0; s < SAMPLE_SLICES; s++) if (entropy(buf, s * step, s * step + SAMPLE_SLICE, counts) <= ENTROPY_SKIP) low++;
  return low === 0 ? Tier.Raw : low === SAMPLE_SLICES ? Tier.Text : 2 * low >= SAMPLE_SLICES ? Tier.Mostly : Tier.Sparse;
}

/** The codec a backup writes with and its level per `Tier` (`levels[Tier.Raw]` is unused). Not part of the format. */
export interface Codec {
  comp: Compression;
  levels: readonly [0, number, number, number, number];
}

/** `coffer repo backup --compression` (restic's names): auto = the fast default, max = the best ratio measured affordable, off = none. */
export type CompressionSetting = 'auto' | 'max' | 'off';
export const COMPRESSION_SETTINGS: readonly CompressionSetting[] = ['auto', 'max', 'off'];

/**
 * Levels per tier [raw, sparse, mostly, text, small] (FORMAT.md "Compression" has the measurements). auto: zstd 3 is
 * restic's default (klauspost's SpeedDefault ≈ level 3), 1.9–2.6× brotli q2's speed at 0.3–1% fewer bytes; a mostly
 * random blob at level 1 costs less for the same bytes. max: 9 for larger blobs (1.7% fewer bytes than 3 on the mixed
 * workload at a quarter of the speed; 12 is 5× slower again for 0.5%), 6 for small files (the add-on sizes its tables
 * for an unknown input, so a small file costs 66 µs at 6, 150 at 9 and 19 ms at 12 for 0.3% fewer bytes).
 */
export const ZSTD_AUTO: Codec['levels'] = [0, 1, 3, 3, 3];
export const ZSTD_MAX: Codec['levels'] = [0, 3, 9, 9, 6];
/** Brotli, where the zstd add-on cannot load: q2 and q1 for mostly random blobs (FORMAT.md, the lead's table). */
export const BROTLI_AUTO: Codec['levels'] = [0, 1, 2, 2, 2];
export const BROTLI_MAX: Codec['levels'] = [0, 1, 4, 4, 4];
export const BROTLI_LGWIN = 22;
/** The compressed form is kept when it is at most this share of the raw bytes (saves ≥ 1%). */
export const KEEP_AT_MOST = 0.99;

type ZstdAddon = typeof import('@toondepauw/node-zstd');
/** The zstd add-on (napi-rs, prebuilt per platform in its optional dependencies: nothing to compile at install). */
export const ZSTD_PACKAGE = '@toondepauw/node-zstd';
let addon: { mod: ZstdAddon; path: string } | null | undefined;

/**
 * The add-on and its resolved path (workers load it from there), or null where it has no binary for this
 * platform, or `COFFER_ZSTD=off` (a process without zstd: tests, or writing brotli repositories that Coffer
 * before 2026-12-07 can read).
 */
export function zstdAddon(): { mod: ZstdAddon; path: string } | null {
  if (process.env.COFFER_ZSTD === 'off') return null;
  if (addon === undefined) {
    try {
      const req = createRequire(import.meta.url);
      const path = req.resolve(ZSTD_PACKAGE);
      addon = { mod: req(path) as ZstdAddon, path };
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** libzstd through N-API: contexts a thread keeps and reuses, writing into buffers the caller gives. */
type Napi = {
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  compressBound(size: number): number;
};
/** libzstd itself (built from the sources it ships; N-API: one binary for Node 20, 22 and 24). */
export const ZSTD_NAPI_PACKAGE = 'zstd-napi';
let napi: { mod: Napi; path: string } | null | undefined;

/**
 * zstd-napi's binding and its resolved path (workers load it from there), or null where it did not build, with
 * `COFFER_ZSTD=off`, or with `COFFER_ZSTD_NAPI=off` (as where it did not build: tests of the other paths). Readers
 * decode with it: one reused `ZSTD_DCtx` per thread into a buffer of the blob's size, where the writer's add-on
 * builds a context, a window and a doubling output per call — 2.6–2.8× slower for a 4.7 KiB and a 200 KiB text blob
 * alike (FORMAT.md, "Readers on libzstd's own decoder"). Writers compress the blobs they compress on their own
 * thread with it (`napiCompress`).
 */
export function zstdNapi(): { mod: Napi; path: string } | null {
  if (process.env.COFFER_ZSTD === 'off' || process.env.COFFER_ZSTD_NAPI === 'off') return null;
  if (napi === undefined) {
    try {
      const req = createRequire(import.meta.url);
      const path = req.resolve(`${ZSTD_NAPI_PACKAGE}/binding.js`);
      napi = { mod: req(path) as Napi, path };
    } catch {
      napi = null;
    }
  }
  return napi;
}

/** Node ≥ 22.15 decodes zstd itself: the reader's fallback when the add-on is missing (@types/node 20 does not know it). */
type ZstdDecompress = (buf: Buffer, opts: { chunkSize: number }, cb: (err: Error | null, out: Buffer) => void) => void;
function builtinZstd(): ZstdDecompress | undefined {
  return process.env.COFFER_ZSTD === 'off' ? undefined : (zlib as unknown as { zstdDecompress?: ZstdDecompress }).zstdDecompress;
}

/**
 * Where a reader (a restore or check worker, `decompress`) has both decoders, blobs of this many raw bytes or more are
 * decoded by Node's own. The add-on's decode is a streaming one (zstd-rs `Decoder` read to the end: a window buffer per
 * call and an output vector grown by doubling, handed over as an external buffer freed by a finalizer); Node's gets an
 * output chunk of the blob's size.
 * Node 22.23, paired restores (FORMAT.md, "Restore peak RSS, rmem"): one 1 GiB file 237–255 → 147–157 MiB, 512 MiB
 * mixed 176–184 → 156–157, at equal or lower CPU; but for 30,000 blobs of 1–8 KiB Node's (a zlib handle per call) cost
 * 135 → 156 MiB and +10% CPU, so small blobs stay with the add-on.
 */
export const ZSTD_BUILTIN_FROM = 256 * 1024;

/**
 * How a worker thread decodes zstd: libzstd's decoder (`zstdNapi`) when it loads, else the writer's add-on's
 * path, Node's built-in and from which blob size it is preferred; the message to refuse with.
 */
export function zstdReader(): { dctx?: string; path?: string; builtin: boolean; builtinFrom: number; missing: string } {
  return { dctx: zstdNapi()?.path, path: zstdAddon()?.path, builtin: builtinZstd() !== undefined, builtinFrom: ZSTD_BUILTIN_FROM, missing: zstdMissing() };
}

/** What a reader without any zstd decoder is told (workers get the same text). */
export function zstdMissing(): string {
  return `compressed with zstd, which this process cannot decode: install ${ZSTD_NAPI_PACKAGE} or ${ZSTD_PACKAGE} (npm install; neither loads for ${process.platform}-${process.arch} here) or run on Node ≥ 22.15 (zstd built in; this is ${process.version})`;
}

/** zstd when the add-on loads, else brotli as before 2026-12-07. A backup picks it once (BlobSaver) and passes it on. */
export function writerCodec(setting: CompressionSetting = 'auto'): Codec {
  if (setting === 'off') return { comp: Compression.None, levels: [0, 0, 0, 0, 0] };
  const zstd = zstdAddon() !== null;
  if (setting === 'max') return zstd ? { comp: Compression.Zstd, levels: ZSTD_MAX } : { comp: Compression.Brotli, levels: BROTLI_MAX };
  return zstd ? { comp: Compression.Zstd, levels: ZSTD_AUTO } : { comp: Compression.Brotli, levels: BROTLI_AUTO };
}

/** Frames at most this long get their content size in the header (`contentSized`); far under zstd's default decoder limit of 2^27. */
export const ZSTD_SIZED_MAX = 64 * 1024 * 1024;

/**
 * The add-on's frame with its content size written into the header (RFC 8878 §3.1.1.1): Single_Segment_Flag set,
 * Frame_Content_Size in the smallest field that holds it, Window_Descriptor dropped (a single segment's window is
 * its content size). The blocks are unchanged: every match of the encoder's 2 MiB window reaches back within the
 * content. Why: the add-on streams without a size hint, so its frames say only "window 2^21" (level 3), and every
 * decoder — the add-on's, Node's — then allocates a 2 MiB window per blob: restore and check of 512 MiB mixed
 * peaked at 259 / 255 MiB instead of brotli's 158 / 129. With the size known a decoder allocates at most the
 * content. Leaves a frame that already has a size, a dictionary, or is not the add-on's shape unchanged.
 */
export function contentSized(frame: Buffer, size: number): Buffer {
  const fhd = frame[4]!;
  // FCS flag 0, single segment 0, reserved 0, no dictionary id (the checksum flag may be set): magic ‖ FHD ‖ WD ‖ blocks
  if (frame.length < 6 || frame.readUInt32LE(0) !== 0xfd2fb528 || (fhd & 0xfb) !== 0 || size > ZSTD_SIZED_MAX) return frame;
  const [flag, bytes] = size < 256 ? [0, 1] : size < 65536 + 256 ? [1, 2] : [2, 4];
  const out = Buffer.allocUnsafe(frame.length - 1 + bytes);
  frame.copy(out, 0, 0, 4);
  out[4] = (flag << 6) | 0x20 | (fhd & 0x04);
  if (bytes === 1) out[5] = size;
  else if (bytes === 2) out.writeUInt16LE(size - 256, 5);
  else out.writeUInt32LE(size, 5);
  frame.copy(out, 5 + bytes, 6);
  return out;
}

/** One zstd encoder per level per thread: the add-on keeps only the level in it (it sets up a context per call). */
const encoders = new Map<number, InstanceType<ZstdAddon['Encoder']>>();

function zstdEncoder(level: number): InstanceType<ZstdAddon['Encoder']> {
  let e = encoders.get(level);
  if (!e) {
    const { Encoder } = zstdAddon()!.mod;
    encoders.set(level, (e = new Encoder(level)));
  }
  return e;
}

let cctx: InstanceType<Napi['CCtx']> | undefined;
let scratch = Buffer.alloc(0);

/**
 * A blob compressed on this thread: libzstd's one-shot with this thread's reused context, into a reused buffer, then
 * copied out. With the size known, the frame carries it (no `contentSized`) and libzstd sizes its tables to the input;
 * the add-on built a context per call, with 768 KiB of tables for any input (the `cpuid` pair that traps to this
 * hypervisor included). A first backup of 3,000 small files: 6.09 → 5.81 G instructions (callgrind, whole process),
 * stored bytes −0.3% (FORMAT.md, "The writer on libzstd too").
 */
function napiCompress(mod: Napi, buf: Buffer, level: number): Buffer {
  const bound = mod.compressBound(buf.length);
  if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(Math.max(bound, 64 * 1024));
  return Buffer.from(scratch.subarray(0, (cctx ??= new mod.CCtx()).compress(scratch, buf, level)));
}

/** Runs on the libuv pool. Returns the original bytes when compression does not pay (`tier`, `KEEP_AT_MOST`). */
export async function maybeCompress(buf: Buffer, codec: Codec = writerCodec()): Promise<{ data: Buffer; comp: Compression }> {
  const level = codec.levels[tier(buf)]!;
  if (!level) return { data: buf, comp: Compression.None };
  const out = codec.comp === Compression.Zstd ? contentSized(await zstdEncoder(level).encode(buf), buf.length) : await brotliAsync(buf, brotliOptions(buf, level));
  return kept(buf, out, codec.comp);
}

/**
 * The same, on this thread: for small files (≤ 32 KiB), where a trip to the thread pool costs more than
 * compressing. zstd through libzstd's one-shot where zstd-napi loads (the seal workers do the same), else the add-on.
 */
export function maybeCompressSync(buf: Buffer, codec: Codec = writerCodec()): { data: Buffer; comp: Compression } {
  const level = codec.levels[tier(buf)]!;
  if (!level) return { data: buf, comp: Compression.None };
  const z = codec.comp === Compression.Zstd ? zstdNapi() : null;
  const out = z ? napiCompress(z.mod, buf, level) : codec.comp === Compression.Zstd ? contentSized(zstdEncoder(level).encodeSync(buf), buf.length) : zlib.brotliCompressSync(buf, brotliOptions(buf, level));
  return kept(buf, out, codec.comp);
}

/** Output in one chunk sized to the input (a 64 KiB minimum was 60 KiB of garbage per small file: GC was 15% of a 20,000-file backup). */
function brotliOptions(buf: Buffer, quality: number) {
  return { chunkSize: buf.length + 1024, params: { [zlib.constants.BROTLI_PARAM_QUALITY]: quality, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buf.length, [zlib.constants.BROTLI_PARAM_LGWIN]: BROTLI_LGWIN } };
}

function kept(buf: Buffer, out: Buffer, comp: Compression): { data: Buffer; comp: Compression } {
  if (out.length > buf.length * KEEP_AT_MOST) return { data: buf, comp: Compression.None };
  return { data: out, comp };
}

let decoder: InstanceType<ZstdAddon['Decoder']> | undefined;
let dctx: InstanceType<Napi['DCtx']> | undefined;

/**
 * One zstd frame into a buffer of `rawLength` bytes with this thread's reused context. A shorter frame comes back short
 * (the caller's length check names it); a longer one is refused naming the length, as the other decoders' are.
 */
function decodeExact(mod: Napi, data: Buffer, rawLength: number, what: string): Buffer {
  const out = Buffer.allocUnsafe(rawLength);
  let n: number;
  try {
    n = (dctx ??= new mod.DCtx()).decompress(out, data);
  } catch (e) {
    if (/Destination buffer is too small/.test((e as Error).message)) throw new RepoError('E_REPO_CORRUPT', `${what}: decompressed to more than ${rawLength} bytes, expected ${rawLength}`);
    throw e;
  }
  return n === rawLength ? out : out.subarray(0, n);
}

/** A stored blob's plaintext (on libuv's pool), checked against its recorded raw length. */
export async function decompress(data: Buffer, comp: number, rawLength: number, what: string): Promise<Buffer> {
  if (comp === Compression.None) return data;
  let out: Buffer;
  if (comp === Compression.Brotli) {
    // right-sized output (restore-workers.ts): a 64 KiB minimum held 64 KiB per small blob until GC
    out = await unbrotliAsync(data, { chunkSize: Math.max(64, rawLength + 1) });
  } else if (comp === Compression.Zstd) {
    // libzstd's decoder; without it the writer's add-on for small blobs, Node's own from ZSTD_BUILTIN_FROM, as on the workers
    const exact = zstdNapi();
    const builtin = builtinZstd();
    const z = exact || (builtin && rawLength >= ZSTD_BUILTIN_FROM) ? null : zstdAddon();
    if (!exact && !z && !builtin) throw new RepoError('E_REPO_CODEC', `${what}: ${zstdMissing()}`);
    try {
      out = exact ? decodeExact(exact.mod, data, rawLength, what) : z ? await (decoder ??= new z.mod.Decoder()).decode(data) : await promisify(builtin!)(data, { chunkSize: Math.max(64, rawLength + 1) });
    } catch (e) {
      if (e instanceof RepoError) throw e;
      throw new RepoError('E_REPO_CORRUPT', `${what}: not a zstd frame (${(e as Error).message})`);
    }
  } else throw new RepoError('E_REPO_VERSION', `${what}: unknown compression ${comp} (written by a newer Coffer?)`);
  if (out.length !== rawLength) throw new RepoError('E_REPO_CORRUPT', `${what}: decompressed to ${out.length} bytes, expected ${rawLength}`);
  return out;
}
