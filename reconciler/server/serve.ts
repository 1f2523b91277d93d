import { RunningRuns } from '../run-cancel.ts';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import { LeaseLock } from '../lease/index.ts';
import { CofferMetrics } from '../metrics/index.ts';
import type { LoopOptions } from '../loop.ts';
import type { ReconcileOptions } from '../reconcile.ts';
import { TokenStore } from './auth.ts';
import { createCofferServer, listen, parseListen } from './http.ts';
import { EventRecorder, findInvolvedObject } from '../kube/events.ts';
import { JobStore } from './job-store.ts';
import { KubeIdentities } from './kube-auth.ts';
import { Live } from './live.ts';
import { MIN_SECRET_LENGTH } from './webhooks.ts';

export class ServeConfigError extends Error {
  readonly code = 'E_SERVE_CONFIG';
}

export interface ServeOptions {
  /** HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one). */
  listen: string;
  source: GitSource;
  client: KubeClient;
  kubeConfig: KubeConfig;
  /** Lease namespace and this replica's identity (on-demand backups take the Lease as `<identity>-api`). */
  leaseNamespace: string;
  identity: string;
  env: NodeJS.ProcessEnv;
  /** File holding the webhook secret; else $COFFER_WEBHOOK_SECRET. Never a flag value (it would show in `ps`). */
  webhookSecretFile?: string;
  /** `token,name,role` lines (a mounted Secret). */
  apiTokensFile?: string;
  /** Accept Kubernetes bearer tokens (TokenReview) and authorize calls with SubjectAccessReview (default true). */
  kubernetesAuth?: boolean;
  /** Audiences Kubernetes bearer tokens must be meant for (`--api-audience`); default: the API server's. */
  apiAudiences?: string[];
  /** Passed to API backups and restores; `author` signs their catalog commits like the loop's. */
  reconcile?: Pick<ReconcileOptions, 'moverImage' | 'cofferNamespace' | 'concurrency' | 'author'>;
  log: (e: Record<string, unknown>) => void;
  /** On close, how long accepted API backups and restores may still run (default 60 s). */
  drainMs?: number;
  /** Shutdown began: new backup and restore requests get 503. */
  stop?: AbortSignal;
  /** The shutdown deadline passed: API jobs in flight are aborted and recorded as failed. */
  interrupt?: AbortSignal;
}

export interface Serving {
  live: Live;
  metrics: CofferMetrics;
  server: Server;
  url: string;
  /** Stops taking backup/restore requests, waits up to `drainMs` for accepted ones, then closes the server. */
  close(): Promise<void>;
  /**
   * Merges the server's hooks into `runLoop` options: trigger-aware source, wake-ups, metrics and reports, and the
   * registry of runs in flight that POST /api/v1/runs/RUN/cancel (`coffer cancel RUN`) stops one of.
   */
  loopOptions<T extends Pick<LoopOptions, 'source' | 'log' | 'onSummary' | 'onError' | 'onFollower' | 'wake' | 'running' | 'onSweep'>>(o: T): T;
}

/** Reads the webhook secret from a file (trailing newline dropped) or the environment; refuses an empty one. */
export function webhookSecret(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ServeConfigError(`--webhook-secret-file ${file}: ${(e as Error).message}`);
    }
    const secret = text.replace(/\r?\n$/, '');
    if (!secret) throw new ServeConfigError(`--webhook-secret-file ${file}: the file is empty`);
    return longEnough(secret, `--webhook-secret-file ${file}`);
  }
  return env.COFFER_WEBHOOK_SECRET ? longEnough(env.COFFER_WEBHOOK_SECRET, 'COFFER_WEBHOOK_SECRET') : undefined;
}

function longEnough(secret: string, where: string): string {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ServeConfigError(`${where}: the webhook secret is ${secret.length} characters; use at least ${MIN_SECRET_LENGTH} (e.g. openssl rand -hex 20)`);
  }
  return secret;
}

/** `coffer run --listen`: starts the HTTP server and returns what the loop needs to feed it. */
export async function startServing(o: ServeOptions): Promise<Serving> {
  const { host, port } = parseListen(o.listen);
  const secret = webhookSecret(o.webhookSecretFile, o.env);
  let tokens: TokenStore | undefined;
  if (o.apiTokensFile) {
    try {
      tokens = new TokenStore(o.apiTokensFile);
    } catch (e) {
      if ((e as { code?: string }).code === 'E_API_TOKENS') throw e;
      throw new ServeConfigError(`--api-tokens-file ${o.apiTokensFile}: ${(e as Error).message}`);
    }
  }
  const running = new RunningRuns();
  const metrics = new CofferMetrics();
  // API jobs in ConfigMaps of Coffer's namespace: any replica behind the Service answers for any job.
  const jobs = new JobStore({ client: o.client, namespace: o.leaseNamespace, identity: o.identity, log: o.log });
  // Events about this Deployment (or Pod) for every failed condition; none when Coffer runs outside a pod.
  const events = new EventRecorder({ client: o.client, object: () => findInvolvedObject(o.client, o.env), component: 'coffer', instance: o.identity, log: o.log });
  const live = new Live({
    jobs,
    events,
    source: o.source,
    client: o.client,
    metrics,
    log: o.log,
    running,
    reconcile: { ...o.reconcile, env: o.env },
    lease: () => new LeaseLock({ kubeConfig: o.kubeConfig, namespace: o.leaseNamespace, identity: `${o.identity}-api` }),
    ...(o.stop ? { stop: o.stop } : {}),
    ...(o.interrupt ? { interrupt: o.interrupt } : {}),
  });
  // Run cancels asked for on a standby replica reach the one running the run.
  const stopRunCancels = jobs.watchRunCancels(
    () => running.list().map((r) => r.run),
    (run, who) => void live.cancelRun(run, who),
  );
  const kube = o.kubernetesAuth === false ? undefined : new KubeIdentities({ request: (method, path, r) => o.client.request(method, path, r), ...(o.apiAudiences?.length ? { audiences: o.apiAudiences } : {}) });
  const server = createCofferServer({ live, metrics, branch: () => o.source.branch, ...(secret ? { webhookSecret: secret } : {}), ...(tokens ? { tokens } : {}), ...(kube ? { kube } : {}), log: o.log });
  const addr = await listen(server, host, port);
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  o.log({ event: 'listening', url, webhooks: secret ? 'enabled' : 'disabled (no secret)', api: [tokens ? 'token file' : '', kube ? 'Kubernetes identities' : ''].filter(Boolean).join(' + ') || 'disabled' });
  return {
    live,
    metrics,
    server,
    url,
    loopOptions: (l) => ({
      ...l,
      running,
      source: live.loopSource,
      wake: live.trigger.wake,
      log: (e) => {
        l.log?.(e);
        live.onEvent(e);
      },
      onSummary: (s) => {
        l.onSummary?.(s);
        void live.onSummary(s);
      },
      onError: (e) => {
        l.onError?.(e);
        live.onError(e);
      },
      onFollower: (h) => {
        l.onFollower?.(h);
        live.onFollower(h);
      },
      onSweep: (r) => {
        l.onSweep?.(r);
        metrics.observeSweep(r);
      },
    }),
    close: async () => {
      // Stop accepting on-demand backups and restores; let accepted ones finish (they hold the Lease meanwhile).
      await live.drain(o.drainMs ?? 60_000);
      await live.idle().catch(() => undefined);
      jobs.stop();
      stopRunCancels();
      await jobs.flush();
      live.events.close();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      // A client that never reads its response keeps a connection busy forever: give in-flight requests 2 s.
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      await closed;
      clearTimeout(force);
    },
  };
}
