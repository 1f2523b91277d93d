import { openCatalogFromFlags } from '../reconciler/catalog/open.ts';
import type { Catalog } from '../reconciler/catalog/index.ts';
import { type CliIO, UsageError } from './io.ts';
import { outputFormat, type OutputFormat } from './output/printer.ts';

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

/** --limit/--continue of the paged listings (restorepoints), spelled like `kubectl get --chunk-size` pages. */
export const PAGE_FLAGS = {
  limit: { type: 'string' },
  continue: { type: 'string' },
} as const;

/** A --limit value: a whole number ≥ 1, or undefined when not given. */
export function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--limit "${text}": expected a whole number of at least 1`);
  return n;
}

/** Checks the shared flags and opens the catalog they name; returns the output format. */
export async function openCatalogForRead(
  verb: string,
  v: { output?: string; cluster?: string; 'all-clusters'?: boolean; source?: string; branch?: string; 'catalog-branch'?: string },
  positionals: string[],
  io: CliIO,
): Promise<{ catalog: Catalog; format: OutputFormat }> {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer ${verb} --help`);
  const format = outputFormat(v.output);
  // -A with --cluster is not an error: -A wins, as kubectl's -A wins over -n (`kubectl get pods -n x -A` lists every
  // namespace); --cluster then only names the catalog's own cluster, which a listing of every cluster does not use.
  return { catalog: await openCatalogForFlags(v, io), format };
}

/**
 * Verbs that find one record by name, or list restores, read one cluster's catalog: -A there used to be accepted and
 * silently ignored (a user asking for every cluster got one). Refused by name until those verbs read every cluster.
 */
export function refuseAllClusters(verb: string, v: { 'all-clusters'?: boolean }): void {
  if (v['all-clusters']) throw new UsageError(`-A/--all-clusters is not supported by coffer ${verb}: it reads one cluster's catalog; name it with --cluster`);
}

/** The catalog that --source, --branch, --catalog-branch and --cluster name (every catalog-reading verb). */
export async function openCatalogForFlags(v: { cluster?: string; 'all-clusters'?: boolean; source?: string; branch?: string; 'catalog-branch'?: string }, io: CliIO): Promise<Catalog> {
  const { catalog } = await openCatalogFromFlags({
    ...(v.source ? { source: v.source } : {}),
    ...(v.branch ? { branch: v.branch } : {}),
    ...(v['catalog-branch'] ? { catalogBranch: v['catalog-branch'] } : {}),
    ...(v.cluster ? { cluster: v.cluster } : {}),
    ...(v['all-clusters'] ? { allClusters: true } : {}),
    env: io.env,
    cwd: io.cwd,
  });
  return catalog;
}
