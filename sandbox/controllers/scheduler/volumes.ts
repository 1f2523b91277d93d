/**
 * Volume checks of the real scheduler, for the claims a pod mounts:
 * - PreFilter (whole pod, mirrors volumebinding/volume_binding.go podHasPVCs):
 *   a missing or deleting claim, an ephemeral claim not created yet, or an
 *   unbound claim keeps the pod off every node;
 * - ReadWriteOncePod (volumerestrictions/volume_restrictions.go): a claim with
 *   that mode already used by another pod blocks every node;
 * - PV node affinity (volumebinding/binder.go checkBoundClaims): a bound
 *   volume pinned to nodes (`spec.nodeAffinity.required`) admits only those;
 *   an unbound WaitForFirstConsumer claim fits any node until one is chosen
 *   for it (`volume.kubernetes.io/selected-node`).
 */
import type { KubeObject } from '../client.ts';
import { nodeSelectorMatches } from './nodeaffinity.ts';
import type { ClusterView, FilterResult } from './types.ts';

export const ERR_UNBOUND_IMMEDIATE = 'pod has unbound immediate PersistentVolumeClaims';
/** volumebinding.ErrReasonNodeConflict (1.32 wording; 1.33 says "didn't match PersistentVolume's node affinity"). */
export const ERR_VOLUME_NODE_CONFLICT = 'node(s) had volume node affinity conflict';
export const ERR_PV_NOT_EXIST = 'node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)';
export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
export const ERR_RWOP_CONFLICT = 'node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode';

/** The claim names a pod uses: PVC volumes, and `<pod>-<volume>` for generic ephemeral volumes. */
export function podClaims(pod: KubeObject): Array<{ name: string; ephemeral: boolean }> {
  const out: Array<{ name: string; ephemeral: boolean }> = [];
  for (const v of pod.spec?.volumes ?? []) {
    if (v.persistentVolumeClaim?.claimName) out.push({ name: v.persistentVolumeClaim.claimName, ephemeral: false });
    else if (v.ephemeral) out.push({ name: `${pod.metadata.name}-${v.name}`, ephemeral: true });
  }
  return out;
}

/** The pod-level verdict: a message for every node, or undefined when node filters can run. */
export function volumePreFilter(pod: KubeObject, view: ClusterView): string | undefined {
  const ns = pod.metadata.namespace!;
  let unbound = false;
  for (const c of podClaims(pod)) {
    const pvc = view.pvc(ns, c.name);
    if (!pvc) return c.ephemeral ? `waiting for ephemeral volume controller to create the persistentvolumeclaim "${c.name}"` : `persistentvolumeclaim "${c.name}" not found`;
    if (c.ephemeral && !pvc.metadata.ownerReferences?.some((r) => r.uid === pod.metadata.uid)) return `PVC ${ns}/${c.name} was not created for pod ${ns}/${pod.metadata.name} (pod is not owner)`;
    if (pvc.metadata.deletionTimestamp) return `persistentvolumeclaim "${c.name}" is being deleted`;
    if (!pvc.spec?.volumeName && !view.delayedBinding(pvc)) unbound = true;
  }
  return unbound ? ERR_UNBOUND_IMMEDIATE : undefined;
}

function podUsesClaim(pod: KubeObject, claim: string): boolean {
  return podClaims(pod).some((c) => c.name === claim);
}

/** ReadWriteOncePod: one pod in the whole cluster per claim. */
export function readWriteOncePodFilter(pod: KubeObject, view: ClusterView): FilterResult {
  const ns = pod.metadata.namespace!;
  for (const c of podClaims(pod)) {
    const pvc = view.pvc(ns, c.name);
    if (!(pvc?.spec?.accessModes ?? []).includes('ReadWriteOncePod')) continue;
    const other = view.placedPods().some((p) => p.metadata.uid !== pod.metadata.uid && p.metadata.namespace === ns && podUsesClaim(p, c.name));
    if (other) return { reason: ERR_RWOP_CONFLICT, unresolvable: false };
  }
  return undefined;
}

/** A bound volume's node affinity must admit the node. */
export function volumeBindingFilter(pod: KubeObject, node: KubeObject, view: ClusterView): FilterResult {
  const ns = pod.metadata.namespace!;
  for (const c of podClaims(pod)) {
    const pvc = view.pvc(ns, c.name);
    const name = pvc?.spec?.volumeName;
    const selected = pvc?.metadata.annotations?.[SELECTED_NODE];
    if (!name && selected && selected !== node.metadata.name) return { reason: ERR_VOLUME_NODE_CONFLICT, unresolvable: true };
    if (!name) continue;
    const pv = view.pv(name);
    if (!pv) return { reason: ERR_PV_NOT_EXIST, unresolvable: true };
    const required = pv.spec?.nodeAffinity?.required;
    if (required && !nodeSelectorMatches(required, node)) return { reason: ERR_VOLUME_NODE_CONFLICT, unresolvable: true };
  }
  return undefined;
}
