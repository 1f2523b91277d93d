import { parseArgs } from './args.ts';
import { type Command, UsageError } from './io.ts';
import { printObject } from './output/printer.ts';
import { RECONCILER_FLAGS, reconcilerContext } from './reconcile-flags.ts';

const HELP = `Delete a restore point: its catalog document (one commit, recorded as a retention run) and its repository
snapshots (manifests and volumes, then a prune of that profile's repository) — the same order retention uses, so no
catalog entry ever points at forgotten data. Pinned points end this way.

Usage: coffer delete restorepoint NAME [-n NAMESPACE] [--dry-run] [flags]

Flags:
  -n, --namespace NS     look only in this namespace
      --dry-run          print what would be removed; change nothing
      --source URL|PATH  policy repository (default: . or $COFFER_SOURCE)
      --kubeconfig FILE, --context NAME   the cluster holding the repository keys
      --author "Name <email>"             catalog commit author
  -o, --output FORMAT    text (default) or json
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...RECONCILER_FLAGS, namespace: { type: 'string', short: 'n' }, 'dry-run': { type: 'boolean' } } });
  if (v.help || positionals.length === 0) {
    io.stdout.write(HELP);
    return v.help ? 0 : 1;
  }
  const [type, name, ...extra] = positionals;
  if (!['restorepoint', 'restorepoints', 'rp'].includes(type!)) throw new UsageError(`coffer delete deletes restore points only: coffer delete restorepoint NAME (got "${type}")`);
  if (!name || extra.length) throw new UsageError('coffer delete restorepoint takes one NAME');
  const ctx = await reconcilerContext(v, io);
  const { deleteRestorePoint } = await import('../reconciler/delete-restore-point.ts');
  const r = await deleteRestorePoint({
    source: ctx.source,
    client: ctx.client,
    name,
    ...(v.namespace ? { namespace: v.namespace } : {}),
    dryRun: !!v['dry-run'],
    env: io.env,
    ...(ctx.author ? { author: ctx.author } : {}),
    ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
  });
  if (ctx.json) {
    const { restorePoint, ...rest } = r;
    await printObject(io, 'json', { ...rest, restorePoint: restorePoint.metadata.name });
  } else {
    const verb = r.dryRun ? 'would delete' : 'deleted';
    io.stdout.write(`restorepoint/${name} ${verb}${r.dryRun ? ' (dry run)' : ''}\n  catalog: ${r.path}${r.commit ? ` (commit ${r.commit.slice(0, 12)})` : ''}\n  snapshots: ${r.snapshots.map((s) => s.slice(0, 12)).join(', ') || 'none'}\n${r.volumeSnapshots.length ? `  VolumeSnapshots: ${r.volumeSnapshots.join(', ')}\n` : ''}`);
  }
  if (r.dataError) {
    io.stderr.write(`warning: the catalog entry is deleted but its data was not freed yet: ${r.dataError}\n  (the next retention pass or coffer repo prune frees it)\n`);
    return 1;
  }
  return 0;
};
