/**
 * `startSandbox()`: a local Kubernetes API server on loopback with its state
 * under a directory, the sandbox-runtime controllers attached, and a
 * kubeconfig that kubectl and @kubernetes/client-node accept. Each call is an
 * independent cluster on its own port, so every test can have one.
 */
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServer } from './api/server.ts';
import { Store } from './api/store.ts';
import { Persistence } from './api/persist.ts';
import { SNAPSHOT_CRDS, SYSTEM_NAMESPACES } from './api/bootstrap.ts';
import { Authenticator } from './api/auth/authenticator.ts';
import { loadCredentials } from './api/auth/pki.ts';
import { BOOTSTRAP_CLUSTER_ROLES, BOOTSTRAP_CLUSTER_ROLE_BINDINGS } from './api/rbac/policy.ts';
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
  /**
   * Authentication and authorization of requests (default true). False serves
   * every caller as the admin: only for measuring what enforcement costs.
   */
  enforce?: boolean;
}

export interface Sandbox {
  /** `DIR/kubeconfig`, for `KUBECONFIG=` when spawning kubectl. */
  kubeconfigPath: string;
  /** `http://127.0.0.1:PORT`: plain HTTP on the same port, for quick requests on loopback (send `adminToken`). */
  url: string;
  /** `https://127.0.0.1:PORT`, what the kubeconfig and in-cluster clients use (CA: `caPem`). */
  httpsUrl: string;
  /** The CA that signed the serving certificate (`DIR/pki/ca.crt`). */
  caPem: string;
  /** The cluster-admin bearer token of the kubeconfig (`DIR/pki/admin.token`, kept across restarts). */
  adminToken: string;
  /** The admin kubeconfig (HTTPS, the sandbox CA, the admin token). */
  kubeConfig: KubeConfig;
  dir: string;
  server: ApiServer;
  /**
   * A kubeconfig (written under DIR) for user NAME in `groups` plus
   * `system:authenticated`, authenticated by a static token as with
   * kube-apiserver's `--token-auth-file`. Returns its path.
   */
  userKubeconfig(name: string, groups?: readonly string[]): string;
  stop(): Promise<void>;
}

/**
 * The kubeconfig text for a sandbox at `url`. With `caPem` the server is
 * verified against it; without (a plain-HTTP URL) client-node needs
 * insecure-skip-tls-verify to accept `http://` at all.
 */
export function kubeconfigYaml(url: string, auth: { token?: string; caPem?: string } = {}): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: coffer-sandbox',
    '  cluster:',
    `    server: ${url}`,
    auth.caPem ? `    certificate-authority-data: ${Buffer.from(auth.caPem).toString('base64')}` : '    insecure-skip-tls-verify: true',
    'users:',
    '- name: coffer-sandbox',
    '  user:',
    `    token: ${auth.token ?? 'sandbox'}`,
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
  // State directories from before the root-CA publisher existed get their ConfigMaps too.
  for (const ns of server.store.list('namespaces')) server.ensureRootCa(ns.metadata.name!);
  for (const o of [...BOOTSTRAP_CLUSTER_ROLES, ...BOOTSTRAP_CLUSTER_ROLE_BINDINGS]) server.ensure(o);
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const owned = !opts.dir;
  const dir = resolve(opts.dir ?? mkdtempSync(join(tmpdir(), 'coffer-sandbox-')));
  mkdirSync(dir, { recursive: true });
  const log = opts.log ?? (() => {});
  const store = new Store();
  const persistence = new Persistence(join(dir, 'state'), store);
  persistence.load();
  let creds;
  try {
    creds = await loadCredentials(dir);
  } catch (e) {
    persistence.close();
    throw e;
  }
  const authenticator = new Authenticator({ lookup: store, signingKey: creds.saPrivateKey, publicKey: creds.saPublicKey, adminToken: creds.adminToken });
  const server = new ApiServer({ store, log, authenticator, enforce: opts.enforce, tls: { cert: creds.serverCertPem, key: creds.serverKeyPem }, rootCaPem: creds.caPem });
  bootstrap(server);
  let url: string;
  try {
    url = await server.listen(opts.port ?? 0);
  } catch (e) {
    persistence.close();
    throw e;
  }
  const httpsUrl = server.httpsUrl!;
  const kubeconfigPath = join(dir, 'kubeconfig');
  const kubeconfigText = kubeconfigYaml(httpsUrl, { token: creds.adminToken, caPem: creds.caPem });
  writeFileSync(kubeconfigPath, kubeconfigText, { mode: 0o600 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(kubeconfigText);

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
    httpsUrl,
    caPem: creds.caPem,
    adminToken: creds.adminToken,
    kubeConfig,
    dir,
    server,
    userKubeconfig(name, groups = []) {
      const token = randomBytes(24).toString('base64url');
      authenticator.addStaticToken(token, name, groups);
      const path = join(dir, `kubeconfig-user-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
      writeFileSync(path, kubeconfigYaml(httpsUrl, { token, caPem: creds.caPem }), { mode: 0o600 });
      return path;
    },
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
