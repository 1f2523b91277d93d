import { parseArgs } from './args.ts';
import { CATALOG_READ_FLAGS, openCatalogForRead, refuseAllClusters } from './catalog-flags.ts';
import { type Command, UsageError } from './io.ts';
import type { Hook } from './output/describe.ts';
import { printObject } from './output/printer.ts';

const HELP = `Print what a run logged, also after its Pods are gone: the run's own log (hooks, snapshots, mover Jobs,
kept with its Run record in the catalog), the blueprint hooks of the restore point it made with their output, and
the error of a failed run. Hook dumps themselves (a database's stdout) stay encrypted in the repository.

Usage: coffer logs RUN [flags]

Flags:
      --cluster NAME       cluster subtree (default: spec.cluster of coffer.yaml)
      --source URL|PATH    policy repository (default: . or $COFFER_SOURCE)
      --branch NAME        policy branch
      --catalog-branch B   catalog branch
  -o, --output FORMAT      text (default) or json
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...CATALOG_READ_FLAGS, output: { type: 'string', short: 'o', default: 'text' } } });
  if (v.help || positionals.length === 0) {
    io.stdout.write(HELP);
    return v.help ? 0 : 1;
  }
  if (positionals.length > 1) throw new UsageError('coffer logs takes one RUN (see coffer get runs)');
  if (v.output !== 'text' && v.output !== 'json') throw new UsageError(`--output "${v.output}": expected text or json`);
  const name = positionals[0]!;
  refuseAllClusters('logs', v);
  const { catalog } = await openCatalogForRead('logs', { ...v, output: 'table' }, [], io);
  const r = (await catalog.readRuns({ since: new Date(0) })).find((x) => x.metadata.name === name);
  if (!r) throw new UsageError(`run "${name}" not found in branch ${catalog.branch} for cluster ${catalog.cluster}; list them with coffer get runs`);
  const rp = r.status.restorePoint ? (await catalog.readRestorePoints({ ...(r.spec.namespace ? { namespace: r.spec.namespace } : {}), ...(r.spec.policy ? { policy: r.spec.policy } : {}) })).find((e) => e.doc.metadata.name === r.status.restorePoint)?.doc : undefined;
  const hooks = (Array.isArray(rp?.spec.hooks) ? rp.spec.hooks : []) as Hook[];
  if (v.output === 'json') {
    await printObject(io, 'json', { run: name, phase: r.status.phase, log: r.status.log ?? [], hooks, ...(r.status.error ? { error: r.status.error } : {}) });
    return 0;
  }
  const lines = [...(r.status.log ?? [])];
  if (!lines.length) lines.push(`${r.status.startTime} (this run recorded no log lines${r.spec.type === 'retention' ? '' : '; runs before log capture record none'})`);
  for (const h of hooks) {
    const out = Object.entries(h.output ?? {}).map(([k, x]) => `${k}=${x.includes('\n') ? JSON.stringify(x) : x}`).join(' ');
    lines.push(`${h.startTime ?? r.status.startTime} hook ${h.blueprint}/${h.action}/${h.phase} (${h.func}${h.workload ? ` on ${h.workload}` : ''}): ${h.phaseResult}${out ? `; output ${out}` : ''}${h.error ? `; error: ${h.error}` : ''}`);
  }
  if (r.status.error) lines.push(`${r.status.endTime ?? r.status.startTime} error: ${r.status.error}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
};
