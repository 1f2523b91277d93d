/**
 * A minimal REST client over @kubernetes/client-node's KubeConfig: controllers
 * need raw paths (status subresources, bindings, every patch type, CRD-served
 * kinds) with the same auth/TLS the typed clients use, without a discovery round trip.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ObjectMeta, OwnerReference } from '../api/object.ts';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [k: string]: any;
};

export type { OwnerReference };

/** An API error with the server's HTTP code and Status reason (Conflict, NotFound, …). */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    /** The server's Status message alone (what a real controller puts in its events). */
    readonly statusMessage = message,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The text a controller reports for a failed call: the server's own message when there is one. */
export function failureText(e: unknown): string {
  return e instanceof ApiError ? e.statusMessage : (e as Error).message;
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';
export const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';

export class ApiClient {
  private readonly agent: http.Agent;
  private constructor(
    private readonly base: URL,
    private readonly options: https.RequestOptions,
    readonly kubeConfig: KubeConfig,
  ) {
    const isHttps = base.protocol === 'https:';
    this.agent = isHttps
      ? new https.Agent({ keepAlive: true, maxSockets: 16, ca: options.ca, cert: options.cert, key: options.key, rejectUnauthorized: options.rejectUnauthorized })
      : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  static async create(kc: KubeConfig): Promise<ApiClient> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    return new ApiClient(new URL(cluster.server), opts, kc);
  }

  get server(): string {
    return this.base.href.replace(/\/$/, '');
  }

  async request<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { accept: 'application/json', ...(this.options.headers as Record<string, string>) };
    if (this.options.auth) headers.authorization = 'Basic ' + Buffer.from(this.options.auth).toString('base64');
    if (payload) {
      headers['content-type'] = contentType;
      headers['content-length'] = payload.length;
    }
    const mod = url.protocol === 'https:' ? https : http;
    return await new Promise<T>((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(parsed as T);
          else reject(new ApiError(code, parsed?.reason ?? String(code), `${method} ${path}: ${parsed?.message ?? text}`, parsed?.message ?? text));
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  get<T = KubeObject>(path: string) {
    return this.request<T>('GET', path);
  }
  async getOrNull<T = KubeObject>(path: string): Promise<T | null> {
    try {
      return await this.request<T>('GET', path);
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return null;
      throw e;
    }
  }
  post<T = KubeObject>(path: string, body: unknown) {
    return this.request<T>('POST', path, body);
  }
  put<T = KubeObject>(path: string, body: unknown) {
    return this.request<T>('PUT', path, body);
  }
  patch<T = KubeObject>(path: string, body: unknown, type = MERGE_PATCH) {
    return this.request<T>('PATCH', path, body, type);
  }
  /** Deletes; a 404 counts as success (someone else got there first). */
  async delete(path: string, options?: { gracePeriodSeconds?: number; propagationPolicy?: string; preconditions?: { uid?: string } }): Promise<void> {
    try {
      await this.request('DELETE', path, options ? { kind: 'DeleteOptions', apiVersion: 'v1', ...options } : undefined);
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return;
      throw e;
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

export function isConflict(e: unknown): boolean {
  return e instanceof ApiError && e.statusCode === 409;
}
export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.statusCode === 404;
}

/** REST path of a kind's collection or object; `resource` is the plural (pods, deployments, …). */
export function resourcePath(group: string, version: string, resource: string, namespace?: string, name?: string, sub?: string): string {
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  let p = prefix + (namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '') + `/${resource}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (sub) p += `/${sub}`;
  return p;
}
