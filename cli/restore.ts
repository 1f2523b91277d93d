import { resolve as resolvePath } from 'node:path';
import { parseArgs } from './args.ts';
import { stringify } from 'yaml';
import { FILES_EXISTING, type FilesExisting } from '../reconciler/restore/files.ts';
import { EXISTING_POLICIES, parseBefore, parseNamespaceMapping, restoreFiles, runRestore, type ExistingPolicy, type RestoreOutcome } from '../reconciler/restore/index.ts';
import { type CliIO, type Command, UsageError } from './io.ts';
import { RECONCILER_FLAGS, reconcilerContext } from './reconcile-flags.ts';
import { workstationIdentity } from '../reconciler/volumes/run-lease.ts';

const HELP = `Restore a restore point into a cluster: the whole application or a part of it, into the same or another
namespace or cluster, with transforms. Like 'velero restore create --from-backup', recorded in Git like a backup.

Usage: coffer restore RESTOREPOINT [flags]
       coffer restore files RESTOREPOINT --volume PVC --path P [--path P2] (--to LOCALDIR | --into-pvc NAME) [-n NS]
       coffer restore latest -n NAMESPACE [--policy P] [flags]
       coffer restore latest -n NAMESPACE --before 2026-11-20T10:00Z [flags]

Selection:
  -n, --namespace NS             namespace the restore point protects (required with latest unless only one has any)
  -p, --policy NAME              policy that made it
      --before TIME              newest restore point taken at or before TIME (RFC 3339)
      --from-cluster NAME        cluster whose catalog holds the restore point (default: coffer.yaml cluster)
What to restore:
      --namespace-mapping A=B    restore namespace A into B (repeatable)
      --include CEL              only objects for which CEL over 'object' is true, e.g. object.kind == "ConfigMap"
      --exclude CEL              skip objects for which CEL is true
      --transform NAME|FILE      apply a TransformSet from the repo, or a TransformSet YAML file (repeatable, in order)
      --no-volumes               create PVCs empty instead of restoring their data
      --no-hooks                 do not run the blueprints' restore actions
How:
      --existing skip|update|recreate   what to do with objects that exist (default skip: nothing existing changes)
      --wait                     wait until PVCs are bound, workloads ready and Jobs complete; report what is not
      --timeout DURATION         for --wait and restore hooks (default 5m)
      --dry-run                  print what would be created, updated or skipped; touch nothing, record nothing
      --target-cluster NAME      name of the target cluster in the catalog (default: coffer.yaml cluster)
  --source URL|PATH      policy repository (default: $COFFER_SOURCE, else .)
  --branch NAME          policy branch
  --kubeconfig FILE      target cluster credentials (default: $KUBECONFIG, else ~/.kube/config)
  --context NAME         kubeconfig context
  --mover-image IMAGE    image of the restore mover Jobs (default ghcr.io/coffer-dev/coffer:latest)
  --coffer-namespace NS  namespace of the repository key Secret (default coffer-system)
  -o, --output FORMAT    text (default), json or yaml (the RestoreResult document)
`;

export function parseDurationFlag(s: string, flag: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new UsageError(`${flag} "${s}": expected a duration such as 90s, 5m or 1h`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export const run: Command = async (argv, io) => {
  if (argv[0] === 'files') return runFiles(argv.slice(1), io);
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...RECONCILER_FLAGS,
      output: { type: 'string', short: 'o' },
      namespace: { type: 'string', short: 'n' },
      policy: { type: 'string', short: 'p' },
      before: { type: 'string' },
      'from-cluster': { type: 'string' },
      'target-cluster': { type: 'string' },
      'namespace-mapping': { type: 'string', multiple: true },
      include: { type: 'string' },
      exclude: { type: 'string' },
      transform: { type: 'string', multiple: true },
      existing: { type: 'string' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'no-volumes': { type: 'boolean' },
      'no-hooks': { type: 'boolean' },
    },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `unexpected argument "${positionals[1]}"; see coffer restore --help` : 'RESTOREPOINT is required (a name, or latest); see coffer restore --help');
  const ref = positionals[0]!;
  const existing = (v.existing ?? 'skip') as ExistingPolicy;
  if (!EXISTING_POLICIES.includes(existing)) throw new UsageError(`--existing "${v.existing}": expected skip, update or recreate`);
  const format = v.output ?? 'text';
  if (!['text', 'json', 'yaml'].includes(format)) throw new UsageError(`--output "${format}": expected text, json or yaml`);
  const before = v.before ? parseBefore(v.before) : undefined;
  const namespaceMapping = parseNamespaceMapping(v['namespace-mapping'] ?? []);
  const waitTimeoutMs = v.timeout ? parseDurationFlag(v.timeout, '--timeout') : undefined;
  const { 'namespace-mapping': _m, transform: _t, ...scalar } = v;
  const ctx = await reconcilerContext({ ...scalar, output: format === 'text' ? 'text' : 'json' }, io);
  const logs = format === 'text' ? (m: string) => io.stderr.write(`  ${m.split('\n')[0]}\n`) : undefined;
  const out = await runRestore({
    source: ctx.source,
    client: ctx.client,
    restorePoint: { ref, ...(v.namespace ? { namespace: v.namespace } : {}), ...(v.policy ? { policy: v.policy } : {}), ...(before ? { before } : {}) },
    ...(v['from-cluster'] ? { sourceCluster: v['from-cluster'] } : {}),
    ...(v['target-cluster'] ? { targetCluster: v['target-cluster'] } : {}),
    namespaceMapping,
    ...(v.include ? { include: v.include } : {}),
    ...(v.exclude ? { exclude: v.exclude } : {}),
    transforms: v.transform ?? [],
    existing,
    ...(v['dry-run'] ? { dryRun: true } : {}),
    ...(v.wait ? { wait: true } : {}),
    ...(waitTimeoutMs ? { waitTimeoutMs } : {}),
    ...(v['no-volumes'] ? { volumes: false } : {}),
    ...(v['no-hooks'] ? { hooks: false } : {}),
    ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
    ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
    env: io.env,
    cwd: io.cwd,
    // Not under the controller's Lease: a run Lease keeps a controller's start-up sweep off this restore's movers.
    runLease: { identity: workstationIdentity() },
    ...(logs ? { log: logs } : {}),
  });
  printOutcome(io, out, format, !!v['dry-run']);
  return out.result.spec.phase === 'Succeeded' ? 0 : 1;
};

function printOutcome(io: CliIO, out: RestoreOutcome, format: string, dryRun: boolean): void {
  const doc = { ...out.result, ...(dryRun ? { dryRun: true } : {}), ...(out.commit ? { recorded: { path: out.commit.path, commit: out.commit.commit } } : {}) };
  if (format === 'json') return void io.stdout.write(`${JSON.stringify(doc)}\n`);
  if (format === 'yaml') return void io.stdout.write(stringify(doc, { lineWidth: 0 }));
  const s = out.result.spec;
  const verb = (a: string) => (dryRun ? { created: 'would create', updated: 'would update', skipped: 'skip', failed: 'would fail' }[a] ?? a : a);
  io.stdout.write(`${dryRun ? 'DRY RUN — nothing is changed. ' : ''}restore point ${s.restorePoint} (${s.source.cluster}/${s.source.namespace}, policy ${s.source.policy}) → ${s.target.cluster ?? ''}/${s.target.namespace}\n`);
  const rows = s.resources.map((r) => [verb(r.action), r.kind, r.namespace ? `${r.namespace}/${r.name}` : r.name, [r.reason, r.transforms?.length ? `transforms: ${r.transforms.join(', ')}` : ''].filter(Boolean).join('; ')]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), 6));
  for (const r of rows) io.stdout.write(`  ${r[0]!.padEnd(w[0]!)}  ${r[1]!.padEnd(w[1]!)}  ${r[2]!.padEnd(w[2]!)}  ${r[3]}`.trimEnd() + '\n');
  for (const vol of out.execution.volumes) io.stdout.write(`  volume ${vol.pvc}: ${dryRun ? `would restore from ${vol.from}` : `${vol.phase}${vol.bytesRestored !== undefined ? `, ${vol.bytesRestored} bytes` : ''} from ${vol.from}${vol.error ? `: ${vol.error}` : ''}`}\n`);
  for (const h of s.hooks ?? []) io.stdout.write(`  hook ${String(h.blueprint)}.${String(h.action)}.${String(h.phase)}${h.workload ? ` (${String(h.workload)})` : ''}: ${String(h.phaseResult)}\n`);
  for (const e of s.errors ?? []) io.stdout.write(`  error: ${e}\n`);
  const c = s.summary;
  io.stdout.write(`${dryRun ? 'would be: ' : ''}${c.created} created, ${c.updated} updated, ${c.skipped} skipped, ${c.failed} failed — ${s.phase} in ${s.durationSeconds}s${out.commit ? `; recorded in ${out.commit.path}` : ''}\n`);
}

const FILES_HELP = `Restore single files or directories of a volume backup without restoring the volume: into a local directory
(nothing in the cluster changes; only the profile's key Secret is read), or into an existing PVC through a restore
mover Job (each path goes back to the same path inside that PVC; nothing else in it is touched).

Usage: coffer restore files RESTOREPOINT --volume PVC --path /some/dir [--path …] --to LOCALDIR [flags]
       coffer restore files RESTOREPOINT --volume PVC --path /some/dir [--path …] --into-pvc NAME [--target-namespace NS] [--existing fail|update]

  -n, --namespace NS     namespace the restore point protects (with latest)
  -p, --policy NAME      policy that made it
      --before TIME      newest restore point at or before TIME
      --volume PVC       the PVC, as named in the restore point (required)
      --path P           file or directory inside the volume, from its root (repeatable; / = everything)
      --to DIR           local directory; each path lands as DIR/<last segment>; nothing existing is overwritten
      --into-pvc NAME    existing PVC to write the paths into, at the same paths (e.g. the original after a bad delete)
      --target-namespace NS  namespace of --into-pvc (default: the restore point's namespace)
      --existing fail|update  --into-pvc only. fail (default): if any path already exists in the PVC (for / : if the
                         PVC is not empty) nothing is written. update: overwrite those files (files added to a
                         restored directory since the backup are kept). Stop the app first if it has the files open.
      --timeout DURATION --into-pvc: how long the mover Job may take (default 1h)
      --mover-image IMAGE    image of the restore mover Job
  --source, --branch, --kubeconfig, --context, --coffer-namespace as for coffer restore
  -o, --output FORMAT    text or json
`;

async function runFiles(argv: string[], io: CliIO): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...RECONCILER_FLAGS,
      namespace: { type: 'string', short: 'n' },
      policy: { type: 'string', short: 'p' },
      before: { type: 'string' },
      'from-cluster': { type: 'string' },
      volume: { type: 'string' },
      path: { type: 'string', multiple: true },
      to: { type: 'string' },
      'into-pvc': { type: 'string' },
      'target-namespace': { type: 'string' },
      existing: { type: 'string' },
      timeout: { type: 'string' },
    },
  });
  if (v.help) {
    io.stdout.write(FILES_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('RESTOREPOINT is required (a name, or latest); see coffer restore files --help');
  if (!v.volume) throw new UsageError('--volume is required; see coffer restore files --help');
  if (!v.path?.length) throw new UsageError('--path is required; see coffer restore files --help');
  if (!v.to === !v['into-pvc']) throw new UsageError('give exactly one of --to LOCALDIR or --into-pvc NAME; see coffer restore files --help');
  if (!v['into-pvc'] && (v.existing || v['target-namespace'] || v.timeout)) throw new UsageError('--existing, --target-namespace and --timeout apply to --into-pvc only (--to never overwrites)');
  const existing = (v.existing ?? 'fail') as FilesExisting;
  if (!FILES_EXISTING.includes(existing)) throw new UsageError(`--existing "${v.existing}": expected fail or update`);
  const timeoutMs = v.timeout ? parseDurationFlag(v.timeout, '--timeout') : undefined;
  const before = v.before ? parseBefore(v.before) : undefined;
  const { path: _p, existing: _e, 'target-namespace': _tn, timeout: _to, 'into-pvc': _ip, ...scalar } = v;
  const ctx = await reconcilerContext(scalar, io);
  const into = v['into-pvc'];
  const r = await restoreFiles({
    source: ctx.source,
    client: ctx.client,
    restorePoint: { ref: positionals[0]!, ...(v.namespace ? { namespace: v.namespace } : {}), ...(v.policy ? { policy: v.policy } : {}), ...(before ? { before } : {}) },
    ...(v['from-cluster'] ? { sourceCluster: v['from-cluster'] } : {}),
    volume: v.volume,
    paths: v.path,
    ...(v.to ? { to: resolvePath(io.cwd, v.to) } : {}),
    ...(into
      ? {
          intoPvc: {
            name: into,
            ...(v['target-namespace'] ? { namespace: v['target-namespace'] } : {}),
            existing,
            ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
            ...(timeoutMs ? { timeoutMs } : {}),
            ...(!ctx.json ? { log: (m: string) => io.stderr.write(`  ${m.split('\n')[0]}\n`) } : {}),
          },
        }
      : {}),
    ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
    env: io.env,
    // --into-pvc starts movers outside the controller's Lease: a run Lease keeps a controller's start-up sweep off them.
    runLease: { identity: workstationIdentity() },
  });
  if (ctx.json) io.stdout.write(`${JSON.stringify({ restorePoint: r.restorePoint, snapshotId: r.snapshotId, written: r.written, files: r.stats.files, ...(r.stats.dirs !== undefined ? { dirs: r.stats.dirs } : {}), bytes: r.stats.bytes, ...(r.job ? { job: r.job } : {}) })}\n`);
  else io.stdout.write(`restored ${r.stats.files} file(s), ${r.stats.bytes} bytes from ${r.restorePoint} volume ${v.volume}:\n${r.written.map((w) => `  ${w}\n`).join('')}`);
  return 0;
}
