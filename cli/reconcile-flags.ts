import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, loadKubeConfig } from '../reconciler/kube/client.ts';
import { openSource, type GitSource } from '../reconciler/git/source.ts';
import type { ReconcileEvent, ReconcileSummary } from '../reconciler/reconcile.ts';
import { type CliIO, UsageError } from './io.ts';

/** Flags shared by the verbs that drive the reconciler (reconcile, backup, run), spelled like flux/velero. */
export const RECONCILER_FLAGS = {
  source: { type: 'string' },
  branch: { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'mover-image': { type: 'string' },
  'coffer-namespace': { type: 'string' },
  concurrency: { type: 'string' },
  author: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const RECONCILER_FLAGS_HELP = `  --source URL|PATH      policy repository: https://… (token in COFFER_GIT_TOKEN) or a local path (default: $COFFER_SOURCE, else .)
  --branch NAME          policy branch (default: coffer.yaml sync.branch, else the repository's HEAD branch)
  --kubeconfig FILE      cluster credentials (default: $KUBECONFIG, else ~/.kube/config)
  --context NAME         kubeconfig context
  --mover-image IMAGE    image of the data mover Jobs (default ghcr.io/coffer-dev/coffer:latest)
  --coffer-namespace NS  namespace of Coffer's Secrets and Lease (default coffer-system)
  --concurrency N        backup runs in flight at once (default: coffer.yaml concurrency.runs)
  --author "NAME <EMAIL>"  author of catalog commits (default: $COFFER_GIT_AUTHOR, else Coffer <coffer@localhost>)
  -o, --output FORMAT    text (default) or json (JSON lines)
`;

export interface ReconcilerContext {
  source: GitSource;
  client: KubeClient;
  kubeConfig: KubeConfig;
  json: boolean;
  concurrency?: number;
  moverImage?: string;
  cofferNamespace?: string;
  author?: { name: string; email: string };
}

export async function reconcilerContext(v: Record<string, string | boolean | undefined>, io: CliIO, opts: { lazySource?: boolean } = {}): Promise<ReconcilerContext> {
  const output = (v.output as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output "${output}": expected text or json`);
  let concurrency: number | undefined;
  if (v.concurrency !== undefined) {
    concurrency = Number(v.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency "${v.concurrency}": expected a positive integer`);
  }
  const authorText = (v.author as string | undefined) ?? io.env.COFFER_GIT_AUTHOR;
  let author: { name: string; email: string } | undefined;
  if (authorText !== undefined) {
    const m = /^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(authorText);
    if (!m) throw new UsageError(`--author "${authorText}": expected "Name <email@example.com>"`);
    author = { name: m[1]!, email: m[2]! };
  }
  const source = await openSource({
    source: (v.source as string | undefined) ?? io.env.COFFER_SOURCE ?? io.cwd,
    ...(v.branch ? { branch: v.branch as string } : {}),
    env: io.env,
    ...(opts.lazySource ? { lazy: true } : {}),
  });
  const kubeConfig = loadKubeConfig({
    ...(v.kubeconfig ? { kubeconfigPath: v.kubeconfig as string } : {}),
    ...(v.context ? { context: v.context as string } : {}),
    env: io.env,
  });
  return {
    source,
    client: new KubeClient(kubeConfig),
    kubeConfig,
    json: output === 'json',
    ...(concurrency ? { concurrency } : {}),
    ...(v['mover-image'] ? { moverImage: v['mover-image'] as string } : {}),
    ...(v['coffer-namespace'] ? { cofferNamespace: v['coffer-namespace'] as string } : {}),
    ...(author ? { author } : {}),
  };
}

/** One readable line per event, or structured JSON lines with -o json. */
export function eventPrinter(io: CliIO, json: boolean): (e: ReconcileEvent) => void {
  return (e) => {
    if (json) {
      io.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
      return;
    }
    switch (e.event) {
      case 'plan':
        io.stdout.write(`plan ${e.planHash.slice(0, 19)} from commit ${e.commit.slice(0, 12)} (${e.policies} policies)\n`);
        break;
      case 'due': {
        const due = e.pairs.filter((p) => p.due);
        io.stdout.write(due.length ? `${due.length} backup(s) due: ${due.map((p) => `${p.namespace}/${p.policy}`).join(', ')}\n` : 'nothing due\n');
        break;
      }
      case 'run-start':
        io.stdout.write(`→ backing up ${e.namespace}/${e.policy} (run ${e.run})\n`);
        break;
      case 'run-end':
        io.stdout.write(
          e.phase === 'Succeeded'
            ? `✓ ${e.namespace}/${e.policy}: restore point ${e.restorePoint} (${e.seconds}s)\n`
            : `✗ ${e.namespace}/${e.policy}: ${e.phase}: ${e.error ?? ''} (${e.seconds}s)\n`,
        );
        break;
      case 'expired':
        io.stdout.write(`retention: ${e.namespace}/${e.policy} expired ${e.restorePoints.join(', ')} (${e.snapshotsForgotten} repository snapshots forgotten)\n`);
        break;
      case 'restore-end':
        io.stdout.write(`${e.phase === 'Succeeded' ? '✓' : '✗'} restore ${e.restore}: ${e.phase}\n`);
        break;
      case 'pruned':
        io.stdout.write(`prune: ${e.profile}: ${e.packsDeleted} pack(s) deleted\n`);
        break;
      case 'log': {
        // Hook commands are often multi-line scripts: their first line says enough on a terminal.
        const [first, ...rest] = e.message.split('\n');
        io.stdout.write(`  ${first}${rest.some((l) => l.trim()) ? ' …' : ''}\n`);
        break;
      }
    }
  };
}

/** Exit status of a reconcile: non-zero when any run or housekeeping step failed, so cron and CI notice. */
export function summaryExitCode(s: ReconcileSummary, io: CliIO, json: boolean): number {
  const failed = [...s.runs.filter((r) => r.run.status.phase !== 'Succeeded'), ...s.restores.filter((r) => r.phase !== 'Succeeded')];
  for (const e of s.errors) io.stderr.write(`error: ${e}\n`);
  if (json) {
    io.stdout.write(
      `${JSON.stringify({
        event: 'summary',
        commit: s.commit,
        planHash: s.plan.hash,
        runs: s.runs.map((r) => ({ policy: r.run.spec.policy, namespace: r.run.spec.namespace, phase: r.run.status.phase, restorePoint: r.restorePoint?.metadata.name, error: r.run.status.error })),
        restores: s.restores.map((r) => ({ restore: r.restore, phase: r.phase })),
        expired: s.expired,
        errors: s.errors,
      })}\n`,
    );
  } else {
    io.stdout.write(`${s.runs.length + s.restores.length - failed.length} succeeded, ${failed.length} failed${s.expired.length ? `, ${s.expired.reduce((n, e) => n + e.restorePoints.length, 0)} restore point(s) expired` : ''}\n`);
  }
  return failed.length || s.errors.length ? 1 : 0;
}
