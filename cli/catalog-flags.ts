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

/**
 * The same List document as `writeList`, byte for byte, written batch by batch as the batches arrive (honouring
 * back-pressure), so `-o json` of 100,000 restore points never holds them all. `continueToken` becomes the List's
 * `metadata.continue`, as in the Kubernetes list API.
 */
export async function writeListStream(io: CliIO, format: 'json' | 'yaml', kind: string, batches: AsyncIterable<unknown[]>, continueToken?: () => string | undefined): Promise<void> {
  const write = async (text: string): Promise<void> => {
    if (!io.stdout.write(text)) await new Promise<void>((r) => io.stdout.once('drain', () => r()));
  };
  let n = 0;
  if (format === 'json') {
    await write(`{\n  "apiVersion": "coffer.dev/v1alpha1",\n  "kind": ${JSON.stringify(kind)},\n  "items": [`);
    for await (const batch of batches) {
      if (!batch.length) continue;
      await write(batch.map((item) => `${n++ ? ',' : ''}\n${JSON.stringify(item, null, 2).replace(/^/gm, '    ')}`).join(''));
    }
    const token = continueToken?.();
    await write(`${n ? '\n  ' : ''}]${token ? `,\n  "metadata": {\n    "continue": ${JSON.stringify(token)}\n  }` : ''}\n}\n`);
    return;
  }
  await write(`apiVersion: coffer.dev/v1alpha1\nkind: ${kind}\nitems:`);
  for await (const batch of batches) {
    if (!batch.length) continue;
    await write(`${n ? '' : '\n'}${batch.map((item) => YAML.stringify([item]).replace(/^(?=.)/gm, '  ')).join('')}`);
    n += batch.length;
  }
  const token = continueToken?.();
  await write(`${n ? '' : ' []\n'}${token ? `metadata:\n  continue: ${token}\n` : ''}`);
}
