/**
 * From an HTTP request to what the authorizer is asked (apiserver's
 * RequestInfoFactory): `/api/v1/...` and `/apis/GROUP/VERSION/...` are resource
 * requests, everything else is a non-resource path with the lower-cased HTTP
 * method as its verb. GET without a name is `list` (or `watch` with
 * `?watch=true` or the `/watch/` prefix), DELETE without a name is
 * `deletecollection`, and a list or watch selecting one object by
 * `fieldSelector=metadata.name=X` carries that name, so `resourceNames` rules
 * can allow watching a single object.
 */
import type { Attributes, UserInfo } from '../auth/types.ts';

export interface RequestInfo {
  resourceRequest: boolean;
  path: string;
  verb: string;
  apiPrefix?: string;
  apiGroup?: string;
  apiVersion?: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** `path` is the URL path (not decoded); `query` its search parameters. */
export function requestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const info: RequestInfo = { resourceRequest: false, path, verb: method.toLowerCase() };
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  let parts = trimmed === '' ? [] : trimmed.split('/');
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return info;
  const prefix = parts[0];
  parts = parts.slice(1);
  let group = '';
  if (prefix === 'apis') {
    if (parts.length < 3) return info;
    group = parts[0];
    parts = parts.slice(1);
  }
  const out: RequestInfo = { ...info, resourceRequest: true, apiPrefix: prefix, apiGroup: group, apiVersion: parts[0] };
  parts = parts.slice(1).map((p) => (p.includes('%') ? safeDecode(p) : p));
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) return out;
    out.verb = parts[0];
    parts = parts.slice(1);
  } else out.verb = METHOD_VERBS[method.toUpperCase()] ?? '';

  out.namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    out.namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) parts = parts.slice(2);
  }

  if (parts.length >= 3 && out.verb !== 'proxy') out.subresource = parts[2];
  if (parts.length >= 2) out.name = parts[1];
  if (parts.length >= 1) out.resource = parts[0];

  if (!out.name && out.verb === 'get') {
    const w = query.getAll('watch');
    out.verb = w.length && !['false', '0'].includes(w[0].toLowerCase()) ? 'watch' : 'list';
    const byName = exactName(query.get('fieldSelector'));
    if (byName) out.name = byName;
  }
  if (!out.name && out.verb === 'delete') out.verb = 'deletecollection';
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The name a field selector pins (`metadata.name=x` or `==x`, possibly among other terms), as RequiresExactMatch finds it. */
function exactName(sel: string | null): string | undefined {
  if (!sel) return undefined;
  for (const term of sel.split(',')) {
    const m = term.trim().match(/^metadata\.name(==?)(.*)$/);
    if (m && m[2] && !/[/%]/.test(m[2]) && m[2] !== '.' && m[2] !== '..') return m[2];
  }
  return undefined;
}

/** The authorizer's view of a request described by `info`. */
export function attributesOf(user: UserInfo, info: RequestInfo): Attributes {
  if (!info.resourceRequest) return { user, verb: info.verb, resourceRequest: false, path: info.path };
  return { user, verb: info.verb, resourceRequest: true, apiGroup: info.apiGroup, apiVersion: info.apiVersion, resource: info.resource, subresource: info.subresource ?? '', namespace: info.namespace, name: info.name ?? '' };
}

/** A request's authorization attributes from its method and raw URL (path and query), e.g. for an audit record. */
export function requestAttributes(method: string, rawUrl: string, user: UserInfo): Attributes {
  // Origin-form without dot segments (`/api/v1/pods?watch=1`, nearly every request) is split by hand: this runs for
  // every request (the audit). Anything URL parsing would rewrite goes through URL, as routing does.
  if (rawUrl.startsWith('/') && !/\/\.\.?(\/|\?|$)|%2e/i.test(rawUrl)) {
    const q = rawUrl.indexOf('?');
    return attributesOf(user, requestInfo(method, q < 0 ? rawUrl : rawUrl.slice(0, q), new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1))));
  }
  const url = new URL(rawUrl, 'http://sandbox');
  return attributesOf(user, requestInfo(method, url.pathname, url.searchParams));
}
