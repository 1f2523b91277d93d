import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from './args.ts';
import { parseGoDuration } from '../compiler/schedule/index.ts';
import { LeaseLock } from '../reconciler/lease/index.ts';
import { runLoop, type LoopOptions } from '../reconciler/loop.ts';
import { DEFAULT_COFFER_NAMESPACE } from '../reconciler/profile-repository.ts';
import type { ReconcileSummary } from '../reconciler/reconcile.ts';
import { complianceTimer, publishLatest } from '../reconciler/report/schedule.ts';
import { startServing, type Serving } from '../reconciler/server/serve.ts';
import { type Command, UsageError } from './io.ts';
import { eventPrinter, RECONCILER_FLAGS, RECONCILER_FLAGS_HELP, reconcilerContext } from './reconcile-flags.ts';

const HELP = `Keep the cluster's protection matching the policy repository: reconcile, sleep until the next backup is due
or the poll interval passes, repeat. Replicas coordinate through a Lease: one works, the others stand by.
SIGTERM or Ctrl-C stops taking new work and lets running backups finish until --shutdown-timeout; backups still
running then (or at a second signal) are interrupted and recorded as failed runs.

Usage: coffer run [flags]

Flags:
      --interval DURATION  poll interval for new policy commits (default: coffer.yaml sync.interval, else 5m)
      --identity NAME      this replica's Lease identity (default: $POD_NAME or hostname, plus a random suffix)
      --shutdown-timeout DURATION  how long running backups may go on after SIGTERM (default 5m)
      --leader-elect-lease-duration DURATION  how long a replica that stopped renewing the Lease (killed, cut off) keeps
                           it before another takes over; renewed every third of it (default 15s, as kube-controller-manager)
      --listen HOST:PORT   serve the dashboard at /, /metrics, /hooks/{github,gitlab,gitea,generic} and /api/v1/
                           (e.g. 127.0.0.1:8080)
      --webhook-secret-file FILE  webhook secret (default: $COFFER_WEBHOOK_SECRET; without one webhooks are refused)
      --api-tokens-file FILE      API bearer tokens, one "token,name,role" per line (role read or operate)
      --api-auth LIST      who may call /api/v1/: "tokens" (the token file), "kubernetes" (bearer tokens the cluster's
                           TokenReview accepts, each call checked with SubjectAccessReview; see reconciler/server/README.md)
                           (default: kubernetes, plus tokens when --api-tokens-file is given)
      --api-audience AUD   with kubernetes: a bearer token must be meant for AUD (repeatable; any one suffices), e.g.
                           minted with kubectl create token SA --audience AUD; sent in TokenReview spec.audiences and
                           checked in status.audiences (default: the API server's own audience)
${RECONCILER_FLAGS_HELP}`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...RECONCILER_FLAGS, interval: { type: 'string' }, identity: { type: 'string' }, listen: { type: 'string' }, 'shutdown-timeout': { type: 'string' }, 'leader-elect-lease-duration': { type: 'string' }, 'webhook-secret-file': { type: 'string' }, 'api-tokens-file': { type: 'string' }, 'api-auth': { type: 'string' }, 'api-audience': { type: 'string', multiple: true } },
  });
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; see coffer run --help`);
  let pollIntervalMs: number | undefined;
  if (v.interval !== undefined) {
    const s = parseGoDuration(v.interval);
    if (!s || s < 1) throw new UsageError(`--interval "${v.interval}": expected a duration of at least 1s such as 30s, 5m or 1h`);
    pollIntervalMs = s * 1000;
  }
  const shutdownS = v['shutdown-timeout'] === undefined ? 300 : parseGoDuration(v['shutdown-timeout']);
  if (shutdownS === undefined || shutdownS < 0) throw new UsageError(`--shutdown-timeout "${v['shutdown-timeout']}": expected a duration such as 30s, 5m or 0s`);
  const leaseFlag = v['leader-elect-lease-duration'];
  const leaseS = leaseFlag === undefined ? undefined : parseGoDuration(leaseFlag);
  if (leaseFlag !== undefined && !(leaseS !== undefined && leaseS >= 1)) throw new UsageError(`--leader-elect-lease-duration "${leaseFlag}": expected a duration of at least 1s such as 15s or 1m`);
  const apiAuth = new Set((v['api-auth'] ?? (v['api-tokens-file'] ? 'kubernetes,tokens' : 'kubernetes')).split(',').map((x) => x.trim()));
  for (const m of apiAuth) if (m !== 'tokens' && m !== 'kubernetes') throw new UsageError(`--api-auth "${v['api-auth']}": "${m}" is not one of tokens, kubernetes`);
  if (apiAuth.has('tokens') !== Boolean(v['api-tokens-file'])) throw new UsageError(apiAuth.has('tokens') ? '--api-auth tokens needs --api-tokens-file FILE' : '--api-tokens-file is given but --api-auth leaves out tokens');
  const audiences = v['api-audience'] ?? [];
  for (const a of audiences) if (!a.trim()) throw new UsageError('--api-audience: expected a non-empty audience, e.g. --api-audience coffer');
  if (audiences.length && !apiAuth.has('kubernetes')) throw new UsageError('--api-audience applies to Kubernetes tokens, but --api-auth leaves out kubernetes');
  if (audiences.length && !v.listen) throw new UsageError('--api-audience needs --listen (it applies to the API server)');
  // The source is opened without contacting it: a Git server refusing us is a /healthz condition, not an exit.
  const { 'api-audience': _a, ...scalar } = v;
  const ctx = await reconcilerContext(scalar, io, { lazySource: true });
  const identity = v.identity ?? `${io.env.POD_NAME ?? hostname()}-${randomBytes(3).toString('hex')}`;
  const lock = new LeaseLock({ kubeConfig: ctx.kubeConfig, namespace: ctx.cofferNamespace ?? DEFAULT_COFFER_NAMESPACE, identity, leaseDurationSeconds: leaseS });
  const stop = new AbortController();
  const interrupt = new AbortController();
  let serving: Serving | undefined;
  if (v.listen) {
    serving = await startServing({
      listen: v.listen,
      source: ctx.source,
      client: ctx.client,
      kubeConfig: ctx.kubeConfig,
      leaseNamespace: lock.namespace,
      identity,
      env: io.env,
      ...(v['webhook-secret-file'] ? { webhookSecretFile: v['webhook-secret-file'] } : {}),
      ...(v['api-tokens-file'] ? { apiTokensFile: v['api-tokens-file'] } : {}),
      kubernetesAuth: apiAuth.has('kubernetes'),
      ...(audiences.length ? { apiAudiences: audiences } : {}),
      reconcile: { ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}), ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}), ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}), ...(ctx.author ? { author: ctx.author } : {}) },
      log: (e) => io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`),
      stop: stop.signal,
      interrupt: interrupt.signal,
      // The shutdown deadline interrupts API jobs like the loop's backups; this is only the backstop.
      drainMs: shutdownS * 1000 + 60_000,
    });
  }
  let deadline: NodeJS.Timeout | undefined;
  const onSignal = () => {
    if (stop.signal.aborted) return interruptNow('a second signal arrived');
    io.stderr.write(`stopping: no new backups start; running ones may finish within ${v['shutdown-timeout'] ?? '5m'}\n`);
    stop.abort();
    deadline = setTimeout(() => interruptNow(`the shutdown timeout of ${v['shutdown-timeout'] ?? '5m'} passed`), shutdownS * 1000);
  };
  const interruptNow = (why: string) => {
    if (interrupt.signal.aborted) return;
    io.stderr.write(`stopping now: ${why}; running backups are interrupted and recorded as failed\n`);
    interrupt.abort(new Error(`interrupted: coffer run was stopping and ${why}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const print = eventPrinter(io, ctx.json);
  let follower = '';
  // Compliance is published at least every reports.interval and when an RPO turns into a miss, even if no reconcile
  // runs (a stale report would hide exactly that); only by the leader, from its latest reconcile.
  let latest: ReconcileSummary | undefined;
  const reportsTimer = complianceTimer({
    publish: publishLatest(() => latest),
    now: () => new Date(),
    intervalMs: () => (parseGoDuration(latest?.plan.config.reports.interval ?? '24h') ?? 86_400) * 1000,
    signal: stop.signal,
    onPublished: (r) => {
      serving?.metrics.observeCompliance(r.report);
      if (r.commit?.changed) io.stderr.write(`compliance committed: ${r.message?.split('\n')[0]}\n`);
    },
    onError: (e, retryMs) => io.stderr.write(`error: compliance report: ${(e as Error).message} (retrying in ${Math.round(retryMs / 1000)}s)\n`),
  });
  try {
    const loop: LoopOptions = {
      source: ctx.source,
      client: ctx.client,
      lock,
      signal: stop.signal,
      interrupt: interrupt.signal,
      env: io.env,
      log: print,
      ...(pollIntervalMs ? { pollIntervalMs } : {}),
      ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
      ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
      ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
      ...(ctx.author ? { author: ctx.author } : {}),
      onError: (e) => io.stderr.write(`error: ${(e as Error).message}\n`),
      onFollower: (holder) => {
        latest = undefined;
        if (holder !== follower) io.stderr.write(`standing by: ${holder} holds lease ${lock.namespace}/${lock.name}\n`);
        follower = holder;
      },
      onSummary: (s) => {
        latest = s;
        follower = '';
        for (const e of s.errors) io.stderr.write(`error: ${e}\n`);
      },
    };
    await runLoop(serving ? serving.loopOptions(loop) : loop);
  } finally {
    clearTimeout(deadline);
    stop.abort(); // also when runLoop threw: the reports timer must not keep the process alive
    await reportsTimer;
    await serving?.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  return 0;
};
