import { parseArgs } from './args.ts';
import { CATALOG_READ_FLAGS, openCatalogForRead, refuseAllClusters } from './catalog-flags.ts';
import { type Command, UsageError } from './io.ts';
import { printObject } from './output/printer.ts';
import { suggest } from '../compiler/suggest.ts';

const HELP = `Show everything recorded about one restore point, run or restore, like kubectl describe.

Usage: coffer describe restorepoint|run|restore NAME [flags]

restorepoint: phase, what keeps it (GFS, TTL expiry or pinned), timings, the policy commit it came from, repository
              snapshots, resources, volumes, blueprint hooks with their output, artifacts and errors
run:          type, trigger, timings, the policy commit, the restore point it made, expired points, the error
restore:      source and target, every resource with its action and reason, volumes, hooks, errors and its run's log

Flags:
  -n, --namespace NS       look only in this namespace (restore points)
      --cluster NAME       cluster subtree (default: spec.cluster of coffer.yaml)
      --source URL|PATH    policy repository (default: . or $COFFER_SOURCE)
      --branch NAME        policy branch
      --catalog-branch B   catalog branch
  -o, --output FORMAT      text (default), json or yaml (the recorded document)
`;

const TYPES: Record<string, 'restorepoint' | 'run' | 'restore'> = { restorepoint: 'restorepoint', restorepoints: 'restorepoint', rp: 'restorepoint', run: 'run', runs: 'run', restore: 'restore', restores: 'restore' };

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...CATALOG_READ_FLAGS, output: { type: 'string', short: 'o', default: 'text' } } });
  if (v.help || positionals.length === 0) {
    io.stdout.write(HELP);
    return v.help ? 0 : 1;
  }
  const [type, name, ...extra] = positionals;
  const kind = TYPES[type!];
  if (!kind) {
    const hint = suggest(type!, Object.keys(TYPES));
    throw new UsageError(`unknown type "${type}" for "coffer describe"${hint ? `; did you mean ${hint}?` : ''} (restorepoint, run, restore)`);
  }
  if (!name || extra.length) throw new UsageError(`coffer describe ${kind} takes one NAME`);
  const format = v.output;
  if (format !== 'text' && format !== 'json' && format !== 'yaml') throw new UsageError(`--output "${format}": expected text, json or yaml`);
  refuseAllClusters('describe', v);
  const { catalog } = await openCatalogForRead('describe', { ...v, output: 'table' }, [], io);
  const d = await import('./output/describe.ts');
  const notFound = (what: string) => new UsageError(`${what} "${name}" not found in branch ${catalog.branch} for cluster ${catalog.cluster}; list them with coffer get ${what === 'restore' ? 'restores' : `${what}s`}`);
  if (kind === 'restorepoint') {
    const rp = (await catalog.readRestorePoints(v.namespace ? { namespace: v.namespace } : {})).find((e) => e.doc.metadata.name === name)?.doc;
    if (!rp) throw notFound('restorepoint');
    if (format !== 'text') await printObject(io, format, rp);
    else io.stdout.write(d.describeRestorePoint(rp, await catalog.readRuns({ namespace: rp.spec.namespace, policy: rp.spec.policy, type: 'backup', since: new Date(Date.parse(rp.spec.startTime) - 1000) })));
    return 0;
  }
  if (kind === 'run') {
    const r = (await catalog.readRuns({ since: new Date(0) })).find((x) => x.metadata.name === name);
    if (!r) throw notFound('run');
    if (format !== 'text') await printObject(io, format, r);
    else io.stdout.write(d.describeRun(r));
    return 0;
  }
  const { readRecordedRestores } = await import('../reconciler/server/restore-jobs.ts');
  const doc = (await readRecordedRestores(catalog)).find((x) => x.name === name)?.doc;
  if (!doc) throw notFound('restore');
  if (format !== 'text') await printObject(io, format, doc);
  else {
    // The restore's Run holds its log; it started with the result (same start time), usually under the same name.
    const runs = await catalog.readRuns({ type: 'restore', namespace: doc.spec.target.namespace, since: new Date(Date.parse(doc.spec.startTime) - 1000) });
    const r = runs.find((x) => x.metadata.name === doc.metadata.name) ?? runs.find((x) => x.status.startTime === doc.spec.startTime);
    io.stdout.write(d.describeRestore(doc, r));
  }
  return 0;
};
