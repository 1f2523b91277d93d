/**
 * The resource types the sandbox serves: built-in kinds with their REST names,
 * scope, short names and subresources, plus the types a CRD installs at run
 * time. Discovery, routing, OpenAPI and validation all read this one table.
 */

export interface ScaleSpec {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface ResourceType {
  group: string;
  version: string;
  /** All versions served (CRDs may serve several); `version` is the storage version. */
  versions: string[];
  resource: string;
  kind: string;
  listKind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  status: boolean;
  scale?: ScaleSpec;
  /** Field selectors beyond metadata.name / metadata.namespace. */
  fields: string[];
  /** client-node model class holding the official field list (`V1ConfigMap`), for strict decoding and OpenAPI. */
  model?: string;
  /** kubernetes-models module path (`apps/v1/Deployment`) whose validator checks the official schema. */
  validator?: string;
  /** True for kinds defined by a CustomResourceDefinition. */
  custom?: boolean;
  /** Spec changes bump metadata.generation (false for ConfigMap-like kinds with no spec). */
  generation: boolean;
  /** Create-only review kinds answered on the spot and never stored (SelfSubjectAccessReview). */
  review?: boolean;
}

interface Def {
  g: string;
  v: string;
  r: string;
  k: string;
  ns: boolean;
  short?: string[];
  cat?: string[];
  status?: boolean;
  scale?: boolean | ScaleSpec;
  fields?: string[];
  model?: string;
  validator?: string;
  gen?: boolean;
  review?: boolean;
  /** Every served version when there are several (`v` is the storage version). */
  vs?: string[];
}

const REPLICAS: ScaleSpec = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.spec.selector' };

const DEFS: Def[] = [
  { g: '', v: 'v1', r: 'namespaces', k: 'Namespace', ns: false, short: ['ns'], status: true, fields: ['status.phase'] },
  { g: '', v: 'v1', r: 'configmaps', k: 'ConfigMap', ns: true, short: ['cm'], gen: false },
  { g: '', v: 'v1', r: 'secrets', k: 'Secret', ns: true, fields: ['type'], gen: false },
  { g: '', v: 'v1', r: 'services', k: 'Service', ns: true, short: ['svc'], cat: ['all'], status: true, fields: ['spec.clusterIP', 'spec.type'] },
  { g: '', v: 'v1', r: 'serviceaccounts', k: 'ServiceAccount', ns: true, short: ['sa'], gen: false },
  { g: '', v: 'v1', r: 'persistentvolumeclaims', k: 'PersistentVolumeClaim', ns: true, short: ['pvc'], status: true },
  { g: '', v: 'v1', r: 'persistentvolumes', k: 'PersistentVolume', ns: false, short: ['pv'], status: true },
  {
    g: '', v: 'v1', r: 'pods', k: 'Pod', ns: true, short: ['po'], cat: ['all'], status: true,
    fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  },
  {
    g: '', v: 'v1', r: 'events', k: 'Event', ns: true, short: ['ev'], gen: false, model: 'CoreV1Event', validator: 'v1/Event',
    fields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  },
  { g: '', v: 'v1', r: 'endpoints', k: 'Endpoints', ns: true, short: ['ep'], gen: false },
  { g: '', v: 'v1', r: 'nodes', k: 'Node', ns: false, short: ['no'], status: true, fields: ['spec.unschedulable'] },
  { g: '', v: 'v1', r: 'resourcequotas', k: 'ResourceQuota', ns: true, short: ['quota'], status: true },
  { g: '', v: 'v1', r: 'limitranges', k: 'LimitRange', ns: true, short: ['limits'] },
  { g: '', v: 'v1', r: 'replicationcontrollers', k: 'ReplicationController', ns: true, short: ['rc'], cat: ['all'], status: true, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
  { g: 'apps', v: 'v1', r: 'deployments', k: 'Deployment', ns: true, short: ['deploy'], cat: ['all'], status: true, scale: true },
  { g: 'apps', v: 'v1', r: 'statefulsets', k: 'StatefulSet', ns: true, short: ['sts'], cat: ['all'], status: true, scale: true },
  { g: 'apps', v: 'v1', r: 'daemonsets', k: 'DaemonSet', ns: true, short: ['ds'], cat: ['all'], status: true },
  { g: 'apps', v: 'v1', r: 'replicasets', k: 'ReplicaSet', ns: true, short: ['rs'], cat: ['all'], status: true, scale: true },
  { g: 'apps', v: 'v1', r: 'controllerrevisions', k: 'ControllerRevision', ns: true },
  { g: 'batch', v: 'v1', r: 'jobs', k: 'Job', ns: true, cat: ['all'], status: true, fields: ['status.successful'] },
  { g: 'batch', v: 'v1', r: 'cronjobs', k: 'CronJob', ns: true, short: ['cj'], cat: ['all'], status: true },
  { g: 'networking.k8s.io', v: 'v1', r: 'ingresses', k: 'Ingress', ns: true, short: ['ing'], status: true },
  { g: 'networking.k8s.io', v: 'v1', r: 'ingressclasses', k: 'IngressClass', ns: false },
  { g: 'networking.k8s.io', v: 'v1', r: 'networkpolicies', k: 'NetworkPolicy', ns: true, short: ['netpol'] },
  { g: 'policy', v: 'v1', r: 'poddisruptionbudgets', k: 'PodDisruptionBudget', ns: true, short: ['pdb'], status: true },
  { g: 'rbac.authorization.k8s.io', v: 'v1', r: 'roles', k: 'Role', ns: true, gen: false },
  { g: 'rbac.authorization.k8s.io', v: 'v1', r: 'rolebindings', k: 'RoleBinding', ns: true, gen: false },
  { g: 'rbac.authorization.k8s.io', v: 'v1', r: 'clusterroles', k: 'ClusterRole', ns: false, gen: false },
  { g: 'rbac.authorization.k8s.io', v: 'v1', r: 'clusterrolebindings', k: 'ClusterRoleBinding', ns: false, gen: false },
  { g: 'storage.k8s.io', v: 'v1', r: 'storageclasses', k: 'StorageClass', ns: false, short: ['sc'], gen: false },
  { g: 'storage.k8s.io', v: 'v1', r: 'csidrivers', k: 'CSIDriver', ns: false },
  { g: 'coordination.k8s.io', v: 'v1', r: 'leases', k: 'Lease', ns: true },
  { g: 'authorization.k8s.io', v: 'v1', r: 'selfsubjectaccessreviews', k: 'SelfSubjectAccessReview', ns: false, review: true, gen: false },
  { g: 'authorization.k8s.io', v: 'v1', r: 'selfsubjectrulesreviews', k: 'SelfSubjectRulesReview', ns: false, review: true, gen: false },
  { g: 'authentication.k8s.io', v: 'v1', r: 'tokenreviews', k: 'TokenReview', ns: false, review: true, gen: false },
  // kubectl 1.26 asks v1alpha1, 1.27 v1beta1, ≥1.28 v1 (`kubectl auth whoami`).
  { g: 'authentication.k8s.io', v: 'v1', vs: ['v1', 'v1beta1', 'v1alpha1'], r: 'selfsubjectreviews', k: 'SelfSubjectReview', ns: false, review: true, gen: false },
  { g: 'authorization.k8s.io', v: 'v1', r: 'subjectaccessreviews', k: 'SubjectAccessReview', ns: false, review: true, gen: false },
  { g: 'authorization.k8s.io', v: 'v1', r: 'localsubjectaccessreviews', k: 'LocalSubjectAccessReview', ns: true, review: true, gen: false },
  { g: 'apiextensions.k8s.io', v: 'v1', r: 'customresourcedefinitions', k: 'CustomResourceDefinition', ns: false, short: ['crd', 'crds'], cat: ['api-extensions'], status: true, model: 'V1CustomResourceDefinition', validator: 'apiextensions.k8s.io/v1/CustomResourceDefinition' },
];

/** Kinds whose REST strategy maintains metadata.generation (workloads, policies, CRDs); others never show it. */
const GENERATION_KINDS = new Set([
  'apps/deployments', 'apps/statefulsets', 'apps/daemonsets', 'apps/replicasets', '/replicationcontrollers',
  'batch/jobs', 'batch/cronjobs', 'networking.k8s.io/ingresses', 'networking.k8s.io/networkpolicies', 'networking.k8s.io/ingressclasses',
  'policy/poddisruptionbudgets', 'apiextensions.k8s.io/customresourcedefinitions', '/pods',
]);

const MODEL_PREFIX: Record<string, string> = { '': 'V1', apps: 'V1', batch: 'V1', 'networking.k8s.io': 'V1', policy: 'V1', 'rbac.authorization.k8s.io': 'V1', 'storage.k8s.io': 'V1', 'coordination.k8s.io': 'V1' };

function build(d: Def): ResourceType {
  const groupDir = d.g === '' ? '' : `${d.g}/`;
  return {
    group: d.g,
    version: d.v,
    versions: d.vs ?? [d.v],
    resource: d.r,
    kind: d.k,
    listKind: `${d.k}List`,
    singular: d.k.toLowerCase(),
    namespaced: d.ns,
    shortNames: d.short ?? [],
    categories: d.cat ?? [],
    status: d.status ?? false,
    scale: d.scale === true ? REPLICAS : d.scale || undefined,
    fields: d.fields ?? [],
    model: d.model ?? `${MODEL_PREFIX[d.g] ?? 'V1'}${d.k}`,
    validator: d.validator ?? `${groupDir}${d.v}/${d.k}`,
    generation: d.gen ?? GENERATION_KINDS.has(`${d.g}/${d.r}`),
    ...(d.review ? { review: true } : {}),
  };
}

export const BUILTIN: readonly ResourceType[] = DEFS.map(build);

/** A key that identifies stored objects of a type across its versions. */
export function groupResource(t: Pick<ResourceType, 'group' | 'resource'>): string {
  return t.group ? `${t.resource}.${t.group}` : t.resource;
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** The mutable table of served types: built-ins plus whatever established CRDs add. */
export class ResourceRegistry {
  private byGR = new Map<string, ResourceType>();
  private byGVR = new Map<string, ResourceType>();
  private byGVK = new Map<string, ResourceType>();
  /** Bumped whenever the set of served types changes (discovery caches key on it). */
  generation = 0;

  constructor(types: readonly ResourceType[] = BUILTIN) {
    for (const t of types) this.add(t);
  }

  add(t: ResourceType): void {
    this.remove(t.group, t.resource);
    this.byGR.set(groupResource(t), t);
    for (const v of t.versions) {
      this.byGVR.set(`${t.group}/${v}/${t.resource}`, t);
      this.byGVK.set(`${t.group}/${v}/${t.kind}`, t);
    }
    this.generation++;
  }

  remove(group: string, resource: string): void {
    const old = this.byGR.get(group ? `${resource}.${group}` : resource);
    if (!old) return;
    this.byGR.delete(groupResource(old));
    for (const v of old.versions) {
      this.byGVR.delete(`${old.group}/${v}/${old.resource}`);
      this.byGVK.delete(`${old.group}/${v}/${old.kind}`);
    }
    this.generation++;
  }

  lookup(group: string, version: string, resource: string): ResourceType | undefined {
    return this.byGVR.get(`${group}/${version}/${resource}`);
  }

  byKind(group: string, version: string, kind: string): ResourceType | undefined {
    return this.byGVK.get(`${group}/${version}/${kind}`);
  }

  byGroupResource(gr: string): ResourceType | undefined {
    return this.byGR.get(gr);
  }

  all(): ResourceType[] {
    return [...this.byGR.values()];
  }

  /** Group → versions served, core group first, then alphabetical (kubectl's discovery order is not semantic). */
  groups(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const t of this.byGR.values()) {
      const vs = m.get(t.group) ?? [];
      for (const v of t.versions) if (!vs.includes(v)) vs.push(v);
      m.set(t.group, vs);
    }
    return m;
  }
}
