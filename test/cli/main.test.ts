import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { main } from '../../cli/main.ts';
import type { CliIO } from '../../cli/io.ts';

function capture(): { io: CliIO; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d) => (o += d));
  stderr.on('data', (d) => (e += d));
  return { io: { stdout, stderr, env: {}, cwd: process.cwd() }, out: () => o, err: () => e };
}

describe('coffer CLI entry', () => {
  it('lists commands on --help and exits 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.out()).toMatch(/validate\s+Validate a policy repository/);
  });

  it('rejects an unknown verb like kubectl does, with exit 1', async () => {
    const c = capture();
    expect(await main(['frobnicate'], c.io)).toBe(1);
    expect(c.err()).toContain('unknown command "frobnicate" for "coffer"');
  });
});
