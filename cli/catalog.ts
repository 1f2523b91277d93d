import { parseArgs } from './args.ts';
import { formatProblem, type IndexCheck } from '../reconciler/catalog/index.ts';
import { openCatalogForFlags } from './catalog-flags.ts';
import { type CliIO, type Command, UsageError } from './io.ts';

const HELP = `Check or rebuild the catalog's derived index (catalog/.index/), which listings read instead of every document.

Usage: coffer catalog check|reindex [flags]

  check     compare every directory's index with its restore point documents; exit 1 when one is missing, stale
            (documents committed with plain git, a merge) or left over
  reindex   rewrite what check finds, in one commit on the catalog branch

Flags:
      --source URL|PATH    policy repository (default: . or $COFFER_SOURCE)
      --branch NAME        policy branch coffer.yaml is read from
      --catalog-branch B   catalog branch (default: from coffer.yaml, else coffer-catalog)
      --cluster NAME       this cluster's name, when coffer.yaml has none (the index covers every cluster)
  -h, --help
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { source: { type: 'string' }, branch: { type: 'string' }, 'catalog-branch': { type: 'string' }, cluster: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const [action, extra] = positionals;
  if (action !== 'check' && action !== 'reindex') throw new UsageError(action ? `unknown action "${action}": expected check or reindex` : 'missing action: coffer catalog check|reindex');
  if (extra) throw new UsageError(`unexpected argument "${extra}"; see coffer catalog --help`);
  const catalog = await openCatalogForFlags(v, io);
  if (action === 'check') {
    const r = await catalog.checkIndex();
    report(io, r, `branch ${catalog.branch}`);
    if (r.stale.length || r.orphans.length) {
      io.stdout.write('Run coffer catalog reindex to repair.\n');
      return 1;
    }
    return 0;
  }
  const r = await catalog.reindex();
  report(io, r, `branch ${catalog.branch}`);
  io.stdout.write(r.commit ? `Committed ${r.commit.commit.slice(0, 12)} to ${catalog.branch}.\n` : 'Nothing to repair.\n');
  return 0;
};

function report(io: CliIO, r: IndexCheck, where: string): void {
  io.stdout.write(`${where}: ${r.restorePoints} restore point${r.restorePoints === 1 ? '' : 's'} in ${r.directories} director${r.directories === 1 ? 'y' : 'ies'}\n`);
  for (const s of r.stale) io.stdout.write(`stale index: ${s.path} (${s.reason})\n`);
  for (const o of r.orphans) io.stdout.write(`orphan index: ${o} (no documents beside it)\n`);
  for (const p of r.problems) io.stderr.write(`warning: ${formatProblem(p)}\n`);
  if (r.problems.length) io.stderr.write(`warning: ${r.problems.length} catalog document${r.problems.length === 1 ? '' : 's'} could not be read\n`);
  if (!r.stale.length && !r.orphans.length) io.stdout.write('index: consistent with the documents\n');
}
