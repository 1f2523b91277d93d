import { nextRun, previousSlot } from '../../compiler/schedule/index.ts';
import type { Plan } from '../../compiler/plan/types.ts';

/** The newest verification of one (policy, namespace), as far as scheduling needs it. */
export interface LastVerification {
  policy: string;
  namespace: string;
  name: string;
  startTime: string;
  phase: 'Succeeded' | 'Failed';
}

/**
 * Why a pair is or is not due for verification:
 * - never-verified: it has a restore point and was never verified; due at once.
 * - scheduled: the verify schedule's latest slot has no verification yet; due (once, however many slots passed).
 * - up-to-date: the latest slot was served (a failed verification counts: it is not retried before the next slot,
 *   because each one restores a whole copy of the application).
 * - no-restore-point: nothing to restore yet.
 * - paused: the policy is paused.
 */
export type VerifyDueReason = 'never-verified' | 'scheduled' | 'up-to-date' | 'no-restore-point' | 'paused';

export interface VerifyPair {
  policy: string;
  namespace: string;
  due: boolean;
  reason: VerifyDueReason;
  /** The slot a due verification serves (its `scheduledFor`). */
  slot?: Date;
  /** When the pair is next due (undefined when paused or without a restore point). */
  nextDue?: Date;
  /** Due pairs only: the verify schedule's next slot, when the pair is due again once this pass verified it. */
  thenDue?: Date;
}

export interface VerifyDueInput {
  plan: Pick<Plan, 'policies'>;
  /** Namespaces each policy selects now, by policy name. */
  selected: ReadonlyMap<string, readonly string[]>;
  /** Pairs (`policy\0namespace`) with at least one successful restore point. */
  restorable: ReadonlySet<string>;
  last: readonly LastVerification[];
  now: Date;
}

export const pairKey = (policy: string, namespace: string): string => `${policy}\u0000${namespace}`;

/**
 * Which (policy, namespace) pairs of policies with `spec.verify` are due for a restore verification at `now`. Pure:
 * the clock, the newest verification per pair and which pairs have a restore point are arguments. Due pairs first,
 * oldest slot first.
 */
export function verificationsDue(input: VerifyDueInput): VerifyPair[] {
  const last = new Map(input.last.map((l) => [pairKey(l.policy, l.namespace), l]));
  const out: VerifyPair[] = [];
  for (const policy of [...input.plan.policies].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!policy.verify) continue;
    const schedule = policy.verify.schedule;
    for (const namespace of [...new Set(input.selected.get(policy.name) ?? [])].sort()) {
      const base = { policy: policy.name, namespace, due: false };
      if (policy.paused) {
        out.push({ ...base, reason: 'paused' });
        continue;
      }
      if (!input.restorable.has(pairKey(policy.name, namespace))) {
        out.push({ ...base, reason: 'no-restore-point' });
        continue;
      }
      const prev = last.get(pairKey(policy.name, namespace));
      const slot = previousSlot(schedule, input.now);
      const next = nextRun(schedule, input.now);
      if (!prev) {
        out.push({ ...base, due: true, reason: 'never-verified', ...(slot ? { slot } : {}), nextDue: input.now, thenDue: next });
      } else if (slot && Date.parse(prev.startTime) < slot.getTime()) {
        out.push({ ...base, due: true, reason: 'scheduled', slot, nextDue: input.now, thenDue: next });
      } else {
        out.push({ ...base, reason: 'up-to-date', ...(slot ? { slot } : {}), nextDue: next });
      }
    }
  }
  return out.sort((a, b) => Number(b.due) - Number(a.due) || (a.slot?.getTime() ?? 0) - (b.slot?.getTime() ?? 0) || a.policy.localeCompare(b.policy) || a.namespace.localeCompare(b.namespace));
}
