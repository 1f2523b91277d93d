/**
 * Durable state under DIR: a snapshot (one JSON object per line) plus an
 * append-only journal of writes since it. Writes are journalled write-behind
 * (buffered, flushed every few milliseconds), so a crash loses at most the
 * last moments; a clean stop compacts the journal into a new snapshot. A torn
 * last line (crash mid-write) is ignored on load.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KObject } from './object.ts';
import type { JournalSink, Store } from './store.ts';

interface Line {
  rv: number;
  gr: string;
  /** Present for puts. */
  obj?: KObject;
  /** Present for deletes. */
  ns?: string;
  name?: string;
}

export interface PersistOptions {
  /** Flush interval for the write-behind buffer (ms). */
  flushMs?: number;
  /** Compact when the journal holds this many entries and more than the live object count. */
  compactAfter?: number;
}

export class Persistence implements JournalSink {
  private buf: string[] = [];
  private fd: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private entries = 0;
  private readonly snapPath: string;
  private readonly journalPath: string;
  private readonly flushMs: number;
  private readonly compactAfter: number;

  constructor(
    readonly dir: string,
    private store: Store,
    opts: PersistOptions = {},
  ) {
    mkdirSync(dir, { recursive: true });
    this.snapPath = join(dir, 'snapshot.jsonl');
    this.journalPath = join(dir, 'journal.jsonl');
    this.flushMs = opts.flushMs ?? 5;
    this.compactAfter = opts.compactAfter ?? 20_000;
  }

  /** Reads snapshot then journal into the store; returns the number of objects loaded. */
  load(): number {
    const lines = (path: string): Line[] => {
      if (!existsSync(path)) return [];
      const out: Line[] = [];
      for (const l of readFileSync(path, 'utf8').split('\n')) {
        if (!l) continue;
        try {
          out.push(JSON.parse(l) as Line);
        } catch {
          /* torn tail after a crash */
        }
      }
      return out;
    };
    for (const l of lines(this.snapPath)) {
      if (l.obj) this.store.restore(l.gr, l.obj, l.rv);
      else this.store.setResourceVersion(l.rv);
    }
    const journal = lines(this.journalPath);
    for (const l of journal) {
      if (l.obj) this.store.restore(l.gr, l.obj, l.rv);
      else this.store.restoreDelete(l.gr, l.ns ?? '', l.name ?? '', l.rv);
    }
    if (journal.length) this.compact();
    this.store.journal = this;
    return this.store.count();
  }

  put(gr: string, obj: KObject, rv: number): void {
    this.append(JSON.stringify({ rv, gr, obj }));
  }

  del(gr: string, ns: string, name: string, rv: number): void {
    this.append(JSON.stringify({ rv, gr, ns, name }));
  }

  private append(line: string): void {
    this.buf.push(line);
    this.entries++;
    if (!this.timer) this.timer = setTimeout(() => this.flush(), this.flushMs);
  }

  /** Writes buffered journal lines to disk now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.buf.length) return;
    if (this.fd === undefined) this.fd = openSync(this.journalPath, 'a');
    writeSync(this.fd, `${this.buf.join('\n')}\n`);
    this.buf = [];
    if (this.entries > this.compactAfter && this.entries > this.store.count()) this.compact();
  }

  /** Writes a fresh snapshot atomically (tmp + rename) and starts an empty journal. */
  compact(): void {
    const parts: string[] = [JSON.stringify({ rv: this.store.resourceVersion, gr: '' })];
    for (const [gr, obj] of this.store.entries()) parts.push(JSON.stringify({ rv: Number(obj.metadata.resourceVersion), gr, obj }));
    const tmp = `${this.snapPath}.tmp`;
    writeFileSync(tmp, `${parts.join('\n')}\n`);
    const fd = openSync(tmp, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.snapPath);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    writeFileSync(this.journalPath, '');
    this.entries = 0;
  }

  /** Flushes and compacts; called on a clean stop. */
  close(): void {
    this.flush();
    this.compact();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.store.journal = undefined;
  }
}
