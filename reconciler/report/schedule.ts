/**
 * Compliance on a timer, independent of reconciles. A report that is only written after reconciles goes stale exactly
 * when it matters: when nothing runs, no backup succeeds and the RPO is missed without anyone saying so. The timer
 * publishes at least every `reports.interval` (coffer.yaml, default 24h) and, more to the point, wakes just after
 * the moment a passing RPO would turn into a miss (and a miss into a critical one), so the commit
 * `compliance: shop/db RPO missed (last good 25h ago, RPO 24h)` lands within seconds of the miss, not up to a day later.
 * Publishing is idempotent (a commit only when an outcome changes), so a timer check right after a reconcile's own
 * publish costs a read and no commit.
 */
import type { Catalog } from '../catalog/index.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import type { DuePair } from '../schedule/due.ts';
import { sleepUnlessWoken } from '../sleep.ts';
import { publishCompliance, type PublishResult } from './publish.ts';
import type { ComplianceReport } from './types.ts';

export interface ComplianceTimerOptions {
  /** Evaluates and commits on change; `undefined` when there is nothing to evaluate yet (no plan compiled so far). */
  publish: (now: Date) => Promise<PublishResult | undefined>;
  now: () => Date;
  /** Longest time between two checks; a function so a new coffer.yaml `reports.interval` applies at the next wake. */
  intervalMs: number | (() => number);
  /** Stops the timer; a publish in progress finishes. */
  signal: AbortSignal;
  /** Waits `ms` or until `signal` aborts (default: a real timer); tests pass a virtual clock. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Wait before the first check (default 0: at start). */
  initialDelayMs?: number;
  /** First retry after a failed publish (doubling, capped at the interval; default 30 s); also the wait when publish had nothing to evaluate. */
  retryMs?: number;
  onPublished?: (r: PublishResult, at: Date) => void;
  onError?: (e: unknown, retryInMs: number) => void;
}

/** Resolves when `signal` aborts. Never throws: publish failures are reported through `onError` and retried with backoff. */
export async function complianceTimer(opts: ComplianceTimerOptions): Promise<void> {
  const sleep = opts.sleep ?? sleepUnlessWoken;
  const interval = () => Math.max(1000, typeof opts.intervalMs === 'function' ? opts.intervalMs() : opts.intervalMs);
  const retryMs = opts.retryMs ?? 30_000;
  let waitMs = opts.initialDelayMs ?? 0;
  let failures = 0;
  while (!opts.signal.aborted) {
    if (waitMs > 0) await sleep(waitMs, opts.signal);
    if (opts.signal.aborted) break;
    const at = opts.now();
    try {
      const r = await opts.publish(at);
      failures = 0;
      if (!r) {
        waitMs = Math.min(retryMs, interval());
        continue;
      }
      opts.onPublished?.(r, at);
      waitMs = Math.max(1000, nextComplianceCheck(r.report, at, interval()).getTime() - opts.now().getTime());
    } catch (e) {
      failures++;
      waitMs = Math.min(interval(), retryMs * 2 ** Math.min(failures - 1, 16));
      opts.onError?.(e, waitMs);
    }
  }
}

/**
 * When the next check is needed: the interval after this one, or just after the earliest moment a result of `report`
 * changes by the clock alone — an RPO that passes turns into a miss when its last good backup gets older than RPO +
 * grace, and a miss turns critical at twice that. Other rules change only when the catalog does (a backup, a drill,
 * retention), which a reconcile publishes itself. Pure.
 */
export function nextComplianceCheck(report: ComplianceReport, checkedAt: Date, intervalMs: number): Date {
  let next = checkedAt.getTime() + intervalMs;
  for (const r of report.spec.results) {
    if (r.rule !== 'rpo' || (r.result !== 'pass' && r.result !== 'fail')) continue;
    const last = Date.parse(r.properties.lastSuccess ?? '');
    const rpo = seconds(r.properties.rpo);
    const grace = seconds(r.properties.grace);
    if (!Number.isFinite(last) || rpo === undefined || grace === undefined) continue;
    const limit = (rpo + grace) * 1000;
    // The rule compares whole seconds with `>`: one second past the limit is the first instant it flips.
    for (const flip of [last + limit + 1000, last + 2 * limit + 1000]) {
      if (flip > checkedAt.getTime() && flip < next) next = flip;
    }
  }
  return new Date(next);
}

/** `publish` for the timer from the latest reconcile (plan, catalog, and the pairs its selectors matched). */
export function publishLatest(latest: () => { plan: Plan; catalog: Catalog; due: readonly Pick<DuePair, 'policy' | 'namespace'>[] } | undefined): (now: Date) => Promise<PublishResult | undefined> {
  return async (now) => {
    const s = latest();
    if (!s) return undefined;
    const selected = new Map<string, string[]>();
    for (const d of s.due) selected.set(d.policy, [...(selected.get(d.policy) ?? []), d.namespace]);
    return publishCompliance({ catalog: s.catalog, plan: s.plan, selected, now });
  };
}

function seconds(v: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(v ?? '');
  return m ? Number(m[1]) : undefined;
}

