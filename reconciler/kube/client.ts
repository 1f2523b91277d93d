import http from 'node:http';
import https from 'node:https';
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubeObject } from './types.ts';

/** Where the cluster credentials come from: an explicit KubeConfig (the sandbox), a file, `KUBECONFIG`/~/.kube/config, or in-cluster. */
export interface KubeConfigSource {
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  context?: string;
  env?: NodeJS.ProcessEnv;
}

/** A failure answered by the API server, carrying its HTTP status and `Status.reason` so callers can branch on NotFound/Conflict. */
export class KubeApiError extends Error {
  readonly code = 'E_KUBE_API';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** The kubeconfig could not be found or used (named in the message). */
export class KubeConfigError extends Error {
  readonly code = 'E_KUBECONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 404;
}
export function isConflict(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 409;
}

/**
 * Resolves the credentials the same way kubectl does (explicit path, then `KUBECONFIG`, then ~/.kube/config) so
 * `coffer` and `kubectl` always talk to the same cluster. Inside a Pod with none of those, client-node's
 * `loadFromDefault` takes the in-cluster config (the projected ServiceAccount token and CA, `KUBERNETES_SERVICE_HOST`):
 * that is how the deployed controller runs, with its ServiceAccount's identity only (test/reconciler/deploy-install.test.ts).
 */
export function loadKubeConfig(src: KubeConfigSource = {}): KubeConfig {
  if (src.kubeConfig) return src.kubeConfig;
  const kc = new KubeConfig();
  const env = src.env ?? process.env;
  try {
    if (src.kubeconfigPath) kc.loadFromFile(src.kubeconfigPath);
    else if (env.KUBECONFIG) {
      // KUBECONFIG may list several files; client-node merges them like kubectl.
      const saved = process.env.KUBECONFIG;
      process.env.KUBECONFIG = env.KUBECONFIG;
      try {
        kc.loadFromDefault();
      } finally {
        if (saved === undefined) delete process.env.KUBECONFIG;
        else process.env.KUBECONFIG = saved;
      }
    } else kc.loadFromDefault();
  } catch (e) {
    throw new KubeConfigError(`cannot load kubeconfig ${src.kubeconfigPath ?? env.KUBECONFIG ?? '~/.kube/config'}: ${(e as Error).message}`);
  }
  if (src.context) kc.setCurrentContext(src.context);
  if (!kc.getCurrentCluster()) throw new KubeConfigError(`kubeconfig ${src.kubeconfigPath ?? env.KUBECONFIG ?? '~/.kube/config'} has no current cluster`);
  return kc;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Return the raw text instead of parsing JSON (pod logs). */
  text?: boolean;
  /** Give up on a silent API server after this long (default 60 s); a hung connection must not hang a backup run. */
  timeoutMs?: number;
  /** Sees the response headers (coffer doctor reads the server's Date to measure clock skew). */
  onHeaders?: (headers: http.IncomingHttpHeaders) => void;
}

/** API path of a resource collection: `/api/v1/namespaces/ns/pods` or `/apis/apps/v1/deployments`. */
export function collectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${root}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${root}/${plural}`;
}

/** Connections to one API server at once: above any caller's parallelism, well below kube-apiserver's in-flight limit (400). */
const MAX_SOCKETS = 64;
const STALE_SOCKET = Symbol('stale kept-alive socket');

/**
 * A thin dynamic client: raw JSON requests over the kubeconfig's transport (TLS, tokens, exec plugins all handled by
 * client-node), plus the typed-less object API. Everything in the reconciler works on plain objects of any kind, so we
 * never need the generated per-group classes.
 */
export class KubeClient {
  readonly kc: KubeConfig;
  readonly objects: KubernetesObjectApi;
  private readonly server: URL;
  /** Keep-alive agents by TLS identity: client-node makes a new agent (a new TCP + TLS handshake) for every request. */
  private readonly agents = new Map<string, http.Agent>();

  constructor(src: KubeConfigSource | KubeConfig = {}) {
    this.kc = src instanceof KubeConfig ? src : loadKubeConfig(src);
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new KubeConfigError('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.objects = KubernetesObjectApi.makeApiClient(this.kc);
  }

  /** The API server's base URL (for messages). */
  get serverUrl(): string {
    return this.server.toString().replace(/\/$/, '');
  }

  /** One HTTP request to the API server; non-2xx answers become KubeApiError with the server's own message. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const reqOpts: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(reqOpts);
    const agent = this.keepAliveAgent(url, reqOpts);
    if (agent) reqOpts.agent = agent;
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    if (body) {
      (reqOpts.headers as Record<string, string | number>)['Content-Type'] = opts.contentType ?? 'application/json';
      (reqOpts.headers as Record<string, string | number>)['Content-Length'] = body.length;
    }
    const mod = url.protocol === 'https:' ? https : http;
    const send = () => new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = mod.request(url, reqOpts, (res) => {
        opts.onHeaders?.(res.headers);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (e) => {
        // The server may close an idle kept-alive connection just as we reuse it; the request never reached it.
        if (req.reusedSocket && (e as NodeJS.ErrnoException).code === 'ECONNRESET') return reject(STALE_SOCKET);
        reject(e instanceof KubeApiError ? e : new KubeApiError(0, 'ConnectionError', `cannot reach the Kubernetes API at ${this.serverUrl}: ${e.message}`, method, path));
      });
      const timeoutMs = opts.timeoutMs ?? 60_000;
      req.setTimeout(timeoutMs, () => req.destroy(new KubeApiError(0, 'Timeout', `${method} ${path}: no answer from the Kubernetes API at ${this.serverUrl} within ${timeoutMs / 1000}s`, method, path)));
      if (body) req.write(body);
      req.end();
    });
    const { status, text } = await send().catch((e: unknown) => (e === STALE_SOCKET ? send() : Promise.reject(e)));
    if (status < 200 || status >= 300) {
      let reason = 'Unknown';
      let message = text.slice(0, 500) || `HTTP ${status}`;
      try {
        const st = JSON.parse(text) as { reason?: string; message?: string };
        reason = st.reason ?? reason;
        message = st.message ?? message;
      } catch {
        /* not a Status object */
      }
      throw new KubeApiError(status, reason, `${method} ${path}: ${message}`, method, path);
    }
    if (opts.text) return text as T;
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * One keep-alive agent per TLS identity (CA, client certificate, verification), with client-node's TLS options;
   * none behind a proxy, where client-node's proxy agent must be used.
   */
  private keepAliveAgent(url: URL, o: https.RequestOptions): http.Agent | undefined {
    if (this.kc.getCurrentCluster()?.proxyUrl) return undefined;
    const tlsKey = [url.protocol, o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername].map((v) => String(v ?? '')).join('\0');
    let agent = this.agents.get(tlsKey);
    if (!agent) {
      const common = { keepAlive: true, maxSockets: MAX_SOCKETS };
      agent = url.protocol === 'https:'
        ? new https.Agent({ ...common, ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase, servername: o.servername, ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}) })
        : new http.Agent(common);
      // Credentials rotate rarely (exec plugins, projected certificates); old agents' idle sockets simply time out.
      if (this.agents.size >= 4) this.agents.clear();
      this.agents.set(tlsKey, agent);
    }
    return agent;
  }

  /** Every item of a collection, following `continue` tokens so huge namespaces are read in bounded pages. */
  async *listPaged(apiVersion: string, plural: string, namespace?: string, opts: { labelSelector?: string; fieldSelector?: string; pageSize?: number } = {}): AsyncGenerator<KubeObject> {
    let cont: string | undefined;
    const kindFromList = (listKind?: string) => (listKind?.endsWith('List') ? listKind.slice(0, -4) : undefined);
    do {
      const page = await this.request<{ kind?: string; metadata?: { continue?: string }; items?: KubeObject[] }>('GET', collectionPath(apiVersion, plural, namespace), {
        query: { limit: opts.pageSize ?? 500, continue: cont, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
      });
      const kind = kindFromList(page.kind);
      for (const item of page.items ?? []) {
        // Lists omit apiVersion/kind on items; put them back so every object is self-describing.
        yield { ...item, apiVersion: item.apiVersion ?? apiVersion, kind: item.kind ?? kind ?? '' };
      }
      cont = page.metadata?.continue || undefined;
    } while (cont);
  }

  async list(apiVersion: string, plural: string, namespace?: string, opts: { labelSelector?: string; fieldSelector?: string } = {}): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    for await (const o of this.listPaged(apiVersion, plural, namespace, opts)) out.push(o);
    return out;
  }

  async get<T extends KubeObject = KubeObject>(apiVersion: string, plural: string, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', `${collectionPath(apiVersion, plural, namespace)}/${encodeURIComponent(name)}`);
  }

  /** GET that answers undefined for 404 instead of throwing. */
  async find<T extends KubeObject = KubeObject>(apiVersion: string, plural: string, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      return await this.get<T>(apiVersion, plural, namespace, name);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async create<T extends KubeObject = KubeObject>(apiVersion: string, plural: string, namespace: string | undefined, obj: KubeObject): Promise<T> {
    return this.request<T>('POST', collectionPath(apiVersion, plural, namespace), { body: obj });
  }

  async mergePatch<T extends KubeObject = KubeObject>(apiVersion: string, plural: string, namespace: string | undefined, name: string, patch: unknown, subresource?: string): Promise<T> {
    const path = `${collectionPath(apiVersion, plural, namespace)}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
    return this.request<T>('PATCH', path, { body: patch, contentType: 'application/merge-patch+json' });
  }

  /** Delete, ignoring NotFound (cleanup paths must be idempotent). Background propagation so a Job takes its pods along. */
  async delete(apiVersion: string, plural: string, namespace: string | undefined, name: string, propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background'): Promise<void> {
    try {
      await this.request('DELETE', `${collectionPath(apiVersion, plural, namespace)}/${encodeURIComponent(name)}`, {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy },
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async getSubresource<T = unknown>(apiVersion: string, plural: string, namespace: string | undefined, name: string, subresource: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', `${collectionPath(apiVersion, plural, namespace)}/${encodeURIComponent(name)}/${subresource}`, { query });
  }

  /** A pod's log as text (whole or the last `tailLines`). */
  async podLog(namespace: string, pod: string, opts: { container?: string; tailLines?: number } = {}): Promise<string> {
    return this.request<string>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`, {
      query: { container: opts.container, tailLines: opts.tailLines },
      text: true,
    });
  }
}
