import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { brotliCompressSync, brotliDecompressSync, constants as zc, createBrotliCompress } from 'node:zlib';
import { RepoError } from './errors.ts';
import { seal, unseal } from './crypto.ts';

/** Metadata bodies above this are compressed at brotli quality 1 instead of 4 (encodeJSON). */
const LARGE_JSON = 256 * 1024;

/**
 * Metadata objects (config, index, snapshots, locks) are stored as
 * `seal(flag ‖ payload)` where flag 0 = raw JSON, 1 = brotli JSON.
 */
export function encodeJSON(key: Buffer, value: unknown): Buffer {
  return encodeJSONBytes(key, Buffer.from(JSON.stringify(value)));
}

function encodeJSONBytes(key: Buffer, json: Buffer): Buffer {
  if (json.length > 512) {
    // Quality 1 above 256 KiB: a backup's index (mostly hex ids) is written after its last pack, with nothing to
    // overlap; for 30,000 blobs (2.7 MB of JSON) q4 took 1.3–1.6 s and q1 0.23 s at load 23, for 1.14 vs 1.31 MB.
    const c = brotliCompressSync(json, { params: { [zc.BROTLI_PARAM_QUALITY]: json.length > LARGE_JSON ? 1 : 4 } });
    if (c.length < json.length) return seal(key, Buffer.concat([Buffer.from([1]), c]));
  }
  return seal(key, Buffer.concat([Buffer.from([0]), json]));
}

export function decodeJSON<T>(key: Buffer, stored: Buffer, what: string): T {
  return parseJSON<T>(decodeText(key, stored, what), what);
}

/** A metadata object's JSON text as bytes (decrypted, decompressed), for readers that scan it without JSON.parse (index-file.ts). */
export function decodeText(key: Buffer, stored: Buffer, what: string): Buffer {
  const plain = unseal(key, stored, what);
  if (plain[0] === 0) return plain.subarray(1);
  if (plain[0] === 1) return brotliDecompressSync(plain.subarray(1));
  throw new RepoError('E_REPO_VERSION', `${what}: unknown encoding ${plain[0]}`);
}

export function parseJSON<T>(text: Buffer, what: string): T {
  try {
    return JSON.parse(text.toString('utf8')) as T;
  } catch {
    throw new RepoError('E_REPO_CORRUPT', `${what}: not valid JSON after decryption`);
  }
}

/**
 * `encodeJSON` of a JSON text given in pieces (index-file.ts `indexText`), without the whole text in memory: up to
 * LARGE_JSON it is encodeJSON's bytes exactly; past that the pieces stream through brotli at quality 1 as they come.
 * (Kept compressed even if brotli did not shrink it: past 256 KiB of hex ids it always does, and readers take both.)
 */
export async function encodeText(key: Buffer, pieces: Iterable<string>): Promise<Buffer> {
  const head: Buffer[] = [];
  let bytes = 0;
  const it = pieces[Symbol.iterator]();
  for (let r = it.next(); !r.done; r = it.next()) {
    const b = Buffer.from(r.value);
    head.push(b);
    bytes += b.length;
    if (bytes <= LARGE_JSON) continue;
    const out: Buffer[] = [Buffer.from([1])];
    const rest = function* () {
      yield* head.splice(0);
      for (let n = it.next(); !n.done; n = it.next()) yield Buffer.from(n.value);
    };
    await pipeline(Readable.from(rest()), createBrotliCompress({ params: { [zc.BROTLI_PARAM_QUALITY]: 1 } }), async (compressed: AsyncIterable<Buffer>) => {
      for await (const c of compressed) out.push(c);
    });
    return seal(key, Buffer.concat(out));
  }
  return encodeJSONBytes(key, Buffer.concat(head));
}
