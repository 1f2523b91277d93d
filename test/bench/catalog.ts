/**
 * `npm run bench:catalog`: the catalog at fleet scale, each figure beside its git CLI anchor in the same run, JSON.
 *
 * Builds catalogs of 10,000 and 100,000 live restore points, written straight into one pack through Coffer's own
 * document writer (test/bench/catalog-pack.ts, the shape of catalog-data.ts), then measures:
 * - list all, uncached, in a fresh process (op time inside the process, and the whole `coffer restorepoints` CLI
 *   wall time) vs `git ls-tree -r` + `git cat-file --batch` of the same blobs;
 * - the same filtered to one namespace and to one policy (anchors: the same pipeline over those paths);
 * - `coffer restorepoints -o json` of everything, with the process's peak RSS;
 * - commit one restore point (warm Catalog.recordBackup: document, run, latest-run pointer) vs git plumbing on a
 *   prepared index (hash-object, update-index, write-tree, commit-tree, update-ref) — the curve over the sizes;
 * - retention: 2,400 deletions in one commit vs the same with git plumbing;
 * - the compliance report over the whole catalog (fresh process) vs reading the same trees and blobs with git.
 * The OS page cache is warm for both sides (same run, same files); "uncached" means no Coffer cache of any kind.
 *
 * - dr restore on a new machine: from a `git http-backend` remote into an empty cache, the time until the first
 *   restore would start, beside `git clone --depth 1` of the catalog branch (compare a 1k and a 1M-commit history).
 * Flags: --sizes 10000,100000  --history N[,N…] (commits of the largest catalog's history, or one per size; default =
 * the size; 1000000 for the million-commit case, long to build)  --reps 5  --timeout 300 (seconds per fresh-process
 * measurement)  --catalog-dir DIR (build each catalog once as DIR/<live>-<history>.git and reuse it)  --only dr (just
 * the dr figure: e.g. `--sizes 10000,10000,10000 --history 1000,100000,1000000 --only dr --catalog-dir …`; `--only list`:
 * the listings and the whole-CLI figures; `--only build`: just build the catalog).
 * Histories are written straight into one pack (catalog-pack.ts): a million commits in minutes.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { backupFiles, backupRun, dirCount, POLICIES, restorePoint, rpPath, slot } from './catalog-data.ts';
import { writeHistoryPack } from './catalog-pack.ts';
import { startGitHttp } from '../git-http.ts';

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@coffer.test', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@coffer.test', GIT_CONFIG_NOSYSTEM: '1' };
const ROOT = new URL('../../', import.meta.url).pathname;

function sh(cwd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync('git', args, { cwd, env: opts.env ?? GIT_ENV, input: opts.input, encoding: 'utf8', maxBuffer: 1 << 30 });
}

const round = (x: number): number => Math.round(x * 10) / 10;
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return round((d.user + d.system) / 1000);
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Wall time of a child process; its stdout goes to /dev/null, its last stderr line is returned. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ ms: number; stderr: string; timedOut: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const s = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ ms: round(performance.now() - s), stderr, timedOut, code });
    });
  });
}

async function child(gitdir: string, op: string, arg: string | undefined, timeoutMs: number): Promise<Record<string, unknown>> {
  const cache = fs.mkdtempSync(join(tmpdir(), 'coffer-bench-cache-'));
  try {
    // Peak RSS from /usr/bin/time: Linux carries a parent's RSS high-water mark into a child it forks and execs, so
    // the child's own getrusage would report the bench process's memory (which built the catalog), not its own.
    const r = await timed('/usr/bin/time', ['-f', 'maxrss-kib=%M cpu-s=%U+%S', process.execPath, '--import', 'tsx', join(ROOT, 'test/bench/catalog-child.ts'), gitdir, op, ...(arg ? [arg] : [])], { ...process.env, COFFER_CACHE_DIR: cache }, timeoutMs);
    if (r.timedOut) return { timedOut: true, processMs: r.ms };
    const lines = r.stderr.trim().split('\n');
    if (r.code !== 0) throw new Error(`catalog-child ${op} exited ${r.code}: ${r.stderr.slice(-2000)}`);
    const m = /^maxrss-kib=(\d+) cpu-s=([\d.]+)\+([\d.]+)$/.exec(lines.at(-1) ?? '');
    const out = JSON.parse(lines.at(-2) ?? '') as { ms: number; cpuMs: number; items: number };
    const warnings = lines.length - 2;
    // CPU time beside wall time: on a machine shared by eight developers the wall clock mostly measures the others.
    return { ms: out.ms, cpuMs: out.cpuMs, processMs: r.ms, processCpuMs: round((Number(m?.[2]) + Number(m?.[3])) * 1000), items: out.items, maxRssMiB: Math.round(Number(m?.[1]) / 1024), ...(warnings ? { stderrLines: warnings } : {}) };
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

/** The anchor: list the blobs with `git ls-tree -r` and read them all with one `git cat-file --batch`. */
async function anchor(gitdir: string, paths: string[], grep?: string): Promise<{ gitCliMs: number; gitCliCpuMs: number }> {
  const filter = grep ? ` | grep -F '${grep}'` : '';
  const r = await timed('/usr/bin/time', ['-f', 'cpu-s=%U+%S', 'bash', '-c', `set -o pipefail; git --git-dir '${gitdir}' ls-tree -r coffer-catalog ${paths.join(' ')}${filter} | cut -d' ' -f3 | cut -f1 | git --git-dir '${gitdir}' cat-file --batch > /dev/null`], GIT_ENV, 600_000);
  if (r.code !== 0) throw new Error(`anchor failed: ${r.stderr}`);
  const m = /cpu-s=([\d.]+)\+([\d.]+)\s*$/.exec(r.stderr);
  return { gitCliMs: r.ms, gitCliCpuMs: round((Number(m?.[1]) + Number(m?.[2])) * 1000) };
}

/** One command under /usr/bin/time: wall, CPU (user + system) and peak RSS; stdout to /dev/null. */
async function measured(cmd: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ ms: number; cpuMs: number; maxRssMiB: number }> {
  const r = await timed('/usr/bin/time', ['-f', 'maxrss-kib=%M cpu-s=%U+%S', ...cmd], env, timeoutMs);
  if (r.timedOut || r.code !== 0) throw new Error(`${cmd.join(' ')}: ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${r.stderr.slice(-2000)}`);
  const m = /maxrss-kib=(\d+) cpu-s=([\d.]+)\+([\d.]+)\s*$/.exec(r.stderr);
  return { ms: r.ms, cpuMs: round((Number(m?.[2]) + Number(m?.[3])) * 1000), maxRssMiB: Math.round(Number(m?.[1]) / 1024) };
}

const load1 = (): number => Math.round(loadavg()[0]! * 100) / 100;

/** Median and range of each field over the runs, with the 1-minute load average seen at each run. */
function summarise(runs: Array<Record<string, number>>): Record<string, unknown> {
  const out: Record<string, unknown> = { runs: runs.length };
  for (const k of Object.keys(runs[0] ?? {})) {
    const xs = runs.map((r) => r[k]!);
    out[k] = { median: round(median(xs)), min: Math.min(...xs), max: Math.max(...xs) };
  }
  return out;
}

/**
 * The whole CLI in fresh processes, as a user runs it: `coffer restorepoints -o name`, the default table, `-o json`,
 * `-o yaml` (peak RSS: streamed, so bounded) and `-o wide`, beside `node -e 0` (the floor of any Node CLI) and the git anchor. Each round runs
 * all of them back to back, so a busy moment on the shared machine hits every figure of that round alike.
 */
async function cliFigures(gitdir: string, reps: number, timeoutMs: number): Promise<Record<string, unknown>> {
  const cache = fs.mkdtempSync(join(tmpdir(), 'coffer-bench-cache-'));
  const env = { ...process.env, COFFER_CACHE_DIR: cache };
  const coffer = (...args: string[]): string[] => [process.execPath, join(ROOT, 'cli/coffer.js'), 'restorepoints', '--source', gitdir, '--branch', 'coffer-catalog', '--cluster', 'bench', ...args];
  const rows: Record<string, Array<Record<string, number>>> = { nodeStart: [], gitAnchor: [], name: [], table: [], wide: [], json: [], yaml: [] };
  try {
    for (let r = 0; r < reps; r++) {
      rows.nodeStart!.push({ ...(await measured([process.execPath, '-e', '0'], env, 10_000)), load: load1() });
      const a = await anchor(gitdir, ['catalog/bench']);
      rows.gitAnchor!.push({ ms: a.gitCliMs, cpuMs: a.gitCliCpuMs, load: load1() });
      rows.name!.push({ ...(await measured(coffer('-o', 'name'), env, timeoutMs)), load: load1() });
      rows.table!.push({ ...(await measured(coffer(), env, timeoutMs)), load: load1() });
      // -o json|yaml read and print every document (~190 MB of JSON at 100,000): three rounds are enough.
      if (r < 3) rows.json!.push({ ...(await measured(coffer('-o', 'json'), env, timeoutMs)), load: load1() });
      if (r < 3) rows.yaml!.push({ ...(await measured(coffer('-o', 'yaml'), env, timeoutMs)), load: load1() });
      // -o wide reads every document too, and keeps the cells for the column widths (peak RSS).
      if (r < 3) rows.wide!.push({ ...(await measured(coffer('-o', 'wide'), env, timeoutMs)), load: load1() });
    }
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
  const out = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, summarise(v)]));
  const med = (k: string, f: string): number => (out[k] as Record<string, { median: number }>)[f]!.median;
  // Ratios of medians taken in the same rounds: what the noisy wall clock can still say.
  out.ratios = {
    nameWallPerGitAnchor: round(med('name', 'ms') / med('gitAnchor', 'ms')),
    nameCpuPerGitAnchor: round(med('name', 'cpuMs') / med('gitAnchor', 'cpuMs')),
    nameWallMinusNodeStart: round(med('name', 'ms') - med('nodeStart', 'ms')),
    tableCpuPerNameCpu: round(med('table', 'cpuMs') / med('name', 'cpuMs')),
    tableWallPerNameWall: round(med('table', 'ms') / med('name', 'ms')),
    jsonCpuPerNameCpu: round(med('json', 'cpuMs') / med('name', 'cpuMs')),
    jsonWallPerNameWall: round(med('json', 'ms') / med('name', 'ms')),
  };
  return out;
}

/**
 * `keepDir`: catalogs are built once under it (`<live>-<history>.git`) and reused by later runs; the measured writes
 * are undone at the end (refs reset), so every run measures the same catalog.
 */
async function benchSize(live: number, history: number, reps: number, timeoutMs: number, keepDir: string | undefined, only?: string): Promise<Record<string, unknown>> {
  const root = keepDir ?? fs.mkdtempSync(join(tmpdir(), 'coffer-bench-catalog-'));
  const gitdir = join(root, keepDir ? `${live}-${history}.git` : 'repo.git');
  const reuse = keepDir !== undefined && fs.existsSync(join(gitdir, 'refs/heads/coffer-catalog'));
  const count = (ref: string, dir: string): number => Number(execFileSync('bash', ['-c', `git --git-dir '${gitdir}' ls-tree -r --name-only ${ref} ${dir} | wc -l`], { encoding: 'utf8' }).trim());
  let tipBefore: string | undefined;
  try {
    let t = performance.now();
    let built: Record<string, unknown> = { reused: true };
    if (!reuse) {
      fs.rmSync(gitdir, { recursive: true, force: true });
      sh(root, ['init', '-q', '--bare', '-b', 'coffer-catalog', gitdir]);
      const c0 = process.cpuUsage();
      const { objects } = writeHistoryPack(gitdir, live, history);
      const buildSeconds = round((performance.now() - t) / 1000);
      const buildCpuSeconds = round(cpuMs(c0) / 1000);
      if (count('coffer-catalog', 'catalog/bench/') !== live) throw new Error(`built ${count('coffer-catalog', 'catalog/bench/')} restore points, want ${live}`);
      // The derived index: fast-import wrote documents only (as plain git would), so `coffer catalog reindex` adds it.
      t = performance.now();
      const reindexed = await openCatalog({ source: await openSource({ source: gitdir, branch: 'coffer-catalog' }), cluster: 'bench' }).reindex();
      if (reindexed.restorePoints !== live || reindexed.stale.filter((s) => s.path.startsWith('catalog/') && !s.path.startsWith('catalog/.index/.')).length !== dirCount(live)) throw new Error(`reindex saw ${reindexed.restorePoints} restore points, ${reindexed.stale.length} stale index files`);
      built = { buildSeconds, buildCpuSeconds, objects, reindexSeconds: round((performance.now() - t) / 1000) };
    }
    tipBefore = sh(gitdir, ['rev-parse', 'coffer-catalog']).trim();
    const commits = Number(sh(gitdir, ['rev-list', '--count', '--first-parent', 'coffer-catalog']).trim());
    const packBytes = fs.readdirSync(join(gitdir, 'objects/pack')).filter((f) => f.endsWith('.pack')).reduce((n, f) => n + fs.statSync(join(gitdir, 'objects/pack', f)).size, 0);
    const dirs = dirCount(live);
    const namespaces = dirs / POLICIES;
    const out: Record<string, unknown> = { liveRestorePoints: live, historyCommits: commits, ...built, packMiB: round(packBytes / 2 ** 20) };
    if (only === 'build') return out;

    // dr restore on a new machine: from an HTTP remote (git http-backend) into an empty cache, the time until the first
    // restore would start (shallow fetch of the catalog tip, summaries, the chosen restore point's document).
    if (only !== 'list') {
      const server = await startGitHttp(root);
      try {
        const dr = await child(server.url(basename(gitdir)), 'dr', undefined, timeoutMs);
        // The anchor, and what a depth-1 fetch of the tip carries (git's own count of the objects it received).
        const clone = await timed('bash', ['-c', `d=$(mktemp -d) && git clone -q --bare --depth 1 --single-branch --branch coffer-catalog '${server.url(basename(gitdir))}' "$d/c" && git --git-dir "$d/c" count-objects -v >&2; rm -rf "$d"`], GIT_ENV, 600_000);
        const received = /in-pack: (\d+)/.exec(clone.stderr)?.[1];
        out.drFirstRestore = { ...dr, gitCliCloneDepth1Ms: clone.ms, tipObjects: Number(received) };
      } finally {
        await server.close();
      }
    }
    if (only === 'dr') return out;

    // Reads, each in a fresh process without any Coffer cache, beside the git CLI reading the same blobs.
    const listAll = await child(gitdir, 'list', undefined, timeoutMs);
    const allAnchor = await anchor(gitdir, [`catalog/bench`]);
    out.listAll = { ...listAll, ...allAnchor };
    // The whole `coffer restorepoints` CLI (built bundle when fresh), `node -e 0` and the anchor, alternating, medians.
    out.cli = await cliFigures(gitdir, reps, timeoutMs);
    if (only === 'list') return out;
    out.listNamespace = { ...(await child(gitdir, 'namespace', 'ns-1', timeoutMs)), ...(await anchor(gitdir, ['catalog/bench/ns-1'])) };
    out.listPolicy = { ...(await child(gitdir, 'policy', 'policy-1', timeoutMs)), ...(await anchor(gitdir, ['catalog/bench'], '/policy-1/')) };
    out.listJson = { ...(await child(gitdir, 'json', undefined, timeoutMs)), ...allAnchor };
    out.compliance = { ...(await child(gitdir, 'compliance', String(namespaces), timeoutMs)), ...(await anchor(gitdir, ['catalog/bench', 'runs/bench'])) };

    // Commit one restore point: warm Catalog (the reconciler's steady state) vs git plumbing on a prepared index.
    sh(gitdir, ['branch', 'cli-plumbing', 'coffer-catalog']);
    const index = join(root, 'plumbing.index');
    const ienv = { ...GIT_ENV, GIT_INDEX_FILE: index };
    sh(gitdir, ['read-tree', 'cli-plumbing'], { env: ienv });
    const catalog = openCatalog({ source: await openSource({ source: gitdir, branch: 'coffer-catalog' }), cluster: 'bench' });
    await catalog.tip();
    const total = Math.max(live, history);
    const coffer: number[] = [];
    const cofferCpu: number[] = [];
    const git: number[] = [];
    for (let r = 0; r < reps; r++) {
      const s = slot(total + r, dirs);
      const rp = restorePoint(s);
      t = performance.now();
      const c0 = process.cpuUsage();
      await catalog.recordBackup(backupRun(s, rp), rp);
      coffer.push(performance.now() - t);
      cofferCpu.push(cpuMs(c0));
      t = performance.now();
      for (const f of backupFiles(s)) {
        const blob = sh(gitdir, ['hash-object', '-w', '--stdin'], { input: f.content }).trim();
        sh(gitdir, ['update-index', '--add', '--cacheinfo', `100644,${blob},${f.path}`], { env: ienv });
      }
      const tree = sh(gitdir, ['write-tree'], { env: ienv }).trim();
      const parent = sh(gitdir, ['rev-parse', 'cli-plumbing']).trim();
      const commit = sh(gitdir, ['commit-tree', tree, '-p', parent, '-m', `backup ${r}`]).trim();
      sh(gitdir, ['update-ref', 'refs/heads/cli-plumbing', commit, parent]);
      git.push(performance.now() - t);
    }
    out.commitOne = { ms: round(median(coffer)), cpuMs: round(median(cofferCpu)), gitCliPlumbingMs: round(median(git)), reps };

    // Retention: a day's expiries (2,400) in one commit, spread over the directories as GFS would pick them.
    const expire = Array.from({ length: Math.min(2400, live) }, (_, i) => rpPath(slot(total - live + i, dirs)));
    t = performance.now();
    const c0 = process.cpuUsage();
    await catalog.commitChanges({ delete: expire }, `retention: expired ${expire.length} restore points`);
    const retentionMs = performance.now() - t;
    const retentionCpuMs = cpuMs(c0);
    t = performance.now();
    sh(gitdir, ['update-index', '--index-info'], { env: ienv, input: expire.map((p) => `0 ${'0'.repeat(40)}\t${p}\n`).join('') });
    const tree = sh(gitdir, ['write-tree'], { env: ienv }).trim();
    const parent = sh(gitdir, ['rev-parse', 'cli-plumbing']).trim();
    sh(gitdir, ['update-ref', 'refs/heads/cli-plumbing', sh(gitdir, ['commit-tree', tree, '-p', parent, '-m', 'retention']).trim(), parent]);
    out.retention2400 = { ms: round(retentionMs), cpuMs: retentionCpuMs, gitCliPlumbingMs: round(performance.now() - t), deletions: expire.length };
    if (count('coffer-catalog', 'catalog/bench/') !== live + reps - expire.length) throw new Error(`after retention: ${count('coffer-catalog', 'catalog/bench/')} restore points`);
    sh(gitdir, ['fsck', '--no-dangling', '--connectivity-only']);
    return out;
  } finally {
    if (!keepDir) fs.rmSync(root, { recursive: true, force: true });
    else if (tipBefore) {
      sh(gitdir, ['update-ref', 'refs/heads/coffer-catalog', tipBefore]);
      sh(gitdir, ['update-ref', '-d', 'refs/heads/cli-plumbing']);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,100000' }, history: { type: 'string' }, reps: { type: 'string', default: '5' }, timeout: { type: 'string', default: '300' }, 'catalog-dir': { type: 'string' }, only: { type: 'string' } } });
  const sizes = values.sizes!.split(',').map(Number);
  const histories = values.history?.split(',').map(Number);
  if (histories && histories.length !== 1 && histories.length !== sizes.length) throw new Error('--history: one value (the largest size), or one per --sizes entry');
  if (values['catalog-dir']) fs.mkdirSync(values['catalog-dir'], { recursive: true });
  const results: Record<string, unknown>[] = [];
  const loadBefore = loadavg().map((x) => round(x * 100) / 100);
  for (const [i, n] of sizes.entries()) {
    const history = histories?.length === sizes.length ? histories[i]! : n === Math.max(...sizes) && histories ? histories[0]! : n;
    results.push({ loadavg: loadavg().map((x) => round(x * 100) / 100), ...(await benchSize(n, history, Number(values.reps), Number(values.timeout) * 1000, values['catalog-dir'], values.only)) });
    process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
  }
  const commit = results.map((r) => [r.liveRestorePoints, (r.commitOne as { ms: number } | undefined)?.ms]);
  process.stdout.write(`${JSON.stringify({ bench: 'catalog', node: process.version, loadavgBefore: loadBefore, loadavgAfter: loadavg().map((x) => Math.round(x * 100) / 100), commitCurve: commit, results }, null, 2)}\n`);
}
