import { inWindow, nextRun, nextWindowOpen, previousSlot, type Schedule } from '../../compiler/schedule/index.ts';
import type { Plan, PlanPolicy, PlanSchedule } from '../../compiler/plan/types.ts';
import type { LastRun } from '../catalog/types.ts';

/**
 * Why a (policy, namespace) pair is or is not due:
 * - never-run: no run recorded yet; due at once (within the window).
 * - scheduled: the latest slot has not been served; due.
 * - catch-up: more than one slot passed since the last run (Coffer was down); due once, for the latest slot only.
 * - retry: the latest slot's run failed and `retryFailedAfterSeconds` has passed; due.
 * - up-to-date: the latest slot has a run; waits for the next slot.
 * - retry-wait: the latest slot's run failed; waits for the retry delay (or the next slot, whichever is first).
 * - outside-window: work is owed but the backup window is closed; waits for it to open.
 * - busy: a run for this namespace is in flight (one at a time per namespace).
 * - paused: the policy is paused.
 */
export type DueReason = 'never-run' | 'scheduled' | 'catch-up' | 'retry' | 'up-to-date' | 'retry-wait' | 'outside-window' | 'busy' | 'paused';

export interface DuePair {
  policy: string;
  namespace: string;
  due: boolean;
  reason: DueReason;
  /** The slot a due run serves (record it as the run's `scheduledFor`); for waiting pairs, the slot already served. */
  slot?: Date;
  /** When this pair next needs attention (the scheduler's wake-up time); `now` when due; undefined when paused. */
  nextDue?: Date;
  /** Due pairs only: when the pair is next due once this pass has served it (the schedule's next slot). */
  thenDue?: Date;
  /** The run the decision was based on. */
  lastRun?: string;
}

export interface DueInput {
  plan: Pick<Plan, 'policies'>;
  /** Namespaces each policy's selector currently matches (from discovery), by policy name. */
  selected: ReadonlyMap<string, readonly string[]> | Readonly<Record<string, readonly string[]>>;
  /** Latest run per (policy, namespace), from `Catalog.latestRuns()`. */
  lastRuns: readonly LastRun[];
  now: Date;
  /** Pairs with a run in flight; any pair of the same namespace waits. */
  inFlight?: ReadonlyArray<{ policy: string; namespace: string }>;
  /** Delay before a failed slot is retried (default 900 s); 0 retries at once, Infinity never (wait for the next slot). */
  retryFailedAfterSeconds?: number;
}

/** The compiler's plan schedule is a `Schedule` (plain JSON that survives the plan's round trip). */
export function scheduleOf(s: PlanSchedule): Schedule {
  return s;
}

/**
 * Which (policy, namespace) pairs are due at `now`, and when every other pair next needs attention. Pure: the clock,
 * the catalog's latest runs and the selected namespaces are arguments. A pair is due when no run started at or after
 * its latest schedule slot, so however many slots were missed while Coffer was down, the pair runs once (for the latest
 * slot). Due pairs come first, oldest slot first, so a backlog drains fairly.
 */
export function duePairs(input: DueInput): DuePair[] {
  const retryAfterMs = (input.retryFailedAfterSeconds ?? 900) * 1000;
  const last = new Map<string, LastRun>();
  for (const r of input.lastRuns) last.set(key(r.policy, r.namespace), r);
  const busy = new Set((input.inFlight ?? []).map((p) => p.namespace));
  const selected: ReadonlyMap<string, readonly string[]> =
    input.selected instanceof Map ? input.selected : new Map(Object.entries(input.selected as Readonly<Record<string, readonly string[]>>));
  const out: DuePair[] = [];
  for (const policy of [...input.plan.policies].sort((a, b) => a.name.localeCompare(b.name))) {
    const namespaces = [...new Set(selected.get(policy.name) ?? [])].sort();
    for (const namespace of namespaces) out.push(decide(policy, namespace, last.get(key(policy.name, namespace)), input.now, busy.has(namespace), retryAfterMs));
  }
  return out.sort(
    (a, b) =>
      Number(b.due) - Number(a.due) ||
      (a.due ? (a.slot?.getTime() ?? 0) - (b.slot?.getTime() ?? 0) : 0) ||
      a.policy.localeCompare(b.policy) ||
      a.namespace.localeCompare(b.namespace),
  );
}

/** What the wake-up needs of a backup pair (`DuePair`) or a verification pair (`verify/due.ts` `VerifyPair`). */
export interface WakePair {
  due: boolean;
  nextDue?: Date;
  thenDue?: Date;
}

/**
 * The earliest time any pair needs attention after this pass: when a scheduler loop should wake up next. A waiting
 * pair counts with `nextDue`; a due pair — served by the pass that asked — with its following slot (`thenDue`), so a
 * loop whose only pair just ran still wakes for that pair's next slot rather than at the poll interval.
 */
export function nextWakeup(pairs: readonly WakePair[]): Date | undefined {
  let best: number | undefined;
  for (const p of pairs) {
    const at = p.due ? p.thenDue : p.nextDue;
    if (at && (best === undefined || at.getTime() < best)) best = at.getTime();
  }
  return best === undefined ? undefined : new Date(best);
}

function key(policy: string, namespace: string): string {
  return `${policy}\u0000${namespace}`;
}

function decide(policy: PlanPolicy, namespace: string, last: LastRun | undefined, now: Date, busy: boolean, retryAfterMs: number): DuePair {
  const base: DuePair = { policy: policy.name, namespace, due: false, reason: 'paused' };
  if (last) base.lastRun = last.run;
  if (policy.paused) return base;
  const schedule = scheduleOf(policy.schedule);
  const window = policy.schedule.window;
  const tz = policy.schedule.timezone;
  const slot = previousSlot(schedule, now);
  const lastStart = last ? Date.parse(last.startTime) : undefined;
  const served = slot !== undefined && lastStart !== undefined && lastStart >= slot.getTime();
  /** When the pair can next start: `at`, pushed to the window's next opening. */
  const openAt = (at: Date): Date => (window ? nextWindowOpen(window, at, tz) : at);

  let reason: DueReason;
  if (slot === undefined) {
    return { ...base, reason: 'up-to-date', nextDue: openAt(nextRun(schedule, now)) };
  } else if (!last) {
    reason = 'never-run';
  } else if (!served) {
    const before = previousSlot(schedule, new Date(slot.getTime() - 1));
    reason = before !== undefined && lastStart! < before.getTime() ? 'catch-up' : 'scheduled';
  } else if (last.phase === 'Failed' && !(last.lastSuccessTime && Date.parse(last.lastSuccessTime) >= slot.getTime())) {
    const retryAt = Date.parse(last.endTime ?? last.startTime) + retryAfterMs;
    const next = nextRun(schedule, now);
    if (!Number.isFinite(retryAt) || retryAt >= next.getTime()) return { ...base, reason: 'up-to-date', slot, nextDue: openAt(next) };
    if (retryAt > now.getTime()) return { ...base, reason: 'retry-wait', slot, nextDue: openAt(new Date(retryAt)) };
    reason = 'retry';
  } else {
    return { ...base, reason: 'up-to-date', slot, nextDue: openAt(nextRun(schedule, now)) };
  }
  // Work is owed for `slot`.
  if (window && !inWindow(window, now, tz)) return { ...base, reason: 'outside-window', slot, nextDue: nextWindowOpen(window, now, tz) };
  if (busy) return { ...base, reason: 'busy', slot, nextDue: now };
  return { ...base, due: true, reason, slot, nextDue: now, thenDue: openAt(nextRun(schedule, now)) };
}
