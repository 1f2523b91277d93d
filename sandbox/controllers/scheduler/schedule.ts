/**
 * One scheduling cycle, pure: run the filters in the real scheduler's order on
 * every node (the first rejection per node counts, as in the framework), score
 * the nodes that pass, pick the best (ties: the first by name, so placement is
 * reproducible), or explain why none fits.
 */
import type { KubeObject } from '../client.ts';
import { controllerRef } from '../workload.ts';
import { fitErrorMessage } from './message.ts';
import { nodeAffinityFilter, preferredAffinityScore } from './nodeaffinity.ts';
import { nodeUnschedulableFilter } from './nodeunschedulable.ts';
import { intolerablePreferNoSchedule, taintTolerationFilter } from './tainttoleration.ts';
import type { ClusterView, FilterResult, Rejection } from './types.ts';
import { readWriteOncePodFilter, volumeBindingFilter, volumePreFilter } from './volumes.ts';

/** kube-scheduler's ErrNoNodesAvailable. */
export const ERR_NO_NODES = 'no nodes available to schedule pods';

type Filter = (pod: KubeObject, node: KubeObject, view: ClusterView) => FilterResult;

/** Default-profile order: NodeUnschedulable, TaintToleration, NodeAffinity, VolumeRestrictions, VolumeBinding. */
export const FILTERS: ReadonlyArray<[string, Filter]> = [
  ['NodeUnschedulable', nodeUnschedulableFilter],
  ['TaintToleration', taintTolerationFilter],
  ['NodeAffinity', nodeAffinityFilter],
  ['VolumeRestrictions', (pod, _node, view) => readWriteOncePodFilter(pod, view)],
  ['VolumeBinding', volumeBindingFilter],
];

export type Decision = { node: string; scores: Record<string, number> } | { node?: undefined; message: string };

/** Scales raw scores to 0..100 (reverse: fewer is better), as the framework's DefaultNormalizeScore does. */
function normalize(raw: number[], reverse: boolean): number[] {
  const max = Math.max(0, ...raw);
  return raw.map((r) => {
    if (max === 0) return reverse ? 100 : 0;
    const s = Math.floor((100 * r) / max);
    return reverse ? 100 - s : s;
  });
}

export function schedule(pod: KubeObject, nodes: KubeObject[], view: ClusterView): Decision {
  if (nodes.length === 0) return { message: ERR_NO_NODES };
  const sorted = [...nodes].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  const pre = volumePreFilter(pod, view);
  if (pre !== undefined) return { message: fitErrorMessage(nodes.length, pre, []) };
  const rejections: Rejection[] = [];
  const feasible: KubeObject[] = [];
  for (const node of sorted) {
    let rejected: Rejection | undefined;
    for (const [, f] of FILTERS) if ((rejected = f(pod, node, view))) break;
    if (rejected) rejections.push(rejected);
    else feasible.push(node);
  }
  if (feasible.length === 0) return { message: fitErrorMessage(nodes.length, undefined, rejections) };

  // Scores with the default plugin weights: TaintToleration 3, NodeAffinity 2, spreading 2 (+1 for total load).
  const owner = controllerRef(pod)?.uid;
  const placed = view.placedPods();
  const onNode = (n: KubeObject, sameOwner: boolean) => placed.filter((p) => p.spec?.nodeName === n.metadata.name && (!sameOwner || (owner !== undefined && controllerRef(p)?.uid === owner))).length;
  const taint = normalize(feasible.map((n) => intolerablePreferNoSchedule(pod, n)), true);
  const affinity = normalize(feasible.map((n) => preferredAffinityScore(pod, n)), false);
  const spread = normalize(feasible.map((n) => onNode(n, true)), true);
  const load = normalize(feasible.map((n) => onNode(n, false)), true);
  const scores: Record<string, number> = {};
  let best = 0;
  feasible.forEach((n, i) => {
    scores[n.metadata.name!] = 3 * taint[i]! + 2 * affinity[i]! + 2 * spread[i]! + load[i]!;
    if (scores[n.metadata.name!]! > scores[feasible[best]!.metadata.name!]!) best = i;
  });
  return { node: feasible[best]!.metadata.name!, scores };
}
