import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, scrypt as scryptCb, webcrypto } from 'node:crypto';
import { RepoError } from './errors.ts';

const NONCE = 12;
const TAG = 16;
/** Bytes an encrypted object adds to its plaintext: nonce + GCM tag. */
export const SEAL_OVERHEAD = NONCE + TAG;

/** The repository's secrets: one AES-256-GCM key and one HMAC-SHA256 key for blob ids. */
export interface MasterKey {
  encrypt: Buffer;
  mac: Buffer;
}

export function newMasterKey(): MasterKey {
  return { encrypt: randomBytes(32), mac: randomBytes(32) };
}

/**
 * AES-256-GCM with a fresh random 96-bit nonce per object: `nonce ‖ ciphertext ‖ tag`.
 * Random nonces are safe far beyond any repository's object count (2^32 objects per key).
 */
export function seal(key: Buffer, plain: Buffer): Buffer {
  const nonce = nextNonce();
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const out = Buffer.allocUnsafe(NONCE + plain.length + TAG);
  nonce.copy(out, 0);
  const n = c.update(plain).copy(out, NONCE);
  c.final();
  c.getAuthTag().copy(out, NONCE + n);
  return out;
}

let nonces = Buffer.alloc(0);
let nonceAt = 0;
/**
 * 96 random bits per object, drawn 4096 nonces at a time: one randomBytes call per sealed blob was 5% of
 * a 20,000-small-file backup. Same CSPRNG, same uniqueness argument (random nonces, far below 2^32 per key).
 */
function nextNonce(): Buffer {
  if (nonceAt === nonces.length) {
    nonces = randomBytes(NONCE * 4096);
    nonceAt = 0;
  }
  const n = nonces.subarray(nonceAt, nonceAt + NONCE);
  nonceAt += NONCE;
  return n;
}

/** Authenticated decryption; any flipped bit raises E_REPO_CORRUPT naming `what`. */
export function unseal(key: Buffer, sealed: Buffer, what: string): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new RepoError('E_REPO_CORRUPT', `${what}: too short to be an encrypted object (${sealed.length} bytes)`);
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    const body = d.update(sealed.subarray(NONCE, sealed.length - TAG));
    d.final();
    return body;
  } catch {
    throw new RepoError('E_REPO_CORRUPT', `${what}: authentication failed (data is damaged or was tampered with)`);
  }
}

const subtle = webcrypto.subtle;
type CryptoKeyT = Awaited<ReturnType<typeof subtle.importKey>>;

/**
 * Async variants run on libuv's thread pool (WebCrypto jobs), so hashing and
 * encryption of one chunk overlap with chunking of the next on another core
 * without worker threads. The WebCrypto keys are imported on first use: opening a repository does not wait for
 * WebCrypto's first load (2–6 ms, more on a loaded box), which a backup's main path never uses.
 */
export class AsyncCrypto {
  private imported: Promise<{ aes: CryptoKeyT; hmac: CryptoKeyT }> | undefined;
  private constructor(private readonly k: MasterKey) {}

  static async create(k: MasterKey): Promise<AsyncCrypto> {
    return new AsyncCrypto(k);
  }

  private keys(): Promise<{ aes: CryptoKeyT; hmac: CryptoKeyT }> {
    this.imported ??= (async () => ({
      aes: await subtle.importKey('raw', this.k.encrypt, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']),
      hmac: await subtle.importKey('raw', this.k.mac, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
    }))();
    return this.imported;
  }

  async blobId(data: Uint8Array): Promise<string> {
    return Buffer.from(await subtle.sign('HMAC', (await this.keys()).hmac, data)).toString('hex');
  }

  /** SHA-256 of a stored object (pack names), hashed off the main thread. */
  async storageId(data: Uint8Array): Promise<string> {
    return Buffer.from(await subtle.digest('SHA-256', data)).toString('hex');
  }

  async seal(plain: Uint8Array): Promise<Buffer> {
    const nonce = randomBytes(NONCE);
    const ct = await subtle.encrypt({ name: 'AES-GCM', iv: nonce }, (await this.keys()).aes, plain);
    return Buffer.concat([nonce, Buffer.from(ct)]);
  }

  async unseal(sealed: Buffer, what: string): Promise<Buffer> {
    if (sealed.length < SEAL_OVERHEAD) throw new RepoError('E_REPO_CORRUPT', `${what}: too short to be an encrypted object`);
    const { aes } = await this.keys();
    try {
      return Buffer.from(await subtle.decrypt({ name: 'AES-GCM', iv: sealed.subarray(0, NONCE) }, aes, sealed.subarray(NONCE)));
    } catch {
      throw new RepoError('E_REPO_CORRUPT', `${what}: authentication failed (data is damaged or was tampered with)`);
    }
  }
}

/** Blob ids are keyed so a stored id never reveals the plaintext's public hash. */
export function blobId(k: MasterKey, data: Uint8Array): string {
  return createHmac('sha256', k.mac).update(data).digest('hex');
}

/** Names of stored files: SHA-256 of their stored (encrypted) bytes, so `check` can verify them without keys. */
export function storageId(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * N=2^14, r=8, p=1 (16 MiB): the parameters restic 0.14 calibrated on this machine, ~50 ms per open
 * on an idle core (measurements in FORMAT.md). Every `coffer repo` command and mover Job pays it once;
 * stored per key file, so a key can be re-added with stronger parameters.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 14, r: 8, p: 1 };

export function deriveKey(password: string, salt: Buffer, p: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, 32, { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 16 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
