/**
 * The contract between the sandbox API server (owned by sandbox-api) and the pod
 * runtime (sandbox-runtime). The API server routes pod subresources that need a
 * live process — `log`, `exec`, `attach` — to these handlers; everything else
 * about pods is plain storage the controllers read and write over HTTP.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Which pod a subresource request addresses, plus its parsed query string. */
export interface PodTarget {
  namespace: string;
  name: string;
  /** The request's query string, e.g. `container`, `follow`, `tailLines`, `command` (repeated), `stdin`, `tty`. */
  query: URLSearchParams;
}

export interface PodSubresources {
  /**
   * `GET /api/v1/namespaces/NS/pods/NAME/log` — writes the container's log as
   * `text/plain` (query: container, follow, tailLines, limitBytes, sinceSeconds,
   * timestamps, previous). Errors are written as Kubernetes `Status` JSON with the
   * matching HTTP code (400 when the container is ambiguous, 404 when missing).
   */
  log(req: IncomingMessage, res: ServerResponse, target: PodTarget): Promise<void>;

  /**
   * HTTP upgrade of `GET|POST /api/v1/namespaces/NS/pods/NAME/exec` to a WebSocket
   * (subprotocols v5/v4/v3/v2/channel.k8s.io, as kubectl ≥1.30 and
   * @kubernetes/client-node speak). The handler completes the handshake itself
   * on `socket`. Called only for requests with `Upgrade: websocket`; for
   * non-upgrade requests call `rejectNonUpgrade`-style behaviour: the API server
   * may answer 400 itself.
   */
  exec(req: IncomingMessage, socket: Duplex, head: Buffer, target: PodTarget): Promise<void>;

  /** Same protocol as exec, attaching to the running container's stdio (stdin only when the container has `stdin: true`). */
  attach(req: IncomingMessage, socket: Duplex, head: Buffer, target: PodTarget): Promise<void>;
}

/** What `startControllers` needs: how to reach the API server, and where to keep volumes, logs and snapshots. */
export interface ControllerOptions {
  /** A KubeConfig (from @kubernetes/client-node) pointing at the sandbox API server. */
  kubeConfig: import('@kubernetes/client-node').KubeConfig;
  /** The sandbox's state directory (DIR); the runtime uses DIR/volumes, DIR/pods, DIR/snapshots. */
  dataDir: string;
  /** How many Nodes to register (`sandbox`, `sandbox-worker`, `sandbox-worker2`, …); default: the count remembered in DIR/nodes, else 1. */
  nodes?: number;
  /** Log sink for controller diagnostics (default: silent). */
  log?: (line: string) => void;
}

export interface RunningControllers {
  podSubresources: PodSubresources;
  /** Stops every watch and kills every pod process (SIGTERM, then SIGKILL); resolves when all are gone. */
  stop(): Promise<void>;
}
