import { parseArgs } from './args.ts';
import { reconcileOnce } from '../reconciler/reconcile.ts';
import { type Command, UsageError } from './io.ts';
import { eventPrinter, RECONCILER_FLAGS, RECONCILER_FLAGS_HELP, reconcilerContext, summaryExitCode } from './reconcile-flags.ts';

const HELP = `Back up now, whatever the schedule says: every namespace a policy selects, or one of them.
Like 'velero backup create --from-schedule', the run is recorded in the catalog like a scheduled one.

Usage: coffer backup --policy NAME [-n NAMESPACE] [flags]

Flags:
  -p, --policy NAME      policy to run (required)
  -n, --namespace NS     only this namespace (must be selected by the policy)
      --wait             wait for the backup to finish (the default: the CLI runs the backup itself)
${RECONCILER_FLAGS_HELP}`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...RECONCILER_FLAGS, policy: { type: 'string', short: 'p' }, namespace: { type: 'string', short: 'n' }, wait: { type: 'boolean' } },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer backup --help`);
  if (!v.policy) throw new UsageError('--policy is required; see coffer backup --help');
  const ctx = await reconcilerContext(v, io);
  const summary = await reconcileOnce({
    source: ctx.source,
    client: ctx.client,
    only: { policy: v.policy, ...(v.namespace ? { namespace: v.namespace } : {}) },
    retention: false,
    log: eventPrinter(io, ctx.json),
    env: io.env,
    ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
    ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
    ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
    ...(ctx.author ? { author: ctx.author } : {}),
  });
  return summaryExitCode(summary, io, ctx.json);
};
