import { Command as Commander, CommanderError, Help } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { setVerb, suggestionOf } from './args.ts';
import { type CliIO, type Command, isCofferError, processIO } from './io.ts';

export interface CommandEntry {
  /** A literal `import()`, so the bundler sees every verb and gives each its own chunk. */
  load: () => Promise<{ run: Command }>;
  summary: string;
  /** First words a verb takes (for completion and "did you mean"); flags are learned from the verb itself. */
  subcommands?: string[];
  /** Left out of help (aliases such as `restorepoints` for `get restorepoints`), but still run and suggested. */
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
  dr: { load: () => import('./dr.ts'), summary: 'Disaster recovery: restore a whole cluster, run a drill, verify a restore point', subcommands: ['restore', 'drill', 'verify'] },
  report: { load: () => import('./report.ts'), summary: 'Print the compliance report' },
  dev: { load: () => import('./dev.ts'), summary: 'Watch a working copy and print plan diffs on save' },
  demo: { load: () => import('./demo.ts'), summary: 'Run Coffer end to end on a sandbox cluster (no cluster or cloud needed)' },
  doctor: { load: () => import('./doctor.ts'), summary: 'Check this machine and the cluster are ready (tools, access, snapshots, repositories)' },
  completion: { load: () => import('./completion.ts'), summary: 'Print a shell completion script (bash, zsh or fish)', subcommands: ['bash', 'zsh', 'fish'] },
};

/** Help lists these only as `get TYPE`; they still run and are still suggested for a typo. */
const LISTED_ELSEWHERE = new Set(Object.entries(COMMANDS).flatMap(([k, v]) => (v.hidden ? [k] : [])));

/** Commander's help, less the verbs that are spelled another way in it (see LISTED_ELSEWHERE). */
class CofferHelp extends Help {
  private listing = false;
  override formatHelp(cmd: Commander, helper: Help): string {
    this.listing = true;
    try {
      return super.formatHelp(cmd, helper);
    } finally {
      this.listing = false;
    }
  }
  override visibleCommands(cmd: Commander): Commander[] {
    return super.visibleCommands(cmd).filter((c) => !this.listing || !LISTED_ELSEWHERE.has(c.name()));
  }
}

/**
 * The command tree: commander resolves the verb (help, --version, "did you mean"); each verb parses its own flags
 * when it runs (args.ts), so its module, and whatever it imports, loads only when that verb is used.
 */
export function program(io: CliIO, run: (verb: string, rest: string[]) => Promise<void>): Commander {
  const root = new Commander('coffer')
    .usage('COMMAND [flags]')
    .description('Kubernetes backup, restore, disaster recovery and application mobility, driven from Git.')
    .version(`coffer ${pkg.version}`, '--version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .helpCommand('help [command]', "print a command's help") // listed here; main() turns `help VERB` into `VERB --help`
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError(true)
    .addHelpText('after', "\nRun 'coffer COMMAND --help' for a command's flags.")
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => {}, getOutHelpWidth: () => (io.stdout as { columns?: number }).columns ?? 120 });
  root.createHelp = () => Object.assign(new CofferHelp(), root.configureHelp());
  for (const [verb, entry] of Object.entries(COMMANDS)) {
    root
      .command(verb)
      .description(entry.summary)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .passThroughOptions()
      // The words after the verb exactly as typed (commander's own list drops a leading `--`).
      .action(async () => run(verb, root.args.slice(1)));
  }
  root.command('version', { hidden: true }).action(() => void io.stdout.write(`coffer ${pkg.version}\n`));
  return root;
}

/** Imports a verb's module. */
export async function loadCommand(verb: string): Promise<Command | undefined> {
  return (await COMMANDS[verb]?.load())?.run;
}

/** Entry point shared by the executable and the tests; returns the exit code instead of exiting. */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  let code = 0;
  const root = program(io, async (verb, rest) => {
    const run = (await loadCommand(verb))!;
    setVerb(verb);
    code = await run(rest, io);
  });
  try {
    // Bare `coffer` is a request for help, not a mistake; `coffer help VERB` is the verb's own --help.
    const words = argv.length === 0 || (argv[0] === 'help' && argv.length === 1) ? ['--help'] : argv[0] === 'help' ? [argv[1]!, '--help'] : argv;
    await root.parseAsync(words, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return commanderExit(e, io);
    if (isCofferError(e)) {
      io.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** Help and --version end with code 0; a verb commander does not know gets kubectl's wording and cobra's layout. */
function commanderExit(e: CommanderError, io: CliIO): number {
  if (e.exitCode === 0) return 0;
  if (e.code === 'commander.unknownCommand') {
    const verb = /unknown command '([^']+)'/.exec(e.message)?.[1] ?? '';
    const hints = suggestionOf(e);
    io.stderr.write(`error: unknown command "${verb}" for "coffer"${hints.length ? `\n\nDid you mean this?\n${hints.map((h) => `\t${h}\n`).join('')}` : '\n'}\nRun 'coffer --help' for usage.\n`);
    return 1;
  }
  if (e.code === 'commander.unknownOption') {
    const flag = /unknown option '([^']+)'/.exec(e.message)?.[1] ?? '';
    io.stderr.write(`error: unknown flag ${flag} for "coffer"\n\nRun 'coffer --help' for usage.\n`);
    return 1;
  }
  io.stderr.write(`${e.message}\n`);
  return e.exitCode || 1;
}
