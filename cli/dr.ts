import { parseArgs } from './args.ts';
import { stringify } from 'yaml';
import { runDrill, runDrRestore } from '../reconciler/restore/index.ts';
import { type Command, UsageError } from './io.ts';
import { RECONCILER_FLAGS, reconcilerContext } from './reconcile-flags.ts';
import { parseDurationFlag } from './restore.ts';
import { runVerify, VERIFY_HELP } from './dr-verify.ts';
import { workstationIdentity } from '../reconciler/volumes/run-lease.ts';

const HELP = `Disaster recovery.

Usage: coffer dr drill -n NAMESPACE [--policy P] [flags]
       coffer dr verify -n NAMESPACE [--policy P] [--restore-point NAME] [flags]
       coffer dr restore --cluster A --to-kubeconfig FILE [--target-cluster B] [--policy P] [--wait] [flags]

  restore restore the latest successful restore point of every namespace cluster A protected into the cluster of
          --to-kubeconfig (needs only the Git repo, the repository, and the repository key Secret in the target).
          Each namespace is recorded as a RestoreResult under the target cluster. Exit status 1 if any failed.

  drill   restore the latest restore point of NAMESPACE into a scratch namespace, wait until it is ready, run the
          blueprints' validate action, delete the scratch namespace, and commit a DrillReport with the measured RTO
          to the catalog branch (drills/<cluster>/<namespace>/<name>.yaml). Exit status 1 when the drill failed.

${VERIFY_HELP}
  -n, --namespace NS     namespace to drill or verify (required)
  -p, --policy NAME      restore points of this policy only
      --restore-point NAME  (verify) this restore point instead of the newest successful one
      --transform NAME   (drill) TransformSet for the scratch copy (repeatable)
      --timeout DURATION readiness and hook timeout (default 5m); (verify) the whole verification before cleanup
                         (default: the policy's spec.verify.timeout, else 30m)
  --source, --branch, --kubeconfig, --context, --mover-image, --coffer-namespace as for coffer restore
  -o, --output FORMAT    drill: text, json or yaml (the DrillReport); verify: table, wide, json, yaml or name

      --cluster A        (restore) the lost cluster, as named in the catalog
      --to-kubeconfig F  (restore) the cluster to restore into
      --target-cluster B (restore) its name in the catalog (default: coffer.yaml cluster)
      --wait             (restore) wait until every namespace is healthy; (verify) wait for the verification to
                         finish (the default)
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...RECONCILER_FLAGS, cluster: { type: 'string' }, 'to-kubeconfig': { type: 'string' }, 'target-cluster': { type: 'string' }, wait: { type: 'boolean' }, namespace: { type: 'string', short: 'n' }, policy: { type: 'string', short: 'p' }, transform: { type: 'string', multiple: true }, timeout: { type: 'string' }, 'restore-point': { type: 'string' } },
  });
  if (v.help || !positionals.length) {
    io.stdout.write(HELP);
    return v.help ? 0 : 2;
  }
  if (positionals[0] === 'restore') {
    if (!v.cluster) throw new UsageError('--cluster is required (the lost cluster); see coffer dr --help');
    if (!v['to-kubeconfig']) throw new UsageError('--to-kubeconfig is required (the cluster to restore into); see coffer dr --help');
    const format = v.output ?? 'text';
    const { transform: _t2, ...rest } = v;
    // The target cluster's kubeconfig is the one every other step uses.
    const ctx = await reconcilerContext({ ...rest, kubeconfig: v['to-kubeconfig'], output: format === 'text' ? 'text' : 'json' }, io);
    const results = await runDrRestore({
      source: ctx.source,
      client: ctx.client,
      fromCluster: v.cluster,
      ...(v['target-cluster'] ? { targetCluster: v['target-cluster'] } : {}),
      ...(v.policy ? { policy: v.policy } : {}),
      transforms: v.transform ?? [],
      ...(v.wait ? { wait: true } : {}),
      ...(v.timeout ? { waitTimeoutMs: parseDurationFlag(v.timeout, '--timeout') } : {}),
      ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
      ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
      env: io.env,
      runLease: { identity: workstationIdentity() },
    });
    for (const r of results) {
      const s = r.outcome?.result.spec;
      if (format === 'json') io.stdout.write(`${JSON.stringify({ namespace: r.namespace, restorePoint: r.restorePoint, phase: r.phase, ...(s ? { summary: s.summary, volumes: s.volumes ?? [], errors: s.errors ?? [], recorded: r.outcome?.commit?.path } : {}), ...(r.error ? { error: r.error } : {}) })}\n`);
      else io.stdout.write(`${r.namespace}: ${r.phase}${r.restorePoint ? ` from ${r.restorePoint}` : ''}${s ? ` — ${s.summary.created} created, ${(s.volumes ?? []).length} volume(s)` : ''}${r.error ? `: ${r.error}` : ''}\n`);
    }
    if (!results.length) io.stderr.write(`no successful restore point of cluster ${v.cluster} in the catalog\n`);
    return results.length && results.every((r) => r.phase === 'Succeeded') ? 0 : 1;
  }
  if (positionals[0] === 'verify') return runVerify(v, io);
  if (positionals[0] !== 'drill') throw new UsageError(`coffer dr ${positionals[0]}: unknown subcommand (have: drill, restore, verify); see coffer dr --help`);
  if (!v.namespace) throw new UsageError('--namespace is required; see coffer dr --help');
  const format = v.output ?? 'text';
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
    runLease: { identity: workstationIdentity() },
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
