import { parseArgs } from './args.ts';
import { CATALOG_READ_FLAGS, openCatalogForRead, refuseAllClusters } from './catalog-flags.ts';
import { type CliIO, type Command, UsageError } from './io.ts';
import { outputFormat, printList, type ListSpec } from './output/printer.ts';
import { suggest } from '../compiler/suggest.ts';

const HELP = `List what Coffer knows, like kubectl get.

Usage: coffer get TYPE [flags]

Types:
  restorepoints (rp)   restore points in the catalog     (coffer get restorepoints --help)
  runs                 backup, restore and retention runs (coffer get runs --help)
  restores             RestoreResults in the catalog
  policies             policies of the compiled plan at the policy branch's tip

Flags of restores and policies:
  -n, --namespace NS       only restores into this namespace (restores)
      --source URL|PATH    policy repository (default: . or $COFFER_SOURCE)
      --branch NAME        policy branch
      --catalog-branch B   catalog branch
      --cluster NAME       cluster subtree
  -o, --output FORMAT      table (default), wide, json, yaml or name
`;

const TYPES: Record<string, string> = { restorepoints: 'restorepoints', restorepoint: 'restorepoints', rp: 'restorepoints', runs: 'runs', run: 'runs', restores: 'restores', restore: 'restores', policies: 'policies', policy: 'policies' };

export const run: Command = async (argv, io) => {
  const [type, ...rest] = argv;
  if (!type || type === '-h' || type === '--help') {
    io.stdout.write(HELP);
    return type ? 0 : 1;
  }
  const kind = TYPES[type];
  if (!kind) {
    const hint = suggest(type, Object.keys(TYPES));
    throw new UsageError(`unknown type "${type}" for "coffer get"${hint ? `; did you mean ${hint}?` : ''} (restorepoints, runs, restores, policies)`);
  }
  if (kind === 'restorepoints') return (await import('./restorepoints.ts')).run(rest, io);
  if (kind === 'runs') return (await import('./runs.ts')).run(rest, io);
  return kind === 'restores' ? getRestores(rest, io) : getPolicies(rest, io);
};

async function getRestores(argv: string[], io: CliIO): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: CATALOG_READ_FLAGS });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  refuseAllClusters('get restores', v);
  const { catalog, format } = await openCatalogForRead('get restores', v, positionals, io);
  const { readRecordedRestores } = await import('../reconciler/server/restore-jobs.ts');
  const { age, duration } = await import('../reconciler/catalog/open.ts');
  const now = new Date();
  const items = (await readRecordedRestores(catalog)).filter((r) => !v.namespace || r.target.namespace === v.namespace).map((r) => r.doc);
  type Doc = (typeof items)[number];
  const spec: ListSpec<Doc> = {
    resource: 'restore',
    listKind: 'RestoreResultList',
    name: (d) => d.metadata.name,
    columns: [
      { header: 'NAME', value: (d) => d.metadata.name },
      { header: 'RESTOREPOINT', value: (d) => d.spec.restorePoint },
      { header: 'FROM', value: (d) => `${d.spec.source.cluster ? `${d.spec.source.cluster}/` : ''}${d.spec.source.namespace}` },
      { header: 'TO', value: (d) => `${d.spec.target.cluster ? `${d.spec.target.cluster}/` : ''}${d.spec.target.namespace}` },
      { header: 'PHASE', value: (d) => d.spec.phase },
      { header: 'CREATED', value: (d) => String(d.spec.summary.created), wide: true },
      { header: 'UPDATED', value: (d) => String(d.spec.summary.updated), wide: true },
      { header: 'SKIPPED', value: (d) => String(d.spec.summary.skipped), wide: true },
      { header: 'FAILED', value: (d) => String(d.spec.summary.failed) },
      { header: 'DURATION', value: (d) => duration(d.spec.startTime, d.spec.endTime) },
      { header: 'AGE', value: (d) => age(d.spec.startTime, now) },
    ],
  };
  await printList(io, format, spec, items, `No restores recorded in branch ${catalog.branch} for cluster ${catalog.cluster}.`);
  return 0;
}

async function getPolicies(argv: string[], io: CliIO): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { source: { type: 'string' }, branch: { type: 'string' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer get --help`);
  const format = outputFormat(v.output);
  const { openSource } = await import('../reconciler/git/source.ts');
  const { compileFromGit, hasErrors } = await import('../compiler/index.ts');
  const given = v.source ?? io.env.COFFER_SOURCE ?? io.cwd;
  const remote = /^[a-z][a-z0-9+.-]*:\/\//i.test(given);
  const source = await openSource({ source: remote || given.startsWith('/') ? given : `${io.cwd}/${given}`, ...(v.branch ? { branch: v.branch } : {}), env: io.env });
  const rev = await source.fetch();
  const compiled = await compileFromGit(rev.gitdir, rev.commit);
  if (hasErrors(compiled.diagnostics) || !compiled.plan) throw new UsageError(`the policy branch at ${rev.commit.slice(0, 12)} does not compile; run coffer validate --ref ${rev.commit.slice(0, 12)}`);
  const r = (p: { retention: object }) => Object.entries(p.retention).filter(([, n]) => n).map(([k, n]) => `${n}${k[0]}`).join(' ') || '-';
  type P = (typeof compiled.plan.policies)[number];
  const spec: ListSpec<P> = {
    resource: 'policy',
    listKind: 'PolicyList',
    name: (p) => p.name,
    columns: [
      { header: 'NAME', value: (p) => p.name },
      { header: 'FREQUENCY', value: (p) => p.schedule.source },
      { header: 'RETENTION', value: r },
      { header: 'PROFILE', value: (p) => p.profile },
      { header: 'PAUSED', value: (p) => String(p.paused) },
      { header: 'BLUEPRINTS', value: (p) => p.blueprints.map((b) => b.blueprint).join(',') || '-', wide: true },
      { header: 'NAMESPACES', value: (p) => p.selector.namespaces.source, wide: true },
    ],
  };
  await printList(io, format, spec, compiled.plan.policies, `No policies at ${rev.commit.slice(0, 12)}.`);
  return 0;
}
