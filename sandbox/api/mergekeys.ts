/**
 * The list semantics of built-in kinds that strategic merge patch and
 * server-side apply depend on (the `patchMergeKey` / `listType=map` tags of the
 * Go types). Keyed by field name with the parent's field name where the same
 * name means different things (Service ports vs container ports).
 */

export interface ListSemantics {
  /** `map`: items identified by keys; `set`: primitive items merged as a set; `atomic`: replaced whole. */
  type: 'map' | 'set' | 'atomic';
  /** Merge key for strategic merge patch (the first of `keys`). */
  keys: string[];
}

const BY_FIELD: Record<string, ListSemantics> = {
  containers: { type: 'map', keys: ['name'] },
  initContainers: { type: 'map', keys: ['name'] },
  ephemeralContainers: { type: 'map', keys: ['name'] },
  env: { type: 'map', keys: ['name'] },
  volumes: { type: 'map', keys: ['name'] },
  volumeMounts: { type: 'map', keys: ['mountPath'] },
  volumeDevices: { type: 'map', keys: ['devicePath'] },
  imagePullSecrets: { type: 'map', keys: ['name'] },
  hostAliases: { type: 'map', keys: ['ip'] },
  conditions: { type: 'map', keys: ['type'] },
  ownerReferences: { type: 'map', keys: ['uid'] },
  finalizers: { type: 'set', keys: [] },
  topologySpreadConstraints: { type: 'map', keys: ['topologyKey', 'whenUnsatisfiable'] },
  resourceClaims: { type: 'map', keys: ['name'] },
  schedulingGates: { type: 'map', keys: ['name'] },
  containerStatuses: { type: 'atomic', keys: [] },
};

/** Ports: containers key by containerPort, Services by port. */
function ports(item: unknown): ListSemantics {
  const first = Array.isArray(item) ? item[0] : undefined;
  if (first && typeof first === 'object' && 'containerPort' in first) return { type: 'map', keys: ['containerPort', 'protocol'] };
  return { type: 'map', keys: ['port', 'protocol'] };
}

/**
 * The list semantics at `field` (the list's own field name) for a built-in
 * kind; custom resources use their schema's x-kubernetes-list-type, and lists
 * nobody declared are atomic, as in Kubernetes.
 */
export function listSemantics(field: string, sample: unknown[], parentField?: string): ListSemantics {
  if (field === 'ports') return ports(sample);
  if (field === 'finalizers' && parentField === 'spec') return { type: 'atomic', keys: [] };
  return BY_FIELD[field] ?? { type: 'atomic', keys: [] };
}

/** Strategic merge patch merge key: the first key (SMP uses one key). */
export function smpMergeKey(field: string, sample: unknown[], parentField?: string): string | undefined {
  const s = listSemantics(field, sample, parentField);
  if (s.type === 'map') return s.keys[0];
  return undefined;
}
