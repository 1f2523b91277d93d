import { parseArgs } from './args.ts';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LeaseLock } from '../reconciler/lease/index.ts';
import { DEFAULT_COFFER_NAMESPACE } from '../reconciler/profile-repository.ts';
import { reconcileOnce, withLease } from '../reconciler/reconcile.ts';
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
  const lock = new LeaseLock({
    kubeConfig: ctx.kubeConfig,
    namespace: ctx.cofferNamespace ?? DEFAULT_COFFER_NAMESPACE,
    identity: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
  });
  const result = await withLease(lock, (signal) =>
    reconcileOnce({
      source: ctx.source,
      client: ctx.client,
      log: eventPrinter(io, ctx.json),
      env: io.env,
      signal,
      ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
      ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
      ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
      ...(ctx.author ? { author: ctx.author } : {}),
    }),
  );
  if (!result.held) {
    io.stderr.write(`another reconciler (${result.holder}) holds lease ${lock.namespace}/${lock.name}; nothing done\n`);
    return 0;
  }
  return summaryExitCode(result.value, io, ctx.json);
};
