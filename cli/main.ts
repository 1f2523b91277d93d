import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CliIO, type Command, isCofferError, processIO } from './io.ts';

/** Verb → module under cli/ exporting `run: Command`, loaded lazily so `coffer validate` never pays for the S3 SDK. */
const COMMANDS: Record<string, { module: string; summary: string }> = {
  init: { module: 'init', summary: 'Scaffold a GitOps repository that validates' },
  validate: { module: 'validate', summary: 'Validate a policy repository (directory or Git ref)' },
  plan: { module: 'plan', summary: 'Compile the execution plan; --diff BASE shows what a change does' },
  explain: { module: 'explain', summary: 'Document a kind or field, like kubectl explain' },
  sandbox: { module: 'sandbox', summary: 'Start or stop a local sandbox Kubernetes cluster' },
  repo: { module: 'repo', summary: 'Operate a backup repository (init, backup, restore, check, prune, …)' },
  backup: { module: 'backup', summary: 'Run an on-demand backup for a policy' },
  reconcile: { module: 'reconcile', summary: 'Do all due work once (--once)' },
  run: { module: 'run', summary: 'Keep reconciling: timer, webhooks, polling, API, dashboard' },
  restorepoints: { module: 'restorepoints', summary: 'List restore points from the catalog' },
  runs: { module: 'runs', summary: 'List backup and restore runs' },
  catalog: { module: 'catalog', summary: 'Check or rebuild the catalog index (check, reindex)' },
  restore: { module: 'restore', summary: 'Restore a restore point (whole, granular, files)' },
  dr: { module: 'dr', summary: 'Disaster recovery: restore a whole cluster, or run a drill' },
  report: { module: 'report', summary: 'Print the compliance report' },
  dev: { module: 'dev', summary: 'Watch a working copy and print plan diffs on save' },
  demo: { module: 'demo', summary: 'Run Coffer end to end on a sandbox cluster (no cluster or cloud needed)' },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`);
  return `Usage: coffer COMMAND [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun 'coffer COMMAND --help' for a command's flags.\n`;
}

/** Entry point shared by the executable and the tests; returns the exit code instead of exiting. */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '--help' || verb === '-h' || verb === 'help') {
    io.stdout.write(usage());
    return verb ? 0 : 1;
  }
  if (verb === 'version' || verb === '--version') {
    const pkg = await import('../package.json', { with: { type: 'json' } });
    io.stdout.write(`coffer ${pkg.default.version}\n`);
    return 0;
  }
  const entry = COMMANDS[verb];
  if (!entry) {
    io.stderr.write(`error: unknown command "${verb}" for "coffer"\n\n${usage()}`);
    return 1;
  }
  const file = new URL(`./${entry.module}.ts`, import.meta.url);
  if (!existsSync(file)) {
    io.stderr.write(`error: "coffer ${verb}" is not available in this build yet\n`);
    return 1;
  }
  try {
    const mod = (await import(file.href)) as { run: Command };
    return await mod.run(rest, io);
  } catch (e) {
    if (isCofferError(e)) {
      io.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (e as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      io.stderr.write(`error: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}

export { parseArgs };
