/**
 * Where the resolver reads roles and bindings from: the API server's store in
 * the sandbox, plain arrays in the tables of the tests. Getters return
 * undefined for a missing object (the resolver turns that into Kubernetes'
 * NotFound text).
 */
import type { BindingObject, RoleObject } from './types.ts';

export interface RbacLister {
  getRole(namespace: string, name: string): RoleObject | undefined;
  getClusterRole(name: string): RoleObject | undefined;
  listRoleBindings(namespace: string): Iterable<BindingObject>;
  listClusterRoleBindings(): Iterable<BindingObject>;
}

export interface RbacObjects {
  roles?: RoleObject[];
  roleBindings?: BindingObject[];
  clusterRoles?: RoleObject[];
  clusterRoleBindings?: BindingObject[];
}

/** An in-memory lister over arrays (Kubernetes' StaticRoles), for tables and for evaluating manifests offline. */
export class MemoryRbacLister implements RbacLister {
  constructor(private readonly o: RbacObjects) {}

  getRole(namespace: string, name: string): RoleObject | undefined {
    return this.o.roles?.find((r) => r.metadata.namespace === namespace && r.metadata.name === name);
  }
  getClusterRole(name: string): RoleObject | undefined {
    return this.o.clusterRoles?.find((r) => r.metadata.name === name);
  }
  listRoleBindings(namespace: string): BindingObject[] {
    return (this.o.roleBindings ?? []).filter((b) => b.metadata.namespace === namespace);
  }
  listClusterRoleBindings(): BindingObject[] {
    return this.o.clusterRoleBindings ?? [];
  }
}
