import { parseArgs } from './args.ts';
import { type Command, UsageError } from './io.ts';
import { formatFindings, localFindings, problems, type Finding } from './doctor/local.ts';

const HELP = `Check that this machine and the cluster are ready for Coffer, like Kasten's primer.

Usage: coffer doctor [--local] [flags]

This machine: Node.js version, bubblewrap (run once, as the sandbox would), git, Chromium, restic, kubectl.
The cluster (skipped with --local): reachable and its version, clock skew against the API server, what the current
identity may do (SelfSubjectRulesReview against what Coffer needs), CSI VolumeSnapshotClasses, the in-cluster API
(its Service's /healthz through the API server's service proxy, with its conditions), and — with a policy
repository (--source, $COFFER_SOURCE or .) — every profile's repository reachable and its key opening it.

One line per check; problems say how to fix them. Exit status: 0 ready, 1 a problem (warnings do not count).

Flags:
      --local              only this machine (what the demo and the sandbox need)
      --source URL|PATH    policy repository whose profiles are checked
      --kubeconfig FILE    kubeconfig (default $KUBECONFIG, ~/.kube/config)
      --context NAME       kubeconfig context
      --coffer-namespace NS  where Coffer runs and keeps its Secrets (default coffer-system)
      --api-service NAME[:PORT]  the Service of coffer run --listen in that namespace (default coffer)
  -o, --output FORMAT      text (default) or json
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { local: { type: 'boolean' }, source: { type: 'string' }, kubeconfig: { type: 'string' }, context: { type: 'string' }, 'coffer-namespace': { type: 'string' }, 'api-service': { type: 'string' }, output: { type: 'string', short: 'o', default: 'text' }, help: { type: 'boolean', short: 'h' } },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer doctor --help`);
  if (v.output !== 'text' && v.output !== 'json') throw new UsageError(`--output "${v.output}": expected text or json`);
  const findings: Finding[] = await localFindings(io.env);
  const write = (fs: Finding[]) => v.output === 'text' && io.stdout.write(formatFindings(fs));
  write(findings);
  if (!v.local) {
    const more = await clusterPart(v, io.env, io.cwd);
    write(more);
    findings.push(...more);
  }
  const bad = problems(findings);
  if (v.output === 'json') io.stdout.write(`${JSON.stringify({ ready: bad.length === 0, findings }, null, 2)}\n`);
  else io.stdout.write(bad.length ? `\n${bad.length} problem(s) to fix.\n` : '\nready.\n');
  return bad.length ? 1 : 0;
};

async function clusterPart(v: { source?: string; kubeconfig?: string; context?: string; 'coffer-namespace'?: string; 'api-service'?: string }, env: NodeJS.ProcessEnv, cwd: string): Promise<Finding[]> {
  const { KubeClient, loadKubeConfig } = await import('../reconciler/kube/client.ts');
  let client;
  try {
    client = new KubeClient(loadKubeConfig({ ...(v.kubeconfig ? { kubeconfigPath: v.kubeconfig } : {}), ...(v.context ? { context: v.context } : {}), env }));
  } catch (e) {
    return [{ check: 'kubeconfig', ok: false, detail: (e as Error).message, fix: 'export KUBECONFIG=…, or start a local cluster: coffer sandbox up -d' }];
  }
  const namespace = v['coffer-namespace'] ?? 'coffer-system';
  const { clusterFindings } = await import('./doctor/cluster.ts');
  const out = await clusterFindings(client, { namespace });
  if (!out[0]?.ok) return out;
  const { apiFindings } = await import('./doctor/api.ts');
  out.push(...(await apiFindings(client, { namespace, ...(v['api-service'] ? { service: v['api-service'] } : {}) })));
  const given = v.source ?? env.COFFER_SOURCE ?? (v.source === undefined ? cwd : undefined);
  try {
    const { openSource } = await import('../reconciler/git/source.ts');
    const { compileFromGit, hasErrors } = await import('../compiler/index.ts');
    const source = await openSource({ source: given!, env });
    const rev = await source.fetch();
    const compiled = await compileFromGit(rev.gitdir, rev.commit);
    if (!compiled.plan || hasErrors(compiled.diagnostics)) return [...out, { check: 'policies', ok: false, detail: `${source.location} at ${rev.commit.slice(0, 12)} does not compile`, fix: `coffer validate --ref ${rev.commit.slice(0, 12)}` }];
    const { profileFindings } = await import('./doctor/profiles.ts');
    return [...out, ...(await profileFindings(client, compiled.plan, { cofferNamespace: namespace, env }))];
  } catch (e) {
    // No policy repository here is normal on a laptop: profiles are simply not checked.
    return [...out, { check: 'profiles', ok: false, optional: true, detail: `not checked: ${(e as Error).message.split('\n')[0]}`, fix: 'pass --source with the policy repository' }];
  }
}
