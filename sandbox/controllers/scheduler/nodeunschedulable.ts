/**
 * A cordoned node (`spec.unschedulable`, what `kubectl cordon` sets) takes no
 * new pods unless they tolerate `node.kubernetes.io/unschedulable:NoSchedule`
 * (DaemonSet pods do). Mirrors kube-scheduler
 * pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable.go.
 */
import type { KubeObject } from '../client.ts';
import { tolerates } from './tainttoleration.ts';
import type { FilterResult, Taint, Toleration } from './types.ts';

export const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };
/** nodeunschedulable.ErrReasonUnschedulable. */
export const ERR_UNSCHEDULABLE = 'node(s) were unschedulable';

export function nodeUnschedulableFilter(pod: KubeObject, node: KubeObject): FilterResult {
  if (!node.spec?.unschedulable) return undefined;
  if ((pod.spec?.tolerations ?? []).some((t: Toleration) => tolerates(t, UNSCHEDULABLE_TAINT))) return undefined;
  return { reason: ERR_UNSCHEDULABLE, unresolvable: true };
}
