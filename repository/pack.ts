import { RepoError } from './errors.ts';

/** One blob's place inside a pack, as recorded in the pack header and the index. */
export interface PackEntry {
  id: string;
  type: BlobType;
  offset: number;
  /** Stored (encrypted, maybe compressed) length. */
  length: number;
  /** Plaintext length after decompression. */
  rawLength: number;
  comp: number;
}

export type BlobType = 'data' | 'tree';

const HEADER_VERSION = 1;
const ENTRY = 1 + 1 + 4 + 4 + 32;
/** Plaintext bytes of one pack header entry. */
export const PACK_ENTRY_BYTES = ENTRY;

/**
 * Pack layout: `blob₁ … blobₙ ‖ seal(header) ‖ u32le(len(seal(header)))`.
 * The plaintext header is `version(1) ‖ n × (type, comp, u32 length, u32 rawLength, id[32])`;
 * offsets follow from the lengths. The header lets an orphaned pack (written
 * by a killed backup before its index) be re-indexed and reused.
 */
export function encodeHeader(entries: PackEntry[]): Buffer {
  const out = Buffer.allocUnsafe(1 + entries.length * ENTRY);
  out[0] = HEADER_VERSION;
  let o = 1;
  for (const e of entries) {
    out[o] = e.type === 'tree' ? 1 : 0;
    out[o + 1] = e.comp;
    out.writeUInt32LE(e.length, o + 2);
    out.writeUInt32LE(e.rawLength, o + 6);
    out.write(e.id, o + 10, 32, 'hex');
    o += ENTRY;
  }
  return out;
}

export function decodeHeader(plain: Buffer, what: string): PackEntry[] {
  if (plain[0] !== HEADER_VERSION) throw new RepoError('E_REPO_VERSION', `${what}: unknown pack header version ${plain[0]}`);
  if ((plain.length - 1) % ENTRY !== 0) throw new RepoError('E_REPO_CORRUPT', `${what}: pack header has a bad length`);
  const out: PackEntry[] = [];
  let offset = 0;
  for (let o = 1; o < plain.length; o += ENTRY) {
    const length = plain.readUInt32LE(o + 2);
    out.push({
      id: plain.toString('hex', o + 10, o + 42),
      type: plain[o] === 1 ? 'tree' : 'data',
      comp: plain[o + 1]!,
      offset,
      length,
      rawLength: plain.readUInt32LE(o + 6),
    });
    offset += length;
  }
  return out;
}
