/**
 * Runs the `coffer` CLI in-process with captured output, as every CLI suite does: `main(argv, io)` returns the exit
 * code, and stdout/stderr are read back as text.
 */
import { PassThrough } from 'node:stream';
import { main } from '../cli/main.ts';
import type { CliIO } from '../cli/io.ts';

export function capture(cwd = process.cwd(), env: NodeJS.ProcessEnv = {}): { io: CliIO; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d) => (o += d));
  stderr.on('data', (d) => (e += d));
  return { io: { stdout, stderr, env, cwd }, out: () => o, err: () => e };
}

/** `coffer ARGV` in `cwd` with exactly `env` (nothing of the test process's environment leaks in). */
export async function runCoffer(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; out: string; err: string }> {
  const c = capture(opts.cwd, opts.env);
  const code = await main(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}
