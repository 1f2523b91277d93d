import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { runDrill } from '../reconciler/restore/index.ts';
import { type Command, UsageError } from './io.ts';
import { RECONCILER_FLAGS, reconcilerContext } from './reconcile-flags.ts';
import { parseDurationFlag } from './restore.ts';

const HELP = `Disaster recovery.

Usage: coffer dr drill -n NAMESPACE [--policy P] [flags]

  drill   restore the latest restore point of NAMESPACE into a scratch namespace, wait until it is ready, run the
          blueprints' validate action, delete the scratch namespace, and commit a DrillReport with the measured RTO
          to the catalog branch (drills/<cluster>/<namespace>/<name>.yaml). Exit status 1 when the drill failed.

  -n, --namespace NS     namespace to drill (required)
  -p, --policy NAME      restore points of this policy only
      --transform NAME   TransformSet for the scratch copy (repeatable)
      --timeout DURATION readiness and hook timeout (default 5m)
  --source, --branch, --kubeconfig, --context, --mover-image, --coffer-namespace as for coffer restore
  -o, --output FORMAT    text, json or yaml (the DrillReport)

Not yet: coffer dr restore --cluster A --to-kubeconfig B (use coffer restore --from-cluster A --kubeconfig B per namespace).
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...RECONCILER_FLAGS, namespace: { type: 'string', short: 'n' }, policy: { type: 'string', short: 'p' }, transform: { type: 'string', multiple: true }, timeout: { type: 'string' } },
  });
  if (v.help || !positionals.length) {
    io.stdout.write(HELP);
    return v.help ? 0 : 2;
  }
  if (positionals[0] !== 'drill') throw new UsageError(`coffer dr ${positionals[0]}: unknown subcommand (have: drill); see coffer dr --help`);
  if (!v.namespace) throw new UsageError('--namespace is required; see coffer dr --help');
  const format = v.output ?? (io.stdout.isTTY ? 'text' : 'json');
  if (!['text', 'json', 'yaml'].includes(format)) throw new UsageError(`--output "${format}": expected text, json or yaml`);
  const waitTimeoutMs = v.timeout ? parseDurationFlag(v.timeout, '--timeout') : undefined;
  const { transform: _t, ...scalar } = v;
  const ctx = await reconcilerContext({ ...scalar, output: format === 'text' ? 'text' : 'json' }, io);
  const { report, commit } = await runDrill({
    source: ctx.source,
    client: ctx.client,
    namespace: v.namespace,
    ...(v.policy ? { policy: v.policy } : {}),
    transforms: v.transform ?? [],
    ...(waitTimeoutMs ? { waitTimeoutMs } : {}),
    ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
    ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
    env: io.env,
    ...(format === 'text' ? { log: (m: string) => io.stderr.write(`  ${m.split('\n')[0]}\n`) } : {}),
  });
  if (format === 'json') io.stdout.write(`${JSON.stringify({ ...report, recorded: { path: commit.path, commit: commit.commit } })}\n`);
  else if (format === 'yaml') io.stdout.write(stringify(report, { lineWidth: 0 }));
  else {
    const s = report.spec;
    io.stdout.write(`drill of ${s.namespace} from ${s.restorePoint || '(none)'} into ${s.scratchNamespace}: ${s.phase}, RTO ${s.rtoSeconds}s; ${s.resources.created} created, ${s.volumes.length} volume(s), ${s.hooks.length} hook phase(s); scratch namespace ${s.scratchDeleted ? 'deleted' : 'NOT deleted'}\n`);
    for (const e of s.errors ?? []) io.stdout.write(`  error: ${e}\n`);
    io.stdout.write(`recorded in ${commit.path}\n`);
  }
  return report.spec.phase === 'Succeeded' ? 0 : 1;
};
