import { parseArgs } from './args.ts';
import { formatProblem, type Catalog, type CatalogProblem, type RestorePoint } from '../reconciler/catalog/index.ts';
import { CATALOG_READ_FLAGS, openCatalogForRead, PAGE_FLAGS, parseLimit } from './catalog-flags.ts';
import { printList, writeListStream, writeTableLines, type ListSpec } from './output/printer.ts';
import { RowStore } from './output/row-store.ts';
import { columnWidths, widenColumns } from '../reconciler/catalog/open.ts';
import { restorePointSpec, restorePointSummarySpec } from './output/resources.ts';
import type { CliIO, Command } from './io.ts';

const HELP = `List restore points recorded in the catalog (the catalog branch of the policy repository).

Usage: coffer get restorepoints [flags]   (alias: coffer restorepoints)

Flags:
  -n, --namespace NS       only restore points of this namespace
  -p, --policy NAME        only restore points taken by this policy
      --cluster NAME       cluster subtree to read (default: spec.cluster of coffer.yaml)
  -A, --all-clusters       every cluster recorded in the repository (needs no cluster of its own; wins over --cluster)
      --source URL|PATH    policy repository: https://… (token in COFFER_GIT_TOKEN) or a local path (default: . or $COFFER_SOURCE)
      --branch NAME        policy branch coffer.yaml is read from (default: the repository's HEAD branch)
      --catalog-branch B   catalog branch (default: spec.catalog.branch of coffer.yaml, else coffer-catalog)
      --limit N            at most N restore points; prints a token to continue from
      --continue TOKEN     the next page of an earlier --limit listing (same catalog snapshot)
  -o, --output FORMAT      table (default), wide (adds trigger, GFS tiers, commit), json, yaml or name
  -h, --help

Examples:
  coffer restorepoints -n shop
  coffer restorepoints --all-clusters --limit 500
  coffer restorepoints --source https://git.example.com/platform/backup-policies.git -o json
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...CATALOG_READ_FLAGS, ...PAGE_FLAGS },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const limit = parseLimit(v.limit);
  const { catalog, format } = await openCatalogForRead('restorepoints', v, positionals, io);
  const filter = {
    ...(v['all-clusters'] ? { cluster: '*' } : {}),
    ...(v.namespace ? { namespace: v.namespace } : {}),
    ...(v.policy ? { policy: v.policy } : {}),
  };
  const where = [v.namespace && `namespace ${v.namespace}`, v.policy && `policy ${v.policy}`].filter(Boolean).join(', ');
  const empty = `No restore points found in branch ${catalog.branch}${v['all-clusters'] ? '' : ` for cluster ${catalog.cluster}`}${where ? ` (${where})` : ''}.`;
  const now = new Date();
  const wideColumns = () => restorePointSpec(now, !!v['all-clusters']).columns;
  const problems: CatalogProblem[] = [];
  if ((format === 'json' || format === 'yaml' || format === 'wide') && limit === undefined && !v.continue) {
    // Everything, streamed one directory at a time: memory holds a directory (and `-o wide`'s cells), never the
    // catalog, nor the 100,000 summaries a listing returns.
    const batches = (async function* () {
      for await (const dir of catalog.streamRestorePoints(filter)) {
        problems.push(...dir.problems);
        yield dir.entries.map((e) => e.doc);
      }
    })();
    if (format === 'wide') await printWide(io, wideColumns(), batches, empty);
    else await writeListStream(io, format, 'RestorePointList', batches);
    warn(io, problems, []);
    return 0;
  }
  const page = await catalog.listRestorePoints({ ...filter, ...(limit !== undefined ? { limit } : {}), ...(v.continue ? { continue: v.continue } : {}) });
  warn(io, page.problems, page.stale);
  if (format === 'json' || format === 'yaml') {
    const docs = await fullDocuments(catalog, page.commit, page.items.map((i) => i.path));
    await writeListStream(io, format, 'RestorePointList', (async function* () {
      yield docs;
    })(), () => page.continue);
    return 0;
  }
  if (format === 'wide') {
    const snap = await catalog.snapshot(page.commit);
    const batches = (async function* () {
      for (const paths of byDirectory(page.items.map((i) => i.path))) yield snap!.documentsAt(paths).filter((d): d is RestorePoint => d !== undefined);
    })();
    await printWide(io, wideColumns(), batches, empty);
  } else await printList(io, format, restorePointSummarySpec(now, !!v['all-clusters']), page.items, empty);
  if (page.continue) io.stderr.write(`More restore points: add --continue ${page.continue}\n`);
  return 0;
};

/**
 * `-o wide`: every column, from the documents. Each batch of documents becomes rows and is dropped, so memory holds
 * the cells (compactly, copied out of the documents: RowStore), not 100,000 documents; widths grow as rows come.
 */
async function printWide(io: CliIO, cols: ListSpec<RestorePoint>['columns'], batches: AsyncIterable<RestorePoint[]>, empty: string): Promise<void> {
  const headers = cols.map((c) => c.header);
  const widths = columnWidths(headers);
  const rows = new RowStore(cols.length);
  for await (const docs of batches) {
    for (const d of docs) {
      const cells = cols.map((c) => c.value(d));
      widenColumns(widths, cells);
      rows.push(cells);
    }
  }
  if (rows.size === 0) io.stderr.write(`${empty}\n`);
  else await writeTableLines(io, headers, widths, rows.rows());
}

async function fullDocuments(catalog: Catalog, commit: string | undefined, paths: string[]): Promise<RestorePoint[]> {
  const snap = await catalog.snapshot(commit);
  return snap!.documentsAt(paths).filter((d): d is RestorePoint => d !== undefined);
}

/** Consecutive paths of one directory together (a listing's order keeps a directory's points together). */
function* byDirectory(paths: readonly string[]): Generator<string[]> {
  for (let i = 0; i < paths.length; ) {
    const dir = paths[i]!.slice(0, paths[i]!.lastIndexOf('/') + 1);
    let j = i + 1;
    while (j < paths.length && paths[j]!.startsWith(dir) && !paths[j]!.includes('/', dir.length)) j++;
    yield paths.slice(i, j);
    i = j;
  }
}

/** Unreadable documents are named (with file:line:col) and counted; they never hide the others or fail the listing. */
function warn(io: CliIO, problems: readonly CatalogProblem[], stale: readonly string[]): void {
  const shown = problems.slice(0, 20);
  for (const p of shown) io.stderr.write(`warning: ${formatProblem(p)}\n`);
  if (problems.length > shown.length) io.stderr.write(`warning: … and ${problems.length - shown.length} more\n`);
  if (problems.length) io.stderr.write(`warning: ${problems.length} catalog document${problems.length === 1 ? '' : 's'} could not be read and ${problems.length === 1 ? 'was' : 'were'} skipped\n`);
  if (stale.length) {
    io.stderr.write(`warning: the ${stale.length === 1 ? 'index of 1 directory does' : `indexes of ${stale.length} directories do`} not match the documents (read from the documents instead); run coffer catalog reindex\n`);
  }
}
