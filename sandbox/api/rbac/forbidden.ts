/**
 * Every RBAC refusal text, built in one place and worded as kube-apiserver
 * words it (responsewriters.Forbidden + apierrors.NewForbidden), because
 * kubectl prints `message` verbatim and people grep for it.
 */
import { ApiError } from '../errors.ts';
import type { Attributes, UserInfo } from '../auth/types.ts';
import type { PolicyRule } from './types.ts';

/** `User "u" cannot VERB resource "R[/SUB]" in API group "G" in the namespace "NS"` (or `at the cluster scope`, or `path "/p"`). */
export function forbiddenMessage(a: Attributes): string {
  const user = JSON.stringify(a.user.username);
  if (!a.resourceRequest) return `User ${user} cannot ${a.verb} path ${JSON.stringify(a.path ?? '')}`;
  const resource = a.subresource ? `${a.resource ?? ''}/${a.subresource}` : (a.resource ?? '');
  const where = a.namespace ? `in the namespace ${JSON.stringify(a.namespace)}` : 'at the cluster scope';
  return `User ${user} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.apiGroup ?? '')} ${where}`;
}

/** apierrors.NewForbidden: `R.G "name" is forbidden: why`, `R.G is forbidden: why` without a name, `forbidden: why` without a resource. */
export function newForbidden(resource: string, group: string, name: string, why: string): ApiError {
  const qualified = resource ? (group ? `${resource}.${group}` : resource) : '';
  const message = !qualified ? `forbidden: ${why}` : name ? `${qualified} ${JSON.stringify(name)} is forbidden: ${why}` : `${qualified} is forbidden: ${why}`;
  return new ApiError(403, 'Forbidden', message, { ...(name ? { name } : {}), ...(group ? { group } : {}), ...(resource ? { kind: resource } : {}) });
}

/** The 403 for a request the authorizer did not allow; a non-empty reason follows the message after `: `. */
export function forbidden(a: Attributes, reason = ''): ApiError {
  const msg = forbiddenMessage(a);
  const why = reason ? `${msg}: ${reason}` : msg;
  return a.resourceRequest ? newForbidden(a.resource ?? '', a.apiGroup ?? '', a.name ?? '', why) : newForbidden('', '', '', why);
}

/** Go's `%q` of a []string: `["a" "b"]`. */
export function goQuoteList(xs: readonly string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
}

/** rbacv1helpers.CompactString: `{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`. */
export function compactString(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups?.length) parts.push(`APIGroups:${goQuoteList(r.apiGroups)}`);
  if (r.resources?.length) parts.push(`Resources:${goQuoteList(r.resources)}`);
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${goQuoteList(r.nonResourceURLs)}`);
  if (r.resourceNames?.length) parts.push(`ResourceNames:${goQuoteList(r.resourceNames)}`);
  if (r.verbs.length) parts.push(`Verbs:${goQuoteList(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/** ConfirmNoEscalation's refusal: the missing rules, compacted, one per line and sorted. */
export function escalationMessage(user: UserInfo, missing: PolicyRule[]): string {
  const lines = [...new Set(missing.map(compactString))].sort();
  return `user ${JSON.stringify(user.username)} (groups=${goQuoteList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${lines.join('\n')}`;
}
