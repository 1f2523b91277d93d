/**
 * A mover in a 256 MiB Pod: 1 GiB (384 MiB in the suite) of mixed data backed up and restored by `coffer repo` with the budget a
 * 256 MiB cgroup limit gives (memory.ts resolveBudget), the peak RSS of each run under 256 MiB.
 *
 * Not a cgroup: this machine's cgroup v1 hierarchy is not ours to change, so the CLI runs as it ships (one
 * esbuild bundle, as in a mover image) with `--memory-budget` set to what the limit would derive, and reports
 * its own VmHWM (peak resident set, /proc/self/status) as it exits. A cgroup would kill the process at the
 * same figure; this test fails at it instead.
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBudget } from '../../repository/memory.ts';
import { MOVER_ENV } from '../../reconciler/volumes/mover.ts';
import { prng, tempDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LIMIT = 256 * 1024 * 1024;
/**
 * Data size in MiB: 1 GiB is the case (`COFFER_MEMORY_TEST_MIB=1024`, 2–3 min on two loaded cores); the suite
 * runs 384 MiB — still more than the limit, so nothing fits in memory whole — to stay within its time.
 */
const DATA_MIB = Number(process.env.COFFER_MEMORY_TEST_MIB ?? 384);

/**
 * DATA_MIB in files of 32 MiB, 60% random and 40% log-like text (64 KiB pieces of an 8 MiB corpus at
 * pseudo-random offsets: compressible, not deduplicable at 1 MiB chunks). Written fast: the bench's dataset
 * generator took 100 s here on a loaded machine.
 */
function writeData(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const words = 'order payment invoice customer cart checkout shipment inventory GET POST 200 404 500 ms pod namespace'.split(' ');
  const noise = prng(1 << 20, 5);
  let corpus = '';
  for (let i = 0; corpus.length < 8 << 20; i++) corpus += `{"ts":${1700000000000 + i * 37},"level":"info","msg":"${words[noise[i % noise.length]! % words.length]} ${words[noise[(i * 7) % noise.length]! % words.length]} /api/v1/${noise[(i * 13) % noise.length]}${i}"}\n`;
  const text = Buffer.from(corpus);
  const rnd = createCipheriv('aes-256-ctr', Buffer.alloc(32, 9), Buffer.alloc(16));
  const MiB = 1 << 20;
  for (let f = 0; f < DATA_MIB / 32; f++) {
    const out = Buffer.allocUnsafe(32 * MiB);
    if (f % 5 < 3) rnd.update(Buffer.alloc(32 * MiB)).copy(out);
    else
      for (let o = 0; o < out.length; o += 64 * 1024) {
        const from = noise.readUInt32LE(((o >> 14) + f * 4099) % (noise.length - 4)) % (text.length - 64 * 1024);
        text.copy(out, o, from, from + 64 * 1024);
      }
    writeFileSync(path.join(dir, `f-${String(f).padStart(2, '0')}.${f % 5 < 3 ? 'bin' : 'log'}`), out);
  }
}

let t: ReturnType<typeof tempDir>;
let cli: string;

beforeAll(async () => {
  t = tempDir('memlimit');
  const entry = path.join(t.dir, 'entry.ts');
  // the CLI as shipped, then its own peak RSS on stderr as the last line
  writeFileSync(
    entry,
    [
      `import { readFileSync } from 'node:fs';`,
      `import { releaseStartupHeapFlag } from ${JSON.stringify(path.join(ROOT, 'cli/v8-flags.ts'))};`,
      `import { run } from ${JSON.stringify(path.join(ROOT, 'cli/repo.ts'))};`,
      `import { processIO } from ${JSON.stringify(path.join(ROOT, 'cli/io.ts'))};`,
      // as cli/bin.ts does first (worker threads take their young generation from resourceLimits after it)
      'await releaseStartupHeapFlag();',
      'const code = await run(process.argv.slice(2), processIO());',
      `const hwm = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1];`,
      'process.stderr.write(`VmHWM ${hwm}\\n`);',
      'process.exitCode = code;',
      '',
    ].join('\n'),
  );
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: path.join(t.dir, 'coffer-repo.mjs'),
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cofferRequire } from 'node:module'; const require = __cofferRequire(import.meta.url);" },
  });
  cli = path.join(t.dir, 'coffer-repo.mjs');
  // add-ons loaded with createRequire (the zstd codec, xattrs) resolve from the bundle's folder, as from dist/
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(t.dir, 'node_modules'));
  writeData(path.join(t.dir, 'data'));
}, 300_000);

afterAll(() => t?.cleanup());

function coffer(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; peak: number }> {
  return new Promise((resolve, reject) => {
    // the mover Pod's environment (V8's young generation, malloc arenas, libuv's pool), as the Job sets it
    const env = { ...process.env, ...Object.fromEntries(MOVER_ENV.map((e) => [e.name, e.value])), COFFER_PASSWORD: 'memory-limit-test' };
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /VmHWM (\d+)\n$/.exec(stderr);
      resolve({ code, stdout, stderr, peak: m ? Number(m[1]) * 1024 : NaN });
    });
  });
}

async function hashTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const h = createHash('sha256');
        for await (const c of createReadStream(p)) h.update(c as Buffer);
        out.set(path.relative(dir, p), h.digest('hex'));
      }
    }
  };
  await walk(dir);
  return out;
}

describe('a mover under a 256 MiB memory limit', () => {
  it(`backs up and restores ${DATA_MIB} MiB with peak RSS under 256 MiB, byte for byte`, async () => {
    // the budget a 256 MiB cgroup v2 limit gives the CLI
    const { budget } = resolveBudget(undefined, (f) => (f === '/sys/fs/cgroup/memory.max' ? `${LIMIT}\n` : undefined));
    const flag = ['--memory-budget', `${budget}`];
    const repo = path.join(t.dir, 'repo');
    const init = await coffer(['init', '--repo', repo]);
    expect(init.code, init.stderr).toBe(0);

    const b = await coffer(['backup', '--repo', repo, '--output', 'json', ...flag, path.join(t.dir, 'data')]);
    expect(b.code, b.stderr).toBe(0);
    const snap = (JSON.parse(b.stdout) as { snapshotId: string; stats: { bytesRead: number } }).snapshotId;
    expect((JSON.parse(b.stdout) as { stats: { bytesRead: number } }).stats.bytesRead).toBe(DATA_MIB * 1024 * 1024);
    expect(b.peak, `backup peak RSS ${Math.round(b.peak / 2 ** 20)} MiB`).toBeLessThan(LIMIT);

    const target = path.join(t.dir, 'out');
    const r = await coffer(['restore', '--repo', repo, ...flag, snap, target]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.peak, `restore peak RSS ${Math.round(r.peak / 2 ** 20)} MiB`).toBeLessThan(LIMIT);
    expect(await hashTree(path.join(target, 'data'))).toEqual(await hashTree(path.join(t.dir, 'data')));
    process.stderr.write(`[memory-limit] budget ${budget / 2 ** 20} MiB: backup peak ${Math.round(b.peak / 2 ** 20)} MiB, restore peak ${Math.round(r.peak / 2 ** 20)} MiB\n`);
  }, 600_000);
});
