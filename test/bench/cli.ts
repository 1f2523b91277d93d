/**
 * `npm run bench:cli`: start-up of the `coffer` executable against bare Node, side by side in one run, printed as
 * JSON. Each round runs, in a rotating order, `node -e 0` (the anchor), `coffer --version` and `coffer validate`
 * of the example repository (policies/ + blueprints/), each through cli/coffer.js with the bundle (what `npx coffer`
 * runs after `npm ci`) and with tsx (COFFER_TSX=1: the sources compiled at start-up). Per-round ratios against the
 * anchor of the same round cancel most of the machine's load; their medians are the figures.
 * Goals (issue 15): `--version` ≤ 2× bare Node, `validate` ≤ 3×.
 *
 * Wall time and CPU time (user + sys, from /usr/bin/time when present) are both reported: on a shared machine CPU
 * time is the steadier of the two.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuild } from '../../build/ensure.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const WARMUP = 2;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const COFFER = join(ROOT, 'cli', 'coffer.js');

interface Case {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
}
const CASES: Case[] = [
  { name: 'node -e 0', argv: ['-e', '0'] },
  { name: 'bundle --version', argv: [COFFER, '--version'] },
  { name: 'tsx --version', argv: [COFFER, '--version'], env: { COFFER_TSX: '1' } },
  { name: 'bundle validate', argv: [COFFER, 'validate', 'policies', 'blueprints'] },
  { name: 'tsx validate', argv: [COFFER, 'validate', 'policies', 'blueprints'], env: { COFFER_TSX: '1' } },
];

const tmp = mkdtempSync(join(tmpdir(), 'bench-cli-'));

/** One run: wall ms, and CPU ms of the child (user + sys) when /usr/bin/time can report it. */
function once(c: Case, i: number): Promise<{ wall: number; cpu: number | undefined }> {
  const out = join(tmp, `t${i}`);
  const [cmd, args] = TIME ? [TIME, ['-f', '%U %S', '-o', out, process.execPath, ...c.argv]] : [process.execPath, c.argv];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...c.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const wall = performance.now() - t0;
      if (code !== 0) return reject(new Error(`${c.name} exited ${code}: ${err}`));
      const cpu = TIME ? readFileSync(out, 'utf8').trim().split(/\s+/).slice(-2).reduce((s, x) => s + Number(x) * 1000, 0) : undefined;
      resolve({ wall, cpu });
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r2 = (x: number): number => Math.round(x * 100) / 100;

await ensureBuild();
const wall: Record<string, number[]> = {};
const cpu: Record<string, number[]> = {};
const wallRatio: Record<string, number[]> = {};
const cpuRatio: Record<string, number[]> = {};
let n = 0;
for (let round = 0; round < WARMUP + ROUNDS; round++) {
  // Rotate the order so no case always runs first (cold caches) or right after the heaviest one.
  const order = CASES.map((_, i) => CASES[(i + round) % CASES.length]!);
  const got = new Map<string, { wall: number; cpu: number | undefined }>();
  for (const c of order) got.set(c.name, await once(c, n++));
  if (round < WARMUP) continue;
  const anchor = got.get('node -e 0')!;
  for (const [name, t] of got) {
    (wall[name] ??= []).push(t.wall);
    (wallRatio[name] ??= []).push(t.wall / anchor.wall);
    if (t.cpu !== undefined && anchor.cpu) {
      (cpu[name] ??= []).push(t.cpu);
      (cpuRatio[name] ??= []).push(t.cpu / anchor.cpu);
    }
  }
}
rmSync(tmp, { recursive: true, force: true });

const results = Object.fromEntries(
  CASES.map((c) => [
    c.name,
    {
      wallMs: Math.round(median(wall[c.name]!)),
      wallRatio: r2(median(wallRatio[c.name]!)),
      ...(cpu[c.name] ? { cpuMs: Math.round(median(cpu[c.name]!)), cpuRatio: r2(median(cpuRatio[c.name]!)) } : {}),
    },
  ]),
);
const goal = (name: string, max: number) => ({ goal: `≤ ${max}× node -e 0`, wallRatio: results[name]!.wallRatio, cpuRatio: results[name]!.cpuRatio, met: results[name]!.wallRatio <= max });
process.stdout.write(
  `${JSON.stringify(
    {
      rounds: ROUNDS,
      node: process.version,
      results,
      goals: { 'bundle --version': goal('bundle --version', 2), 'bundle validate': goal('bundle validate', 3) },
      bundleVsTsx: {
        '--version': r2(median(wall['tsx --version']!) / median(wall['bundle --version']!)),
        validate: r2(median(wall['tsx validate']!) / median(wall['bundle validate']!)),
      },
    },
    null,
    2,
  )}\n`,
);
