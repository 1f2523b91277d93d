/**
 * List-then-watch cache of one resource, the same protocol client-go informers
 * use (paged list, watch from the list's resourceVersion, relist on 410 Gone or
 * a dropped stream). Controllers read the cache and get a callback per change.
 */
import { Watch } from '@kubernetes/client-node';
import type { ApiClient, KubeObject } from './client.ts';

export type InformerEvent = 'ADDED' | 'MODIFIED' | 'DELETED';
export type InformerHandler = (type: InformerEvent, obj: KubeObject, old?: KubeObject) => void;

export function keyOf(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : String(obj.metadata.name);
}

export class Informer {
  private readonly cache = new Map<string, KubeObject>();
  private readonly handlers: InformerHandler[] = [];
  private abort: AbortController | undefined;
  private stopped = false;
  private resourceVersion = '';
  private retryTimer: NodeJS.Timeout | undefined;
  private syncedResolve!: () => void;
  /** Resolves once the first list has filled the cache. */
  readonly synced = new Promise<void>((r) => (this.syncedResolve = r));

  constructor(
    private readonly api: ApiClient,
    /** Collection path across all namespaces, e.g. `/api/v1/pods`. */
    readonly path: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  on(handler: InformerHandler): this {
    this.handlers.push(handler);
    return this;
  }

  list(filter?: (o: KubeObject) => boolean): KubeObject[] {
    const all = [...this.cache.values()];
    return filter ? all.filter(filter) : all;
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.abort?.abort();
  }

  private emit(type: InformerEvent, obj: KubeObject, old?: KubeObject) {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (e) {
        this.log(`informer ${this.path}: handler failed: ${(e as Error).stack}`);
      }
    }
  }

  private retry(delayMs: number) {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.relist(), delayMs);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const items: KubeObject[] = [];
      let cont = '';
      let rv = '';
      do {
        const sep = this.path.includes('?') ? '&' : '?';
        const page = await this.api.get<{ items: KubeObject[]; metadata: { continue?: string; resourceVersion?: string } }>(
          `${this.path}${sep}limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
        );
        items.push(...(page.items ?? []));
        cont = page.metadata?.continue ?? '';
        rv = page.metadata?.resourceVersion ?? rv;
      } while (cont);
      if (this.stopped) return;
      const seen = new Set<string>();
      for (const item of items) {
        const key = keyOf(item);
        seen.add(key);
        const old = this.cache.get(key);
        this.cache.set(key, item);
        if (!old) this.emit('ADDED', item);
        else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit('MODIFIED', item, old);
      }
      for (const [key, old] of [...this.cache]) {
        if (!seen.has(key)) {
          this.cache.delete(key);
          this.emit('DELETED', old);
        }
      }
      this.resourceVersion = rv;
      this.syncedResolve();
      await this.watch();
    } catch (e) {
      if (!this.stopped) this.log(`informer ${this.path}: list failed: ${(e as Error).message}`);
      this.retry(500);
    }
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    const w = new Watch(this.api.kubeConfig);
    let gone = false;
    this.abort = await w.watch(
      this.path,
      { resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
      (type: string, obj: KubeObject) => {
        if (type === 'BOOKMARK') {
          if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          return;
        }
        if (type === 'ERROR') {
          gone = true;
          return;
        }
        if (!obj?.metadata?.name) return;
        const key = keyOf(obj);
        const old = this.cache.get(key);
        if (obj.metadata.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (type === 'DELETED') {
          this.cache.delete(key);
          this.emit('DELETED', obj, old);
        } else {
          this.cache.set(key, obj);
          this.emit(old ? 'MODIFIED' : 'ADDED', obj, old);
        }
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (gone || err) this.retry(err ? 300 : 0);
        else this.retryWatch();
      },
    );
  }

  private retryWatch() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.watch().catch(() => this.retry(300));
    }, 0);
  }
}

/** Coalesces bursts of triggers into one run per key, never two runs of the same key at once. */
export class WorkQueue {
  private readonly dirty = new Set<string>();
  private readonly running = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly worker: (key: string) => Promise<void>,
    private readonly log: (line: string) => void = () => {},
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    setImmediate(() => void this.run(key));
  }

  /** Re-queues a key later (backoff, requeue-after). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  private async run(key: string): Promise<void> {
    if (this.stopped || this.running.has(key) || !this.dirty.has(key)) return;
    this.dirty.delete(key);
    this.running.add(key);
    try {
      await this.worker(key);
    } catch (e) {
      if (!this.stopped) {
        this.log(`sync ${key} failed: ${(e as Error).message}`);
        this.addAfter(key, 300);
      }
    } finally {
      this.running.delete(key);
      if (this.dirty.has(key)) setImmediate(() => void this.run(key));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
