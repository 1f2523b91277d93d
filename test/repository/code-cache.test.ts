/**
 * The data mover as its Job runs it (MOVER_ENV: a start-up `--max-semi-space-size`) loads Node's own modules from
 * Node's built-in code cache, on the main thread and in every worker thread. V8 refuses that cache while any V8 flag
 * differs from its default, and then compiles each module from source — which the mover did for every module after
 * start-up, in every thread (cli/v8-flags.ts, repository/memory.ts `workerHeapLimits`, `gcFunction`). Node reports each
 * built-in module's cache with NODE_DEBUG_NATIVE=CODE_CACHE ("Code cache of zlib (…) is accepted"). zlib is loaded by
 * the verb (repository/compress.ts) and by each worker's source, never during Node's start-up or tsx's: one line per
 * thread, each of which must say "accepted".
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOVER_ENV } from '../../reconciler/volumes/mover.ts';
import { prng, tempDir, text } from './helpers.ts';

const COFFER = fileURLToPath(new URL('../../cli/coffer.js', import.meta.url));

/** `coffer repo …` in the mover's environment; the code cache verdict of each built-in module it compiled, per line. */
function coffer(args: string[]): Promise<{ code: number | null; verdicts: { module: string; accepted: boolean }[]; stderr: string }> {
  const env = { ...process.env, ...Object.fromEntries(MOVER_ENV.map((e) => [e.name, e.value])), COFFER_PASSWORD: 'code-cache-test', NODE_DEBUG_NATIVE: 'CODE_CACHE' };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [COFFER, 'repo', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const verdicts = [...stderr.matchAll(/^Code cache of (\S+) \(.*\) is (accepted|rejected)$/gm)].map((m) => ({ module: m[1]!, accepted: m[2] === 'accepted' }));
      resolve({ code, verdicts, stderr });
    });
  });
}

describe("the mover's threads load Node's modules from its code cache", () => {
  const t = tempDir('code-cache');
  const repo = path.join(t.dir, 'repo');
  const src = path.join(t.dir, 'src');
  beforeAll(async () => {
    // a few MiB: enough to start the seal workers, too little for any collection to be forced (gcEvery ≥ 8 MiB)
    mkdirSync(src);
    writeFileSync(path.join(src, 'large.bin'), prng(3 * 1024 * 1024, 5));
    for (let i = 0; i < 20; i++) writeFileSync(path.join(src, `small-${i}.json`), text(2000 + i));
    expect((await coffer(['init', '--repo', repo])).code).toBe(0);
  }, 120_000);
  afterAll(() => t.cleanup());

  // threads that load zlib: the main thread and the worker threads of each verb (two seal workers; one restore
  // worker beside the main thread as a decoder; two check workers)
  it.each([
    ['backup', () => ['backup', '--repo', repo, src], 3],
    ['restore', () => ['restore', '--repo', repo, 'latest', path.join(t.dir, 'out')], 2],
    ['check --read-data', () => ['check', '--repo', repo, '--read-data'], 3],
  ] as const)('%s', async (_verb, args, threads) => {
    const r = await coffer([...args()]);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const zlib = r.verdicts.filter((v) => v.module === 'zlib');
    expect(zlib).toHaveLength(threads);
    expect(zlib.every((v) => v.accepted)).toBe(true);
  }, 120_000);
});
