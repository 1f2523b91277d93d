/**
 * Catalog benchmark: commit one restore point into a catalog branch that already holds N (default 10,000), with
 * Coffer's catalog API vs the git CLI doing the same commit, side by side in the same run on the same repository.
 *
 * - coffer (warm): one Catalog per process, as the reconciler keeps it; blob + changed trees + commit written
 *   directly, ref updated by compare-and-swap.
 * - coffer (cold): a fresh source + Catalog per commit (what `coffer backup` as a one-shot process pays in-process).
 * - git CLI porcelain: in a checkout of the branch (a worktree, checked out before timing): write the file,
 *   `git add FILE`, `git commit -q -m MSG` — what a script would do.
 * - git CLI plumbing: `hash-object -w`, `update-index --add --cacheinfo` on a prepared index, `write-tree`,
 *   `commit-tree`, `update-ref` — the fastest the CLI can do with the index it keeps.
 * - isomorphic-git add+commit (reference, what the issue measured at ~0.4 s): index-based `add` then `commit`.
 * Median of `reps` runs each; ratio = git CLI porcelain median / coffer warm median (> 1: Coffer faster).
 *
 * Run alone: `npx tsx test/bench/reconcile-catalog.ts [--restore-points N] [--reps N]`.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import git from 'isomorphic-git';
import YAML from 'yaml';
import { openCatalog, restorePointName, type RestorePoint } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';

export interface CatalogBenchResult {
  restorePoints: number;
  reps: number;
  buildSeconds: number;
  cofferWarmMs: number;
  cofferColdMs: number;
  gitCliPorcelainMs: number;
  gitCliPlumbingMs: number;
  isomorphicGitAddCommitMs: number;
  /** git CLI porcelain / Coffer warm: how many times faster Coffer commits (bar: ≥ 1). */
  ratioVsGitCli: number;
  /** git CLI plumbing / Coffer warm. */
  ratioVsGitPlumbing: number;
  /** `coffer restorepoints` over the whole catalog on a machine that never listed it: read + parse every restore point. */
  listAllUncachedMs: number;
  /** The same again in the same process (isomorphic-git's pack cache and the object reader warm). */
  listAllCachedMs: number;
  /** Listing filtered to one (namespace, policy), uncached: only that subtree is read. */
  listOnePolicyUncachedMs: number;
  meetsBar: boolean;
}

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@coffer.test', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@coffer.test', GIT_CONFIG_NOSYSTEM: '1' };

function sh(cwd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync('git', args, { cwd, env: opts.env ?? GIT_ENV, input: opts.input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

function rp(namespace: string, policy: string, start: Date): RestorePoint {
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'RestorePoint',
    metadata: { name: restorePointName(policy, start) },
    spec: {
      cluster: 'bench',
      namespace,
      policy,
      planHash: `sha256:${'0'.repeat(64)}`,
      sourceCommit: 'a'.repeat(40),
      trigger: 'schedule',
      startTime: start.toISOString(),
      endTime: new Date(start.getTime() + 60_000).toISOString(),
      phase: 'Succeeded',
      repository: { profile: 'local', location: 'file:///var/backups/coffer' },
      resources: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', count: 1, names: ['db'] }],
      volumes: [{ pvc: 'data-db-0', phase: 'Succeeded', sizeBytes: 1_048_576, snapshotId: 'f'.repeat(64) }],
      stats: { bytesRead: 1_048_576, bytesAdded: 4096, durationSeconds: 60 },
    },
  };
}

/** Builds the catalog with `git fast-import` (one pack, no loose objects): seconds, not minutes, for 10,000 files. */
export async function buildCatalog(gitdir: string, n: number): Promise<void> {
  const policies = 5;
  const namespaces = Math.max(1, Math.ceil(n / (policies * 100)));
  const lines: Buffer[] = [];
  const add = (s: string | Buffer): void => {
    lines.push(typeof s === 'string' ? Buffer.from(s) : s);
  };
  add(`commit refs/heads/coffer-catalog\ncommitter Coffer <coffer@localhost> 1764000000 +0000\ndata 14\ninitial import\n`);
  let made = 0;
  for (let ns = 0; ns < namespaces && made < n; ns++) {
    for (let p = 0; p < policies && made < n; p++) {
      for (let i = 0; i < 100 && made < n; i++, made++) {
        const doc = rp(`ns-${ns}`, `policy-${p}`, new Date(Date.UTC(2025, 0, 1) + i * 86_400_000));
        const body = Buffer.from(YAML.stringify(doc));
        add(`M 100644 inline catalog/bench/ns-${ns}/policy-${p}/${doc.metadata.name}.yaml\ndata ${body.length}\n`);
        add(body);
        add('\n');
      }
    }
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn('git', ['--git-dir', gitdir, 'fast-import', '--quiet'], { env: GIT_ENV, stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}`))));
    child.stdin.end(Buffer.concat(lines));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function runCatalogBench(opts: { restorePoints?: number; reps?: number } = {}): Promise<CatalogBenchResult> {
  const n = opts.restorePoints ?? 10_000;
  const reps = opts.reps ?? 5;
  const root = fs.mkdtempSync(join(tmpdir(), 'coffer-bench-catalog-'));
  try {
    const gitdir = join(root, 'repo.git');
    sh(root, ['init', '-q', '--bare', '-b', 'coffer-catalog', gitdir]);
    const t0 = performance.now();
    await buildCatalog(gitdir, n);
    const buildSeconds = (performance.now() - t0) / 1000;
    sh(gitdir, ['branch', 'cli-catalog', 'coffer-catalog']);
    sh(gitdir, ['branch', 'cli-plumbing', 'coffer-catalog']);
    sh(gitdir, ['branch', 'iso-catalog', 'coffer-catalog']);
    const work = join(root, 'cli');
    sh(gitdir, ['worktree', 'add', '-q', work, 'cli-catalog']);
    const isoWork = join(root, 'iso');
    sh(gitdir, ['worktree', 'add', '-q', isoWork, 'iso-catalog']);
    const plumbingIndex = join(root, 'plumbing.index');
    sh(gitdir, ['read-tree', 'cli-plumbing'], { env: { ...GIT_ENV, GIT_INDEX_FILE: plumbingIndex } });

    const when = (i: number): Date => new Date(Date.UTC(2026, 5, 1, 0, i));
    const dir = 'catalog/bench/ns-0/policy-0';

    const warm = openCatalog({ source: await openSource({ source: gitdir }), cluster: 'bench' });
    await warm.tip();
    const cofferWarm: number[] = [];
    const cofferCold: number[] = [];
    const cli: number[] = [];
    const plumbing: number[] = [];
    const iso: number[] = [];
    for (let r = 0; r < reps; r++) {
      // Coffer, warm (the reconciler's steady state).
      {
        const doc = rp('ns-0', 'policy-0', when(r));
        const s = performance.now();
        await warm.commitChanges({ put: [{ path: `${dir}/${doc.metadata.name}.yaml`, content: YAML.stringify(doc) }] }, `backup: ns-0/policy-0 ${r} ok`);
        cofferWarm.push(performance.now() - s);
      }
      // Coffer, cold: open the source and catalog inside the timing.
      {
        const doc = rp('ns-0', 'policy-0', when(100 + r));
        const s = performance.now();
        const c = openCatalog({ source: await openSource({ source: gitdir }), cluster: 'bench' });
        await c.commitChanges({ put: [{ path: `${dir}/${doc.metadata.name}.yaml`, content: YAML.stringify(doc) }] }, `backup: ns-0/policy-0 cold ${r} ok`);
        cofferCold.push(performance.now() - s);
      }
      // git CLI, porcelain, in a checkout.
      {
        const doc = rp('ns-0', 'policy-0', when(r));
        const rel = `${dir}/${doc.metadata.name}.yaml`;
        const s = performance.now();
        fs.writeFileSync(join(work, rel), YAML.stringify(doc));
        sh(work, ['add', rel]);
        sh(work, ['commit', '-q', '-m', `backup: ns-0/policy-0 ${r} ok`]);
        cli.push(performance.now() - s);
      }
      // git CLI, plumbing with a prepared index.
      {
        const doc = rp('ns-0', 'policy-0', when(r));
        const rel = `${dir}/${doc.metadata.name}.yaml`;
        const env = { ...GIT_ENV, GIT_INDEX_FILE: plumbingIndex };
        const s = performance.now();
        const blob = sh(gitdir, ['hash-object', '-w', '--stdin'], { input: YAML.stringify(doc) }).trim();
        sh(gitdir, ['update-index', '--add', '--cacheinfo', `100644,${blob},${rel}`], { env });
        const tree = sh(gitdir, ['write-tree'], { env }).trim();
        const parent = sh(gitdir, ['rev-parse', 'cli-plumbing']).trim();
        const commit = sh(gitdir, ['commit-tree', tree, '-p', parent, '-m', `backup: ns-0/policy-0 ${r} ok`]).trim();
        sh(gitdir, ['update-ref', 'refs/heads/cli-plumbing', commit, parent]);
        plumbing.push(performance.now() - s);
      }
      // isomorphic-git index-based add + commit (reference); fewer reps, it is the slow path.
      if (r < Math.min(reps, 3)) {
        const doc = rp('ns-0', 'policy-0', when(r));
        const rel = `${dir}/${doc.metadata.name}.yaml`;
        const s = performance.now();
        fs.writeFileSync(join(isoWork, rel), YAML.stringify(doc));
        const wtGitdir = sh(isoWork, ['rev-parse', '--absolute-git-dir']).trim();
        await git.add({ fs, dir: isoWork, gitdir: wtGitdir, filepath: rel });
        await git.commit({ fs, dir: isoWork, gitdir: wtGitdir, message: `backup ${r}`, author: { name: 'Bench', email: 'bench@coffer.test' } });
        iso.push(performance.now() - s);
      }
    }
    // Sanity: every branch holds N + reps restore points, and git reads what Coffer wrote.
    const count = (ref: string): number => sh(gitdir, ['ls-tree', '-r', '--name-only', ref, 'catalog/bench/']).trim().split('\n').length;
    if (count('coffer-catalog') !== n + 2 * reps) throw new Error(`coffer-catalog holds ${count('coffer-catalog')} restore points, want ${n + 2 * reps}`);
    if (count('cli-catalog') !== n + reps) throw new Error(`cli-catalog holds ${count('cli-catalog')} restore points, want ${n + reps}`);
    if (count('cli-plumbing') !== n + reps) throw new Error(`cli-plumbing holds ${count('cli-plumbing')} restore points, want ${n + reps}`);
    sh(gitdir, ['fsck', '--no-dangling', '--connectivity-only']);

    // Listing full documents in-process (npm run bench:catalog measures listings in fresh processes at 100,000).
    const listOnce = async (filter = {}): Promise<number> => {
      const s = performance.now();
      const got = await openCatalog({ source: await openSource({ source: gitdir }), cluster: 'bench' }).readRestorePoints(filter);
      const ms = performance.now() - s;
      if (Object.keys(filter).length === 0 && got.length !== n + 2 * reps) throw new Error(`listed ${got.length} restore points, want ${n + 2 * reps}`);
      return ms;
    };
    const listAllUncached = await listOnce();
    const listAllCached = median([await listOnce(), await listOnce(), await listOnce()]);
    const listOne = median([await listOnce({ namespace: 'ns-1', policy: 'policy-1' }), await listOnce({ namespace: 'ns-1', policy: 'policy-1' }), await listOnce({ namespace: 'ns-1', policy: 'policy-1' })]);

    const round = (x: number): number => Math.round(x * 100) / 100;
    const cofferWarmMs = round(median(cofferWarm));
    const gitCliPorcelainMs = round(median(cli));
    const gitCliPlumbingMs = round(median(plumbing));
    return {
      restorePoints: n,
      reps,
      buildSeconds: round(buildSeconds),
      cofferWarmMs,
      cofferColdMs: round(median(cofferCold)),
      gitCliPorcelainMs,
      gitCliPlumbingMs,
      isomorphicGitAddCommitMs: round(median(iso)),
      ratioVsGitCli: round(gitCliPorcelainMs / cofferWarmMs),
      ratioVsGitPlumbing: round(gitCliPlumbingMs / cofferWarmMs),
      listAllUncachedMs: round(listAllUncached),
      listAllCachedMs: round(listAllCached),
      listOnePolicyUncachedMs: round(listOne),
      meetsBar: cofferWarmMs <= gitCliPorcelainMs,
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { 'restore-points': { type: 'string' }, reps: { type: 'string' } } });
  const result = await runCatalogBench({
    ...(values['restore-points'] ? { restorePoints: Number(values['restore-points']) } : {}),
    ...(values.reps ? { reps: Number(values.reps) } : {}),
  });
  process.stdout.write(`${JSON.stringify({ bench: 'reconcile-catalog', ...result }, null, 2)}\n`);
}
