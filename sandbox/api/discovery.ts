/**
 * Discovery documents: the legacy `/api`, `/apis`, `/apis/G/V` lists and the
 * aggregated `apidiscovery.k8s.io/v2` form that kubectl ≥1.30 asks for first
 * (one request instead of one per group-version).
 */
import { apiVersionOf, type ResourceRegistry, type ResourceType } from './resources.ts';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function groupOrder(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return -1;
  if (b === '') return 1;
  // Built-in groups before CRD groups, like a real server's priority order; then alphabetical.
  const builtin = (g: string) => !g.includes('.') || g.endsWith('.k8s.io');
  if (builtin(a) !== builtin(b)) return builtin(a) ? -1 : 1;
  return a < b ? -1 : 1;
}

function versionsOf(reg: ResourceRegistry, group: string): string[] {
  const vs = reg.groups().get(group) ?? [];
  return [...vs].sort(compareVersions);
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = v.match(/^v(\d+)(?:(alpha|beta)(\d+))?$/);
    if (!m) return [0, 0, 0, v] as const;
    return [Number(m[1]), m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1, Number(m[3] ?? 0), v] as const;
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa[1] !== pb[1]) return pb[1] - pa[1];
  if (pa[0] !== pb[0]) return pb[0] - pa[0];
  if (pa[2] !== pb[2]) return pb[2] - pa[2];
  return a < b ? -1 : 1;
}

export function apiVersions(host: string): unknown {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] };
}

function apiGroup(reg: ResourceRegistry, group: string): Record<string, unknown> {
  const versions = versionsOf(reg, group).map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function apiGroupList(reg: ResourceRegistry): unknown {
  const groups = [...reg.groups().keys()].filter((g) => g !== '').sort(groupOrder);
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => apiGroup(reg, g)) };
}

export function apiGroupDoc(reg: ResourceRegistry, group: string): unknown | undefined {
  if (!reg.groups().has(group)) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(reg, group) };
}

function resourcesOf(reg: ResourceRegistry, group: string, version: string): ResourceType[] {
  return reg
    .all()
    .filter((t) => t.group === group && t.versions.includes(version))
    .sort((a, b) => (a.resource < b.resource ? -1 : 1));
}

export function apiResourceList(reg: ResourceRegistry, group: string, version: string): unknown | undefined {
  const types = resourcesOf(reg, group, version);
  if (types.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const t of types) {
    resources.push({
      name: t.resource,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.review ? ['create'] : VERBS,
      ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length ? { categories: t.categories } : {}),
      storageVersionHash: Buffer.from(`${t.group}/${t.version}/${t.resource}`).toString('base64').slice(0, 11),
    });
    if (t.status) resources.push({ name: `${t.resource}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] });
    if (t.scale) resources.push({ name: `${t.resource}/scale`, singularName: '', namespaced: t.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
    if (t.resource === 'pods' && t.group === '') {
      for (const sub of ['log', 'exec', 'attach']) resources.push({ name: `pods/${sub}`, singularName: '', namespaced: true, kind: sub === 'log' ? 'Pod' : 'PodExecOptions', verbs: sub === 'log' ? ['get'] : ['create', 'get'] });
      resources.push({ name: 'pods/binding', singularName: '', namespaced: true, kind: 'Binding', verbs: ['create'] });
      resources.push({ name: 'pods/eviction', singularName: '', namespaced: true, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
    }
    if (t.resource === 'serviceaccounts' && t.group === '') resources.push({ name: 'serviceaccounts/token', singularName: '', namespaced: true, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] });
    if (t.resource === 'namespaces' && t.group === '') resources.push({ name: 'namespaces/finalize', singularName: '', namespaced: false, kind: 'Namespace', verbs: ['update'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(group, version), resources };
}

/** `apidiscovery.k8s.io/v2` APIGroupDiscoveryList for `/api` (core only) or `/apis` (everything else). */
export function aggregatedDiscovery(reg: ResourceRegistry, legacy: boolean, apiVersion = 'apidiscovery.k8s.io/v2'): unknown {
  const groups = [...reg.groups().keys()].filter((g) => (legacy ? g === '' : g !== '')).sort(groupOrder);
  const items = groups.map((group) => ({
    metadata: { name: group, creationTimestamp: null },
    versions: versionsOf(reg, group).map((version) => ({
      version,
      freshness: 'Current',
      resources: resourcesOf(reg, group, version).map((t) => {
        const subresources: Record<string, unknown>[] = [];
        if (t.status) subresources.push({ subresource: 'status', responseKind: { group, version, kind: t.kind }, verbs: ['get', 'patch', 'update'] });
        if (t.scale) subresources.push({ subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] });
        if (t.resource === 'pods' && group === '') {
          subresources.push({ subresource: 'log', responseKind: { group: '', version: 'v1', kind: 'Pod' }, verbs: ['get'] });
          subresources.push({ subresource: 'exec', responseKind: { group: '', version: 'v1', kind: 'PodExecOptions' }, verbs: ['create', 'get'] });
          subresources.push({ subresource: 'attach', responseKind: { group: '', version: 'v1', kind: 'PodAttachOptions' }, verbs: ['create', 'get'] });
          subresources.push({ subresource: 'binding', responseKind: { group: '', version: 'v1', kind: 'Binding' }, verbs: ['create'] });
          subresources.push({ subresource: 'eviction', responseKind: { group: 'policy', version: 'v1', kind: 'Eviction' }, verbs: ['create'] });
        }
        if (t.resource === 'serviceaccounts' && group === '') subresources.push({ subresource: 'token', responseKind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' }, verbs: ['create'] });
        return {
          resource: t.resource,
          responseKind: { group, version, kind: t.kind },
          scope: t.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: t.singular,
          verbs: t.review ? ['create'] : VERBS,
          ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
          ...(t.categories.length ? { categories: t.categories } : {}),
          ...(subresources.length ? { subresources } : {}),
        };
      }),
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion, metadata: {}, items };
}
