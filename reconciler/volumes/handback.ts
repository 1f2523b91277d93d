/**
 * The restore side of keeping credentials home: a volume is filled in the mover namespace and then handed to the
 * target namespace, as Velero's CSI data mover restores. Kubernetes binds a PersistentVolume to exactly one claim
 * (`spec.claimRef`), so the hand-back is the documented static-binding recipe ("Persistent Volumes": Retain,
 * reserving a PersistentVolume): keep the volume (reclaim policy Retain), delete the mover's claim (the volume is
 * Released), point `claimRef` at the target claim without a uid (Available, reserved for it), and create that claim
 * with `spec.volumeName`; then the original reclaim policy goes back. The credentials never leave the mover namespace.
 */
import { isNotFound, type KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { waitFor } from '../kube/wait.ts';

/** Marks a volume between the two claims: its reclaim policy to put back (and the sweep's way to know it is ours). */
export const RECLAIM_ANNOTATION = 'coffer.dev/reclaim-policy';

export interface HandBackOptions<T> {
  /** The claim to create in the target namespace (as the restore plan has it). */
  claim: KubeObject;
  /** Where the mover runs, and the name of its claim there. */
  moverNamespace: string;
  name: string;
  labels: Record<string, string>;
  /** Fills the mover namespace's claim (runs the restore mover Job on it). */
  fill: (moverClaim: string) => Promise<T>;
  /** Creates the target claim (the restore's own create, with its retries and owners). */
  create?: (claim: KubeObject) => Promise<KubeObject>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The mover namespace's claim: the target claim's class, modes, volume mode and size, nothing else of it. */
export function stagingClaim(claim: KubeObject, namespace: string, name: string, labels: Record<string, string>): KubeObject {
  const spec = (claim.spec ?? {}) as { storageClassName?: string; accessModes?: string[]; volumeMode?: string; resources?: { requests?: { storage?: string } } };
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace, labels },
    spec: {
      ...(spec.storageClassName !== undefined ? { storageClassName: spec.storageClassName } : {}),
      accessModes: spec.accessModes?.length ? spec.accessModes : ['ReadWriteOnce'],
      ...(spec.volumeMode ? { volumeMode: spec.volumeMode } : {}),
      resources: { requests: { storage: spec.resources?.requests?.storage ?? '1Gi' } },
    },
  };
}

/** The target claim pre-bound to the filled volume: its class must equal the volume's for Kubernetes to bind them. */
export function boundClaim(claim: KubeObject, pv: KubeObject): KubeObject {
  const body = structuredClone(claim);
  const spec = (body.spec ?? {}) as Record<string, unknown>;
  delete spec.dataSource;
  delete spec.dataSourceRef;
  spec.volumeName = pv.metadata.name;
  spec.storageClassName = (pv.spec as { storageClassName?: string } | undefined)?.storageClassName ?? '';
  body.spec = spec;
  return body;
}

/**
 * Fills a volume in the mover namespace and binds it to `claim` in its namespace; returns what `fill` returned and the
 * created claim. On failure before the target claim exists, the filled volume is deleted with its original reclaim
 * policy (and a Coffer that died meanwhile leaves it labelled for the start-up sweep).
 */
export async function populateAndHandBack<T>(client: KubeClient, o: HandBackOptions<T>): Promise<{ result: T; claim: KubeObject }> {
  const ns = o.moverNamespace;
  const target = { namespace: o.claim.metadata.namespace!, name: o.claim.metadata.name };
  const wait = { timeoutMs: o.timeoutMs ?? 5 * 60_000, ...(o.signal ? { signal: o.signal } : {}) };
  await client.create('v1', 'persistentvolumeclaims', ns, stagingClaim(o.claim, ns, o.name, o.labels));
  let pvName: string | undefined;
  let policy = 'Delete';
  let handedBack = false;
  try {
    const result = await o.fill(o.name);
    pvName = ((await client.get('v1', 'persistentvolumeclaims', ns, o.name)).spec as { volumeName?: string } | undefined)?.volumeName;
    if (!pvName) throw new Error(`PersistentVolumeClaim ${ns}/${o.name} was filled but is not bound to a volume`);
    const pv = await client.get('v1', 'persistentvolumes', undefined, pvName);
    policy = ((pv.spec as { persistentVolumeReclaimPolicy?: string }).persistentVolumeReclaimPolicy ?? 'Delete');
    await client.mergePatch('v1', 'persistentvolumes', undefined, pvName, { metadata: { labels: o.labels, annotations: { [RECLAIM_ANNOTATION]: policy } }, spec: { persistentVolumeReclaimPolicy: 'Retain' } });
    await client.delete('v1', 'persistentvolumeclaims', ns, o.name);
    await waitFor(async () => ((await client.find('v1', 'persistentvolumeclaims', ns, o.name)) ? undefined : true), { ...wait, what: `PersistentVolumeClaim ${ns}/${o.name} to be deleted (its mover pod gone)` });
    await client.mergePatch('v1', 'persistentvolumes', undefined, pvName, { spec: { claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: target.namespace, name: target.name, uid: null, resourceVersion: null } } });
    const created = await (o.create ?? ((c: KubeObject) => client.create('v1', 'persistentvolumeclaims', target.namespace, c)))(boundClaim(o.claim, pv));
    handedBack = true;
    await waitFor(async () => ((await client.get('v1', 'persistentvolumeclaims', target.namespace, target.name)).status as { phase?: string } | undefined)?.phase === 'Bound' || undefined, {
      ...wait,
      what: `PersistentVolumeClaim ${target.namespace}/${target.name} to bind to volume ${pvName}`,
    });
    // The target claim owns the volume now: its lifecycle is the application's again.
    await client.mergePatch('v1', 'persistentvolumes', undefined, pvName, { metadata: { labels: Object.fromEntries(Object.keys(o.labels).map((k) => [k, null])), annotations: { [RECLAIM_ANNOTATION]: null } }, spec: { persistentVolumeReclaimPolicy: policy } });
    return { result, claim: created };
  } finally {
    if (!handedBack) {
      await client.delete('v1', 'persistentvolumeclaims', ns, o.name).catch(() => undefined);
      if (pvName) await discardVolume(client, pvName, policy);
    }
  }
}

/**
 * Deletes a volume Coffer holds between two claims, data included: its reclaim policy back (a real cluster's
 * provisioner deletes the storage of a deleted Delete-policy volume, HonorPVReclaimPolicy), then the object.
 */
export async function discardVolume(client: KubeClient, pvName: string, policy = 'Delete'): Promise<void> {
  await client.mergePatch('v1', 'persistentvolumes', undefined, pvName, { spec: { persistentVolumeReclaimPolicy: policy } }).catch((e) => {
    if (!isNotFound(e)) throw e;
  });
  await client.delete('v1', 'persistentvolumes', undefined, pvName);
}
