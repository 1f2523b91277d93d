import type { KubeClient } from '../kube/client.ts';
import { discoverResources, type DiscoveryResult } from '../kube/discovery.ts';
import type { ApiResource, KubeObject } from '../kube/types.ts';
import { resourceId } from '../kube/types.ts';
import { mapLimit } from '../kube/wait.ts';
import { cleanManifest } from './clean.ts';
import { controlledExclusion, exportableResources, objectExclusion } from './exclusions.ts';
import { objectRef, selectObjects, type ObjectSelector } from './select.ts';
import { bundlePath, SummaryBuilder, type ExportedObject, type ResourceSummary } from './bundle.ts';

export interface ExportOptions {
  namespace: string;
  /** The policy's compiled `selector.resources` (CEL env `object`). */
  selector?: ObjectSelector;
  /** Extra kinds never captured (`Secret`, `certificates.cert-manager.io`). */
  excludeKinds?: string[];
  /** Default exclusions, per type (events, endpoints, …) and per object (controller-owned pods, kube-root-ca.crt, …). Default true. */
  defaultExclusions?: boolean;
  /** Skip every object with a controller ownerReference (the plan's `excludeControlled`). Default false. */
  excludeControlled?: boolean;
  /** Also capture the cluster-scoped objects the app needs (Namespace, PVs, StorageClasses, CRDs, ClusterRoles). Default true. */
  includeClusterResources?: boolean;
  /** Reuse one discovery for many namespaces in a run. */
  discovery?: DiscoveryResult;
  /** Resource types listed concurrently. */
  concurrency?: number;
}

export interface ExportResult {
  namespace: string;
  /** Cleaned, selected namespaced objects. */
  objects: ExportedObject[];
  /** Cleaned cluster-scoped objects the app depends on. */
  clusterObjects: ExportedObject[];
  /** The selected PVCs as read (uncleaned): the volume step snapshots these. */
  pvcs: KubeObject[];
  /** Git-safe: counts and names only. */
  summary: ResourceSummary;
  excluded: { object: string; reason: string }[];
  selectorErrors: { object: string; message: string }[];
  warnings: string[];
}

/** The namespace does not exist (or we may not read it). */
export class NamespaceNotFoundError extends Error {
  readonly code = 'E_NAMESPACE_NOT_FOUND';
  constructor(namespace: string) {
    super(`namespace "${namespace}" not found`);
  }
}

/** What the export found besides the objects themselves, which went to the sink one by one. */
export type ExportStreamResult = Omit<ExportResult, 'objects'>;

/**
 * Discovers and captures one application (namespace): every listable namespaced kind including custom resources,
 * paginated, filtered by exclusions and the policy selector, cleaned of server-set fields; plus the cluster-scoped
 * objects it references. Returns values only — writing to the repository is `writeBundle`'s job.
 */
export async function exportNamespace(client: KubeClient, opts: ExportOptions): Promise<ExportResult> {
  const objects: ExportedObject[] = [];
  const r = await exportNamespaceTo(client, opts, (e) => void objects.push(e));
  const path = new Map(objects.map((e) => [e, bundlePath(e)]));
  objects.sort((a, b) => (path.get(a)! < path.get(b)! ? -1 : 1));
  return { ...r, objects };
}

/**
 * `exportNamespace` in bounded memory: types are listed in pages (`limit`/`continue`, 500 objects), each object is
 * excluded, selected and cleaned as its page arrives and handed to `sink` (which writes it to disk), so a namespace of
 * 50,000 objects never sits in memory. What is kept: names for the summary, the PVCs, and the few objects the
 * cluster-scoped dependencies are found from (RoleBindings, one object per custom kind).
 */
export async function exportNamespaceTo(client: KubeClient, opts: ExportOptions, sink: (e: ExportedObject) => void | Promise<void>): Promise<ExportStreamResult> {
  const warnings: string[] = [];
  const discovery = opts.discovery ?? (await discoverResources(client));
  for (const f of discovery.failedGroups) warnings.push(`discovery of ${f.groupVersion} failed, its resources are not captured: ${f.error}`);
  const nsObj = await client.find('v1', 'namespaces', undefined, opts.namespace);
  if (!nsObj) throw new NamespaceNotFoundError(opts.namespace);
  const namespaceObject = { ...nsObj, apiVersion: 'v1', kind: 'Namespace' };

  const types = exportableResources(discovery.resources, { exclude: opts.excludeKinds, defaultExclusions: opts.defaultExclusions });
  const summary = new SummaryBuilder();
  const excluded: ExportResult['excluded'] = [];
  const selectorErrors: ExportResult['selectorErrors'] = [];
  const pvcs: KubeObject[] = [];
  const dependencySources: KubeObject[] = [];
  const customKinds = new Set<string>();
  let sinkError: unknown;
  const take = async (r: ApiResource, o: KubeObject) => {
    const why = (opts.defaultExclusions === false ? undefined : objectExclusion(o)) ?? (opts.excludeControlled ? controlledExclusion(o) : undefined);
    if (why) return void excluded.push({ object: objectRef(o), reason: why });
    const sel = selectObjects([o], opts.selector, namespaceObject);
    selectorErrors.push(...sel.errors);
    if (!sel.selected.length) return;
    const e = { resource: r, object: cleanManifest(o) };
    try {
      await sink(e);
    } catch (err) {
      // The bundle cannot be written (disk full, two objects on one path): the run fails, not just this type.
      sinkError ??= err;
      throw err;
    }
    summary.add(e);
    const group = r.group;
    if (group === '' && o.kind === 'PersistentVolumeClaim' && o.apiVersion === 'v1') {
      pvcs.push(o);
      dependencySources.push(o);
    } else if (group === 'rbac.authorization.k8s.io' && o.kind === 'RoleBinding') dependencySources.push(o);
    else if (!BUILTIN_GROUPS.has(group) && !customKinds.has(`${o.apiVersion}/${o.kind}`)) {
      customKinds.add(`${o.apiVersion}/${o.kind}`);
      dependencySources.push(o);
    }
  };
  const listed = await mapLimit(types, opts.concurrency ?? 8, async (r) => {
    for await (const o of client.listPaged(r.apiVersion, r.plural, opts.namespace)) await take(r, o);
  });
  if (sinkError) throw sinkError;
  for (const [i, res] of listed.entries()) {
    // A type we cannot list (RBAC, a broken webhook) must not silently vanish from the backup.
    if (res.status === 'rejected') warnings.push(`cannot list ${resourceId(types[i]!)} in ${opts.namespace}: ${(res.reason as Error).message}`);
  }

  // The Namespace itself always comes along (as with Velero): its labels and annotations carry Pod Security levels,
  // network policy selectors and Coffer's own selector, so a restore without them would leave the app unprotected.
  const clusterObjects =
    opts.includeClusterResources === false
      ? [{ resource: CLUSTER_KINDS.Namespace, object: cleanManifest(namespaceObject) }]
      : await clusterDependencies(client, discovery.resources, namespaceObject, dependencySources, warnings);
  for (const e of clusterObjects) summary.add(e);
  return {
    namespace: opts.namespace,
    clusterObjects,
    pvcs,
    summary: summary.result(),
    excluded,
    selectorErrors,
    warnings,
  };
}

const BUILTIN_GROUPS = new Set(['', 'apps', 'batch', 'autoscaling', 'policy', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'storage.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'events.k8s.io', 'snapshot.storage.k8s.io', 'apiextensions.k8s.io', 'admissionregistration.k8s.io', 'certificates.k8s.io', 'node.k8s.io', 'scheduling.k8s.io', 'flowcontrol.apiserver.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io', 'metrics.k8s.io', 'resource.k8s.io', 'apiregistration.k8s.io']);

const CLUSTER_KINDS = {
  Namespace: { group: '', version: 'v1', apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  PersistentVolume: { group: '', version: 'v1', apiVersion: 'v1', kind: 'PersistentVolume', plural: 'persistentvolumes', namespaced: false },
  StorageClass: { group: 'storage.k8s.io', version: 'v1', apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', plural: 'storageclasses', namespaced: false },
  CustomResourceDefinition: { group: 'apiextensions.k8s.io', version: 'v1', apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false },
  ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
} as const;

/**
 * The cluster-scoped objects a namespaced app cannot be restored elsewhere without: its Namespace (labels and
 * annotations carry policy, e.g. pod-security), the PVs bound to its PVCs, the StorageClasses they use, the CRDs of
 * its custom resources, and the ClusterRoles its RoleBindings grant. A missing one is a warning, not a failure.
 */
async function clusterDependencies(client: KubeClient, resources: ApiResource[], ns: KubeObject, selected: KubeObject[], warnings: string[]): Promise<ExportedObject[]> {
  const wanted: { r: (typeof CLUSTER_KINDS)[keyof typeof CLUSTER_KINDS]; name: string }[] = [];
  const add = (kind: keyof typeof CLUSTER_KINDS, name: string | undefined) => {
    if (name && !wanted.some((w) => w.r.kind === kind && w.name === name)) wanted.push({ r: CLUSTER_KINDS[kind], name });
  };
  const out: ExportedObject[] = [{ resource: CLUSTER_KINDS.Namespace, object: cleanManifest(ns) }];
  for (const o of selected) {
    const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
    const spec = (o.spec ?? {}) as Record<string, unknown>;
    if (group === '' && o.kind === 'PersistentVolumeClaim') {
      add('PersistentVolume', spec.volumeName as string | undefined);
      add('StorageClass', spec.storageClassName as string | undefined);
    } else if (group === 'rbac.authorization.k8s.io' && o.kind === 'RoleBinding') {
      const ref = o.roleRef as { kind?: string; name?: string } | undefined;
      if (ref?.kind === 'ClusterRole') add('ClusterRole', ref.name);
    } else if (!BUILTIN_GROUPS.has(group)) {
      const r = resources.find((x) => x.apiVersion === o.apiVersion && x.kind === o.kind);
      if (r) add('CustomResourceDefinition', `${r.plural}.${r.group}`);
    }
  }
  const fetched = await mapLimit(wanted, 8, async (w) => ({ w, o: await client.find(w.r.apiVersion, w.r.plural, undefined, w.name) }));
  const pvs: KubeObject[] = [];
  for (const f of fetched) {
    if (f.status === 'rejected') {
      warnings.push(`cannot read a cluster-scoped dependency: ${(f.reason as Error).message}`);
      continue;
    }
    const { w, o } = f.value;
    if (!o) {
      // Not every CR group has a CRD (aggregated APIs); not every PVC is bound yet.
      if (w.r.kind !== 'CustomResourceDefinition') warnings.push(`${w.r.kind} ${w.name} referenced by ${ns.metadata.name} does not exist`);
      continue;
    }
    const obj = { ...o, apiVersion: w.r.apiVersion, kind: w.r.kind };
    if (w.r.kind === 'PersistentVolume') pvs.push(obj);
    out.push({ resource: w.r, object: cleanManifest(obj) });
  }
  // Statically provisioned PVs may name a StorageClass no PVC mentions.
  const extraClasses = pvs.map((pv) => (pv.spec as { storageClassName?: string } | undefined)?.storageClassName).filter((n): n is string => !!n && !wanted.some((w) => w.r.kind === 'StorageClass' && w.name === n));
  for (const name of new Set(extraClasses)) {
    const sc = await client.find(CLUSTER_KINDS.StorageClass.apiVersion, 'storageclasses', undefined, name);
    if (sc) out.push({ resource: CLUSTER_KINDS.StorageClass, object: cleanManifest({ ...sc, apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass' }) });
  }
  return out;
}
