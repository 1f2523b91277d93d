/**
 * The benchmark's dataset, deterministic from a seed: ~60% incompressible
 * files (random bytes, sizes log-uniform from 4 KiB to 64 MiB) and ~40%
 * compressible text (JSON log lines and Kubernetes-manifest JSON), then a
 * mutation touching ~10% of the files, including bytes inserted in the middle
 * of the largest files (the case content-defined chunking exists for).
 *
 * Planning is pure (`planDataset`, `planMutation`); writing takes a root.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface DatasetSpec {
  totalBytes: number;
  seed: number;
  /** Share of incompressible bytes (default 0.6). */
  incompressibleShare?: number;
}

/** bin: random bytes; text: logs and manifests; mixed: 1 MiB runs of either (a disk image, a database file). */
export type Kind = 'bin' | 'text' | 'mixed';

export interface PlannedFile {
  /** Relative, '/'-separated. */
  path: string;
  kind: Kind;
  size: number;
  seed: number;
}

export interface Mutation {
  path: string;
  kind: Kind;
  op: 'insert' | 'overwrite' | 'append';
  offset: number;
  length: number;
  seed: number;
}

/** mulberry32: tiny, fast, good enough to pick sizes and words deterministically. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logUniform(r: () => number, lo: number, hi: number): number {
  return Math.round(Math.exp(Math.log(lo) + r() * (Math.log(hi) - Math.log(lo))));
}

/** Files to write for `spec`; the same spec always gives the same list. */
export function planDataset(spec: DatasetSpec): PlannedFile[] {
  const r = prng(spec.seed);
  const share = spec.incompressibleShare ?? 0.6;
  const binBudget = Math.round(spec.totalBytes * share);
  const textBudget = spec.totalBytes - binBudget;
  const files: PlannedFile[] = [];
  const fill = (kind: 'bin' | 'text', budget: number, lo: number, hi: number, seeded: number[]) => {
    let left = budget;
    let i = 0;
    const sizes = [...seeded];
    while (left >= lo) {
      let size = i < sizes.length ? sizes[i]! : logUniform(r, lo, hi);
      size = Math.min(size, left);
      if (left - size < lo) size = left; // no runt at the end
      const dir = kind === 'bin' ? `bin/vol-${String(Math.floor(i / 40)).padStart(2, '0')}` : `text/ns-${String(Math.floor(i / 60)).padStart(2, '0')}`;
      const ext = kind === 'bin' ? 'bin' : i % 3 === 0 ? 'json' : 'log';
      files.push({ path: `${dir}/${kind}-${String(i).padStart(5, '0')}.${ext}`, kind, size, seed: Math.floor(r() * 2 ** 31) });
      left -= size;
      i++;
    }
  };
  // Scale the largest file with the dataset so a quick run still has several "large" files.
  const binMax = Math.max(64 * KiB, Math.min(64 * MiB, Math.floor(binBudget / 6)));
  fill('bin', binBudget, 4 * KiB, binMax, [binMax, Math.floor(binMax * 0.75), Math.floor(binMax / 2)]);
  const textMax = Math.max(64 * KiB, Math.min(8 * MiB, Math.floor(textBudget / 8)));
  fill('text', textBudget, 4 * KiB, textMax, [textMax]);
  return files;
}

/** ~`fraction` of the files change: the three largest get bytes inserted mid-file, others a mix. */
export function planMutation(files: PlannedFile[], seed: number, fraction = 0.1): Mutation[] {
  const r = prng(seed ^ 0x5eed);
  const want = Math.max(1, Math.round(files.length * fraction));
  const largest = [...files].sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1)).slice(0, 3);
  const chosen = new Set(largest.map((f) => f.path));
  const order = files.map((f) => ({ f, k: r() })).sort((a, b) => a.k - b.k);
  for (const { f } of order) {
    if (chosen.size >= want) break;
    chosen.add(f.path);
  }
  return files
    .filter((f) => chosen.has(f.path))
    .map((f) => {
      const s = Math.floor(r() * 2 ** 31);
      if (f.size >= 256 * KiB) {
        const length = 1 * KiB + Math.floor(r() * 63 * KiB);
        const op = f.kind === 'text' && r() < 0.5 ? 'append' : 'insert';
        const offset = op === 'append' ? f.size : Math.floor(f.size / 2) + Math.floor((r() - 0.5) * (f.size / 4));
        return { path: f.path, kind: f.kind, op, offset, length, seed: s };
      }
      const length = Math.min(f.size, 512 + Math.floor(r() * 3584));
      return { path: f.path, kind: f.kind, op: 'overwrite' as const, offset: Math.floor(r() * (f.size - length + 1)), length, seed: s };
    });
}

/** One file of `size` bytes of mixed content (the "one 4 GiB file" workload). */
export function planLargeFile(size: number, seed: number): PlannedFile[] {
  return [{ path: 'large/volume.img', kind: 'mixed', size, seed }];
}

/** `count` files of 1–8 KiB (three in four text), 1000 per directory (the "many small files" workload). */
export function planSmallFiles(count: number, seed: number): PlannedFile[] {
  const r = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const kind = r() < 0.75 ? 'text' : 'bin';
    return { path: `small/d-${String(Math.floor(i / 1000)).padStart(3, '0')}/f-${String(i).padStart(6, '0')}.${kind === 'text' ? 'log' : 'bin'}`, kind, size: 1 * KiB + Math.floor(r() * 7 * KiB), seed: Math.floor(r() * 2 ** 31) };
  });
}

/**
 * ~`fraction` of one large file's bytes overwritten in place, in 64 regions spread over it (a database's
 * pages, a VM disk's blocks): no insertion, so the file is never read whole into memory.
 */
export function planLargeMutation(files: PlannedFile[], seed: number, fraction = 0.1): Mutation[] {
  const r = prng(seed ^ 0x1a59e);
  const out: Mutation[] = [];
  for (const f of files) {
    const regions = 64;
    const length = Math.max(1, Math.floor((f.size * fraction) / regions));
    const stride = Math.floor(f.size / regions);
    for (let i = 0; i < regions; i++) {
      const offset = i * stride + Math.floor(r() * Math.max(1, stride - length));
      out.push({ path: f.path, kind: f.kind, op: 'overwrite', offset, length: Math.min(length, f.size - offset), seed: Math.floor(r() * 2 ** 31) });
    }
  }
  return out;
}

/** Incompressible bytes at AES-CTR speed, reproducible from the seed. */
function randomStream(seed: number): (n: number) => Buffer {
  const key = createHash('sha256').update(`coffer-bench-${seed}`).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (n) => c.update(Buffer.alloc(n));
}

const WORDS =
  'order payment invoice customer cart checkout shipment inventory warehouse catalog price discount coupon user session login logout token refresh cache miss hit database query timeout retry backoff replica primary leader follower lease renew snapshot volume claim bound pending running succeeded failed evicted scheduled pulled created started killing backoff readiness liveness probe'.split(
    ' ',
  );
const NAMESPACES = ['shop', 'payments', 'auth', 'search', 'ledger', 'media', 'kube-system', 'monitoring'];
const LEVELS = ['info', 'info', 'info', 'debug', 'warn', 'error'];
const VERBS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];

/** Text that compresses like real logs and manifests (zstd/brotli ratio ~4–6), reproducible from the seed. */
export function textStream(seed: number): (n: number) => Buffer {
  const r = prng(seed);
  let t = Date.UTC(2026, 10, 1) + Math.floor(r() * 1e9);
  let carry = Buffer.alloc(0);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(r() * 16)];
    return s;
  };
  const line = (): string => {
    t += Math.floor(r() * 2000);
    const ns = pick(NAMESPACES);
    if (r() < 0.08) {
      const app = `${pick(WORDS)}-${pick(WORDS)}`;
      return (
        JSON.stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: app, namespace: ns, labels: { app, tier: pick(['web', 'api', 'worker']) }, resourceVersion: String(Math.floor(r() * 1e7)) },
          spec: {
            replicas: 1 + Math.floor(r() * 5),
            selector: { matchLabels: { app } },
            template: {
              metadata: { labels: { app } },
              spec: {
                containers: [
                  {
                    name: app,
                    image: `registry.example.com/${ns}/${app}:1.${Math.floor(r() * 40)}.${Math.floor(r() * 10)}`,
                    ports: [{ containerPort: 8080 }],
                    resources: { requests: { cpu: `${100 + Math.floor(r() * 9) * 100}m`, memory: `${128 * (1 + Math.floor(r() * 8))}Mi` } },
                  },
                ],
              },
            },
          },
        }) + '\n'
      );
    }
    const words = Array.from({ length: 2 + Math.floor(r() * 6) }, () => pick(WORDS)).join(' ');
    return (
      JSON.stringify({
        ts: new Date(t).toISOString(),
        level: pick(LEVELS),
        namespace: ns,
        pod: `${pick(WORDS)}-${hex(5)}`,
        msg: `${pick(VERBS)} /api/v1/${pick(WORDS)}/${Math.floor(r() * 100000)} ${pick([200, 200, 200, 201, 204, 404, 500])} ${Math.floor(r() * 900)}ms ${words}`,
        bytes: Math.floor(r() * 65536),
        trace: hex(8),
      }) + '\n'
    );
  };
  return (n) => {
    const parts: Buffer[] = [carry];
    let have = carry.length;
    while (have < n) {
      let s = '';
      while (s.length < 64 * KiB) s += line();
      const b = Buffer.from(s);
      parts.push(b);
      have += b.length;
    }
    const all = Buffer.concat(parts);
    carry = all.subarray(n);
    return all.subarray(0, n);
  };
}

/** 1 MiB runs, each random or text (60/40), chosen from the seed: compressible and incompressible in one file. */
export function mixedStream(seed: number): (n: number) => Buffer {
  const r = prng(seed ^ 0x31);
  const bin = randomStream(seed);
  const text = textStream(seed);
  let run: Buffer = Buffer.alloc(0);
  return (n) => {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      if (!run.length) run = r() < 0.6 ? bin(MiB) : text(MiB);
      const take = run.subarray(0, n - have);
      run = run.subarray(take.length);
      parts.push(take);
      have += take.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  };
}

let corpus: Buffer | undefined;
/**
 * Small text files are slices of one 16 MiB corpus at a seeded offset: generating log lines per file
 * (64 KiB at a time) would take minutes for 200,000 files. Still compressible, still distinct.
 */
function smallText(seed: number): (n: number) => Buffer {
  corpus ??= textStream(7)(16 * MiB);
  let at = (seed >>> 0) % (corpus.length - 64 * KiB);
  return (n) => {
    const b = Buffer.from(corpus!.subarray(at, at + n));
    at += n;
    return b;
  };
}

function contentStream(kind: Kind, seed: number, size = Infinity): (n: number) => Buffer {
  if (kind === 'mixed') return mixedStream(seed);
  if (kind === 'text' && size <= 32 * KiB) return smallText(seed);
  return kind === 'bin' ? randomStream(seed) : textStream(seed);
}

export async function writeDataset(root: string, files: PlannedFile[]): Promise<{ files: number; bytes: number }> {
  let bytes = 0;
  const dirs = new Set(files.map((f) => path.dirname(f.path)));
  for (const d of dirs) await mkdir(path.join(root, d), { recursive: true });
  for (const f of files) {
    const next = contentStream(f.kind, f.seed, f.size);
    const fh = await open(path.join(root, f.path), 'w');
    try {
      for (let done = 0; done < f.size; ) {
        const n = Math.min(4 * MiB, f.size - done);
        await fh.write(next(n));
        done += n;
      }
    } finally {
      await fh.close();
    }
    bytes += f.size;
  }
  return { files: files.length, bytes };
}

export async function applyMutation(root: string, muts: Mutation[]): Promise<{ files: number; bytesWritten: number }> {
  let bytesWritten = 0;
  for (const m of muts) {
    const p = path.join(root, m.path);
    const patch = contentStream(m.kind, m.seed, m.length)(m.length);
    if (m.op === 'append') {
      const fh = await open(p, 'a');
      await fh.write(patch);
      await fh.close();
    } else if (m.op === 'overwrite') {
      const fh = await open(p, 'r+');
      await fh.write(patch, 0, patch.length, m.offset);
      await fh.close();
    } else {
      const old = await readFile(p);
      await writeFile(p, Buffer.concat([old.subarray(0, m.offset), patch, old.subarray(m.offset)]));
    }
    bytesWritten += patch.length;
  }
  return { files: muts.length, bytesWritten };
}

/** Parse `1GiB`, `256MiB`, `64M`, `1e9` into bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*([KMGT]i?B?|B)?$/i.exec(s.trim());
  if (!m) throw new Error(`--size: cannot read "${s}" (examples: 1GiB, 256MiB, 64M)`);
  const unit = (m[2] ?? 'B').toUpperCase().replace(/I?B$/, '');
  const mult = { '': 1, K: KiB, M: MiB, G: 1024 * MiB, T: 1024 * 1024 * MiB }[unit];
  if (mult === undefined) throw new Error(`--size: unknown unit in "${s}"`);
  return Math.round(Number(m[1]) * mult);
}
