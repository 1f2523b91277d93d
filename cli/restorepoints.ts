import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { formatBytes } from '../reconciler/catalog/messages.ts';
import { age, formatTable, openCatalogFromFlags } from '../reconciler/catalog/open.ts';
import { type Command, UsageError } from './io.ts';

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
    options: {
      namespace: { type: 'string', short: 'n' },
      policy: { type: 'string', short: 'p' },
      cluster: { type: 'string' },
      'all-clusters': { type: 'boolean', short: 'A' },
      source: { type: 'string' },
      branch: { type: 'string' },
      'catalog-branch': { type: 'string' },
      output: { type: 'string', short: 'o', default: 'table' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer restorepoints --help`);
  const format = v.output!;
  if (!['table', 'json', 'yaml', 'name'].includes(format)) throw new UsageError(`--output "${format}": expected table, json, yaml or name`);
  if (v['all-clusters'] && v.cluster) throw new UsageError('--cluster and --all-clusters cannot be used together');
  const { catalog } = await openCatalogFromFlags({
    ...(v.source ? { source: v.source } : {}),
    ...(v.branch ? { branch: v.branch } : {}),
    ...(v['catalog-branch'] ? { catalogBranch: v['catalog-branch'] } : {}),
    ...(v.cluster ? { cluster: v.cluster } : {}),
    env: io.env,
    cwd: io.cwd,
  });
  const entries = await catalog.readRestorePoints({
    ...(v['all-clusters'] ? { cluster: '*' } : {}),
    ...(v.namespace ? { namespace: v.namespace } : {}),
    ...(v.policy ? { policy: v.policy } : {}),
  });
  const items = entries.map((e) => e.doc);
  if (format === 'json' || format === 'yaml') {
    const list = { apiVersion: 'coffer.dev/v1alpha1', kind: 'RestorePointList', items };
    io.stdout.write(format === 'json' ? `${JSON.stringify(list, null, 2)}\n` : YAML.stringify(list));
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
