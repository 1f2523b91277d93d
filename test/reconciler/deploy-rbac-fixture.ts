/**
 * deploy/base/rbac.yaml as `kubectl apply -k` installs it, for the sandbox's RBAC authorizer (the rules
 * kube-apiserver applies): shared by the table test of the calls Coffer makes (deploy-rbac.test.ts) and the check of
 * the calls the deployed controller and CLI really made (deploy-install.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { UserInfo } from '../../sandbox/api/auth/types.ts';
import { MemoryRbacLister } from '../../sandbox/api/rbac/lister.ts';
import { BOOTSTRAP_CLUSTER_ROLES, BOOTSTRAP_CLUSTER_ROLE_BINDINGS } from '../../sandbox/api/rbac/policy.ts';
import type { BindingObject, RoleObject } from '../../sandbox/api/rbac/types.ts';

const ROOT = join(import.meta.dirname, '../..');
export const COFFER_NS = 'coffer-system';

/** What the API server sees for the coffer ServiceAccount's token. */
export const COFFER_SA: UserInfo = { username: `system:serviceaccount:${COFFER_NS}:coffer`, groups: ['system:serviceaccounts', `system:serviceaccounts:${COFFER_NS}`, 'system:authenticated'] };

type Doc = { kind: string; metadata: { name: string; namespace?: string } };

/** The deploy/ RBAC objects (namespaced ones in coffer-system), without the ClusterRoleBindings named in `drop`. */
export function deployRbacDocs(drop: string[] = []): Doc[] {
  return parseAllDocuments(readFileSync(join(ROOT, 'deploy/base/rbac.yaml'), 'utf8'))
    .map((d) => d.toJS() as Doc)
    .filter((d) => !(d.kind === 'ClusterRoleBinding' && drop.includes(d.metadata.name)))
    .map((d) => (d.kind === 'Role' || d.kind === 'RoleBinding' ? { ...d, metadata: { ...d.metadata, namespace: COFFER_NS } } : d));
}

/** The deploy/ RBAC plus the bootstrap policy every cluster has (discovery for system:authenticated), plus `extra` RoleBindings. */
export function deployedRbac(drop: string[] = [], extra: BindingObject[] = []): MemoryRbacLister {
  const docs = deployRbacDocs(drop);
  const pick = <T>(kind: string) => docs.filter((d) => d.kind === kind) as unknown as T[];
  return new MemoryRbacLister({
    roles: pick<RoleObject>('Role'),
    roleBindings: [...pick<BindingObject>('RoleBinding'), ...extra],
    clusterRoles: [...pick<RoleObject>('ClusterRole'), ...(BOOTSTRAP_CLUSTER_ROLES as unknown as RoleObject[])],
    clusterRoleBindings: [...pick<BindingObject>('ClusterRoleBinding'), ...(BOOTSTRAP_CLUSTER_ROLE_BINDINGS as unknown as BindingObject[])],
  });
}
