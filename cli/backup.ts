import { parseArgs } from './args.ts';
import { parseGoDuration } from '../compiler/schedule/index.ts';
import { reconcileOnce } from '../reconciler/reconcile.ts';
import { workstationIdentity } from '../reconciler/volumes/run-lease.ts';
import { type Command, UsageError } from './io.ts';
import { eventPrinter, RECONCILER_FLAGS, RECONCILER_FLAGS_HELP, reconcilerContext, summaryExitCode } from './reconcile-flags.ts';

const HELP = `Back up now, whatever the schedule says: every namespace a policy selects, or one of them.
Like 'velero backup create --from-schedule', the run is recorded in the catalog like a scheduled one.

Usage: coffer backup --policy NAME [-n NAMESPACE] [flags]

Flags:
  -p, --policy NAME      policy to run (required)
  -n, --namespace NS     only this namespace (must be selected by the policy)
      --ttl DURATION     keep the restore point this long, e.g. 720h (default 720h); on-demand points are never
                         counted in (or removed by) the policy's GFS retention, only by their TTL
      --pin              keep the restore point until it is deleted (coffer delete restorepoint NAME)
      --wait             wait for the backup to finish (the default: the CLI runs the backup itself)
${RECONCILER_FLAGS_HELP}`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...RECONCILER_FLAGS, policy: { type: 'string', short: 'p' }, namespace: { type: 'string', short: 'n' }, wait: { type: 'boolean' }, ttl: { type: 'string' }, pin: { type: 'boolean' } },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer backup --help`);
  if (!v.policy) throw new UsageError('--policy is required; see coffer backup --help');
  if (v.ttl !== undefined && v.pin) throw new UsageError('--ttl and --pin cannot be used together: a pinned restore point is kept until deleted');
  const ttlSeconds = v.ttl === undefined ? undefined : parseGoDuration(v.ttl);
  if (ttlSeconds === 0 || Number.isNaN(ttlSeconds)) throw new UsageError(`--ttl "${v.ttl}": expected a positive duration such as 720h or 24h30m`);
  if (v.ttl !== undefined && ttlSeconds === undefined) throw new UsageError(`--ttl "${v.ttl}": expected a duration such as 720h or 24h30m (h, m, s)`);
  const ctx = await reconcilerContext(v, io);
  const summary = await reconcileOnce({
    source: ctx.source,
    client: ctx.client,
    only: { policy: v.policy, ...(v.namespace ? { namespace: v.namespace } : {}) },
    retention: false,
    ...(v.pin ? { keep: { pin: true } } : ttlSeconds ? { keep: { ttlMs: ttlSeconds * 1000 } } : {}),
    log: eventPrinter(io, ctx.json),
    env: io.env,
    ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
    ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
    ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
    ...(ctx.author ? { author: ctx.author } : {}),
    // Not under the controller's Lease: a run Lease per backup keeps a controller's start-up sweep off its movers.
    runLeases: { identity: workstationIdentity() },
  });
  return summaryExitCode(summary, io, ctx.json);
};
