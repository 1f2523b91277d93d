/**
 * What each `/api/v1/` call needs, as a Kubernetes authorization request against resources of the API group
 * `coffer.dev` (nothing is served under that group: the names exist so RBAC Roles can grant them, like the
 * `pods/exec` or `nodes/proxy` permissions kubelets check). One table, documented in reconciler/server/README.md.
 */
import type { Role } from './auth.ts';

export const API_GROUP = 'coffer.dev';

/** One authorization question: may the caller `verb` the `resource` (in `namespace`; none = cluster scope)? */
export interface Access {
  verb: 'get' | 'list' | 'create';
  resource: 'restorepoints' | 'runs' | 'policies' | 'plan' | 'reports' | 'backups' | 'restores' | 'reconciles';
  subresource?: 'cancel';
  namespace?: string;
  name?: string;
}

/** The access a GET route needs; `namespace` from the query narrows a list to one namespace, as in Kubernetes. */
export function readAccess(route: string, q: URLSearchParams): Access {
  const ns = q.get('namespace') || undefined;
  const scoped = (a: Access): Access => (ns ? { ...a, namespace: ns } : a);
  const item = /^\/(backups|policies|restores)\/([^/]+)$/.exec(route);
  if (item) return { verb: 'get', resource: item[1] as Access['resource'] };
  // One application's page and one restore point's details are that namespace's catalog data.
  const app = /^\/applications\/([^/]+)$/.exec(route);
  if (app) return { verb: 'list', resource: 'restorepoints', namespace: safeDecode(app[1]!) };
  const point = /^\/restorepoints\/([^/]+)$/.exec(route);
  if (point) return scoped({ verb: 'get', resource: 'restorepoints', name: safeDecode(point[1]!) });
  switch (route) {
    case '/restorepoints':
      return scoped({ verb: 'list', resource: 'restorepoints' });
    case '/runs':
      return scoped({ verb: 'list', resource: 'runs' });
    case '/restores': {
      // Restores of one namespace's restore points are that application's history: listed with its `list restores`.
      const source = q.get('source') || undefined;
      return ns ? { verb: 'list', resource: 'restores', namespace: ns } : { verb: 'list', resource: 'restores', ...(source ? { namespace: source } : {}) };
    }
    case '/backups':
      return scoped({ verb: 'list', resource: 'backups' });
    case '/policies':
      return { verb: 'list', resource: 'policies' };
    case '/plan':
      return { verb: 'get', resource: 'plan' };
    case '/reports':
    case '/reports/compliance':
      return { verb: 'get', resource: 'reports', name: 'compliance' };
  }
  // Routes added later read catalog data: without an entry of their own they need what the restore point list needs.
  return { verb: 'list', resource: 'restorepoints' };
}

/** GET routes that list what the caller may see instead of being refused whole: each item is checked (see `visibleIn`). */
export const FILTERED_READS: readonly string[] = ['/applications', '/events'];

/** The question deciding whether a namespace's rows (an application, its events) are shown: `list restorepoints` there. */
export function visibleIn(namespace?: string): Access {
  return { verb: 'list', resource: 'restorepoints', ...(namespace ? { namespace } : {}) };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // the route itself answers 400 for a malformed escape
  }
}

/** Token-file roles in these terms: `read` may get and list everything, `operate` may also create. */
export function roleAllows(role: Role, a: Access): boolean {
  return a.verb !== 'create' || role === 'operate';
}

/**
 * kube-apiserver's forbidden text (responsewriters.Forbidden + apierrors.NewForbidden), so a 403 from Coffer reads
 * like one from the cluster: `restores.coffer.dev is forbidden: User "u" cannot create resource "restores" in API
 * group "coffer.dev" in the namespace "other"`, then `: <reason>` when the authorizer gave one.
 */
export function forbiddenMessage(user: string, a: Access, reason?: string): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace ? `in the namespace ${JSON.stringify(a.namespace)}` : 'at the cluster scope';
  const why = `User ${JSON.stringify(user)} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(API_GROUP)} ${where}`;
  return `${a.resource}.${API_GROUP}${a.name ? ` ${JSON.stringify(a.name)}` : ''} is forbidden: ${why}${reason ? `: ${reason}` : ''}`;
}
