import YAML from 'yaml';
import { openCatalogFromFlags } from '../reconciler/catalog/open.ts';
import type { Catalog } from '../reconciler/catalog/index.ts';
import { type CliIO, UsageError } from './io.ts';

/** Flags of the verbs that read the catalog branch (restorepoints, runs), spelled like kubectl get. */
export const CATALOG_READ_FLAGS = {
  namespace: { type: 'string', short: 'n' },
  policy: { type: 'string', short: 'p' },
  cluster: { type: 'string' },
  'all-clusters': { type: 'boolean', short: 'A' },
  source: { type: 'string' },
  branch: { type: 'string' },
  'catalog-branch': { type: 'string' },
  output: { type: 'string', short: 'o', default: 'table' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type CatalogReadFormat = 'table' | 'json' | 'yaml' | 'name';

/** Checks the shared flags and opens the catalog they name; returns the output format. */
export async function openCatalogForRead(
  verb: string,
  v: { output?: string; cluster?: string; 'all-clusters'?: boolean; source?: string; branch?: string; 'catalog-branch'?: string },
  positionals: string[],
  io: CliIO,
): Promise<{ catalog: Catalog; format: CatalogReadFormat }> {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer ${verb} --help`);
  const format = v.output ?? 'table';
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
  return { catalog, format: format as CatalogReadFormat };
}

/** `-o json|yaml` of a list, as a Kubernetes-style List document. */
export function writeList(io: CliIO, format: 'json' | 'yaml', kind: string, items: unknown[]): void {
  const list = { apiVersion: 'coffer.dev/v1alpha1', kind, items };
  io.stdout.write(format === 'json' ? `${JSON.stringify(list, null, 2)}\n` : YAML.stringify(list));
}
