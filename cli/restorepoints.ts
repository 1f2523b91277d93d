import { parseArgs } from 'node:util';
import { formatBytes } from '../reconciler/catalog/messages.ts';
import { age, formatTable } from '../reconciler/catalog/open.ts';
import { CATALOG_READ_FLAGS, openCatalogForRead, writeList } from './catalog-flags.ts';
import type { Command } from './io.ts';

const HELP = `List restore points recorded in the catalog (the catalog branch of the policy repository).

Usage: coffer restorepoints [flags]

Flags:
  -n, --namespace NS       only restore points of this namespace
  -p, --policy NAME        only restore points taken by this policy
      --cluster NAME       cluster subtree to read (default: spec.cluster of coffer.yaml)
  -A, --all-clusters       every cluster recorded in the repository
      --source URL|PATH    policy repository: https://… (token in COFFER_GIT_TOKEN) or a local path (default: . or $COFFER_SOURCE)
      --branch NAME        policy branch coffer.yaml is read from (default: the repository's HEAD branch)
      --catalog-branch B   catalog branch (default: spec.catalog.branch of coffer.yaml, else coffer-catalog)
  -o, --output FORMAT      table (default), json, yaml or name
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
  if (format === 'json' || format === 'yaml') {
    writeList(io, format, 'RestorePointList', items);
    return 0;
  }
  if (format === 'name') {
    for (const rp of items) io.stdout.write(`restorepoint/${rp.metadata.name}\n`);
    return 0;
  }
  if (items.length === 0) {
    const where = [v.namespace && `namespace ${v.namespace}`, v.policy && `policy ${v.policy}`].filter(Boolean).join(', ');
    io.stderr.write(`No restore points found in branch ${catalog.branch}${v['all-clusters'] ? '' : ` for cluster ${catalog.cluster}`}${where ? ` (${where})` : ''}.\n`);
    return 0;
  }
  const now = new Date();
  const headers = [...(v['all-clusters'] ? ['CLUSTER'] : []), 'NAMESPACE', 'POLICY', 'NAME', 'PHASE', 'VOLUMES', 'SIZE', 'STARTED', 'AGE'];
  const rows = items.map((rp) => [
    ...(v['all-clusters'] ? [rp.spec.cluster] : []),
    rp.spec.namespace,
    rp.spec.policy,
    rp.metadata.name,
    rp.spec.phase,
    String(rp.spec.volumes?.length ?? 0),
    formatBytes(rp.spec.stats?.bytesRead ?? (rp.spec.volumes ?? []).reduce((s, x) => s + (x.sizeBytes ?? 0), 0)),
    rp.spec.startTime.replace(/\.\d+Z$/, 'Z'),
    age(rp.spec.endTime ?? rp.spec.startTime, now),
  ]);
  io.stdout.write(formatTable(headers, rows));
  return 0;
};
