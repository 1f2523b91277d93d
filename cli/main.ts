import { parseArgs } from 'node:util';
import { type CliIO, type Command, isCofferError, processIO } from './io.ts';

/**
 * Verb → module under cli/ exporting `run: Command`, loaded lazily so `coffer validate` never pays for the S3 SDK.
 * Literal `import()`s, so the bundler sees every verb and gives each its own chunk.
 */
const COMMANDS: Record<string, { load: () => Promise<{ run: Command }>; summary: string }> = {
  init: { load: () => import('./init.ts'), summary: 'Scaffold a GitOps repository that validates' },
  validate: { load: () => import('./validate.ts'), summary: 'Validate a policy repository (directory or Git ref)' },
  plan: { load: () => import('./plan.ts'), summary: 'Compile the execution plan; --diff BASE shows what a change does' },
  explain: { load: () => import('./explain.ts'), summary: 'Document a kind or field, like kubectl explain' },
  sandbox: { load: () => import('./sandbox.ts'), summary: 'Start or stop a local sandbox Kubernetes cluster' },
  repo: { load: () => import('./repo.ts'), summary: 'Operate a backup repository (init, backup, restore, check, prune, …)' },
  backup: { load: () => import('./backup.ts'), summary: 'Run an on-demand backup for a policy' },
  reconcile: { load: () => import('./reconcile.ts'), summary: 'Do all due work once (--once)' },
  run: { load: () => import('./run.ts'), summary: 'Keep reconciling: timer, webhooks, polling, API, dashboard' },
  restorepoints: { load: () => import('./restorepoints.ts'), summary: 'List restore points from the catalog' },
  runs: { load: () => import('./runs.ts'), summary: 'List backup and restore runs' },
  restore: { load: () => import('./restore.ts'), summary: 'Restore a restore point (whole, granular, files)' },
  dr: { load: () => import('./dr.ts'), summary: 'Disaster recovery: restore a whole cluster, or run a drill' },
  report: { load: () => import('./report.ts'), summary: 'Print the compliance report' },
  dev: { load: () => import('./dev.ts'), summary: 'Watch a working copy and print plan diffs on save' },
  demo: { load: () => import('./demo.ts'), summary: 'Run Coffer end to end on a sandbox cluster (no cluster or cloud needed)' },
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
  try {
    const mod = await entry.load();
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
