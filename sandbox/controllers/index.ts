/**
 * Entry point the sandbox API server calls once it listens: starts every
 * controller (scheduler/kubelet, workloads, storage, snapshots) as ordinary API
 * clients over HTTP and returns the pod subresource handlers it must route to.
 */
import type { ControllerOptions, RunningControllers } from '../runtime/types.ts';

export type { ControllerOptions, RunningControllers, PodSubresources, PodTarget } from '../runtime/types.ts';

export async function startControllers(opts: ControllerOptions): Promise<RunningControllers> {
  void opts;
  const notReady = (res: import('node:http').ServerResponse) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'pod runtime not started', reason: 'ServiceUnavailable', code: 503 }));
  };
  return {
    podSubresources: {
      async log(_req, res) { notReady(res); },
      async exec(_req, socket) { socket.end('HTTP/1.1 503 Service Unavailable\r\n\r\n'); },
      async attach(_req, socket) { socket.end('HTTP/1.1 503 Service Unavailable\r\n\r\n'); },
    },
    async stop() {},
  };
}
