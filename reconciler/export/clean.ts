import type { KubeObject, OwnerReference } from '../kube/types.ts';
import { isServiceAccountToken } from './exclusions.ts';

/** Metadata the API server sets; a restore must not send it (uid, resourceVersion) or it is meaningless elsewhere. */
const SERVER_SET_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'];

/** Annotations written by controllers, not by users; stale on any other cluster. */
const CONTROLLER_ANNOTATIONS = [
  'deployment.kubernetes.io/revision',
  'pv.kubernetes.io/bind-completed',
  'pv.kubernetes.io/bound-by-controller',
  'pv.kubernetes.io/provisioned-by',
  'volume.beta.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/selected-node',
  'kubernetes.io/legacy-token-last-used',
  'control-plane.alpha.kubernetes.io/leader',
];

/** Labels the Job controller stamps on a Job and its template (rejected if replayed with another uid). */
const JOB_GENERATED_LABELS = ['controller-uid', 'batch.kubernetes.io/controller-uid', 'job-name', 'batch.kubernetes.io/job-name'];

/** Where an object's owner references are kept (without uids) so a restore can re-link owners it recreates. */
export const OWNER_REFERENCES_ANNOTATION = 'coffer.dev/owner-references';

/**
 * A manifest as a restore needs it: desired state only. Pure; the input is not modified.
 *
 * Decisions:
 * - `status` is dropped for every kind (controllers rebuild it; CRs with a status subresource ignore it on create).
 * - `kubectl.kubernetes.io/last-applied-configuration` is KEPT: it lets `kubectl apply` keep three-way merging after a
 *   restore. It may contain Secret data, which is fine here: the cleaned bundle only goes to the encrypted repository.
 * - ownerReferences are moved into the `coffer.dev/owner-references` annotation without uids: replaying a reference to
 *   an owner uid that does not exist would make the garbage collector delete the restored object.
 * - Service clusterIP(s) are dropped unless headless (`None`), PV claimRef uid/resourceVersion and Pod nodeName are
 *   dropped, projected `kube-api-access-*` token volumes are dropped (admission re-injects them), ServiceAccount token
 *   Secrets lose their token data (the token controller issues a fresh one), Jobs lose generated selectors/labels.
 */
export function cleanManifest(input: KubeObject): KubeObject {
  const obj = structuredClone(input) as KubeObject;
  delete obj.status;
  const md = obj.metadata;
  for (const k of SERVER_SET_METADATA) delete md[k];
  if (md.annotations) {
    for (const k of CONTROLLER_ANNOTATIONS) delete md.annotations[k];
  }
  if (md.ownerReferences?.length) {
    const refs = md.ownerReferences.map(({ apiVersion, kind, name, controller }: OwnerReference) => ({ apiVersion, kind, name, ...(controller ? { controller } : {}) }));
    md.annotations = { ...(md.annotations ?? {}), [OWNER_REFERENCES_ANNOTATION]: JSON.stringify(refs) };
    delete md.ownerReferences;
  }
  // The API server sets this label to the namespace's name: under a namespace mapping the old value would be wrong.
  if (obj.kind === 'Namespace' && obj.apiVersion === 'v1' && md.labels) delete md.labels['kubernetes.io/metadata.name'];
  if (md.annotations && Object.keys(md.annotations).length === 0) delete md.annotations;
  if (md.labels && Object.keys(md.labels).length === 0) delete md.labels;
  if (md.finalizers && md.finalizers.length === 0) delete md.finalizers;

  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (group === '' && obj.kind === 'Service' && spec) {
    if (spec.clusterIP !== 'None') {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
  }
  if (group === '' && obj.kind === 'PersistentVolume' && spec?.claimRef) {
    const ref = spec.claimRef as Record<string, unknown>;
    delete ref.uid;
    delete ref.resourceVersion;
  }
  if (group === '' && obj.kind === 'Pod' && spec) {
    delete spec.nodeName;
    cleanPodSpec(spec);
  }
  if (isServiceAccountToken(obj)) {
    delete obj.data;
    delete obj.stringData;
  }
  if (group === 'batch' && obj.kind === 'Job' && spec && spec.manualSelector !== true) {
    delete spec.selector;
    const tmplLabels = (spec.template as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata?.labels;
    for (const l of JOB_GENERATED_LABELS) {
      if (tmplLabels) delete tmplLabels[l];
      if (md.labels) delete md.labels[l];
    }
    if (md.labels && Object.keys(md.labels).length === 0) delete md.labels;
  }
  return obj;
}

/** Drops the service-account token volume admission injects (`kube-api-access-xxxxx`) and its mounts. */
function cleanPodSpec(spec: Record<string, unknown>): void {
  const volumes = spec.volumes as { name: string; projected?: unknown }[] | undefined;
  if (!volumes) return;
  const injected = new Set(volumes.filter((v) => v.name.startsWith('kube-api-access-') && v.projected).map((v) => v.name));
  if (!injected.size) return;
  spec.volumes = volumes.filter((v) => !injected.has(v.name));
  for (const key of ['containers', 'initContainers', 'ephemeralContainers']) {
    for (const c of (spec[key] as { volumeMounts?: { name: string }[] }[] | undefined) ?? []) {
      if (c.volumeMounts) c.volumeMounts = c.volumeMounts.filter((m) => !injected.has(m.name));
    }
  }
}
