/** The authorizer's view of the API server's store: reads go straight to the live objects, so a new binding counts at once. */
import type { Store } from '../store.ts';
import type { RbacLister } from './lister.ts';
import type { BindingObject, RoleObject } from './types.ts';

const ROLES = 'roles.rbac.authorization.k8s.io';
const CLUSTER_ROLES = 'clusterroles.rbac.authorization.k8s.io';
const ROLE_BINDINGS = 'rolebindings.rbac.authorization.k8s.io';
const CLUSTER_ROLE_BINDINGS = 'clusterrolebindings.rbac.authorization.k8s.io';

export class StoreRbacLister implements RbacLister {
  constructor(private readonly store: Store) {}

  getRole(namespace: string, name: string): RoleObject | undefined {
    return namespace ? (this.store.get(ROLES, namespace, name) as RoleObject | undefined) : undefined;
  }
  getClusterRole(name: string): RoleObject | undefined {
    return this.store.get(CLUSTER_ROLES, undefined, name) as RoleObject | undefined;
  }
  listRoleBindings(namespace: string): Iterable<BindingObject> {
    return this.store.list(ROLE_BINDINGS, namespace) as Iterable<BindingObject>;
  }
  listClusterRoleBindings(): Iterable<BindingObject> {
    return this.store.list(CLUSTER_ROLE_BINDINGS) as Iterable<BindingObject>;
  }
}
