/**
 * `npm run bench:mover` — Coffer's data mover against restic, same data,
 * same machine, same run, alternating who goes first in each phase:
 *
 *   1 first backup   2 unchanged re-backup   3 re-backup after ~10% of files
 *   changed (bytes inserted mid-file in the largest ones)   4 full restore
 *   5 check --read-data
 *
 * for each workload of `--workloads` (comma-separated, default mixed):
 *   mixed  --size (1GiB) of files from 4 KiB to 64 MiB, 60% random, 40% logs/manifests
 *   large  one file of --large-size (4GiB), 1 MiB runs of random or text; 10% of it
 *          overwritten in 64 places for phase 3
 *   small  --small-files (200000) files of 1–8 KiB, 1000 per directory
 * Before the workloads, each stage's single-core throughput is measured in this
 * process (mover-limit.ts) and every workload reports the implied two-core limit
 * (`limit`) beside Coffer's and restic's seconds.
 *
 * Prints one JSON document on stdout (progress on stderr): each phase's
 * seconds for both, ratio restic/coffer (> 1: Coffer faster), bytes stored
 * after each phase and coffer/restic bytes, peak RSS and CPU seconds, MiB
 * read from disk (GNU time's %I, caches dropped: both tools alike) and
 * Coffer's own count of bytes read from the source files, where each repository's bytes go (blob payload,
 * framing, pack headers, index, trees, snapshots: mover-bytes.ts), the 1-minute load
 * average at every sample, CPU utilisation per phase (`cores` = CPU-s ÷ wall;
 * each sample's `use`: runnable threads and the busiest thread's share, from
 * /proc schedstat, thread-cpu.ts), and whether the bar (at least as fast on every
 * phase, ≤ 5% more bytes) is met.
 *
 * Fairness, decided and recorded in the output:
 * - Both run as a CLI process per operation, so process start-up, key
 *   derivation and repository opening are counted for both.
 * - Coffer runs as shipped in a mover image: `coffer repo` bundled once with
 *   esbuild (untimed, like compiling restic; the AWS SDK stays in a lazily
 *   loaded chunk). `--coffer tsx` runs `node cli/coffer.js repo …` instead,
 *   which compiles TypeScript at every start. Cold start-up of both forms is
 *   always measured and reported (`startup`), so the difference is visible.
 * - restic: repository format v2, `--compression auto` (its default for v2),
 *   its normal local cache (in the bench directory, empty at the start).
 *   Both pick the parent snapshot themselves (latest with the same paths).
 * - Page cache dropped (echo 3 > /proc/sys/vm/drop_caches) before every timed
 *   command when permitted; otherwise the dataset is read once before each
 *   command so both start equally warm. After the drop both executables are
 *   started once, untimed (`coffer repo --help`, `restic version`), so the
 *   data and repositories are cold but the programs are not: this measures
 *   the data mover, not reading a 99 MB node binary against a 19 MB Go one
 *   from disk. `--cold-programs` skips that; cold start-up of every form is
 *   reported under `startup` either way.
 * - No tool pays for the other's I/O: before every timed command, `sync` (the
 *   previous command's dirty pages, dataset rewrites and restore targets reach
 *   the disk untimed — drop_caches alone leaves dirty pages, whose writeback
 *   then lands in the next command), then the cache drop, then a settle pause
 *   (`--settle-ms`, default 1000) so writeback and the drop's own work finish.
 * - Before round 1 each tool does an untimed warm-up (init, backup, restore of
 *   a ~16 MiB slice of the dataset into a scratch repository), so neither is
 *   the first to touch the disk and the CPUs after the dataset was written.
 * - Order: in round r, phase p, restic goes first when (p + r) is even; with
 *   an even number of rounds every phase has each tool first equally often.
 *   Every round's ratio is reported, with the median of per-round ratios and
 *   `orderBias` (geometric mean of the ratios when Coffer ran first vs when
 *   restic did: near 1 when the order does not matter).
 * - Restores are verified file by file against the dataset (untimed).
 *
 * Flags: --size 1GiB  --seed 42  --workdir DIR (default under os.tmpdir())
 *        --keep (leave the workdir)  --cpu-prof (profiles of Coffer's runs
 *        into WORKDIR/cpu-prof)  --only coffer|restic  --coffer bundle|tsx
 *        --cold-programs (do not warm the executables after dropping caches)
 *        --rounds N (repeat the four phases N times on fresh repositories,
 *        alternating who goes first; medians reported, every sample kept)
 *        --settle-ms N (pause after sync + cache drop, default 1000)
 *        --no-warmup (skip the untimed warm-up)
 *        --workloads mixed,large,small  --large-size 4GiB  --small-files 200000
 *        --memory-budget SIZE (passed to Coffer's backup, restore and check)
 *        --no-check (skip phase 5)
 *        --no-plain (skip the plain tools: a cold `cat` of every file beside
 *        each first backup, a `cp -a` of the dataset from memory into a fresh
 *        filesystem beside each restore — mover-limit.ts)
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, statfs, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { applyMutation, type Mutation, parseSize, planDataset, planLargeFile, planLargeMutation, planMutation, planSmallFiles, type PlannedFile, writeDataset } from './mover-dataset.ts';
import { measureStages, physicalLimit } from './mover-limit.ts';
import { type ByteBreakdown, cofferBreakdown, resticBreakdown } from './mover-bytes.ts';
import { MOVER_BACKUP_ENV, MOVER_ENV } from '../../reconciler/volumes/mover.ts';
import { sampleThreads, type ThreadTimes } from './thread-cpu.ts';

type Tool = 'restic' | 'coffer';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COFFER = path.join(ROOT, 'cli/coffer.js');
const PASSWORD = 'bench-password-not-secret';

interface RunResult {
  seconds: number;
  maxRssMiB: number;
  /** GNU time's %I (file system inputs, 512-byte blocks) in MiB: what the process read from disk, caches dropped. */
  diskReadMiB: number;
  cpuSeconds: number;
  /** Per-thread run and run-queue seconds (thread-cpu.ts), where /proc has them. */
  threads?: ThreadTimes;
  stdout: string;
}

const log = (msg: string) => process.stderr.write(`[bench:mover] ${msg}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1GiB' },
      'large-size': { type: 'string', default: '4GiB' },
      'small-files': { type: 'string', default: '200000' },
      workloads: { type: 'string', default: 'mixed' },
      'memory-budget': { type: 'string' },
      seed: { type: 'string', default: '42' },
      workdir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      only: { type: 'string' },
      coffer: { type: 'string', default: 'bundle' },
      rounds: { type: 'string', default: '1' },
      'cold-programs': { type: 'boolean', default: false },
      'settle-ms': { type: 'string', default: '1000' },
      'no-warmup': { type: 'boolean', default: false },
      'no-check': { type: 'boolean', default: false },
      'no-plain': { type: 'boolean', default: false },
    },
  });
  const seed = Number(values.seed);
  const workloadNames = values.workloads!.split(',').map((w) => w.trim()).filter(Boolean);
  for (const w of workloadNames) if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--workloads: unknown "${w}" (expected ${WORKLOADS.join(', ')})`);
  const tools: Tool[] = values.only ? [values.only as Tool] : ['restic', 'coffer'];
  const work = values.workdir ? path.resolve(values.workdir) : await mkdtemp(path.join(tmpdir(), 'coffer-bench-'));
  await mkdir(work, { recursive: true });
  const data = path.join(work, 'dataset');
  const repos: Record<Tool, string> = { restic: path.join(work, 'repo-restic'), coffer: path.join(work, 'repo-coffer') };
  const profDir = path.join(work, 'cpu-prof');
  const dropCaches = canDropCaches();
  const env = {
    ...process.env,
    RESTIC_PASSWORD: PASSWORD,
    RESTIC_CACHE_DIR: path.join(work, 'restic-cache'),
    RESTIC_REPOSITORY: repos.restic,
    COFFER_PASSWORD: PASSWORD,
    NODE_NO_WARNINGS: '1',
    // Coffer runs with the mover Job's environment (libuv's pool, malloc arenas, NODE_OPTIONS), as it does in a cluster
    ...Object.fromEntries(MOVER_ENV.map((e) => [e.name, e.value])),
  };
  // --cpu-prof is refused in NODE_OPTIONS: it goes on the node command line (worker threads inherit it).
  const nodeFlags = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const budgetArgs = values['memory-budget'] ? ['--memory-budget', values['memory-budget']] : [];

  try {
    const settleMs = Math.max(0, Number(values['settle-ms']));
    const loads: number[] = [];
    const prepare = async (warmPrograms = !values['cold-programs']) => {
      // Dirty pages first: drop_caches cannot drop them, and their writeback would be charged to whoever runs next.
      syncAll();
      if (dropCaches) dropPageCache();
      else await readTree(data);
      if (warmPrograms) {
        // Data and repositories stay cold; both executables (and, for Coffer, the Node binary and its code) are warm.
        await timed(process.execPath, [...cofferCmd, '--help'], env, work);
        await timed('restic', ['version'], env, work);
      }
      await sleep(settleMs);
      loads.push(loadavg()[0]!);
    };
    // Coffer's backups report progress as the mover's do (its totals counted beside a first backup's walk, as restic's
    // scanner counts beside its own)
    const backupEnv = { ...env, ...Object.fromEntries(MOVER_BACKUP_ENV.map((e) => [e.name, e.value])) };
    const run = async (tool: Tool, args: string[], cwd = work): Promise<RunResult> => {
      await prepare();
      return tool === 'restic' ? timed('restic', args, env, cwd) : timed(process.execPath, [...nodeFlags, ...cofferCmd, ...args], args[0] === 'backup' ? backupEnv : env, cwd);
    };

    // Untimed setup: Coffer's bundle, repositories.
    if (values.coffer !== 'bundle' && values.coffer !== 'tsx') throw new Error(`--coffer ${values.coffer}: expected bundle or tsx`);
    const t0 = performance.now();
    const bundle = await buildBundle(path.join(work, 'coffer-bundle'));
    const buildSeconds = (performance.now() - t0) / 1000;
    const cofferCmd = values.coffer === 'bundle' ? [bundle] : [COFFER, 'repo'];
    const initRepos = async () => {
      for (const t of tools) await rm(repos[t], { recursive: true, force: true });
      await rm(env.RESTIC_CACHE_DIR, { recursive: true, force: true });
      if (tools.includes('restic')) await timed('restic', ['init', '--repository-version', '2'], env, work);
      if (tools.includes('coffer')) await timed(process.execPath, [...cofferCmd, 'init', '--repo', repos.coffer], env, work);
    };
    const coldStart = async (argv: string[]) => {
      await prepare(false);
      return round((await timed(argv[0]!, argv.slice(1), env, work)).seconds);
    };
    const startup = {
      cofferBundleRepoHelp: await coldStart([process.execPath, bundle, '--help']),
      cofferTsxRepoHelp: await coldStart([process.execPath, COFFER, 'repo', '--help']),
      resticVersion: await coldStart(['restic', 'version']),
    };
    log(`cold start-up: ${JSON.stringify(startup)}`);

    // Untimed warm-up: each tool backs up and restores 16 MiB of mixed files into a scratch repository.
    if (!values['no-warmup']) {
      const slice = path.join(work, 'warmup-data');
      await rm(slice, { recursive: true, force: true });
      await writeDataset(slice, planDataset({ totalBytes: 16 * 2 ** 20, seed }));
      const wenv = { ...env, RESTIC_REPOSITORY: path.join(work, 'warmup-restic'), RESTIC_CACHE_DIR: path.join(work, 'warmup-restic-cache') };
      const wrepo = path.join(work, 'warmup-coffer');
      for (const t of tools) {
        const out = path.join(work, `warmup-out-${t}`);
        if (t === 'restic') {
          await timed('restic', ['init', '--repository-version', '2'], wenv, work);
          await timed('restic', ['backup', '--compression', 'auto', '--quiet', slice], wenv, work);
          await timed('restic', ['restore', 'latest', '--target', out], wenv, work);
        } else {
          await timed(process.execPath, [...cofferCmd, 'init', '--repo', wrepo], env, work);
          const snap = snapshotIdFrom((await timed(process.execPath, [...cofferCmd, 'backup', '--repo', wrepo, '--output', 'json', slice], env, work)).stdout);
          await timed(process.execPath, [...cofferCmd, 'restore', '--repo', wrepo, snap, out], env, work);
        }
        await rm(out, { recursive: true, force: true });
      }
      for (const d of [slice, wenv.RESTIC_REPOSITORY, wenv.RESTIC_CACHE_DIR, wrepo]) await rm(d, { recursive: true, force: true });
      log('warm-up done (16 MiB, each tool: init, backup, restore)');
    }

    // The physical limit: each stage's single-core throughput on this machine, measured now (in this process).
    const stages = await measureStages(path.join(work, 'stage-sample'));
    log(`single-core stages (MB/s): ${JSON.stringify(stages)}`);

    const backupArgs = (tool: Tool): string[] =>
      tool === 'restic'
        ? ['backup', '--compression', 'auto', '--json', '--quiet', data]
        : ['backup', '--repo', repos.coffer, '--output', 'json', ...budgetArgs, data];
    const phaseNames = values['no-check'] ? ['first-backup', 'unchanged-backup', 'changed-backup', 'restore'] : ['first-backup', 'unchanged-backup', 'changed-backup', 'restore', 'check-read-data'];
    const rounds = Math.max(1, Number(values.rounds));
    const results = [];
    for (const name of workloadNames as Workload[]) {
      const { files, muts } = planWorkload(name, values, seed);
      await rm(data, { recursive: true, force: true });
      const totalBytes = files.reduce((a, f) => a + f.size, 0);
      log(`workload ${name}: writing ${files.length} files, ${mib(totalBytes)} MiB (seed ${seed}) in ${data}`);
      const written = await writeDataset(data, files);
      const r = await runRounds({ name, files, muts, data, tools, rounds, phaseNames, repos, initRepos, run, backupArgs, budgetArgs, work, plain: !values['no-plain'], prepare, settleMs });
      const both = tools.length === 2;
      const faster = both ? r.phases.every((p) => (p.ratio ?? 0) >= 1) : undefined;
      const bytesOk = both ? r.phases.filter((p) => p.bytesRatio !== undefined).every((p) => p.bytesRatio! <= 1.05) : undefined;
      const verifiedOk = r.phases.find((p) => p.phase === 'restore')?.verified;
      const bin = files.filter((f) => f.kind === 'bin').reduce((a, f) => a + f.size, 0);
      const text = files.filter((f) => f.kind === 'text').reduce((a, f) => a + f.size, 0);
      const mixed = files.filter((f) => f.kind === 'mixed').reduce((a, f) => a + f.size, 0);
      results.push({
        workload: name,
        dataset: {
          bytes: written.bytes,
          files: written.files,
          // mixed files are 60% random in 1 MiB runs
          incompressibleBytes: bin + Math.round(mixed * 0.6),
          textBytes: text + Math.round(mixed * 0.4),
          largestFile: files.reduce((a, f) => Math.max(a, f.size), 0),
          seed,
          changedFiles: r.mutation?.files,
          changedBytesWritten: r.mutation?.bytesWritten,
        },
        limit: physicalLimit(stages, written.bytes, (text + mixed * 0.4) / Math.max(1, written.bytes), r.phases),
        phases: r.phases,
        orderBias: r.orderBias,
        bar: {
          cofferAtLeastAsFastEveryPhase: faster,
          cofferBytesWithin5Percent: bytesOk,
          restoresVerified: verifiedOk,
          met: both ? Boolean(faster && bytesOk && verifiedOk?.coffer && verifiedOk?.restic) : undefined,
        },
      });
      await rm(data, { recursive: true, force: true });
    }
    const report = {
      benchmark: 'mover',
      environment: {
        node: process.version,
        restic: await version(),
        cpus: cpus().length,
        memoryMiB: Math.round(totalmem() / 2 ** 20),
        rounds,
        workloads: workloadNames,
        cofferMemoryBudget: values['memory-budget'] ?? 'default (160 MiB, or the cgroup limit less 160 MiB when less)',
        pageCache:
          (dropCaches ? 'dropped before every timed command' : 'warmed (dataset read) before every timed command') +
          (values['cold-programs'] ? ', executables cold too' : '; then both executables started once untimed (data and repositories cold, programs warm)'),
        cofferInvocation:
          values.coffer === 'bundle' ? 'node coffer-repo.js … (cli/repo.ts bundled by esbuild, AWS SDK lazily loaded)' : 'node cli/coffer.js repo … (tsx compiles at start)',
        cofferBundleBuildSeconds: round(buildSeconds),
        restoreTarget,
        cofferXattrs: 'the bundle loads @napi-rs/xattr (checked at build): an llistxattr per file read and per directory, as the mover image and restic',
        resticOptions: 'repository v2, --compression auto, local cache in workdir: empty at init, kept across the phases of a round (as on a user\'s machine), cold on disk like everything else',
        fairness: `sync + cache drop + ${settleMs} ms settle before every timed command; ${values['no-warmup'] ? 'no warm-up' : 'untimed warm-up of each tool'}; order alternates by phase and round`,
        loadAverage1m: { min: round(Math.min(...loads), 2), median: round(median(loads), 2), max: round(Math.max(...loads), 2) },
        startup,
        singleCoreStagesMBps: stages,
      },
      workloads: results,
      cpuProfiles: values['cpu-prof'] ? profDir : undefined,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    // a restore's own finally unmounts its filesystem; this catches one left by an error between mount and try
    for (const mount of mounted) spawnSync('umount', [mount], { stdio: 'ignore' });
    if (!values.keep) {
      const keepProfiles = values['cpu-prof'];
      for (const entry of await readdir(work).catch(() => [] as string[])) {
        if (keepProfiles && entry === 'cpu-prof') continue;
        await rm(path.join(work, entry), { recursive: true, force: true });
      }
      if (!keepProfiles && !values.workdir) await rm(work, { recursive: true, force: true });
    }
  }
}

const WORKLOADS = ['mixed', 'large', 'small'] as const;
type Workload = (typeof WORKLOADS)[number];

/** A workload's files and its 10%-change mutation. */
function planWorkload(name: Workload, values: { size?: string; 'large-size'?: string; 'small-files'?: string }, seed: number): { files: PlannedFile[]; muts: Mutation[] } {
  if (name === 'large') {
    const files = planLargeFile(parseSize(values['large-size']!), seed);
    return { files, muts: planLargeMutation(files, seed) };
  }
  if (name === 'small') {
    const n = Number(values['small-files']);
    if (!Number.isInteger(n) || n < 10) throw new Error(`--small-files "${values['small-files']}": expected an integer ≥ 10`);
    const files = planSmallFiles(n, seed);
    return { files, muts: planMutation(files, seed) };
  }
  const files = planDataset({ totalBytes: parseSize(values.size!), seed });
  return { files, muts: planMutation(files, seed) };
}

interface Sample {
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  diskReadMiB: number;
}

/**
 * How a command used the CPUs (thread-cpu.ts). `cores` = CPU-s ÷ wall: what it got, which on a shared box is
 * mostly its share (the kernel's autogroups give each session an equal part of the CPUs, whatever its thread
 * count or nice value). `runnable` = threads' (run + run-queue wait) ÷ wall: how many threads had work on average,
 * what it would use on free cores. `busiest` = the busiest thread's (run + wait) ÷ wall (near 1: that thread was
 * never idle), `busiestOfCpu` = its share of the CPU-s: above 0.5, one thread caps the speed on two cores
 * (a serial stage); at or below, the work splits over both.
 */
interface Utilisation {
  cores: number;
  runnable?: number;
  busiest?: number;
  busiestOfCpu?: number;
  busiestIsMain?: boolean;
  /** The four busiest threads' [run, wait] seconds, and the main thread's. */
  top?: [number, number][];
  main?: [number, number];
}

function utilisation(res: RunResult): Utilisation {
  const u: Utilisation = { cores: round(res.cpuSeconds / res.seconds, 2) };
  const t = res.threads;
  if (!t || !t.top.length) return u;
  u.runnable = round((t.runSeconds + t.waitSeconds) / res.seconds, 2);
  u.busiest = round((t.top[0]!.run + t.top[0]!.wait) / res.seconds, 2);
  u.busiestOfCpu = round(t.top[0]!.run / t.runSeconds, 2);
  u.busiestIsMain = t.top[0]!.main;
  u.top = t.top.map((x) => [x.run, x.wait]);
  if (t.main) u.main = [t.main.run, t.main.wait];
  return u;
}

interface Phase {
  phase: string;
  /** Median over rounds. */
  seconds: Partial<Record<Tool, number>>;
  cpuSeconds: Partial<Record<Tool, number>>;
  /** CPU-s ÷ wall of each round (cores used; the machine's share included: see each sample's `use`), median. */
  cores: Partial<Record<Tool, number>>;
  /** Highest over rounds. */
  maxRssMiB: Partial<Record<Tool, number>>;
  /** Median MiB read from disk by the process (data, repository, caches dropped before it). */
  diskReadMiB: Partial<Record<Tool, number>>;
  /** Coffer's own count of bytes read from the source files (`stats.bytesRead`), median over rounds. */
  cofferSourceBytesRead?: number;
  /** restic/coffer of the median wall seconds (> 1: Coffer faster). */
  ratio?: number;
  /** restic/coffer of the best round of each (less sensitive to a loaded machine). */
  minSecondsRatio?: number;
  /** restic/coffer of the median CPU seconds (user+sys). */
  cpuRatio?: number;
  /** coffer/restic of the highest peak RSS. */
  rssRatio?: number;
  bytesStored?: Partial<Record<Tool, number>>;
  bytesRatio?: number;
  bytesBreakdown?: Partial<Record<Tool, ByteBreakdown>>;
  verified?: Partial<Record<Tool, boolean>>;
  /** Median of the per-round ratios restic/coffer. */
  medianRoundRatio?: number;
  /**
   * What one plain process takes for this phase's file-system work alone, same data, same preparation (median
   * over rounds): beside a first backup a cold read of every file (`cat`), beside a restore a copy of the dataset
   * from memory (tmpfs) into a fresh filesystem made as the restores' are (`cp -a`). A yardstick of the kernel's
   * share, not a bound: the tools read and write from more than one thread.
   */
  plainTool?: { tool: string; seconds: number; cpuSeconds: number; samples: number[] };
  /** Every round's wall seconds, who went first, and that round's ratio. */
  samples: { first: Tool; seconds: Partial<Record<Tool, number>>; cpuSeconds: Partial<Record<Tool, number>>; maxRssMiB: Partial<Record<Tool, number>>; diskReadMiB: Partial<Record<Tool, number>>; use: Partial<Record<Tool, Utilisation>>; load1m: number; ratio?: number }[];
}

interface RoundsInput {
  name: string;
  files: PlannedFile[];
  muts: Mutation[];
  data: string;
  tools: Tool[];
  rounds: number;
  phaseNames: string[];
  repos: Record<Tool, string>;
  initRepos: () => Promise<void>;
  run: (tool: Tool, args: string[]) => Promise<RunResult>;
  backupArgs: (tool: Tool) => string[];
  budgetArgs: string[];
  work: string;
  /** Run the plain tools beside the first backup and the restore (`plainTool` of those phases). */
  plain: boolean;
  prepare: () => Promise<void>;
  settleMs: number;
}

/** The phases of one workload, `rounds` times on fresh repositories, alternating who goes first. */
async function runRounds(x: RoundsInput) {
  const { tools, phaseNames, repos, data, run } = x;
  const phases: Phase[] = phaseNames.map((phase) => ({ phase, seconds: {}, cpuSeconds: {}, cores: {}, maxRssMiB: {}, diskReadMiB: {}, samples: [] }));
  const sourceRead: Record<string, number[]> = Object.fromEntries(phaseNames.map((n) => [n, []]));
  const raw: Record<string, Partial<Record<Tool, Sample[]>>> = Object.fromEntries(phaseNames.map((n) => [n, {}]));
  const mutated = new Set(x.muts.map((m) => m.path));
  let mutation: { files: number; bytesWritten: number } | undefined;
  let lastSnap: string | undefined;
  const plain: Record<string, RunResult[]> = {};
  for (let r = 0; r < x.rounds; r++) {
    if (r > 0) {
      // Back to the pristine dataset: only the mutated files differ, and the plan rewrites them byte for byte.
      await writeDataset(data, x.files.filter((f) => mutated.has(f.path)));
    }
    await x.initRepos();
    lastSnap = undefined;
    for (let p = 0; p < phaseNames.length; p++) {
      const name = phaseNames[p]!;
      const order = (p + r) % 2 === 0 ? tools : [...tools].reverse();
      if (name === 'changed-backup') {
        mutation = await applyMutation(data, x.muts);
        if (r === 0) log(`${x.name}: changed ${new Set(x.muts.map((m) => m.path)).size} of ${x.files.length} files (${mutation.bytesWritten} bytes written)`);
      }
      const ph = phases[p]!;
      const sample: Phase['samples'][number] = { first: order[0]!, seconds: {}, cpuSeconds: {}, maxRssMiB: {}, diskReadMiB: {}, use: {}, load1m: round(loadavg()[0]!, 2) };
      for (const tool of order) {
        let res: RunResult;
        if (name === 'restore') {
          const fresh = await freshFilesystem(path.join(x.work, `restore-fs-${tool}`), x.files);
          const target = fresh ? path.join(fresh.mount, 'target') : path.join(x.work, `restore-${tool}`);
          await rm(target, { recursive: true, force: true });
          try {
            res = tool === 'restic' ? await run('restic', ['restore', 'latest', '--target', target]) : await run('coffer', ['restore', '--repo', repos.coffer, ...x.budgetArgs, lastSnap!, target]);
            ph.verified ??= {};
            const ok = await verifyRestore(data, target);
            ph.verified[tool] = (ph.verified[tool] ?? true) && ok;
          } finally {
            await rm(target, { recursive: true, force: true });
            await fresh?.release();
          }
        } else if (name === 'check-read-data') {
          res = tool === 'restic' ? await run('restic', ['check', '--read-data']) : await run('coffer', ['check', '--repo', repos.coffer, '--read-data', ...x.budgetArgs]);
        } else {
          res = await run(tool, x.backupArgs(tool));
          if (tool === 'coffer') {
            lastSnap = snapshotIdFrom(res.stdout);
            const read = bytesReadFrom(res.stdout);
            if (read !== undefined) sourceRead[name]!.push(read);
          }
        }
        (raw[name]![tool] ??= []).push({ seconds: res.seconds, cpuSeconds: res.cpuSeconds, maxRssMiB: res.maxRssMiB, diskReadMiB: res.diskReadMiB });
        sample.seconds[tool] = round(res.seconds);
        sample.cpuSeconds[tool] = round(res.cpuSeconds);
        const use = (sample.use[tool] = utilisation(res));
        sample.maxRssMiB[tool] = Math.round(res.maxRssMiB);
        sample.diskReadMiB[tool] = round(res.diskReadMiB);
        log(`${x.name} round ${r + 1}/${x.rounds} ${name} ${tool}: ${res.seconds.toFixed(2)} s, cpu ${res.cpuSeconds.toFixed(2)} s, max RSS ${Math.round(res.maxRssMiB)} MiB, disk read ${res.diskReadMiB.toFixed(1)} MiB, cores ${use.cores} (runnable ${use.runnable ?? '?'}, busiest thread ${use.busiest ?? '?'} of the wall, ${use.busiestOfCpu ?? '?'} of the CPU${use.busiestIsMain ? ', main' : ''}), load ${loadavg()[0]!.toFixed(2)}`);
      }
      if (sample.seconds.restic && sample.seconds.coffer) sample.ratio = round(sample.seconds.restic / sample.seconds.coffer, 3);
      ph.samples.push(sample);
      if (x.plain && (name === 'first-backup' || name === 'restore')) {
        const f = name === 'restore' ? await plainCopy(x) : await plainRead(x);
        if (f) {
          (plain[name] ??= []).push(f);
          log(`${x.name} round ${r + 1}/${x.rounds} ${name} plain tool (${name === 'restore' ? 'cp -a from memory into a fresh filesystem' : 'cold cat of every file'}): ${f.seconds.toFixed(2)} s, cpu ${f.cpuSeconds.toFixed(2)} s`);
        }
      }
      if (name.endsWith('-backup')) {
        ph.bytesStored = {};
        for (const t of tools) ph.bytesStored[t] = await treeBytes(repos[t]);
        if (ph.bytesStored.restic && ph.bytesStored.coffer) ph.bytesRatio = round(ph.bytesStored.coffer / ph.bytesStored.restic, 4);
        // where the bytes go, both repositories (mover-bytes.ts), untimed
        ph.bytesBreakdown = {};
        for (const t of tools) ph.bytesBreakdown[t] = t === 'coffer' ? await cofferBreakdown(repos.coffer, PASSWORD) : await resticBreakdown(repos.restic, { ...process.env, RESTIC_PASSWORD: PASSWORD });
      }
    }
  }
  for (const ph of phases) {
    for (const t of tools) {
      const xs = raw[ph.phase]![t] ?? [];
      ph.seconds[t] = round(median(xs.map((s) => s.seconds)));
      ph.cpuSeconds[t] = round(median(xs.map((s) => s.cpuSeconds)));
      ph.cores[t] = round(median(xs.map((s) => s.cpuSeconds / s.seconds)), 2);
      ph.maxRssMiB[t] = Math.round(Math.max(...xs.map((s) => s.maxRssMiB)));
      ph.diskReadMiB[t] = round(median(xs.map((s) => s.diskReadMiB)));
    }
    if (sourceRead[ph.phase]!.length) ph.cofferSourceBytesRead = median(sourceRead[ph.phase]!);
    const fl = plain[ph.phase];
    if (fl?.length) {
      ph.plainTool = {
        tool: ph.phase === 'restore' ? 'cp -a' : 'cat',
        seconds: round(median(fl.map((f) => f.seconds))),
        cpuSeconds: round(median(fl.map((f) => f.cpuSeconds))),
        samples: fl.map((f) => round(f.seconds)),
      };
    }
    if (ph.seconds.restic !== undefined && ph.seconds.coffer !== undefined) {
      ph.ratio = round(ph.seconds.restic / ph.seconds.coffer, 3);
      ph.minSecondsRatio = round(Math.min(...raw[ph.phase]!.restic!.map((s) => s.seconds)) / Math.min(...raw[ph.phase]!.coffer!.map((s) => s.seconds)), 3);
      ph.cpuRatio = round(ph.cpuSeconds.restic! / ph.cpuSeconds.coffer!, 3);
      ph.rssRatio = round(ph.maxRssMiB.coffer! / ph.maxRssMiB.restic!, 3);
      ph.medianRoundRatio = round(median(ph.samples.map((s) => s.ratio!)), 3);
    }
  }
  // Order bias: geometric mean of every round ratio when Coffer ran first, over the same when restic did.
  const geo = (xs: number[]) => (xs.length ? Math.exp(xs.reduce((a, v) => a + Math.log(v), 0) / xs.length) : NaN);
  const allSamples = phases.flatMap((p) => p.samples).filter((s) => s.ratio !== undefined);
  const cofferFirst = geo(allSamples.filter((s) => s.first === 'coffer').map((s) => s.ratio!));
  const resticFirst = geo(allSamples.filter((s) => s.first === 'restic').map((s) => s.ratio!));
  const orderBias =
    tools.length === 2
      ? { ratioWhenCofferFirst: round(cofferFirst, 3), ratioWhenResticFirst: round(resticFirst, 3), cofferFirstOverResticFirst: round(cofferFirst / resticFirst, 3) }
      : undefined;
  return { phases, mutation, orderBias };
}

/** A cold read of every file of the dataset by `cat`, prepared as the tools' commands are (caches dropped, settle). */
async function plainRead(x: RoundsInput): Promise<RunResult> {
  await x.prepare();
  return timed('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], process.env, x.data);
}

/**
 * `cp -a` of the dataset into a fresh filesystem made as the restores' are, from a copy in memory (tmpfs, which a
 * cache drop keeps) after the same sync, drop and settle as the tools: only the writing side is measured, in the
 * memory state the tools' restores start from. Undefined where /dev/shm cannot hold the dataset.
 */
async function plainCopy(x: RoundsInput): Promise<RunResult | undefined> {
  const bytes = x.files.reduce((a, f) => a + f.size, 0);
  const shm = await statfs('/dev/shm').catch(() => undefined);
  if (!shm || shm.bavail * shm.bsize < bytes * 1.1 + 2 ** 30) return undefined;
  const source = await mkdtemp('/dev/shm/coffer-bench-plain-');
  const fresh = await freshFilesystem(path.join(x.work, 'restore-fs-plain'), x.files);
  const target = fresh ? path.join(fresh.mount, 'target') : path.join(x.work, 'restore-plain');
  await rm(target, { recursive: true, force: true });
  try {
    await timed('cp', ['-a', '--reflink=never', x.data, source], process.env, x.work);
    await x.prepare();
    return await timed('cp', ['-a', '--reflink=never', path.join(source, path.basename(x.data)), target], process.env, x.work);
  } finally {
    await rm(source, { recursive: true, force: true });
    await rm(target, { recursive: true, force: true });
    await fresh?.release();
  }
}

/**
 * `coffer repo` as one ESM bundle: what a mover image would ship instead of
 * compiling TypeScript at every start. esbuild comes with tsx; chunks are
 * split so the AWS SDK loads only for s3:// repositories.
 */
async function buildBundle(dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const entry = path.join(dir, 'coffer-repo.ts');
  writeFileSync(
    entry,
    [
      // as cli/bin.ts: the start-up V8 flag released before the verb's modules load (dynamic imports, their own chunks)
      `import { releaseStartupHeapFlag } from ${JSON.stringify(path.join(ROOT, 'cli/v8-flags.ts'))};`,
      'await releaseStartupHeapFlag();',
      `const { run } = await import(${JSON.stringify(path.join(ROOT, 'cli/repo.ts'))});`,
      `const { isCofferError, processIO } = await import(${JSON.stringify(path.join(ROOT, 'cli/io.ts'))});`,
      'try {',
      '  process.exitCode = await run(process.argv.slice(2), processIO());',
      '} catch (e) {',
      '  if (!isCofferError(e)) throw e;',
      '  process.stderr.write(`error: ${e.message}\n`);',
      '  process.exitCode = 1;',
      '}',
      '',
    ].join('\n'),
  );
  const esbuild = path.join(ROOT, 'node_modules/.bin/esbuild');
  await timed(
    esbuild,
    [
      entry,
      '--bundle',
      '--splitting',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      `--outdir=${path.join(dir, 'out')}`,
      '--log-level=warning',
      "--banner:js=import { createRequire as __cofferRequire } from 'node:module'; const require = __cofferRequire(import.meta.url);",
    ],
    process.env,
    dir,
  );
  // Add-ons loaded at run time by name (@napi-rs/xattr in repository/xattr.ts, the zstd codec in compress.ts)
  // resolve from the bundle's folder up, as they do in the mover image (dist/node_modules, build/bundle.ts): without
  // this the bench's Coffer skipped the llistxattr per file that the mover (and restic) pays, and wrote brotli.
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const out = path.join(dir, 'out/coffer-repo.js');
  // resolved as repository/xattr.ts does (createRequire from the bundle's own URL): refuse to measure without it
  createRequire(out)('@napi-rs/xattr');
  createRequire(out)('@toondepauw/node-zstd');
  return out;
}

/** Run a command under GNU time for peak RSS and CPU; wall time measured here. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<RunResult> {
  const useTime = existsSync('/usr/bin/time');
  const argv = useTime ? ['-f', '__BENCH_TIME__ %M %U %S %I', '--', cmd, ...args] : args;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(useTime ? '/usr/bin/time' : cmd, argv, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const sampler = child.pid ? sampleThreads(child.pid, useTime) : undefined;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      const threads = sampler?.stop();
      const stderr = Buffer.concat(err).toString();
      const stdout = Buffer.concat(out).toString();
      const m = /__BENCH_TIME__ (\d+) ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      if (code !== 0) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stderr.replace(/__BENCH_TIME__.*\n?/, '').slice(-4000)}\n${stdout.slice(-2000)}`));
        return;
      }
      resolve({ seconds, maxRssMiB: m ? Number(m[1]) / 1024 : NaN, cpuSeconds: m ? Number(m[2]) + Number(m[3]) : NaN, diskReadMiB: m ? (Number(m[4]) * 512) / 2 ** 20 : NaN, ...(threads ? { threads } : {}), stdout });
    });
  });
}

/** `stats.bytesRead` of Coffer's `backup --output json`: bytes read from the source files. */
function bytesReadFrom(stdout: string): number | undefined {
  try {
    const n = (JSON.parse(stdout.trim()) as { stats?: { bytesRead?: unknown } }).stats?.bytesRead;
    return typeof n === 'number' ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Coffer's `backup --output json`: the snapshot id, wherever the document puts it. */
function snapshotIdFrom(stdout: string): string {
  const text = stdout.trim();
  const docs = text.split('\n').filter((l) => l.trim().startsWith('{'));
  for (const candidate of [text, ...docs.reverse()]) {
    try {
      const j = JSON.parse(candidate) as Record<string, unknown>;
      const snap = (j.snapshot ?? {}) as Record<string, unknown>;
      const id = j.snapshotId ?? snap.id ?? j.id ?? (typeof j.snapshot === 'string' ? j.snapshot : undefined);
      if (typeof id === 'string') return id;
    } catch {
      // not this one
    }
  }
  throw new Error(`cannot find the snapshot id in coffer's output:\n${text.slice(0, 2000)}`);
}

function canDropCaches(): boolean {
  try {
    dropPageCache();
    return true;
  } catch {
    return false;
  }
}

/** Flush every dirty page to disk (untimed), so no command pays for another's writeback. */
function syncAll(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

function dropPageCache(): void {
  writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

async function treeBytes(dir: string): Promise<number> {
  let n = 0;
  if (!existsSync(dir)) return 0;
  for await (const f of walk(dir)) n += (await stat(f)).size;
  return n;
}

async function readTree(dir: string): Promise<void> {
  for await (const f of walk(dir)) {
    await new Promise<void>((resolve, reject) => createReadStream(f).on('data', () => {}).on('end', resolve).on('error', reject));
  }
}

async function hashFile(p: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => createReadStream(p).on('data', (b) => h.update(b)).on('end', resolve).on('error', reject));
  return h.digest('hex');
}

/** How restores were given their target (the report's `restoreTarget`), and whether loop mounts were refused once. */
let restoreTarget = 'a directory on the bench\'s own filesystem';
let loopRefused = false;
/** Loop mounts not yet released (unmounted in main's finally, before the work directory is removed). */
const mounted = new Set<string>();

/**
 * A new ext4 filesystem on a loop device for one restore, as a restore into a fresh volume: a restore into a
 * directory of a long-used filesystem pays kernel time that grows with what was created and deleted there before
 * (30,000 files restored five times in a row into a deleted-and-recreated target on this box's ext4: the same
 * user CPU, 2.3 s, but system time 1.05 → 2.66 s; `cp -r` of the dataset paid the same), so each restore paid for
 * what earlier ones had created and deleted — most, the tool that went second. Inode tables and journal are written at mkfs (no lazy init
 * thread writing behind a timed command). Undefined, and the old directory used, where loop mounts are not
 * allowed (not root, no loop devices).
 */
async function freshFilesystem(dir: string, files: readonly PlannedFile[]): Promise<{ mount: string; release: () => Promise<void> } | undefined> {
  if (loopRefused) return undefined;
  const bytes = files.reduce((a, f) => a + f.size + 4096, 0);
  const image = `${dir}.img`;
  const mount = `${dir}.mnt`;
  await mkdir(mount, { recursive: true });
  const ok = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  if (
    !ok('truncate', ['-s', String(Math.ceil(bytes * 1.25) + 256 * 2 ** 20), image]) ||
    !ok('mkfs.ext4', ['-q', '-F', '-N', String(files.length + 4096), '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]) ||
    !ok('mount', ['-o', 'loop', image, mount])
  ) {
    await rm(image, { force: true });
    loopRefused = true;
    restoreTarget = 'a directory on the bench\'s own filesystem (loop mount refused)';
    log(`restore: no fresh filesystem (mkfs.ext4 + loop mount failed): restoring into ${dir}`);
    return undefined;
  }
  restoreTarget = 'a fresh ext4 filesystem per restore (loop device, inode tables written at mkfs)';
  mounted.add(mount);
  return {
    mount,
    release: async () => {
      if (ok('umount', [mount])) mounted.delete(mount);
      await rm(image, { force: true });
      await rm(mount, { recursive: true, force: true });
    },
  };
}

/** Every dataset file present in the restore with the same bytes. Finds the dataset inside the target (restic nests the absolute path). */
async function verifyRestore(data: string, target: string): Promise<boolean> {
  const candidates = [path.join(target, data), path.join(target, path.basename(data)), target];
  const top = await readdir(data);
  const base = candidates.find((c) => top.every((t) => existsSync(path.join(c, t))));
  if (!base) {
    log(`restore in ${target}: dataset not found`);
    return false;
  }
  for await (const f of walk(data)) {
    const rel = path.relative(data, f);
    const other = path.join(base, rel);
    if (!existsSync(other) || (await hashFile(f)) !== (await hashFile(other))) {
      log(`restore in ${target}: ${rel} differs or is missing`);
      return false;
    }
  }
  return true;
}

async function version(): Promise<string> {
  try {
    return (await timed('restic', ['version'], process.env, tmpdir())).stdout.trim();
  } catch {
    return 'unavailable';
  }
}

const mib = (n: number) => Math.round(n / 2 ** 20);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

main().catch((e: unknown) => {
  process.stderr.write(`[bench:mover] failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
