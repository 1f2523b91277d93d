import { parseGoDuration } from '../compiler/schedule/index.ts';
import type { LeaseLock } from './lease/index.ts';
import { reconcileOnce, withLease, type ReconcileOptions, type ReconcileSummary } from './reconcile.ts';
import { nextWakeup } from './schedule/due.ts';
import { sleepUnlessWoken } from './sleep.ts';
import { DEFAULT_COFFER_NAMESPACE } from './profile-repository.ts';
import { EventRecorder, findInvolvedObject, namespaceReference } from './kube/events.ts';
import { sweepOnAcquire, type SweepResult } from './volumes/sweep.ts';

export interface LoopOptions extends Omit<ReconcileOptions, 'signal' | 'only'> {
  lock: LeaseLock;
  /** Stops the loop: no new run starts; the current reconcile finishes its running backups (unless `interrupt`). */
  signal: AbortSignal;
  /** Aborts the running backups too (the shutdown deadline passed): they are recorded as failed runs. */
  interrupt?: AbortSignal;
  /** Longest sleep between reconciles, so policy commits are picked up (default: coffer.yaml sync.interval, else 5m). */
  pollIntervalMs?: number;
  /** How often a follower retries the lease (default 5 s). */
  followerRetryMs?: number;
  onSummary?: (s: ReconcileSummary) => void;
  onError?: (e: unknown) => void;
  onFollower?: (holder: string) => void;
  /** Resolves early when something (a webhook, a poll that saw a new commit) asks for a reconcile now. */
  wake?: () => Promise<void>;
  /** Every start-up sweep's result (the `coffer_sweep_*` metrics). */
  onSweep?: (r: SweepResult) => void;
}

/**
 * How long the loop sleeps after a pass: until `next` (the earliest backup or verification slot of any pair, see
 * `nextWakeup`), but never longer than the poll interval, which gets ±10% jitter (`random` in [0, 1)) so many Coffers
 * watching one Git server spread out — a due slot is kept exactly. At least 1 s. Pure: the clock and the dice are
 * arguments.
 */
export function sleepAfterPass(o: { next: Date | undefined; now: Date; intervalMs: number; random: number }): number {
  const untilDue = o.next ? o.next.getTime() - o.now.getTime() : Infinity;
  return Math.max(1000, Math.min(untilDue, o.intervalMs * (0.9 + o.random / 5)));
}

/**
 * `coffer run`: reconcile, sleep until the earliest of the next due slot and the poll interval, repeat — only while
 * holding the reconciler Lease, so a second replica waits as a hot standby. Errors (Git unreachable, an invalid
 * commit) are reported and retried with backoff instead of ending the loop: the last good schedule keeps being served
 * by the next successful reconcile.
 */
export async function runLoop(opts: LoopOptions): Promise<void> {
  let failures = 0;
  // On start-up and whenever the Lease comes back after another holder had it: remove what interrupted runs left.
  let sweepDue = true;
  const moverNamespace = opts.cofferNamespace ?? DEFAULT_COFFER_NAMESPACE;
  // The sweep's Events are about Coffer's Deployment (or Pod) like its other Events; outside a pod, the mover namespace.
  const sweepEvents = new EventRecorder({
    client: opts.client,
    object: async () => (await findInvolvedObject(opts.client, opts.env ?? process.env)) ?? namespaceReference(opts.client, moverNamespace),
    component: 'coffer',
    instance: opts.lock.identity,
    ...(opts.now ? { now: opts.now } : {}),
    log: (e) => opts.log?.({ event: 'log', message: String(e.message) }),
  });
  while (!opts.signal.aborted) {
    let sleepMs = opts.pollIntervalMs ?? 5 * 60_000;
    try {
      const r = await withLease(opts.lock, async (lost) => {
        if (sweepDue) {
          sweepDue = false;
          await sweepOnAcquire(opts.client, { namespace: moverNamespace, events: sweepEvents, log: (message) => opts.log?.({ event: 'log', message }), ...(opts.onSweep ? { onSweep: opts.onSweep } : {}) });
        }
        const signal = AbortSignal.any([opts.signal, lost]);
        const interrupt = opts.interrupt ? AbortSignal.any([opts.interrupt, lost]) : lost;
        return reconcileOnce({ ...opts, signal, interrupt });
      });
      if (r.held) {
        failures = 0;
        opts.onSummary?.(r.value);
        sleepMs = sleepAfterPass({
          next: nextWakeup([...r.value.due, ...r.value.verifyPairs]),
          now: (opts.now ?? (() => new Date()))(),
          intervalMs: opts.pollIntervalMs ?? (parseGoDuration(r.value.plan.config.sync.interval) ?? 300) * 1000,
          random: Math.random(),
        });
      } else {
        sweepDue = true;
        opts.onFollower?.(r.holder);
        sleepMs = opts.followerRetryMs ?? 5000;
      }
    } catch (e) {
      failures++;
      opts.onError?.(e);
      // 2 s, 4 s, … capped at the poll interval, with jitter so replicas do not retry in lockstep.
      sleepMs = Math.min(sleepMs, 1000 * 2 ** Math.min(failures, 8)) * (0.5 + Math.random() / 2);
    }
    await sleepUnlessWoken(sleepMs, opts.signal, opts.wake);
  }
}
