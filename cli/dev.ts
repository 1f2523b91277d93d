import { isAbsolute, resolve, sep } from 'node:path';
import { parseArgs } from './args.ts';
import { compileTarget, locateInGit } from '../compiler/load/target.ts';
import { readGitCommit } from '../compiler/load/git.ts';
import { compileSources } from '../compiler/compile.ts';
import { CompileFailed } from '../compiler/diagnostics.ts';
import type { Plan, PlanPolicy } from '../compiler/plan/types.ts';
import { parseGoDuration } from '../compiler/schedule/index.ts';
import { renderReport, reportJson, runDevLoop, type CompileReport } from '../compiler/watch/index.ts';
import { type CliIO, type Command, UsageError } from './io.ts';

const HELP = `Watch a working copy of a policy repository and recompile on every save: print the plan diff (with the risk
levels of \`coffer plan --diff\`) against the last plan that compiled, or the errors with file:line:col. A broken
save never replaces that baseline, so after fixing a typo you see what the whole edit changed. Ctrl-C stops.

Usage:
  coffer dev [DIR...] [--debounce 300ms] [--base REF] [-o text|json] [--no-clear] [--poll]
             [--live | --kubeconfig FILE | --context NAME]

Examples:
  coffer dev                         # watch the current directory
  coffer dev . ../blueprint-library  # several folders compiled as one repository, like coffer plan
  coffer dev --base HEAD             # the first compile is compared with the plan at HEAD (your uncommitted edits)
  coffer dev -o json | jq .status    # one JSON object per compile
  coffer dev --context staging       # also show which namespaces each selector edit adds or drops, on that cluster

Flags:
      --debounce DURATION  quiet time after the last save before compiling (default 300ms; 0s compiles at once)
      --base REF           start from the plan at this Git revision instead of printing the first plan whole
  -o, --output FMT         text (default) or json (one object per line per compile)
      --no-clear           on a terminal, keep earlier output instead of redrawing the screen per compile
      --poll               poll the filesystem (network or container mounts where change events do not arrive)
      --live               evaluate namespace selectors on the cluster of $KUBECONFIG (read-only: lists namespaces)
      --kubeconfig FILE    the same, with this kubeconfig
      --context NAME       the same, with this kubeconfig context
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      debounce: { type: 'string' },
      base: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'no-clear': { type: 'boolean', default: false },
      poll: { type: 'boolean', default: false },
      live: { type: 'boolean', default: false },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = v.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be text or json, got "${output}"`);
  let debounceMs = 300;
  if (v.debounce !== undefined) {
    const s = v.debounce === '0' ? 0 : parseGoDuration(v.debounce);
    if (s === undefined || s > 60) throw new UsageError(`--debounce "${v.debounce}": expected a duration up to 1m such as 300ms, 1s or 0s`);
    debounceMs = s * 1000;
  }
  const dirs = positionals.length ? positionals : ['.'];
  if (v.base !== undefined && dirs.length > 1) throw new UsageError('--base takes a single DIR');
  // Fail fast on a directory that is not there at start; once running, a vanished directory is just a failed compile.
  await compileTarget(dirs, undefined, io.cwd);
  const baseline = v.base !== undefined ? await planAt(resolve(io.cwd, dirs[0]!), v.base) : undefined;
  const live = v.live || v.kubeconfig !== undefined || v.context !== undefined;
  const selectNamespaces = live ? await clusterSelector(v.kubeconfig, v.context, io.env) : undefined;

  const tty = output === 'text' && io.stdout.isTTY === true;
  const color = tty && !io.env.NO_COLOR;
  const clear = tty && !v['no-clear'];
  const print = (r: CompileReport) => {
    if (output === 'json') return void io.stdout.write(reportJson(r));
    io.stdout.write(`${clear ? '\x1b[2J\x1b[3J\x1b[H' : r.seq > 1 ? '\n' : ''}${renderReport(r, { color, ...(io.env.TZ ? { timeZone: io.env.TZ } : {}) })}`);
    if (tty) io.stdout.write(`\nwatching ${dirs.join(', ')} — Ctrl-C to stop\n`);
  };

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The reader went away (`coffer dev -o json | head -1`): stop quietly like a signal.
  io.stdout.on('error', onSignal);
  try {
    await runDevLoop({
      dirs: dirs.map((d) => ({ path: isAbsolute(d) ? d : resolve(io.cwd, d), display: displayPrefix(d) })),
      compile: () => compileTarget(dirs, undefined, io.cwd),
      onReport: print,
      signal: stop.signal,
      debounceMs,
      ...(baseline ? { baseline } : {}),
      ...(v.poll ? { watch: { usePolling: true } } : {}),
      ...(selectNamespaces ? { selectNamespaces } : {}),
      onWatchError: (e) => io.stderr.write(`warning: watcher: ${(e as Error).message}\n`),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    io.stdout.off('error', onSignal);
  }
  return 0;
};

/**
 * Namespace selection on a live cluster, with the reconciler's own evaluation (so dev shows what `coffer run` will
 * protect). Loaded only when asked for; a cluster that does not answer within 5 s is a warning on that compile.
 */
async function clusterSelector(kubeconfig: string | undefined, context: string | undefined, env: NodeJS.ProcessEnv): Promise<(policies: readonly PlanPolicy[]) => Promise<Map<string, string[]>>> {
  const [{ KubeClient, loadKubeConfig }, { selectNamespaces }] = await Promise.all([import('../reconciler/kube/client.ts'), import('../reconciler/reconcile.ts')]);
  const client = new KubeClient(loadKubeConfig({ ...(kubeconfig ? { kubeconfigPath: kubeconfig } : {}), ...(context ? { context } : {}), env }));
  return async (policies) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the cluster did not answer within 5s')), 5000);
    });
    try {
      return await Promise.race([selectNamespaces(client, policies), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The plan at a Git revision, as `coffer plan --diff REF` compiles it; a revision that does not compile is an error. */
async function planAt(dir: string, ref: string): Promise<Plan> {
  const { gitdir, subdir } = await locateInGit(dir);
  const { commit, files } = await readGitCommit(gitdir, ref, subdir, { allowMissingDir: true });
  const result = compileSources(files, commit);
  if (!result.plan) throw new CompileFailed(result.diagnostics);
  return result.plan;
}

/** Paths in change notices match the compiler's diagnostics: as typed, without "./". */
function displayPrefix(d: string): string {
  const p = d.split(sep).join('/').replace(/\/+$/, '').replace(/^(\.\/)+/, '');
  return p === '.' || p === '' ? '' : p;
}
