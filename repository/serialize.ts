import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import { RepoError } from './errors.ts';
import { seal, unseal } from './crypto.ts';

/**
 * Metadata objects (config, index, snapshots, locks) are stored as
 * `seal(flag ‖ payload)` where flag 0 = raw JSON, 1 = brotli JSON.
 */
export function encodeJSON(key: Buffer, value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value));
  if (json.length > 512) {
    const c = brotliCompressSync(json, { params: { [zc.BROTLI_PARAM_QUALITY]: 4 } });
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
