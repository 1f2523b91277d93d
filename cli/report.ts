import { parseArgs } from './args.ts';
import { CompileFailed, compileFromGit, hasErrors } from '../compiler/index.ts';
import { openCatalog } from '../reconciler/catalog/index.ts';
import { openSource } from '../reconciler/git/source.ts';
import { KubeClient, loadKubeConfig } from '../reconciler/kube/client.ts';
import { selectNamespaces } from '../reconciler/reconcile.ts';
import { computeCompliance, readCommittedReport, renderMarkdown, renderTable, type ComplianceReport } from '../reconciler/report/index.ts';
import { type Command, UsageError } from './io.ts';

const HELP = `Print the compliance report: for every protected namespace and policy, is the RPO met, did the last backup
succeed, is GFS retention honoured, did the last DR drill pass. The same report \`coffer run\` commits to
reports/compliance.json and reports/compliance.md on the catalog branch whenever it changes.

Usage: coffer report [flags]

Flags:
      --source URL|PATH    policy repository (default: $COFFER_SOURCE, else .)
      --branch NAME        policy branch (default: the repository's HEAD branch)
      --kubeconfig FILE    cluster credentials, to see which namespaces policies select now (default: $KUBECONFIG)
      --context NAME       kubeconfig context
      --offline            no cluster: evaluate the namespaces the catalog already holds backups for
      --committed          print the report last committed to the catalog branch instead of evaluating now
  -o, --output FORMAT      table (default), md, json or yaml
  -h, --help
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      source: { type: 'string' },
      branch: { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      offline: { type: 'boolean' },
      committed: { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer report --help`);
  const output = v.output ?? 'table';
  if (!['table', 'md', 'json', 'yaml'].includes(output)) throw new UsageError(`--output "${output}": expected table, md, json or yaml`);

  const given = v.source ?? io.env.COFFER_SOURCE ?? io.cwd;
  const source = await openSource({ source: /^[a-z][a-z0-9+.-]*:\/\//i.test(given) || given.startsWith('/') ? given : `${io.cwd}/${given}`, ...(v.branch ? { branch: v.branch } : {}), env: io.env });
  const rev = await source.fetch();
  const compiled = await compileFromGit(rev.gitdir, rev.commit);
  if (!compiled.plan || hasErrors(compiled.diagnostics)) throw new CompileFailed(compiled.diagnostics);
  const plan = compiled.plan;
  const catalog = openCatalog({ source, cluster: plan.config.cluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path });

  let report: ComplianceReport | undefined;
  if (v.committed) {
    report = await readCommittedReport(catalog, plan);
    if (!report) throw new UsageError(`no compliance report committed yet on branch ${catalog.branch}; run without --committed to evaluate now`);
  } else {
    let selected: Map<string, string[]>;
    if (v.offline) {
      selected = new Map();
      for (const l of await catalog.latestRuns()) selected.set(l.policy, [...new Set([...(selected.get(l.policy) ?? []), l.namespace])]);
    } else {
      const kubeConfig = loadKubeConfig({ ...(v.kubeconfig ? { kubeconfigPath: v.kubeconfig } : {}), ...(v.context ? { context: v.context } : {}), env: io.env });
      selected = await selectNamespaces(new KubeClient(kubeConfig), plan.policies);
    }
    report = await computeCompliance(catalog, plan, selected, new Date());
  }

  switch (output) {
    case 'json':
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      break;
    case 'yaml':
      io.stdout.write((await import('yaml')).stringify(report));
      break;
    case 'md':
      io.stdout.write(renderMarkdown(report));
      break;
    default:
      io.stdout.write(report.spec.results.length ? renderTable(report) : 'No protected namespaces: no policy selects any namespace.\n');
  }
  return 0;
};
