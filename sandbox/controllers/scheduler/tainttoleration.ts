/**
 * Taints and tolerations (mirrors kube-scheduler
 * pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go and
 * core/v1 Toleration.ToleratesTaint): a NoSchedule or NoExecute taint the pod
 * does not tolerate rejects the node; untolerated PreferNoSchedule taints
 * only lower its score.
 */
import type { KubeObject } from '../client.ts';
import type { FilterResult, Taint, Toleration } from './types.ts';

/** An empty key with operator Exists tolerates everything; an empty effect matches every effect. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (!t.key && t.operator !== 'Exists') return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

export function untoleratedTaint(taints: Taint[], tolerations: Toleration[], effects: string[]): Taint | undefined {
  return taints.find((taint) => effects.includes(taint.effect) && !tolerations.some((t) => tolerates(t, taint)));
}

/** The 1.32 wording (1.34 shortened it to `node(s) had untolerated taint(s)`). */
export function taintReason(taint: Taint): string {
  return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
}

export function taintTolerationFilter(pod: KubeObject, node: KubeObject): FilterResult {
  const taint = untoleratedTaint(node.spec?.taints ?? [], pod.spec?.tolerations ?? [], ['NoSchedule', 'NoExecute']);
  return taint ? { reason: taintReason(taint), unresolvable: true } : undefined;
}

/** How many PreferNoSchedule taints the pod does not tolerate (fewer is better). */
export function intolerablePreferNoSchedule(pod: KubeObject, node: KubeObject): number {
  const tolerations: Toleration[] = (pod.spec?.tolerations ?? []).filter((t: Toleration) => !t.effect || t.effect === 'PreferNoSchedule');
  return (node.spec?.taints ?? []).filter((taint: Taint) => taint.effect === 'PreferNoSchedule' && !tolerations.some((t) => tolerates(t, taint))).length;
}
