/**
 * `startSandbox()`: a local Kubernetes API server on loopback with its state
 * under a directory, the sandbox-runtime controllers attached, and a
 * kubeconfig that kubectl and @kubernetes/client-node accept. Each call is an
 * independent cluster on its own port, so every test can have one.
 */
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServer } from './api/server.ts';
import { Store } from './api/store.ts';
import { Persistence } from './api/persist.ts';
import { SNAPSHOT_CRDS, SYSTEM_NAMESPACES } from './api/bootstrap.ts';
import type { RunningControllers } from './runtime/types.ts';

export interface SandboxOptions {
  /** State directory (objects, volumes, pod logs). Default: a fresh temporary directory, removed on stop. */
  dir?: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Start sandbox-runtime's controllers (storage, snapshots, workloads, pods). Default true. */
  controllers?: boolean;
  /** Nodes to register (1–64); default: the count remembered in DIR, else 1. */
  nodes?: number;
  /** Diagnostics sink (default silent). */
  log?: (line: string) => void;
}

export interface Sandbox {
  /** `DIR/kubeconfig`, for `KUBECONFIG=` when spawning kubectl. */
  kubeconfigPath: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  kubeConfig: KubeConfig;
  dir: string;
  server: ApiServer;
  stop(): Promise<void>;
}

/** The kubeconfig text for a sandbox at `url` (plain HTTP, so client-node needs insecure-skip-tls-verify). */
export function kubeconfigYaml(url: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: coffer-sandbox',
    '  cluster:',
    `    server: ${url}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: coffer-sandbox',
    '  user:',
    '    token: sandbox',
    'contexts:',
    '- name: coffer-sandbox',
    '  context:',
    '    cluster: coffer-sandbox',
    '    user: coffer-sandbox',
    '    namespace: default',
    'current-context: coffer-sandbox',
    'preferences: {}',
    '',
  ].join('\n');
}

/** Seeds the objects every cluster has; idempotent, so a restart over an existing DIR changes nothing. */
export function bootstrap(server: ApiServer): void {
  for (const ns of SYSTEM_NAMESPACES) server.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  server.ensure({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }], sessionAffinity: 'None', type: 'ClusterIP' },
  });
  for (const crd of SNAPSHOT_CRDS) server.ensure(crd);
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const owned = !opts.dir;
  const dir = resolve(opts.dir ?? mkdtempSync(join(tmpdir(), 'coffer-sandbox-')));
  mkdirSync(dir, { recursive: true });
  const log = opts.log ?? (() => {});
  const store = new Store();
  const persistence = new Persistence(join(dir, 'state'), store);
  persistence.load();
  const server = new ApiServer({ store, log });
  bootstrap(server);
  let url: string;
  try {
    url = await server.listen(opts.port ?? 0);
  } catch (e) {
    persistence.close();
    throw e;
  }
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigYaml(url), { mode: 0o600 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(kubeconfigYaml(url));

  let controllers: RunningControllers | undefined;
  if (opts.controllers !== false) {
    try {
      const mod = (await import('./controllers/index.ts')) as typeof import('./controllers/index.ts');
      controllers = await mod.startControllers({ kubeConfig, dataDir: dir, nodes: opts.nodes, log });
      server.podSubresources = controllers.podSubresources;
    } catch (e) {
      await server.close();
      persistence.close();
      throw e;
    }
  }

  let stopped = false;
  return {
    kubeconfigPath,
    url,
    kubeConfig,
    dir,
    server,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await controllers?.stop();
      } finally {
        await server.close();
        persistence.close();
        if (owned) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
