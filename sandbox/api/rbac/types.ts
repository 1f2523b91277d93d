/**
 * RBAC objects as the authorizer reads them (rbac.authorization.k8s.io/v1):
 * only the fields that decide access. Stored objects carry more; these types
 * are the view the pure modules of this folder agree on.
 */

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: string;
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface RoleObject {
  metadata: { name?: string; namespace?: string; labels?: Record<string, string> };
  rules?: PolicyRule[] | null;
  aggregationRule?: { clusterRoleSelectors?: LabelSelector[] } | null;
}

export interface BindingObject {
  metadata: { name?: string; namespace?: string };
  roleRef: RoleRef;
  subjects?: Subject[] | null;
}

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** Kubernetes' superuser group: allowed everything before RBAC is consulted, and never subject to escalation checks. */
export const SYSTEM_MASTERS = 'system:masters';
export const ALL_AUTHENTICATED = 'system:authenticated';
export const ALL_UNAUTHENTICATED = 'system:unauthenticated';
export const ANONYMOUS = 'system:anonymous';

const SA_PREFIX = 'system:serviceaccount:';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `system:serviceaccount:NS:NAME`, as serviceaccount.MakeUsername builds it. */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SA_PREFIX}${namespace}:${name}`;
}

/** The groups every ServiceAccount is in (serviceaccount.MakeGroupNames). */
export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];
}

/** Splits `system:serviceaccount:NS:NAME` (serviceaccount.SplitUsername); undefined for anything else. */
export function splitServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SA_PREFIX)) return undefined;
  const parts = username.slice(SA_PREFIX.length).split(':');
  if (parts.length !== 2 || !DNS_LABEL.test(parts[0]) || parts[0].length > 63 || !DNS_SUBDOMAIN.test(parts[1]) || parts[1].length > 253) return undefined;
  return { namespace: parts[0], name: parts[1] };
}
