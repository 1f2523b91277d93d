/** Builders for the RBAC tables, shaped like rbac_test.go's helpers (newRule, newClusterRole, newRoleBinding). */
import type { Attributes, UserInfo } from '../../../sandbox/api/auth/types.ts';
import type { BindingObject, PolicyRule, RoleObject, Subject } from '../../../sandbox/api/rbac/types.ts';

const csv = (s: string) => (s ? s.split(',') : []);

/** newRule(verbs, apiGroups, resources, nonResourceURLs), each comma-separated. */
export function rule(verbs: string, apiGroups: string, resources: string, urls = '', names = ''): PolicyRule {
  const r: PolicyRule = { verbs: csv(verbs) };
  if (urls) r.nonResourceURLs = csv(urls);
  else {
    r.apiGroups = apiGroups === '' ? [''] : csv(apiGroups);
    r.resources = csv(resources);
  }
  if (names) r.resourceNames = csv(names);
  return r;
}

export function clusterRole(name: string, ...rules: PolicyRule[]): RoleObject {
  return { metadata: { name }, rules };
}

export function role(namespace: string, name: string, ...rules: PolicyRule[]): RoleObject {
  return { metadata: { namespace, name }, rules };
}

/** `User:alice`, `Group:devs`, `ServiceAccount:ns:name` (or `ServiceAccount::name` for the binding's namespace). */
function subjects(specs: string[]): Subject[] {
  return specs.map((s) => {
    const [kind, a, b] = s.split(':');
    if (kind === 'ServiceAccount') return { kind, ...(a ? { namespace: a } : {}), name: b };
    return { kind, name: s.slice(kind.length + 1), apiGroup: 'rbac.authorization.k8s.io' };
  });
}

export function clusterRoleBinding(roleName: string, ...subs: string[]): BindingObject {
  return { metadata: { name: roleName }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName }, subjects: subjects(subs) };
}

export function roleBinding(namespace: string, roleName: string, kind: 'Role' | 'ClusterRole', ...subs: string[]): BindingObject {
  return { metadata: { namespace, name: roleName }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: roleName }, subjects: subjects(subs) };
}

export function user(username: string, groups = ''): UserInfo {
  return { username, groups: csv(groups) };
}

/** A resource request: `verb resource[/sub] [name] -n ns` for `user`. */
export function res(u: UserInfo, verb: string, group: string, resource: string, namespace = '', name = ''): Attributes {
  const [r, sub] = resource.split('/');
  return { user: u, verb, resourceRequest: true, apiGroup: group, resource: r, subresource: sub ?? '', namespace, name };
}

export function nonRes(u: UserInfo, verb: string, path: string): Attributes {
  return { user: u, verb, resourceRequest: false, path };
}

export function show(a: Attributes): string {
  const who = `${a.user.username || '-'}[${a.user.groups.join(',')}]`;
  if (!a.resourceRequest) return `${who} ${a.verb} ${a.path}`;
  return `${who} ${a.verb} ${a.apiGroup}/${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` ${a.name}` : ''}${a.namespace ? ` -n ${a.namespace}` : ''}`;
}
