/**
 * A request's authorization attributes from its method and URL, following
 * apiserver's RequestInfoFactory: `/api/v1/…` and `/apis/G/V/…` are resource
 * requests (namespace, resource, name, subresource; GET without a name is
 * list or watch, DELETE without a name deletecollection); everything else —
 * `/healthz`, `/version`, discovery roots — is a non-resource path whose verb
 * is the lower-cased HTTP method.
 */
import type { Attributes, UserInfo } from './types.ts';

const VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
/** `namespaces/NS/status` and `…/finalize` are subresources of the Namespace, not resources in it. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function requestAttributes(method: string, rawUrl: string, user: UserInfo): Attributes {
  // Origin-form (`/api/v1/pods?watch=1`) is split by hand: this runs for every request (the audit). Anything the
  // server's URL parsing would rewrite (dot segments, encoded dots, absolute-form) goes through URL, as routing does.
  const simple = rawUrl.startsWith('/') && !/\/\.\.?(\/|\?|$)|%2e/i.test(rawUrl);
  const target = simple ? rawUrl : (() => {
    const u = new URL(rawUrl, 'http://sandbox');
    return `${u.pathname}${u.search}`;
  })();
  const qi = target.indexOf('?');
  const path = qi < 0 ? target : target.slice(0, qi);
  const nonResource: Attributes = { user, verb: method.toLowerCase(), resourceRequest: false, path };
  const segs = path.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  let apiGroup: string;
  let apiVersion: string;
  let parts: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    apiGroup = '';
    apiVersion = segs[1]!;
    parts = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    apiGroup = segs[1]!;
    apiVersion = segs[2]!;
    parts = segs.slice(3);
  } else return nonResource;

  let verb = VERBS[method.toUpperCase()] ?? method.toLowerCase();
  if (parts[0] === 'watch' && parts.length > 1) {
    verb = 'watch';
    parts = parts.slice(1);
  }
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  const [resource, name, subresource] = parts;
  if (!name) {
    const watch = qi < 0 ? null : new URLSearchParams(target.slice(qi + 1)).get('watch');
    if (verb === 'get') verb = watch === 'true' || watch === '1' ? 'watch' : 'list';
    else if (verb === 'delete') verb = 'deletecollection';
  }
  return {
    user,
    verb,
    resourceRequest: true,
    apiGroup,
    apiVersion,
    resource,
    ...(subresource ? { subresource } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name ? { name } : {}),
  };
}
