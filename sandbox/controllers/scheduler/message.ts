/**
 * The FailedScheduling message, built as kube-scheduler's FitError.Error()
 * builds it (pkg/scheduler/framework/types.go) plus the DefaultPreemption
 * PostFilter's own summary (plugins/defaultpreemption): per-node reasons
 * counted and sorted as strings, e.g.
 * `0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't
 * match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3
 * Preemption is not helpful for scheduling.`
 */
import type { Rejection } from './types.ts';

export const PREEMPTION_NOT_HELPFUL = 'Preemption is not helpful for scheduling';
/** What preemption says when evicting lower-priority pods could help but none exists (all sandbox pods share priority 0). */
export const NO_VICTIMS = 'No preemption victims found for incoming pod';

function histogram(reasons: string[]): string {
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts].map(([r, n]) => `${n} ${r}`).sort().join(', ');
}

/**
 * `preFilter`: a pod-level reason (every node rejected for it); otherwise one
 * rejection per node.
 */
export function fitErrorMessage(numNodes: number, preFilter: string | undefined, rejections: Rejection[]): string {
  let msg = `0/${numNodes} nodes are available:`;
  if (preFilter !== undefined) msg += ` ${preFilter}.`;
  else if (rejections.length > 0) msg += ` ${histogram(rejections.map((r) => r.reason))}.`;
  const preemption = preFilter !== undefined ? Array.from({ length: numNodes }, () => PREEMPTION_NOT_HELPFUL) : rejections.map((r) => (r.unresolvable ? PREEMPTION_NOT_HELPFUL : NO_VICTIMS));
  if (preemption.length > 0) msg += ` preemption: 0/${numNodes} nodes are available: ${histogram(preemption)}.`;
  return msg;
}
