/**
 * Which endpoint the API server's service proxy connects to, as a table. Cases from the Kubernetes docs ("Manually
 * constructing apiserver proxy URLs": `/api/v1/namespaces/NS/services/[https:]NAME[:PORT_NAME]/proxy`) and the
 * Service/Endpoints relation (an Endpoints port carries the Service port's name). Without an Endpoints object the
 * sandbox falls back to Ready pods the selector matches, on loopback (pods share the host network here). The proxy
 * end to end: test/cli/doctor.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { KObject } from '../../sandbox/api/object.ts';
import { resolveServiceEndpoint, splitSchemeNamePort, type ProxyStore } from '../../sandbox/api/service-proxy.ts';

const svc = (name: string, spec: Record<string, unknown>): KObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'ns' }, spec }) as unknown as KObject;
const pod = (name: string, ready: boolean, ports: { name: string; containerPort: number }[] = []): KObject =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', labels: { app: 'web' } }, spec: { containers: [{ name: 'c', ports }] }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } }) as unknown as KObject;
const store = (objects: KObject[]): ProxyStore => ({
  get: (plural, _ns, name) => objects.find((o) => o.metadata.name === name && o.kind === (plural === 'services' ? 'Service' : 'Endpoints')),
  pods: () => objects.filter((o) => o.kind === 'Pod'),
});
const endpoints = (name: string, subsets: unknown[]): KObject => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'ns' }, subsets }) as unknown as KObject;

describe('splitSchemeNamePort', () => {
  it.each([
    ['api', { scheme: '', name: 'api', port: '' }],
    ['api:http', { scheme: '', name: 'api', port: 'http' }],
    ['https:api:443', { scheme: 'https', name: 'api', port: '443' }],
    ['ftp:api:21', undefined],
    [':http', undefined],
  ])('%s', (ref, want) => expect(splitSchemeNamePort(ref)).toEqual(want));
});

describe('resolveServiceEndpoint', () => {
  const two = svc('api', { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9090, targetPort: 'metrics' }], selector: { app: 'web' } });
  const cases: { name: string; objects: KObject[]; ref: string; want?: object; error?: string }[] = [
    { name: 'Endpoints: the address at the port named like the Service port', objects: [two, endpoints('api', [{ addresses: [{ ip: '10.0.0.7' }], ports: [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9100 }] }])], ref: 'api:metrics', want: { host: '10.0.0.7', port: 9100, scheme: 'http' } },
    { name: 'a Service port by number', objects: [two, endpoints('api', [{ addresses: [{ ip: '10.0.0.7' }], ports: [{ name: 'http', port: 8080 }] }])], ref: 'api:80', want: { host: '10.0.0.7', port: 8080, scheme: 'http' } },
    { name: 'Endpoints without a ready address: no endpoints', objects: [two, endpoints('api', [{ notReadyAddresses: [{ ip: '10.0.0.7' }], ports: [{ name: 'http', port: 8080 }] }])], ref: 'api:http', error: 'no endpoints available for service "api:http"' },
    { name: 'no Endpoints object: a Ready pod of the selector, numeric targetPort, on loopback', objects: [two, pod('a', false), pod('b', true)], ref: 'api:http', want: { host: '127.0.0.1', port: 8080, scheme: 'http' } },
    { name: 'no Endpoints object: a named targetPort is the container port of that name', objects: [two, pod('b', true, [{ name: 'metrics', containerPort: 9100 }])], ref: 'api:metrics', want: { host: '127.0.0.1', port: 9100, scheme: 'http' } },
    { name: 'only pods that are not Ready: no endpoints', objects: [two, pod('a', false)], ref: 'api:http', error: 'no endpoints available for service "api:http"' },
    { name: 'one port: no port needed', objects: [svc('one', { ports: [{ port: 80, targetPort: 8080 }], selector: { app: 'web' } }), pod('b', true)], ref: 'one', want: { host: '127.0.0.1', port: 8080, scheme: 'http' } },
    { name: 'an unknown port name', objects: [two], ref: 'api:grpc', error: 'no service port "grpc" found for service "api"' },
    { name: 'no such Service', objects: [], ref: 'api', error: 'services "api" not found' },
  ];
  it.each(cases)('$name', (c) => {
    if (c.error) expect(() => resolveServiceEndpoint(store(c.objects), 'ns', c.ref)).toThrow(c.error);
    else expect(resolveServiceEndpoint(store(c.objects), 'ns', c.ref)).toEqual(c.want);
  });
});
