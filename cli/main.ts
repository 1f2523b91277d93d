import { suggest } from '../compiler/suggest.ts';
import { setVerb } from './args.ts';
import { type CliIO, type Command, isCofferError, processIO } from './io.ts';

export interface CommandEntry {
  /** A literal `import()`, so the bundler sees every verb and gives each its own chunk. */
  load: () => Promise<{ run: Command }>;
  summary: string;
  /** First words a verb takes (for completion and "did you mean"); flags are learned from the verb itself. */
  subcommands?: string[];
  /** Shown in help under its group; hidden aliases are left out of the list but still run. */
  hidden?: boolean;
}

/** Verb → module under cli/ exporting `run: Command`, loaded lazily so `coffer validate` never pays for the S3 SDK. */
export const COMMANDS: Record<string, CommandEntry> = {
  init: { load: () => import('./init.ts'), summary: 'Scaffold a GitOps repository that validates' },
  validate: { load: () => import('./validate.ts'), summary: 'Validate a policy repository (directory or Git ref)' },
  plan: { load: () => import('./plan.ts'), summary: 'Compile the execution plan; --diff BASE shows what a change does' },
  explain: { load: () => import('./explain.ts'), summary: 'Document a kind or field, like kubectl explain' },
  sandbox: { load: () => import('./sandbox.ts'), summary: 'Start or stop a local sandbox Kubernetes cluster', subcommands: ['up', 'down', 'status'] },
  repo: { load: () => import('./repo.ts'), summary: 'Operate a backup repository (init, backup, restore, check, prune, …)', subcommands: ['init', 'backup', 'restore', 'snapshots', 'ls', 'check', 'forget', 'prune', 'stats', 'unlock'] },
  backup: { load: () => import('./backup.ts'), summary: 'Run an on-demand backup for a policy' },
  reconcile: { load: () => import('./reconcile.ts'), summary: 'Do all due work once (--once)' },
  run: { load: () => import('./run.ts'), summary: 'Keep reconciling: timer, webhooks, polling, API, dashboard' },
  get: { load: () => import('./get.ts'), summary: 'List restore points, runs, restores or policies', subcommands: ['restorepoints', 'runs', 'restores', 'policies'] },
  describe: { load: () => import('./describe.ts'), summary: 'Show everything recorded about a restore point, run or restore', subcommands: ['restorepoint', 'run', 'restore'] },
  logs: { load: () => import('./logs.ts'), summary: "Print a run's log, its hooks' output and its error (kept in the catalog)" },
  cancel: { load: () => import('./cancel.ts'), summary: 'Cancel an on-demand backup of coffer run (waiting or running)' },
  delete: { load: () => import('./delete.ts'), summary: 'Delete a restore point (catalog entry and repository data)', subcommands: ['restorepoint'] },
  restorepoints: { load: () => import('./restorepoints.ts'), summary: 'List restore points (same as get restorepoints)', hidden: true },
  runs: { load: () => import('./runs.ts'), summary: 'List runs (same as get runs)', hidden: true },
  catalog: { load: () => import('./catalog.ts'), summary: 'Check or rebuild the catalog index (check, reindex)', subcommands: ['check', 'reindex'] },
  restore: { load: () => import('./restore.ts'), summary: 'Restore a restore point (whole, granular, files)' },
  dr: { load: () => import('./dr.ts'), summary: 'Disaster recovery: restore a whole cluster, or run a drill', subcommands: ['restore', 'drill'] },
  report: { load: () => import('./report.ts'), summary: 'Print the compliance report' },
  dev: { load: () => import('./dev.ts'), summary: 'Watch a working copy and print plan diffs on save' },
  demo: { load: () => import('./demo.ts'), summary: 'Run Coffer end to end on a sandbox cluster (no cluster or cloud needed)' },
  doctor: { load: () => import('./doctor.ts'), summary: 'Check this machine and the cluster are ready (tools, access, snapshots, repositories)' },
  completion: { load: () => import('./completion.ts'), summary: 'Print a shell completion script (bash, zsh or fish)', subcommands: ['bash', 'zsh', 'fish'] },
};

function usage(): string {
  const shown = Object.entries(COMMANDS).filter(([, v]) => !v.hidden);
  const width = Math.max(...shown.map(([k]) => k.length));
  const lines = shown.map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`);
  return `Usage: coffer COMMAND [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun 'coffer COMMAND --help' for a command's flags.\n`;
}

/** Imports a verb's module. */
export async function loadCommand(verb: string): Promise<Command | undefined> {
  return (await COMMANDS[verb]?.load())?.run;
}

/** Entry point shared by the executable and the tests; returns the exit code instead of exiting. */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '--help' || verb === '-h' || verb === 'help') {
    io.stdout.write(usage());
    return 0;
  }
  if (verb === 'version' || verb === '--version') {
    const pkg = await import('../package.json', { with: { type: 'json' } });
    io.stdout.write(`coffer ${pkg.default.version}\n`);
    return 0;
  }
  if (!COMMANDS[verb]) {
    const hint = verb.startsWith('-') ? undefined : suggest(verb, Object.keys(COMMANDS));
    io.stderr.write(`error: unknown command "${verb}" for "coffer"${hint ? `\n\nDid you mean this?\n\t${hint}\n` : '\n'}\nRun 'coffer --help' for usage.\n`);
    return 1;
  }
  try {
    const run = (await loadCommand(verb))!;
    setVerb(verb);
    return await run(rest, io);
  } catch (e) {
    if (isCofferError(e)) {
      io.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
