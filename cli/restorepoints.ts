import { parseArgs } from './args.ts';
import { CATALOG_READ_FLAGS, openCatalogForRead } from './catalog-flags.ts';
import { printList } from './output/printer.ts';
import { restorePointSpec } from './output/resources.ts';
import type { Command } from './io.ts';

const HELP = `List restore points recorded in the catalog (the catalog branch of the policy repository).

Usage: coffer get restorepoints [flags]   (alias: coffer restorepoints)

Flags:
  -n, --namespace NS       only restore points of this namespace
  -p, --policy NAME        only restore points taken by this policy
      --cluster NAME       cluster subtree to read (default: spec.cluster of coffer.yaml)
  -A, --all-clusters       every cluster recorded in the repository
      --source URL|PATH    policy repository: https://… (token in COFFER_GIT_TOKEN) or a local path (default: . or $COFFER_SOURCE)
      --branch NAME        policy branch coffer.yaml is read from (default: the repository's HEAD branch)
      --catalog-branch B   catalog branch (default: spec.catalog.branch of coffer.yaml, else coffer-catalog)
  -o, --output FORMAT      table (default), wide (adds trigger, GFS tiers, commit), json, yaml or name
  -h, --help

Examples:
  coffer restorepoints -n shop
  coffer restorepoints --source https://git.example.com/platform/backup-policies.git -o json
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: CATALOG_READ_FLAGS,
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const { catalog, format } = await openCatalogForRead('restorepoints', v, positionals, io);
  const entries = await catalog.readRestorePoints({
    ...(v['all-clusters'] ? { cluster: '*' } : {}),
    ...(v.namespace ? { namespace: v.namespace } : {}),
    ...(v.policy ? { policy: v.policy } : {}),
  });
  const items = entries.map((e) => e.doc);
  const where = [v.namespace && `namespace ${v.namespace}`, v.policy && `policy ${v.policy}`].filter(Boolean).join(', ');
  await printList(io, format, restorePointSpec(new Date(), !!v['all-clusters']), items, `No restore points found in branch ${catalog.branch}${v['all-clusters'] ? '' : ` for cluster ${catalog.cluster}`}${where ? ` (${where})` : ''}.`);
  return 0;
};
