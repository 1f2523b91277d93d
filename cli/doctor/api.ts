import { KubeApiError, type KubeClient } from '../../reconciler/kube/client.ts';
import type { Finding } from './local.ts';

/** What `/healthz` of `coffer run --listen` answers (reconciler/server/http.ts, always 200). */
export interface Healthz {
  status?: string;
  role?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
}

/** Service `coffer` of deploy/base/service.yaml, in Coffer's namespace. */
export const DEFAULT_API_SERVICE = 'coffer';

/**
 * The in-cluster Coffer API, checked from outside the way kubectl reaches a Service: `GET /healthz` through the API
 * server's service proxy (`get services/proxy` on it). Not installed (no Service) only warns — the CLI works without
 * it; a Service that does not answer, or answers with a False condition (a missing Git token Secret, a policy commit
 * that does not compile), is a problem naming the Service and what to look at.
 */
export async function apiFindings(client: KubeClient, opts: { namespace: string; service?: string }): Promise<Finding[]> {
  const ref = opts.service ?? DEFAULT_API_SERVICE;
  const name = ref.split(':')[0]!;
  const what = `Service ${opts.namespace}/${name}`;
  const describe = `kubectl -n ${opts.namespace} describe deployment coffer (its Events say what is wrong) and kubectl -n ${opts.namespace} logs deployment/coffer`;
  let svc;
  try {
    svc = await client.find('v1', 'services', opts.namespace, name);
  } catch (e) {
    return [{ check: 'api', ok: false, optional: true, detail: `${what} not checked: ${(e as Error).message}` }];
  }
  if (!svc) return [{ check: 'api', ok: false, optional: true, detail: `${what} not found: the in-cluster controller and its API are not installed (the CLI works without them)`, fix: `kubectl apply -k deploy/overlays/production, or pass --api-service NAME if it is called otherwise` }];
  let h: Healthz | undefined;
  try {
    h = await client.request<Healthz>('GET', `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/services/${encodeURIComponent(ref)}/proxy/healthz`, { timeoutMs: 10_000 });
  } catch (e) {
    const forbidden = e instanceof KubeApiError && e.status === 403;
    return [
      forbidden
        ? { check: 'api', ok: false, optional: true, detail: `${what} not checked: the current identity may not get services/proxy in ${opts.namespace}` }
        : { check: 'api', ok: false, detail: `${what} does not answer /healthz: ${(e as Error).message}`, fix: `kubectl -n ${opts.namespace} get deployment,pods,endpoints ${name}; ${describe}` },
    ];
  }
  const conditions = h?.conditions ?? [];
  const shown = conditions.map((c) => `${c.type}=${c.status}`).join(', ') || 'none';
  const failing = conditions.filter((c) => c.status === 'False');
  if (!h?.status) return [{ check: 'api', ok: false, detail: `${what} answered /healthz without a status: is it Coffer?`, fix: describe }];
  if (failing.length || h.status === 'degraded') {
    if (!failing.length) return [{ check: 'api', ok: false, detail: `${what} answers /healthz but is degraded (its last reconcile failed; conditions ${shown})`, fix: describe }];
    return [{ check: 'api', ok: false, detail: `${what} answers /healthz but is ${h.status}: ${failing.map((c) => `${c.type}=False (${c.reason ?? 'no reason'}: ${c.message ?? ''})`).join('; ')}`, fix: describe }];
  }
  return [{ check: 'api', ok: true, detail: `${what} answers /healthz: ${h.status}${h.role ? `, ${h.role}` : ''}; conditions ${shown}` }];
}
