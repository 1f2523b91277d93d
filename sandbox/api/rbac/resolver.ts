/**
 * Which rules apply to a user in a namespace (pkg/registry/rbac/validation/rule.go):
 * ClusterRoleBindings first, then the RoleBindings of the namespace, each
 * binding's role resolved in the binding's namespace. The visitor may stop the
 * walk early (the authorizer stops at the first allowing rule).
 */
import type { UserInfo } from '../auth/types.ts';
import type { RbacLister } from './lister.ts';
import { serviceAccountUsername, type BindingObject, type PolicyRule, type RoleRef, type Subject } from './types.ts';

/** Describes where a rule came from, worded as Kubernetes words it in allow reasons. */
export type Source = () => string;

/** Return false to stop visiting. `err` is a resolution error (a binding names a missing role). */
export type Visitor = (source: Source | undefined, rule: PolicyRule | undefined, err: string | undefined) => boolean;

export class RoleRefError extends Error {}

/** The rules of a binding's role; `namespace` is the binding's namespace ('' for a ClusterRoleBinding). */
export function roleRefRules(lister: RbacLister, ref: RoleRef, namespace: string): PolicyRule[] {
  if (ref.kind === 'Role') {
    const r = lister.getRole(namespace, ref.name);
    if (!r) throw new RoleRefError(`role.rbac.authorization.k8s.io "${ref.name}" not found`);
    return r.rules ?? [];
  }
  if (ref.kind === 'ClusterRole') {
    const r = lister.getClusterRole(ref.name);
    if (!r) throw new RoleRefError(`clusterrole.rbac.authorization.k8s.io "${ref.name}" not found`);
    return r.rules ?? [];
  }
  throw new RoleRefError(`unsupported role reference kind: "${ref.kind}"`);
}

/** Whether a subject names the user; a ServiceAccount subject without a namespace means the binding's namespace. */
export function appliesToUser(user: UserInfo, s: Subject, namespace: string): boolean {
  switch (s.kind) {
    case 'User':
      return user.username === s.name;
    case 'Group':
      return user.groups.includes(s.name);
    case 'ServiceAccount': {
      const ns = s.namespace || namespace;
      return !!ns && user.username === serviceAccountUsername(ns, s.name);
    }
    default:
      return false;
  }
}

function firstSubject(user: UserInfo, subjects: Subject[] | null | undefined, namespace: string): Subject | undefined {
  return (subjects ?? []).find((s) => appliesToUser(user, s, namespace));
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${JSON.stringify(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

function describe(b: BindingObject, s: Subject, cluster: boolean): string {
  const name = cluster ? b.metadata.name! : `${b.metadata.name}/${b.metadata.namespace}`;
  return `${cluster ? 'ClusterRoleBinding' : 'RoleBinding'} ${JSON.stringify(name)} of ${b.roleRef.kind} ${JSON.stringify(b.roleRef.name)} to ${describeSubject(s, cluster ? '' : b.metadata.namespace ?? '')}`;
}

export function visitRulesFor(lister: RbacLister, user: UserInfo, namespace: string, visit: Visitor): void {
  const walk = (bindings: Iterable<BindingObject>, ns: string, cluster: boolean): boolean => {
    for (const b of bindings) {
      const s = firstSubject(user, b.subjects, ns);
      if (!s) continue;
      let rules: PolicyRule[];
      try {
        rules = roleRefRules(lister, b.roleRef, ns);
      } catch (e) {
        if (!(e instanceof RoleRefError)) throw e;
        if (!visit(undefined, undefined, e.message)) return false;
        continue;
      }
      const source = () => describe(b, s, cluster);
      for (const r of rules) if (!visit(source, r, undefined)) return false;
    }
    return true;
  };
  if (!walk(lister.listClusterRoleBindings(), '', true)) return;
  if (namespace) walk(lister.listRoleBindings(namespace), namespace, false);
}

/** Every rule that applies (RulesFor), plus the resolution errors met on the way. */
export function rulesFor(lister: RbacLister, user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  visitRulesFor(lister, user, namespace, (_s, r, err) => {
    if (r) rules.push(r);
    if (err) errors.push(err);
    return true;
  });
  return { rules, errors };
}

/** utilerrors.NewAggregate(...).Error(): one message alone, several as `[a, b]`. */
export function aggregateErrors(errors: string[]): string {
  return errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`;
}
