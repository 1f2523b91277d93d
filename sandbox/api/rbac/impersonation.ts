/**
 * Impersonation (`kubectl --as/--as-group/--as-uid`), as apiserver's
 * WithImpersonation filter does it: each requested identity part is
 * authorized for the caller as verb `impersonate` on users, groups,
 * serviceaccounts (a `system:serviceaccount:NS:NAME` user, checked in NS),
 * uids or userextras; the first refusal is the 403. The result is the user
 * every later step sees, with `system:authenticated` added unless a group
 * says otherwise.
 */
import { ApiError } from '../errors.ts';
import type { Attributes, Authorizer, UserInfo } from '../auth/types.ts';
import { forbidden } from './forbidden.ts';
import { ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, serviceAccountGroups, serviceAccountUsername, splitServiceAccountUsername } from './types.ts';

/** Header values by lower-cased name, each header's values kept apart (Node's `req.headersDistinct`). */
export type DistinctHeaders = Record<string, string[] | undefined>;

const EXTRA_PREFIX = 'impersonate-extra-';

/** Whether a request asks for impersonation at all (checked on every request, so no allocation). */
export function wantsImpersonation(headers: Record<string, unknown>): boolean {
  if (headers['impersonate-user'] || headers['impersonate-group'] || headers['impersonate-uid']) return true;
  for (const k in headers) if (k.startsWith(EXTRA_PREFIX)) return true;
  return false;
}

function unescapeKey(k: string): string {
  try {
    return decodeURIComponent(k);
  } catch {
    return k;
  }
}

/**
 * The impersonated user, or undefined when the request asks for none.
 * Throws the ApiError to answer (403 for a refused part).
 */
export function impersonate(headers: DistinctHeaders, requestor: UserInfo, authorizer: Authorizer): UserInfo | undefined {
  const userName = headers['impersonate-user']?.[0] ?? '';
  const groupsAsked = headers['impersonate-group'] ?? [];
  const uid = headers['impersonate-uid']?.[0] ?? '';
  const extras: [string, string][] = [];
  for (const [h, values] of Object.entries(headers)) if (h.startsWith(EXTRA_PREFIX)) for (const v of values ?? []) extras.push([unescapeKey(h.slice(EXTRA_PREFIX.length).toLowerCase()), v]);
  if (!userName && !groupsAsked.length && !uid && !extras.length) return undefined;
  if (!userName) throw new ApiError(500, 'InternalError', 'Internal error occurred: requested impersonation of groups, extra or uid without impersonating a user');

  const checks: Attributes[] = [];
  const ask = (a: Omit<Attributes, 'user' | 'verb' | 'resourceRequest'>) => checks.push({ user: requestor, verb: 'impersonate', resourceRequest: true, ...a });
  let groups: string[] = [];
  const sa = splitServiceAccountUsername(userName);
  if (sa) {
    ask({ apiGroup: '', resource: 'serviceaccounts', namespace: sa.namespace, name: sa.name });
    if (!groupsAsked.length) groups = serviceAccountGroups(sa.namespace);
  } else ask({ apiGroup: '', resource: 'users', namespace: '', name: userName });
  for (const g of groupsAsked) {
    ask({ apiGroup: '', resource: 'groups', namespace: '', name: g });
    groups.push(g);
  }
  const extra: Record<string, string[]> = {};
  for (const [k, v] of extras) {
    ask({ apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: k, namespace: '', name: v });
    (extra[k] ??= []).push(v);
  }
  if (uid) ask({ apiGroup: 'authentication.k8s.io', resource: 'uids', namespace: '', name: uid });

  for (const a of checks) {
    const d = authorizer.authorize(a);
    if (d.decision !== 'allow') throw forbidden(a, d.reason);
  }

  const username = sa ? serviceAccountUsername(sa.namespace, sa.name) : userName;
  if (username !== ANONYMOUS) {
    if (!groups.includes(ALL_AUTHENTICATED) && !groups.includes(ALL_UNAUTHENTICATED)) groups.push(ALL_AUTHENTICATED);
  } else if (!groups.includes(ALL_UNAUTHENTICATED)) groups.push(ALL_UNAUTHENTICATED);
  return { username, groups, ...(uid ? { uid } : {}), ...(extras.length ? { extra } : {}) };
}
