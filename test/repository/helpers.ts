import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileBackend, initRepository, type Repository } from '../../repository/index.ts';

/** Cheap scrypt for tests; the default (N=2^15) is exercised by the CLI tests. */
export const FAST_KDF = { N: 1 << 10, r: 8, p: 1 };

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `coffer-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function newRepo(dir: string, opts: { packSize?: number } = {}): Promise<{ repo: Repository; backend: FileBackend }> {
  const backend = new FileBackend(dir);
  const repo = await initRepository(backend, 'test-password', { scrypt: FAST_KDF, ...opts });
  return { repo, backend };
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function prng(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function text(n: number): Buffer {
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const s = JSON.stringify({ id: i, name: `item-${i}`, ok: i % 3 === 0 }) + '\n';
    parts.push(s);
    len += s.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

export { randomBytes };

/** Everything a restore must reproduce, per relative path: mode, owner, mtime to the microsecond, content hash, link. */
export function describeTree(root: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const visit = (rel: string) => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const entry: Record<string, unknown> = { mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid) };
    if (!st.isSymbolicLink()) entry.mtimeUs = (st.mtimeNs / 1000n).toString();
    if (st.isSymbolicLink()) entry.link = readlinkSync(abs);
    else if (st.isFile()) {
      entry.size = Number(st.size);
      entry.sha = createHash('sha256').update(readFileSync(abs)).digest('hex');
    } else if (st.isDirectory()) for (const c of readdirSync(abs).sort()) visit(rel ? `${rel}/${c}` : c);
    out[rel || '.'] = entry;
  };
  visit('');
  return out;
}
