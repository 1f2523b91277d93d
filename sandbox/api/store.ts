/**
 * The object store: every object of every type, a single monotonic
 * resourceVersion counter, a bounded event history that watches resume from,
 * and indexes by uid and by owner uid for garbage collection. Writes are
 * synchronous and delivered to watchers before the write's HTTP response, so a
 * client that writes then watches from the returned resourceVersion misses
 * nothing.
 */
import type { KObject } from './object.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: EventType;
  /** `resource.group` key of the type. */
  gr: string;
  obj: KObject;
  /** The object before this change (MODIFIED/DELETED); watchers with selectors need it. */
  prev?: KObject;
}

export interface JournalSink {
  put(gr: string, obj: KObject, rv: number): void;
  del(gr: string, ns: string, name: string, rv: number): void;
}

function key(ns: string | undefined, name: string): string {
  return ns ? `${ns}/${name}` : name;
}

interface Bucket {
  objects: Map<string, KObject>;
  /** Keys in sorted order; rebuilt lazily after inserts/deletes (lists are key-ordered like etcd). */
  sorted: string[] | null;
}

export class Store {
  private rvCounter = 0;
  private buckets = new Map<string, Bucket>();
  private history: StoreEvent[] = [];
  private historyStart = 0;
  private listeners = new Set<(e: StoreEvent) => void>();
  private uidIndex = new Map<string, { gr: string; key: string }>();
  private ownerIndex = new Map<string, Set<string>>();
  journal?: JournalSink;

  constructor(readonly historySize = 100_000) {}

  get resourceVersion(): number {
    return this.rvCounter;
  }

  /** The oldest resourceVersion a watch can still resume from (older → 410 Gone). */
  get oldestResumable(): number {
    return this.history.length >= this.historySize ? this.history[this.historyStart].rv - 1 : 0;
  }

  /** Loads objects without events or journal writes (used when reading persisted state). */
  restore(gr: string, obj: KObject, rv: number): void {
    this.insert(gr, obj);
    if (rv > this.rvCounter) this.rvCounter = rv;
  }

  restoreDelete(gr: string, ns: string, name: string, rv: number): void {
    const b = this.buckets.get(gr);
    const k = key(ns, name);
    const old = b?.objects.get(k);
    if (b && old) this.drop(gr, b, k, old);
    if (rv > this.rvCounter) this.rvCounter = rv;
  }

  setResourceVersion(rv: number): void {
    if (rv > this.rvCounter) this.rvCounter = rv;
  }

  get(gr: string, ns: string | undefined, name: string): KObject | undefined {
    return this.buckets.get(gr)?.objects.get(key(ns, name));
  }

  byUid(uid: string): KObject | undefined {
    const ref = this.uidIndex.get(uid);
    return ref ? this.buckets.get(ref.gr)?.objects.get(ref.key) : undefined;
  }

  grOfUid(uid: string): string | undefined {
    return this.uidIndex.get(uid)?.gr;
  }

  /** Objects whose ownerReferences name `uid`, as [gr, object] pairs. */
  dependents(uid: string): [string, KObject][] {
    const out: [string, KObject][] = [];
    for (const ref of this.ownerIndex.get(uid) ?? []) {
      const i = ref.indexOf('|');
      const gr = ref.slice(0, i);
      const o = this.buckets.get(gr)?.objects.get(ref.slice(i + 1));
      if (o) out.push([gr, o]);
    }
    return out;
  }

  /** Objects of a type in key order, optionally within one namespace, starting after `after` (a key). */
  *list(gr: string, ns?: string, after?: string): Generator<KObject> {
    const b = this.buckets.get(gr);
    if (!b) return;
    if (!b.sorted) b.sorted = [...b.objects.keys()].sort();
    const keys = b.sorted;
    const prefix = ns ? `${ns}/` : '';
    let lo = 0;
    const start = after ?? prefix;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid] < start || (after !== undefined && keys[mid] === after)) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < keys.length; i++) {
      const k = keys[i];
      if (prefix && !k.startsWith(prefix)) break;
      const o = b.objects.get(k);
      if (o) yield o;
    }
  }

  count(gr?: string): number {
    if (gr) return this.buckets.get(gr)?.objects.size ?? 0;
    let n = 0;
    for (const b of this.buckets.values()) n += b.objects.size;
    return n;
  }

  types(): string[] {
    return [...this.buckets.keys()];
  }

  /** Creates or replaces `obj`, stamping the next resourceVersion; returns the stored object. */
  put(gr: string, obj: KObject, type: EventType): KObject {
    const rv = ++this.rvCounter;
    obj.metadata.resourceVersion = String(rv);
    const prev = this.insert(gr, obj);
    this.journal?.put(gr, obj, rv);
    this.emit({ rv, type, gr, obj, prev });
    return obj;
  }

  /** Removes an object; the DELETED event carries it with a fresh resourceVersion. */
  delete(gr: string, ns: string | undefined, name: string): KObject | undefined {
    const b = this.buckets.get(gr);
    const k = key(ns, name);
    const old = b?.objects.get(k);
    if (!b || !old) return undefined;
    this.drop(gr, b, k, old);
    const rv = ++this.rvCounter;
    const gone: KObject = { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } };
    this.journal?.del(gr, ns ?? '', name, rv);
    this.emit({ rv, type: 'DELETED', gr, obj: gone, prev: old });
    return gone;
  }

  /** Events after `rv` (exclusive) still in history, or null when `rv` is older than what history holds. */
  since(rv: number): StoreEvent[] | null {
    if (rv < this.oldestResumable) return null;
    const out: StoreEvent[] = [];
    const n = this.history.length;
    // history is a ring; walk it in order
    for (let i = 0; i < n; i++) {
      const e = this.history[(this.historyStart + i) % n];
      if (e.rv > rv) out.push(e);
    }
    return out;
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Every object as [gr, object] (snapshots for persistence). */
  *entries(): Generator<[string, KObject]> {
    for (const [gr, b] of this.buckets) for (const o of b.objects.values()) yield [gr, o];
  }

  private insert(gr: string, obj: KObject): KObject | undefined {
    let b = this.buckets.get(gr);
    if (!b) {
      b = { objects: new Map(), sorted: null };
      this.buckets.set(gr, b);
    }
    const k = key(obj.metadata.namespace, obj.metadata.name!);
    const prev = b.objects.get(k);
    if (prev) this.unindex(gr, k, prev);
    else b.sorted = null;
    b.objects.set(k, obj);
    this.index(gr, k, obj);
    return prev;
  }

  private drop(gr: string, b: Bucket, k: string, old: KObject): void {
    b.objects.delete(k);
    b.sorted = null;
    this.unindex(gr, k, old);
  }

  private index(gr: string, k: string, o: KObject): void {
    if (o.metadata.uid) this.uidIndex.set(o.metadata.uid, { gr, key: k });
    for (const ref of o.metadata.ownerReferences ?? []) {
      let s = this.ownerIndex.get(ref.uid);
      if (!s) this.ownerIndex.set(ref.uid, (s = new Set()));
      s.add(`${gr}|${k}`);
    }
  }

  private unindex(gr: string, k: string, o: KObject): void {
    if (o.metadata.uid) this.uidIndex.delete(o.metadata.uid);
    for (const ref of o.metadata.ownerReferences ?? []) {
      const s = this.ownerIndex.get(ref.uid);
      s?.delete(`${gr}|${k}`);
      if (s && s.size === 0) this.ownerIndex.delete(ref.uid);
    }
  }

  private emit(e: StoreEvent): void {
    if (this.history.length < this.historySize) this.history.push(e);
    else {
      this.history[this.historyStart] = e;
      this.historyStart = (this.historyStart + 1) % this.historySize;
    }
    for (const l of this.listeners) l(e);
  }
}
