import { parseArgs } from 'node:util';
import { reconcileOnce } from '../reconciler/reconcile.ts';
import { type Command, UsageError } from './io.ts';
import { eventPrinter, RECONCILER_FLAGS, RECONCILER_FLAGS_HELP, reconcilerContext, summaryExitCode } from './reconcile-flags.ts';

const HELP = `Do all due work once: back up every (policy, namespace) pair that is due, record restore points in the
catalog branch, and apply retention. Exits non-zero if anything failed.

Usage: coffer reconcile --once [flags]

Flags:
  --once                 reconcile once and exit (the long-running loop is 'coffer run')
${RECONCILER_FLAGS_HELP}`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...RECONCILER_FLAGS, once: { type: 'boolean' } } });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer reconcile --help`);
  if (!v.once) throw new UsageError('coffer reconcile needs --once (for the long-running loop use coffer run)');
  const ctx = await reconcilerContext(v, io);
  const summary = await reconcileOnce({
    source: ctx.source,
    client: ctx.client,
    log: eventPrinter(io, ctx.json),
    env: io.env,
    ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
    ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
    ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
  });
  return summaryExitCode(summary, io, ctx.json);
};
