/**
 * `coffer dev` as users run it: the real executable in a child process, watching a real directory; SIGTERM and
 * Ctrl-C (SIGINT) end it with exit code 0. Flag mistakes are checked in-process through main().
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { CliIO } from '../../cli/io.ts';
import { main } from '../../cli/main.ts';
import { BASE } from '../compiler/helpers.ts';

// Each wait is for a compile on a possibly loaded two-core machine: generous, and never a timing assertion.
vi.setConfig({ testTimeout: 180_000 });

const COFFER = fileURLToPath(new URL('../../cli/coffer.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'coffer-dev-cli-'));
const children: ChildProcess[] = [];
let n = 0;

function repo(): string {
  const dir = join(root, `repo${++n}`);
  for (const [name, text] of Object.entries(BASE)) {
    const rel = name === 'policy.yaml' ? 'policies/db.yaml' : name;
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

/** Starts `coffer dev ARGS` and collects stdout lines; `lines` grows as the child prints. */
function start(args: string[], cwd: string): { child: ChildProcess; lines: string[]; stderr: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [COFFER, 'dev', ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, lines, stderr: () => err, exit };
}

const policy = (daily: number) => BASE['policy.yaml']!.replace('daily: 7', `daily: ${daily}`);

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('coffer dev (executable)', () => {
  it('-o json: one object per compile; SIGTERM exits 0', async () => {
    const dir = repo();
    const p = start(['.', '-o', 'json', '--debounce', '100ms'], dir);
    await expect.poll(() => p.lines.length, { timeout: 45_000, interval: 50 }).toBe(1);
    const first = JSON.parse(p.lines[0]!);
    expect(first).toMatchObject({ seq: 1, status: 'initial', plan: { cluster: 'test', policies: ['db'] } });
    writeFileSync(join(dir, 'policies/db.yaml'), policy(2));
    await expect.poll(() => p.lines.length, { timeout: 45_000, interval: 50 }).toBe(2);
    const second = JSON.parse(p.lines[1]!);
    expect(second).toMatchObject({ seq: 2, status: 'changed', files: [{ event: 'change', path: 'policies/db.yaml' }], diff: { risks: [{ severity: 'high', code: 'retention-reduced' }] } });
    p.child.kill('SIGTERM');
    expect(await p.exit).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toBe('');
  });

  it('text on a pipe: a header per compile, errors with file:line:col; Ctrl-C exits 0', async () => {
    const dir = repo();
    const p = start(['--debounce', '100ms'], dir);
    await expect.poll(() => p.lines.join('\n'), { timeout: 45_000, interval: 50 }).toMatch(/✓ plan [0-9a-f]{12} cluster test/);
    writeFileSync(join(dir, 'policies/db.yaml'), policy(7).replace('profile: fs', 'profile: [fs'));
    await expect.poll(() => p.lines.join('\n'), { timeout: 45_000, interval: 50 }).toMatch(/policies\/db\.yaml:\d+:\d+: /);
    const text = p.lines.join('\n');
    expect(text).toMatch(/^── #1 · \d\d:\d\d:\d\d · start · \d+ ms$/m);
    expect(text).toMatch(/^── #2 · \d\d:\d\d:\d\d · policies\/db\.yaml changed · \d+ ms$/m);
    expect(text).toContain('not compiled — the baseline stays the last good plan (#1');
    expect(text).not.toContain('\x1b[');
    p.child.kill('SIGINT');
    expect(await p.exit).toEqual({ code: 0, signal: null });
  });

  it('--base HEAD: the first compile is the diff of the uncommitted edits', async () => {
    const dir = repo();
    const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a], { cwd: dir, stdio: 'pipe' });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'policies');
    writeFileSync(join(dir, 'policies/db.yaml'), policy(1));
    const p = start(['-o', 'json', '--base', 'HEAD'], dir);
    await expect.poll(() => p.lines.length, { timeout: 45_000, interval: 50 }).toBe(1);
    expect(JSON.parse(p.lines[0]!)).toMatchObject({ seq: 1, status: 'changed', baseline: { seq: 0 }, diff: { changes: [{ fields: [{ path: 'retention.daily', before: 7, after: 1 }] }] } });
    p.child.kill('SIGTERM');
    expect((await p.exit).code).toBe(0);
  });
});

describe('coffer dev flags', () => {
  const capture = (): { io: CliIO; err: () => string } => {
    const stderr = new PassThrough();
    let e = '';
    stderr.on('data', (d) => (e += d));
    return { io: { stdout: new PassThrough(), stderr, env: {}, cwd: root }, err: () => e };
  };
  it.each([
    [['--output', 'yaml'], '--output must be text or json, got "yaml"'],
    [['--debounce', 'soon'], '--debounce "soon": expected a duration'],
    [['--debounce', '5m'], '--debounce "5m": expected a duration up to 1m'],
    [['a', 'b', '--base', 'HEAD'], '--base takes a single DIR'],
    [['does-not-exist'], 'does-not-exist: no such directory'],
    [['--bogus'], 'unknown flag --bogus for "coffer dev"'],
  ])('%j is refused with exit 1', async (args, message) => {
    const c = capture();
    expect(await main(['dev', ...args], c.io)).toBe(1);
    expect(c.err()).toContain(message);
  });
});
