/**
 * Escalation prevention on writes of roles and bindings (pkg/registry/rbac/*
 * /policybased): a subject may only create or change a role granting what it
 * holds itself, unless it is in system:masters or holds `escalate` on the role
 * resource; a binding needs `bind` on the referenced role or, again, coverage of
 * the role's rules by the caller's own rules in that namespace.
 */
import { deepEqual } from '../object.ts';
import type { Authorizer, UserInfo } from '../auth/types.ts';
import { ApiError, notFound } from '../errors.ts';
import type { RbacLister } from './lister.ts';
import { covers, compactRules } from './covers.ts';
import { escalationMessage, newForbidden } from './forbidden.ts';
import { aggregateErrors, roleRefRules, RoleRefError, rulesFor } from './resolver.ts';
import { RBAC_GROUP, type BindingObject, type PolicyRule, type RoleObject } from './types.ts';
import { isPrivileged } from './authorizer.ts';

export interface EscalationContext {
  authorizer: Authorizer;
  lister: RbacLister;
  user: UserInfo;
}

const FULL_AUTHORITY: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

/** A refusal message, or undefined when the user's rules in `namespace` cover `rules` (ConfirmNoEscalation). */
export function confirmNoEscalation(lister: RbacLister, user: UserInfo, namespace: string, rules: PolicyRule[]): string | undefined {
  const own = rulesFor(lister, user, namespace);
  const { covered, missing } = covers(own.rules, rules);
  if (covered) return undefined;
  let msg = escalationMessage(user, compactRules(missing));
  if (own.errors.length) msg += `; resolution errors: [${aggregateErrors(own.errors)}]`;
  return msg;
}

/**
 * Checks a create (`old` undefined) or update of a Role (`namespace` set) or
 * ClusterRole. `requestName` is the name in the URL ('' on create), which is
 * what the `escalate` check is asked about. Returns the 403 to answer, if any.
 */
export function checkRoleWrite(ctx: EscalationContext, namespace: string, requestName: string, role: RoleObject, old?: RoleObject): ApiError | undefined {
  if (isPrivileged(ctx.user)) return undefined;
  const resource = namespace ? 'roles' : 'clusterroles';
  const escalate = ctx.authorizer.authorize({ user: ctx.user, verb: 'escalate', resourceRequest: true, apiGroup: RBAC_GROUP, apiVersion: '*', resource, namespace, name: requestName });
  if (escalate.decision === 'allow') return undefined;
  if (old && onlyMetadataNoise(role, old, ['rules', 'aggregationRule'])) return undefined;
  const name = role.metadata.name ?? '';
  const msg = confirmNoEscalation(ctx.lister, ctx.user, namespace, wellFormedRules(role.rules));
  if (msg) return newForbidden(resource, RBAC_GROUP, name, msg);
  if (!namespace && (role.aggregationRule || old?.aggregationRule) && confirmNoEscalation(ctx.lister, ctx.user, '', FULL_AUTHORITY))
    return newForbidden(resource, RBAC_GROUP, name, 'must have cluster-admin privileges to use the aggregationRule');
  return undefined;
}

/** Checks a create or update of a RoleBinding (`namespace` set) or ClusterRoleBinding. */
export function checkBindingWrite(ctx: EscalationContext, namespace: string, binding: BindingObject, old?: BindingObject): ApiError | undefined {
  if (isPrivileged(ctx.user)) return undefined;
  if (old && onlyMetadataNoise(binding, old, ['roleRef', 'subjects'])) return undefined;
  const r = (binding.roleRef ?? {}) as Partial<Record<keyof BindingObject['roleRef'], unknown>>;
  const ref = { apiGroup: String(r.apiGroup ?? ''), kind: String(r.kind ?? ''), name: String(r.name ?? '') };
  const resource = namespace ? 'rolebindings' : 'clusterrolebindings';
  if (ref.kind === 'Role' || ref.kind === 'ClusterRole') {
    const bind = ctx.authorizer.authorize({
      user: ctx.user,
      verb: 'bind',
      resourceRequest: true,
      apiGroup: ref.apiGroup,
      resource: ref.kind === 'Role' ? 'roles' : 'clusterroles',
      name: ref.name,
      namespace,
    });
    if (bind.decision === 'allow') return undefined;
  }
  let rules: PolicyRule[];
  try {
    rules = roleRefRules(ctx.lister, ref, namespace);
  } catch (e) {
    if (!(e instanceof RoleRefError)) throw e;
    return roleRefNotFound(ref.kind, ref.name, e.message);
  }
  const msg = confirmNoEscalation(ctx.lister, ctx.user, namespace, rules);
  return msg ? newForbidden(resource, RBAC_GROUP, binding.metadata.name ?? '', msg) : undefined;
}

/** The registry's own NotFound for the referenced role; an unknown kind fails inside the registry, before validation, as a 500. */
function roleRefNotFound(kind: string, name: string, why: string): ApiError {
  if (kind === 'Role') return notFound('roles', RBAC_GROUP, name);
  if (kind === 'ClusterRole') return notFound('clusterroles', RBAC_GROUP, name);
  return new ApiError(500, 'InternalError', `Internal error occurred: ${why}`);
}

/**
 * The rules as the decoder would have them: the check runs before validation
 * (as in Kubernetes' registry), so a malformed body must not break it;
 * validation then refuses what is malformed.
 */
function wellFormedRules(v: unknown): PolicyRule[] {
  const strings = (x: unknown) => (Array.isArray(x) ? x.filter((e): e is string => typeof e === 'string') : []);
  if (!Array.isArray(v)) return [];
  return v
    .filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null && !Array.isArray(r))
    .map((r) => ({ verbs: strings(r.verbs), apiGroups: strings(r.apiGroups), resources: strings(r.resources), resourceNames: strings(r.resourceNames), nonResourceURLs: strings(r.nonResourceURLs) }));
}

/** Whether only fields that grant nothing changed (Kubernetes skips the check for GC-only edits; labels and annotations grant nothing either). */
function onlyMetadataNoise(a: object, b: object, keys: string[]): boolean {
  const pick = (o: object) => keys.map((k) => (o as Record<string, unknown>)[k] ?? null);
  return deepEqual(pick(a), pick(b));
}
