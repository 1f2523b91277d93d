import type { ApiResource, KubeObject } from '../kube/types.ts';
import { resourceId } from '../kube/types.ts';

/**
 * Resource types never exported by default, each with the reason a restore does not need it. Identified as
 * `plural.group` (core: `plural`), the notation kubectl and Velero use, so users can name them in policies.
 */
export const DEFAULT_EXCLUDED_RESOURCES: Readonly<Record<string, string>> = {
  events: 'runtime history, not desired state',
  'events.events.k8s.io': 'runtime history, not desired state',
  endpoints: 'recomputed by the endpoints controller from Services',
  'endpointslices.discovery.k8s.io': 'recomputed by the endpointslice controller from Services',
  'controllerrevisions.apps': 'history owned by StatefulSets/DaemonSets, recreated by them',
  'leases.coordination.k8s.io': 'leader-election state of running processes',
  'pods.metrics.k8s.io': 'live metrics, not objects',
  'volumesnapshots.snapshot.storage.k8s.io': 'point-in-time artefacts of backups (Coffer records its own)',
  'volumesnapshotcontents.snapshot.storage.k8s.io': 'point-in-time artefacts of backups (Coffer records its own)',
  'localsubjectaccessreviews.authorization.k8s.io': 'request, not an object',
};

/** Why one object is left out, or undefined if it stays. */
export type ExclusionReason = string | undefined;

/**
 * Resource types worth listing at all: namespaced, listable, and creatable (a restore cannot create what the API
 * refuses to create — this drops metrics and review APIs generically), minus exclusions. `exclude` entries use the
 * plan's notation — `Kind` (any group: `Event` matches core and events.k8s.io) or `Kind.group`
 * (`Certificate.cert-manager.io`) — or kubectl's `plural` / `plural.group`; case-insensitive.
 * `defaultExclusions: false` drops DEFAULT_EXCLUDED_RESOURCES (the policy asked for everything).
 */
export function exportableResources(resources: ApiResource[], opts: { exclude?: string[]; include?: string[]; defaultExclusions?: boolean } = {}): ApiResource[] {
  const exclude = [...(opts.defaultExclusions === false ? [] : Object.keys(DEFAULT_EXCLUDED_RESOURCES)), ...(opts.exclude ?? [])].map(normalizeResourceName);
  const include = opts.include?.length ? opts.include.map(normalizeResourceName) : undefined;
  const seen = new Set<string>();
  return resources.filter((r) => {
    const id = resourceId(r);
    if (seen.has(id)) return false;
    seen.add(id);
    if (!r.namespaced || !r.verbs.includes('list') || !r.verbs.includes('create')) return false;
    if (include) return include.some((n) => resourceMatches(r, n));
    return !exclude.some((n) => resourceMatches(r, n));
  });
}

export function normalizeResourceName(s: string): string {
  return s.trim().toLowerCase();
}

/** Does a (normalized) name like `event`, `events`, `event.events.k8s.io`, `deployments.apps` denote this resource type? */
export function resourceMatches(r: Pick<ApiResource, 'kind' | 'plural' | 'group'>, name: string): boolean {
  const kind = r.kind.toLowerCase();
  const dot = name.indexOf('.');
  if (dot < 0) return name === kind || name === r.plural;
  const head = name.slice(0, dot);
  const group = name.slice(dot + 1);
  return group === r.group && (head === kind || head === r.plural);
}

/** Why an object is controlled, if it is: its owner recreates it (`excludeControlled`). */
export function controlledExclusion(obj: KubeObject): ExclusionReason {
  const c = obj.metadata.ownerReferences?.find((o) => o.controller);
  return c ? `controlled by ${c.kind} ${c.name}` : undefined;
}

const SA_TOKEN = 'kubernetes.io/service-account-token';

/**
 * Per-object default exclusions: things the cluster recreates by itself, whose copy would fight the controller that
 * owns them on restore.
 */
export function objectExclusion(obj: KubeObject): ExclusionReason {
  const kind = obj.kind;
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
  const owners = obj.metadata.ownerReferences ?? [];
  const controller = owners.find((o) => o.controller);
  if (group === '' && kind === 'Pod' && controller) return `pod owned by ${controller.kind} ${controller.name}`;
  if (group === 'apps' && kind === 'ReplicaSet' && controller?.kind === 'Deployment') return `replicaset owned by Deployment ${controller.name}`;
  if (group === 'batch' && kind === 'Job' && controller?.kind === 'CronJob') return `job owned by CronJob ${controller.name}`;
  if (group === '' && kind === 'ConfigMap' && obj.metadata.name === 'kube-root-ca.crt') return 'published into every namespace by the root-ca controller';
  if (group === '' && kind === 'Secret' && obj.type === SA_TOKEN) {
    const sa = obj.metadata.annotations?.['kubernetes.io/service-account.name'];
    // Pre-1.24 clusters generated `<sa>-token-xxxxx` for every ServiceAccount; the token controller makes new ones.
    if (sa && obj.metadata.name.startsWith(`${sa}-token-`)) return `token generated for ServiceAccount ${sa}`;
  }
  if (group === '' && kind === 'Pod' && (obj.status as { phase?: string } | undefined)?.phase && ['Succeeded', 'Failed'].includes((obj.status as { phase: string }).phase)) {
    return 'finished pod';
  }
  return undefined;
}

/** True for the ServiceAccount token Secrets that we keep as objects but whose token the controller must re-issue. */
export function isServiceAccountToken(obj: KubeObject): boolean {
  return obj.kind === 'Secret' && obj.apiVersion === 'v1' && obj.type === SA_TOKEN;
}
