/**
 * The API server's proxy to a Service (`GET /api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH`), as
 * kube-apiserver serves it to `kubectl get --raw` and to tools that check an in-cluster endpoint from outside: RBAC
 * `get services/proxy` (checked before, like every request), then an endpoint of the Service — its Endpoints object's
 * first ready address with the port named like the Service port, or, without one (the sandbox runs no endpoints
 * controller), a Running and Ready pod its selector matches at its target port. Pods share the host network here, so a
 * pod's port is reached on 127.0.0.1. Errors read like kube-apiserver's: 404 `services "x" not found`, 503 `no
 * endpoints available for service "x"`, 503 `error trying to reach service: …`.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { ApiError } from './errors.ts';
import type { KObject } from './object.ts';

export const SERVICE_PROXY_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/proxy(\/.*)?$/;

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
}

/** What the proxy reads of the cluster: objects by plural and name, pods of a namespace. */
export interface ProxyStore {
  get(plural: 'services' | 'endpoints', namespace: string, name: string): KObject | undefined;
  pods(namespace: string): Iterable<KObject>;
}

/** `[scheme:]name[:port]`, as kube-apiserver's SplitSchemeNamePort reads the proxy's name segment. */
export function splitSchemeNamePort(ref: string): { scheme: string; name: string; port: string } | undefined {
  const parts = ref.split(':');
  const [scheme, name, port] = parts.length === 1 ? ['', parts[0]!, ''] : parts.length === 2 ? ['', parts[0]!, parts[1]!] : parts.length === 3 ? [parts[0]!, parts[1]!, parts[2]!] : [];
  if (!name || (scheme && scheme !== 'http' && scheme !== 'https')) return undefined;
  return { scheme: scheme ?? '', name, port: port ?? '' };
}

/** Where the proxy connects for this Service reference: host and port, or the reason there is none. Pure over `store`. */
export function resolveServiceEndpoint(store: ProxyStore, namespace: string, ref: string): { host: string; port: number; scheme: string } {
  const parsed = splitSchemeNamePort(ref);
  if (!parsed) throw new ApiError(400, 'BadRequest', `invalid service request ${JSON.stringify(ref)}`);
  const svc = store.get('services', namespace, parsed.name);
  if (!svc) throw new ApiError(404, 'NotFound', `services ${JSON.stringify(parsed.name)} not found`, { kind: 'services', name: parsed.name });
  const spec = (svc.spec ?? {}) as { ports?: ServicePort[]; selector?: Record<string, string> };
  const ports = spec.ports ?? [];
  const svcPort = parsed.port ? ports.find((p) => p.name === parsed.port || String(p.port) === parsed.port) : ports.length === 1 ? ports[0] : ports.find((p) => !p.name) ?? ports[0];
  if (!svcPort) throw new ApiError(503, 'ServiceUnavailable', `no service port ${JSON.stringify(parsed.port)} found for service ${JSON.stringify(parsed.name)}`);
  const none = new ApiError(503, 'ServiceUnavailable', `no endpoints available for service ${JSON.stringify(ref)}`);
  const scheme = parsed.scheme || 'http';
  const endpoints = store.get('endpoints', namespace, parsed.name) as (KObject & { subsets?: { addresses?: { ip: string }[]; ports?: { name?: string; port: number }[] }[] }) | undefined;
  if (endpoints) {
    for (const subset of endpoints.subsets ?? []) {
      const port = (subset.ports ?? []).find((p) => (p.name ?? '') === (svcPort.name ?? ''));
      const address = subset.addresses?.[0];
      if (port && address) return { host: address.ip, port: port.port, scheme };
    }
    throw none;
  }
  if (!spec.selector || !Object.keys(spec.selector).length) throw none;
  for (const pod of store.pods(namespace)) {
    const labels = pod.metadata.labels ?? {};
    if (!Object.entries(spec.selector).every(([k, v]) => labels[k] === v) || pod.metadata.deletionTimestamp) continue;
    const status = (pod.status ?? {}) as { phase?: string; conditions?: { type: string; status: string }[] };
    if (status.phase !== 'Running' || !status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
    const target = svcPort.targetPort ?? svcPort.port;
    if (typeof target === 'number') return { host: '127.0.0.1', port: target, scheme };
    const containers = ((pod.spec ?? {}) as { containers?: { ports?: { name?: string; containerPort: number }[] }[] }).containers ?? [];
    const named = containers.flatMap((c) => c.ports ?? []).find((p) => p.name === target);
    if (named) return { host: '127.0.0.1', port: named.containerPort, scheme };
  }
  throw none;
}

/** Forwards the request to the endpoint and streams the answer back (status, headers, body). */
export function forwardToService(req: IncomingMessage, res: ServerResponse, to: { host: string; port: number; scheme: string }, path: string, search: string): Promise<void> {
  if (to.scheme === 'https') return Promise.reject(new ApiError(503, 'ServiceUnavailable', 'error trying to reach service: https endpoints are not proxied by this sandbox'));
  const headers = { ...req.headers };
  // The caller's credentials are for the API server, not for what runs behind the Service.
  delete headers.authorization;
  delete headers.host;
  return new Promise((resolve, reject) => {
    const out = httpRequest({ host: to.host, port: to.port, method: req.method, path: `${path || '/'}${search}`, headers, timeout: 30_000 }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', () => resolve());
      answer.on('error', reject);
    });
    out.on('timeout', () => out.destroy(new Error('timeout awaiting response headers')));
    out.on('error', (e) => reject(new ApiError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${to.host}:${to.port}: ${e.message}`)));
    req.pipe(out);
  });
}
