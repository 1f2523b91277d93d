/**
 * Where a repository's bytes go, for Coffer's and restic's repositories side by side (`bench:mover` prints it
 * after every backup phase; `tsx test/bench/mover-bytes.ts coffer|restic DIR` prints one). Every stored byte
 * falls in exactly one bucket, and the buckets sum to the directory's size (`unaccounted` shows any remainder):
 *
 *   dataPayload / treePayload  a blob's encrypted body without its framing (compressed where it paid)
 *   blobFraming                nonce + tag per blob (Coffer 12 + 16, restic IV 16 + MAC 16)
 *   packHeaders                each pack's encrypted header and its length field
 *   index, snapshots, keys, config, other   the rest of the repository's files
 *
 * Coffer's figures come from opening the repository (index, then each pack's header length from its tail);
 * restic's from `restic cat index` (blob lengths) and file sizes, so neither tool's own accounting is trusted.
 */
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { FileBackend } from '../../repository/backend/fs.ts';
import { SEAL_OVERHEAD } from '../../repository/crypto.ts';
import { openRepository } from '../../repository/repo.ts';

export interface ByteBreakdown {
  total: number;
  blobs: { data: number; tree: number };
  /** Plaintext bytes the blobs hold (before compression). */
  raw: { data: number; tree: number };
  dataPayload: number;
  treePayload: number;
  blobFraming: number;
  packHeaders: number;
  packs: number;
  index: number;
  indexFiles: number;
  snapshots: number;
  keys: number;
  config: number;
  other: number;
  unaccounted: number;
}

async function* files(dir: string): AsyncGenerator<{ rel: string; size: number }> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      for await (const f of files(p)) yield { rel: path.join(e.name, f.rel), size: f.size };
    } else if (e.isFile()) yield { rel: e.name, size: (await stat(p)).size };
  }
}

/** File sizes by top-level folder (`data`, `index`, …; `config` for the file of that name). */
async function sizesByFolder(dir: string) {
  const by = new Map<string, { bytes: number; count: number; sizes: Map<string, number> }>();
  for await (const f of files(dir)) {
    const top = f.rel.split(path.sep)[0]!;
    const b = by.get(top) ?? { bytes: 0, count: 0, sizes: new Map() };
    b.bytes += f.size;
    b.count++;
    b.sizes.set(path.basename(f.rel), f.size);
    by.set(top, b);
  }
  return by;
}

interface PackBlobs {
  id: string;
  blobs: { type: 'data' | 'tree'; length: number; rawLength: number }[];
}

/** Sum the packs' blobs (each pack once) and put every other file of the repository in its bucket. */
function tally(by: Awaited<ReturnType<typeof sizesByFolder>>, overhead: number, packs: Iterable<PackBlobs>): ByteBreakdown {
  const blobs = { data: 0, tree: 0 };
  const raw = { data: 0, tree: 0 };
  const payload = { data: 0, tree: 0 };
  const packSizes = by.get('data')?.sizes ?? new Map<string, number>();
  const seen = new Set<string>();
  let stored = 0;
  let packBytes = 0;
  for (const p of packs) {
    if (seen.has(p.id)) continue;
    seen.add(p.id);
    packBytes += packSizes.get(p.id) ?? 0;
    for (const b of p.blobs) {
      blobs[b.type]++;
      raw[b.type] += b.rawLength;
      stored += b.length;
      payload[b.type] += b.length - overhead;
    }
  }
  const get = (k: string) => by.get(k)?.bytes ?? 0;
  const total = [...by.values()].reduce((a, v) => a + v.bytes, 0);
  const known = new Set(['data', 'index', 'snapshots', 'keys', 'config']);
  const other = [...by].filter(([k]) => !known.has(k)).reduce((a, [, v]) => a + v.bytes, 0);
  const out: ByteBreakdown = {
    total,
    blobs,
    raw,
    dataPayload: payload.data,
    treePayload: payload.tree,
    blobFraming: (blobs.data + blobs.tree) * overhead,
    packHeaders: packBytes - stored,
    packs: by.get('data')?.count ?? 0,
    index: get('index'),
    indexFiles: by.get('index')?.count ?? 0,
    snapshots: get('snapshots'),
    keys: get('keys'),
    config: get('config'),
    other,
    unaccounted: 0,
  };
  out.unaccounted = total - (out.dataPayload + out.treePayload + out.blobFraming + out.packHeaders + out.index + out.snapshots + out.keys + out.config + other);
  return out;
}

export async function cofferBreakdown(dir: string, password: string): Promise<ByteBreakdown> {
  const by = await sizesByFolder(dir);
  const repo = await openRepository(new FileBackend(dir), password);
  await repo.loadIndex();
  return tally(by, SEAL_OVERHEAD, [...repo.packs].map(([id, blobs]) => ({ id, blobs })));
}

interface ResticIndex {
  packs: { id: string; blobs: { type: 'data' | 'tree'; length: number; uncompressed_length?: number }[] }[];
}

/** restic's IV (16) + Poly1305-AES MAC (16) per blob. */
const RESTIC_OVERHEAD = 32;

export async function resticBreakdown(dir: string, env: NodeJS.ProcessEnv): Promise<ByteBreakdown> {
  const by = await sizesByFolder(dir);
  const run = promisify(execFile);
  const packs: PackBlobs[] = [];
  for (const idx of by.get('index')?.sizes.keys() ?? []) {
    const { stdout } = await run('restic', ['cat', 'index', idx, '--no-cache'], { env: { ...env, RESTIC_REPOSITORY: dir }, maxBuffer: 1 << 30 });
    for (const p of (JSON.parse(stdout) as ResticIndex).packs) {
      packs.push({ id: p.id, blobs: p.blobs.map((b) => ({ type: b.type, length: b.length, rawLength: b.uncompressed_length ?? b.length - RESTIC_OVERHEAD })) });
    }
  }
  return tally(by, RESTIC_OVERHEAD, packs);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [tool, dir] = process.argv.slice(2);
  const pw = process.env.COFFER_PASSWORD ?? process.env.RESTIC_PASSWORD ?? 'bench-password-not-secret';
  const out = tool === 'restic' ? await resticBreakdown(dir!, { ...process.env, RESTIC_PASSWORD: pw }) : await cofferBreakdown(dir!, pw);
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}
