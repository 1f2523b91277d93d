import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/** What the dashboard is told about, as it happens. */
export type LiveEventType = 'run' | 'run-progress' | 'restore' | 'backup-job' | 'catalog' | 'health';

export interface LiveEvent {
  /** `<epoch>-<seq>`: the epoch is this process's, so an id from before a restart is recognised as foreign. */
  id: string;
  type: LiveEventType;
  data: Record<string, unknown>;
}

export interface EventHubOptions {
  /** Events kept for clients that reconnect with Last-Event-ID (default 1000). */
  keep?: number;
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number;
}

/**
 * Server-sent events (the WHATWG `text/event-stream` format) for `GET /api/v1/events`: every event gets an id, the
 * newest `keep` are remembered, and a client that reconnects with `Last-Event-ID` gets what it missed. When it cannot
 * (the id is from another process — the server restarted — or older than what is kept) it gets one `reset` event and
 * reloads everything: a missed event is never silently skipped.
 */
export class EventHub {
  readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly kept: LiveEvent[] = [];
  private readonly clients = new Map<ServerResponse, Client>();
  private readonly keep: number;
  private readonly heartbeatMs: number;

  constructor(opts: EventHubOptions = {}) {
    this.keep = opts.keep ?? 1000;
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
  }

  publish(type: LiveEventType, data: Record<string, unknown>): LiveEvent {
    const e: LiveEvent = { id: `${this.epoch}-${++this.seq}`, type, data };
    this.kept.push(e);
    if (this.kept.length > this.keep) this.kept.shift();
    for (const [res, c] of this.clients) send(res, c, e);
    return e;
  }

  /** Events after `lastId`, or undefined when they cannot be known (another epoch, or fallen out of the buffer). */
  since(lastId: string | undefined): LiveEvent[] | undefined {
    if (!lastId) return [];
    const m = /^([0-9a-f]+)-(\d+)$/.exec(lastId);
    if (!m || m[1] !== this.epoch) return undefined;
    const n = Number(m[2]);
    if (n > this.seq) return undefined;
    const first = this.kept[0] ? seqOf(this.kept[0]) : this.seq + 1;
    if (n < first - 1) return undefined;
    return this.kept.filter((e) => seqOf(e) > n);
  }

  /**
   * Streams to `res` until the client goes away or `close()`; replays what a reconnecting client missed. With `visible`
   * only the events it admits are written, in order; when it cannot decide (it threw) the stream ends and the client
   * reconnects with its Last-Event-ID, so an event it may see is never silently dropped.
   */
  attach(res: ServerResponse, lastId: string | undefined, visible?: EventFilter): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-accel-buffering': 'no' });
    res.write(`retry: 2000\n: coffer events, epoch ${this.epoch}\n\n`);
    const missed = this.since(lastId);
    const client: Client = { ...(visible ? { visible } : {}), queue: Promise.resolve() };
    if (missed === undefined) res.write(`id: ${this.epoch}-${this.seq}\nevent: reset\ndata: {"reason":"${lastId && !lastId.startsWith(`${this.epoch}-`) ? 'server restarted' : 'events missed'}"}\n\n`);
    else for (const e of missed) send(res, client, e);
    // A client that never sent an id starts at the current position (its first id tells it where it is).
    if (!lastId) {
      const hello = `id: ${this.epoch}-${this.seq}\nevent: hello\ndata: {}\n\n`;
      if (visible) client.queue = client.queue.then(() => void res.write(hello));
      else res.write(hello);
    }
    this.clients.set(res, client);
    const beat = setInterval(() => res.write(': keep-alive\n\n'), this.heartbeatMs);
    beat.unref();
    res.on('close', () => {
      clearInterval(beat);
      this.clients.delete(res);
    });
  }

  /** Ends every stream (shutdown): clients reconnect to whichever server answers next. */
  close(): void {
    for (const res of this.clients.keys()) res.end();
    this.clients.clear();
  }

  /** The id of the newest event (what a client that saw everything would send as Last-Event-ID). */
  get position(): string {
    return `${this.epoch}-${this.seq}`;
  }

  get listeners(): number {
    return this.clients.size;
  }
}

/** Whether one client may see an event (e.g. its namespace is one the caller may read). */
export type EventFilter = (e: LiveEvent) => boolean | Promise<boolean>;

interface Client {
  visible?: EventFilter;
  /** Filtered events are decided one after another, so they are written in the order they were published. */
  queue: Promise<void>;
}

function send(res: ServerResponse, c: Client, e: LiveEvent): void {
  const visible = c.visible;
  if (!visible) return write(res, e);
  c.queue = c.queue
    .then(async () => {
      if (res.writableEnded) return;
      if (await visible(e)) write(res, e);
    })
    .catch(() => void res.end());
}

/**
 * The namespaces an event is about (a restore: its source and its target); none for news about the whole server
 * (`health`, a reconcile's `catalog` commit) and for a backup of every namespace.
 */
export function eventNamespaces(e: LiveEvent): string[] {
  return [e.data.namespace, e.data.target].filter((n): n is string => typeof n === 'string' && n !== '');
}

function seqOf(e: LiveEvent): number {
  return Number(e.id.slice(e.id.indexOf('-') + 1));
}

function write(res: ServerResponse, e: LiveEvent): void {
  res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
}
