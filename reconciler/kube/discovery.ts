import type { KubeClient } from './client.ts';
import type { ApiResource } from './types.ts';

interface APIResourceList {
  groupVersion: string;
  resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
}
interface APIGroupList {
  groups: { name: string; preferredVersion?: { groupVersion: string; version: string }; versions: { groupVersion: string; version: string }[] }[];
}

export interface DiscoveryResult {
  resources: ApiResource[];
  /** Groups whose discovery failed (an aggregated API that is down): reported, never fatal, like kubectl. */
  failedGroups: { groupVersion: string; error: string }[];
}

/** Turns one `/api/v1` or `/apis/G/V` document into resources, dropping subresources (`pods/log`, `deployments/scale`). */
export function parseResourceList(list: APIResourceList): ApiResource[] {
  const [group, version] = list.groupVersion.includes('/') ? list.groupVersion.split('/') : ['', list.groupVersion];
  return (list.resources ?? [])
    .filter((r) => !r.name.includes('/'))
    .map((r) => ({ group: group!, version: version!, apiVersion: list.groupVersion, kind: r.kind, plural: r.name, namespaced: r.namespaced, verbs: r.verbs ?? [] }));
}

/**
 * Every resource type the server serves, at its group's preferred version (what kubectl uses), custom resources
 * included. Groups are fetched concurrently; a group that fails discovery is reported rather than aborting.
 */
export async function discoverResources(client: KubeClient): Promise<DiscoveryResult> {
  const failedGroups: DiscoveryResult['failedGroups'] = [];
  const core = parseResourceList(await client.request<APIResourceList>('GET', '/api/v1'));
  const groups = await client.request<APIGroupList>('GET', '/apis');
  const gvs = groups.groups.map((g) => g.preferredVersion?.groupVersion ?? g.versions[0]?.groupVersion).filter((x): x is string => !!x);
  const lists = await Promise.all(
    gvs.map(async (gv) => {
      try {
        return parseResourceList(await client.request<APIResourceList>('GET', `/apis/${gv}`));
      } catch (e) {
        failedGroups.push({ groupVersion: gv, error: (e as Error).message });
        return [];
      }
    }),
  );
  return { resources: [...core, ...lists.flat()], failedGroups };
}

/** A cache of discovery keyed by kind, for callers that start from `apiVersion` + `kind` (blueprint arguments, owner references). */
export class ResourceMap {
  private readonly byKind = new Map<string, ApiResource>();
  constructor(readonly resources: ApiResource[]) {
    for (const r of resources) {
      this.byKind.set(`${r.apiVersion}/${r.kind}`, r);
      // Group-less lookups (`Deployment`) prefer the core group, then the first group that has it.
      if (!this.byKind.has(r.kind) || r.group === '') this.byKind.set(r.kind, r);
    }
  }
  /** `lookup('apps/v1', 'Deployment')` or `lookup(undefined, 'Deployment')`. */
  lookup(apiVersion: string | undefined, kind: string): ApiResource | undefined {
    if (apiVersion) return this.byKind.get(`${apiVersion}/${kind}`) ?? this.resources.find((r) => r.kind === kind && r.group === groupOf(apiVersion));
    return this.byKind.get(kind) ?? this.resources.find((r) => r.kind.toLowerCase() === kind.toLowerCase() || r.plural === kind.toLowerCase());
  }
}

export function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
}

/** Well-known kinds so hot paths (hooks, volumes) do not need a discovery round trip. */
export const WELL_KNOWN: Record<string, { apiVersion: string; plural: string; namespaced: boolean }> = {
  Pod: { apiVersion: 'v1', plural: 'pods', namespaced: true },
  PersistentVolumeClaim: { apiVersion: 'v1', plural: 'persistentvolumeclaims', namespaced: true },
  PersistentVolume: { apiVersion: 'v1', plural: 'persistentvolumes', namespaced: false },
  Secret: { apiVersion: 'v1', plural: 'secrets', namespaced: true },
  Namespace: { apiVersion: 'v1', plural: 'namespaces', namespaced: false },
  Deployment: { apiVersion: 'apps/v1', plural: 'deployments', namespaced: true },
  StatefulSet: { apiVersion: 'apps/v1', plural: 'statefulsets', namespaced: true },
  ReplicaSet: { apiVersion: 'apps/v1', plural: 'replicasets', namespaced: true },
  DaemonSet: { apiVersion: 'apps/v1', plural: 'daemonsets', namespaced: true },
  Job: { apiVersion: 'batch/v1', plural: 'jobs', namespaced: true },
  StorageClass: { apiVersion: 'storage.k8s.io/v1', plural: 'storageclasses', namespaced: false },
  VolumeSnapshot: { apiVersion: 'snapshot.storage.k8s.io/v1', plural: 'volumesnapshots', namespaced: true },
  VolumeSnapshotClass: { apiVersion: 'snapshot.storage.k8s.io/v1', plural: 'volumesnapshotclasses', namespaced: false },
  VolumeSnapshotContent: { apiVersion: 'snapshot.storage.k8s.io/v1', plural: 'volumesnapshotcontents', namespaced: false },
  CustomResourceDefinition: { apiVersion: 'apiextensions.k8s.io/v1', plural: 'customresourcedefinitions', namespaced: false },
};
