/** Any Kubernetes object, as JSON. The reconciler handles every kind generically, so nothing narrower is assumed. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generateName?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

/** One served resource type as discovery describes it (preferred version of its group). */
export interface ApiResource {
  /** '' for the core group. */
  group: string;
  version: string;
  /** `v1` or `apps/v1`. */
  apiVersion: string;
  kind: string;
  /** Resource name in URLs: `deployments`. */
  plural: string;
  namespaced: boolean;
  verbs: string[];
}

/** `deployments.apps`, `configmaps` — the name kubectl and Velero use for a resource type. */
export function resourceId(r: Pick<ApiResource, 'plural' | 'group'>): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}
