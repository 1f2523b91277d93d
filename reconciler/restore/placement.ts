/**
 * Where a restore mover may run. A new volume is bound to a node by its first user on clusters with node-local
 * storage (WaitForFirstConsumer classes, local-path provisioners): if the mover that fills it ran on a node the
 * workload cannot use, the restored pod would stay Pending with "volume node affinity conflict". So the mover takes
 * the node constraints — nodeSelector, node affinity, tolerations — of the restored pod template that mounts the claim.
 */
import type { KubeObject } from '../kube/types.ts';
import type { PodSpecLike } from '../volumes/identity.ts';

export interface PodPlacement {
  nodeSelector?: Record<string, string>;
  affinity?: { nodeAffinity: unknown };
  tolerations?: unknown[];
}

type PodSpec = { volumes?: Array<{ name?: string; persistentVolumeClaim?: { claimName?: string } }>; nodeSelector?: Record<string, string>; affinity?: { nodeAffinity?: unknown }; tolerations?: unknown[] };

function podSpecOf(o: KubeObject): PodSpec | undefined {
  const spec = (o as { spec?: any }).spec;
  if (o.kind === 'Pod') return spec;
  if (o.kind === 'CronJob') return spec?.jobTemplate?.spec?.template?.spec;
  return spec?.template?.spec;
}

/** Does this object's pods mount `claim` (directly, or as a StatefulSet's `<template>-<set>-<ordinal>` claim)? */
function mounts(o: KubeObject, spec: PodSpec, claim: string): boolean {
  if ((spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claim)) return true;
  if (o.kind !== 'StatefulSet') return false;
  const templates: Array<{ metadata?: { name?: string } }> = (o as { spec?: any }).spec?.volumeClaimTemplates ?? [];
  return templates.some((t) => t.metadata?.name && claim.startsWith(`${t.metadata.name}-${o.metadata.name}-`) && /^\d+$/.test(claim.slice(`${t.metadata.name}-${o.metadata.name}-`.length)));
}

/**
 * The first restored pod template in `namespace` that mounts `claim` (a StatefulSet's template mounts its claims by
 * template name, so the volume is renamed to the claim for `moverIdentity`); undefined when none does.
 */
export function claimPodSpec(namespace: string, claim: string, objects: KubeObject[]): (PodSpec & PodSpecLike) | undefined {
  for (const o of objects) {
    if (o.metadata.namespace !== namespace) continue;
    const spec = podSpecOf(o);
    if (!spec || !mounts(o, spec, claim)) continue;
    if ((spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claim)) return spec;
    const template = ((o as { spec?: any }).spec?.volumeClaimTemplates ?? []).find((t: { metadata?: { name?: string } }) => claim.startsWith(`${t.metadata?.name}-${o.metadata.name}-`));
    return { ...spec, volumes: [...(spec.volumes ?? []), { name: template?.metadata?.name, persistentVolumeClaim: { claimName: claim } }] };
  }
  return undefined;
}

/** The node constraints of the first restored pod template in `namespace` that mounts `claim`; undefined when none does or it has none. */
export function placementForClaim(namespace: string, claim: string, objects: KubeObject[]): PodPlacement | undefined {
  const spec = claimPodSpec(namespace, claim, objects);
  if (!spec) return undefined;
  const placement: PodPlacement = {
    ...(spec.nodeSelector && Object.keys(spec.nodeSelector).length ? { nodeSelector: spec.nodeSelector } : {}),
    ...(spec.affinity?.nodeAffinity ? { affinity: { nodeAffinity: spec.affinity.nodeAffinity } } : {}),
    ...(spec.tolerations?.length ? { tolerations: spec.tolerations } : {}),
  };
  return Object.keys(placement).length ? placement : undefined;
}
