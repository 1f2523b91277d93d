import { parseArgs } from './args.ts';
import type { RunRecord } from '../reconciler/catalog/types.ts';
import { CATALOG_READ_FLAGS, openCatalogForRead } from './catalog-flags.ts';
import { printList } from './output/printer.ts';
import { runSpec } from './output/resources.ts';
import { type Command, UsageError } from './io.ts';

const HELP = `List backup, restore, retention and verification runs recorded in the catalog, newest first.

Usage: coffer get runs [flags]   (alias: coffer runs)

Flags:
  -n, --namespace NS       only runs for this namespace
  -p, --policy NAME        only runs of this policy
      --type TYPE          backup, restore, retention or verify
      --phase PHASE        Succeeded, PartiallyFailed, Failed or Cancelled
      --failed             shorthand for --phase Failed
      --since DURATION|TIME  only runs started in the last DURATION (24h, 7d, 30m) or since an RFC 3339 time (default 7d)
      --limit N            at most N runs (default 50; 0 = all)
      --cluster NAME       cluster subtree (default: spec.cluster of coffer.yaml)
  -A, --all-clusters       every cluster in the repository (needs no cluster of its own; wins over --cluster)
      --source URL|PATH    policy repository (default: . or $COFFER_SOURCE)
      --branch NAME        policy branch coffer.yaml is read from
      --catalog-branch B   catalog branch (default: from coffer.yaml, else coffer-catalog)
  -o, --output FORMAT      table (default), wide (adds start time, commit), json, yaml or name
  -h, --help
`;

/** `24h`, `7d`, `30m`, `90s` or an RFC 3339 time → the instant runs must have started after. */
export function parseSince(text: string, now: Date): Date {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(text.trim());
  if (m) {
    const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(m[1]) * unit * 1000);
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`--since "${text}": expected a duration like 24h or 7d, or an RFC 3339 time`);
  return new Date(t);
}

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CATALOG_READ_FLAGS,
      type: { type: 'string' },
      phase: { type: 'string' },
      failed: { type: 'boolean' },
      since: { type: 'string', default: '7d' },
      limit: { type: 'string', default: '50' },
    },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (v.type && !['backup', 'restore', 'retention', 'verify'].includes(v.type)) throw new UsageError(`--type "${v.type}": expected backup, restore, retention or verify`);
  const phase = v.failed ? 'Failed' : v.phase;
  if (phase && !['Succeeded', 'PartiallyFailed', 'Failed', 'Cancelled'].includes(phase)) throw new UsageError(`--phase "${phase}": expected Succeeded, PartiallyFailed, Failed or Cancelled`);
  const limit = Number(v.limit);
  if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit "${v.limit}": expected a whole number`);
  const now = new Date();
  const since = parseSince(v.since!, now);
  const { catalog, format } = await openCatalogForRead('runs', v, positionals, io);
  const runs = await catalog.readRuns({
    since,
    ...(v['all-clusters'] ? { cluster: '*' } : {}),
    ...(v.namespace ? { namespace: v.namespace } : {}),
    ...(v.policy ? { policy: v.policy } : {}),
    ...(v.type ? { type: v.type as RunRecord['spec']['type'] } : {}),
    ...(phase ? { phase: phase as RunRecord['status']['phase'] } : {}),
    ...(limit > 0 ? { limit } : {}),
  });
  await printList(io, format, runSpec(now, !!v['all-clusters']), runs, `No runs since ${since.toISOString()} in branch ${catalog.branch}${v['all-clusters'] ? '' : ` for cluster ${catalog.cluster}`}.`);
  return 0;
};
