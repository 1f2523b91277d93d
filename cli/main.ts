import { existsSync } from 'node:fs';
import { suggest } from '../compiler/suggest.ts';
import { setVerb } from './args.ts';
import { type CliIO, type Command, isCofferError, processIO } from './io.ts';

export interface CommandEntry {
  module: string;
  summary: string;
  /** First words a verb takes (for completion and "did you mean"); flags are learned from the verb itself. */
  subcommands?: string[];
  /** Shown in help under its group; hidden aliases are left out of the list but still run. */
  hidden?: boolean;
}

/** Verb → module under cli/ exporting `run: Command`, loaded lazily so `coffer validate` never pays for the S3 SDK. */
export const COMMANDS: Record<string, CommandEntry> = {
  init: { module: 'init', summary: 'Scaffold a GitOps repository that validates' },
  validate: { module: 'validate', summary: 'Validate a policy repository (directory or Git ref)' },
  plan: { module: 'plan', summary: 'Compile the execution plan; --diff BASE shows what a change does' },
  explain: { module: 'explain', summary: 'Document a kind or field, like kubectl explain' },
  sandbox: { module: 'sandbox', summary: 'Start or stop a local sandbox Kubernetes cluster', subcommands: ['up', 'down', 'status'] },
  repo: { module: 'repo', summary: 'Operate a backup repository (init, backup, restore, check, prune, …)', subcommands: ['init', 'backup', 'restore', 'snapshots', 'ls', 'check', 'forget', 'prune', 'stats', 'unlock'] },
  backup: { module: 'backup', summary: 'Run an on-demand backup for a policy' },
  reconcile: { module: 'reconcile', summary: 'Do all due work once (--once)' },
  run: { module: 'run', summary: 'Keep reconciling: timer, webhooks, polling, API, dashboard' },
  get: { module: 'get', summary: 'List restore points, runs, restores or policies', subcommands: ['restorepoints', 'runs', 'restores', 'policies'] },
  describe: { module: 'describe', summary: 'Show everything recorded about a restore point, run or restore', subcommands: ['restorepoint', 'run', 'restore'] },
  logs: { module: 'logs', summary: "Print a run's log, its hooks' output and its error (kept in the catalog)" },
  cancel: { module: 'cancel', summary: 'Cancel an on-demand backup of coffer run (waiting or running)' },
  delete: { module: 'delete', summary: 'Delete a restore point (catalog entry and repository data)', subcommands: ['restorepoint'] },
  restorepoints: { module: 'restorepoints', summary: 'List restore points (same as get restorepoints)', hidden: true },
  runs: { module: 'runs', summary: 'List runs (same as get runs)', hidden: true },
  restore: { module: 'restore', summary: 'Restore a restore point (whole, granular, files)' },
  dr: { module: 'dr', summary: 'Disaster recovery: restore a whole cluster, or run a drill', subcommands: ['restore', 'drill'] },
  report: { module: 'report', summary: 'Print the compliance report' },
  dev: { module: 'dev', summary: 'Watch a working copy and print plan diffs on save' },
  demo: { module: 'demo', summary: 'Run Coffer end to end on a sandbox cluster (no cluster or cloud needed)' },
  doctor: { module: 'doctor', summary: 'Check this machine and the cluster are ready (tools, access, snapshots, repositories)' },
  completion: { module: 'completion', summary: 'Print a shell completion script (bash, zsh or fish)', subcommands: ['bash', 'zsh', 'fish'] },
};

function usage(): string {
  const shown = Object.entries(COMMANDS).filter(([, v]) => !v.hidden);
  const width = Math.max(...shown.map(([k]) => k.length));
  const lines = shown.map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`);
  return `Usage: coffer COMMAND [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun 'coffer COMMAND --help' for a command's flags.\n`;
}

/** Imports a verb's module (the file may be missing from a partial build). */
export async function loadCommand(verb: string): Promise<Command | undefined> {
  const entry = COMMANDS[verb];
  if (!entry) return undefined;
  const file = new URL(`./${entry.module}.ts`, import.meta.url);
  if (!existsSync(file)) return undefined;
  return ((await import(file.href)) as { run: Command }).run;
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
    const run = await loadCommand(verb);
    if (!run) {
      io.stderr.write(`error: "coffer ${verb}" is not available in this build yet\n`);
      return 1;
    }
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
