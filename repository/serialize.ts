import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import { RepoError } from './errors.ts';
import { seal, unseal } from './crypto.ts';

/** Metadata bodies above this are compressed at brotli quality 1 instead of 4 (encodeJSON). */
const LARGE_JSON = 256 * 1024;

/**
 * Metadata objects (config, index, snapshots, locks) are stored as
 * `seal(flag ‖ payload)` where flag 0 = raw JSON, 1 = brotli JSON.
 */
export function encodeJSON(key: Buffer, value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value));
  if (json.length > 512) {
    // Quality 1 above 256 KiB: a backup's index (mostly hex ids) is written after its last pack, with nothing to
    // overlap; for 30,000 blobs (2.7 MB of JSON) q4 took 1.3–1.6 s and q1 0.23 s at load 23, for 1.14 vs 1.31 MB.
    const c = brotliCompressSync(json, { params: { [zc.BROTLI_PARAM_QUALITY]: json.length > LARGE_JSON ? 1 : 4 } });
    if (c.length < json.length) return seal(key, Buffer.concat([Buffer.from([1]), c]));
  }
  return seal(key, Buffer.concat([Buffer.from([0]), json]));
}

export function decodeJSON<T>(key: Buffer, stored: Buffer, what: string): T {
  const plain = unseal(key, stored, what);
  let body: Buffer;
  if (plain[0] === 0) body = plain.subarray(1);
  else if (plain[0] === 1) body = brotliDecompressSync(plain.subarray(1));
  else throw new RepoError('E_REPO_VERSION', `${what}: unknown encoding ${plain[0]}`);
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    throw new RepoError('E_REPO_CORRUPT', `${what}: not valid JSON after decryption`);
  }
}
