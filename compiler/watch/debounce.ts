/**
 * Turns a stream of file-change notices into as few compiles as possible without ever missing the last change:
 * a quiet period after the latest notice (debounce), a cap on how long a never-ending stream can postpone a compile
 * (maxWait), and at most one compile at a time — notices that arrive while one runs produce exactly one more.
 * Pure apart from the timers, which are injected so tests drive time by hand.
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** One file-system notice, as the watcher edge reports it (path relative to the watched directory). */
export interface Change {
  event: 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';
  path: string;
}

export interface CoalescerOptions {
  /** Quiet period after the latest change before compiling. */
  delayMs: number;
  /** Longest a continuous stream of changes may postpone a compile (default 10 × delayMs, at least 1 s). */
  maxWaitMs?: number;
  timers?: Timers;
  /** Clock for maxWait, in milliseconds (default Date.now). */
  now?: () => number;
  /** The work: gets the changes seen since the previous batch started, in arrival order, deduplicated by path. */
  run: (batch: Change[]) => Promise<void>;
  /** A run that throws is reported here; the coalescer keeps going. */
  onError?: (e: unknown) => void;
}

export class Coalescer {
  private pending = new Map<string, Change>();
  private timer: unknown;
  private firstPendingAt: number | undefined;
  private running: Promise<void> | undefined;
  /** The quiet period passed while a run was in progress: run again as soon as it ends. */
  private due = false;
  private disposed = false;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly maxWaitMs: number;

  constructor(private readonly opts: CoalescerOptions) {
    this.timers = opts.timers ?? realTimers;
    this.now = opts.now ?? Date.now;
    this.maxWaitMs = opts.maxWaitMs ?? Math.max(1000, opts.delayMs * 10);
  }

  /** Records a change and (re)starts the quiet period. */
  notify(change: Change): void {
    if (this.disposed) return;
    // Re-inserting moves the path to the end, so the batch lists paths in the order they last changed.
    this.pending.delete(change.path);
    this.pending.set(change.path, change);
    this.firstPendingAt ??= this.now();
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    const waited = this.now() - this.firstPendingAt;
    const wait = Math.max(0, Math.min(this.opts.delayMs, this.maxWaitMs - waited));
    this.timer = this.timers.setTimeout(() => this.fire(), wait);
  }

  /** Runs now (the first compile, or a compile asked for explicitly), queued behind a running one. */
  flush(): void {
    if (this.disposed) return;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.fire();
  }

  /** True while a batch is waiting for its quiet period or a run is in progress. */
  get busy(): boolean {
    return this.timer !== undefined || this.running !== undefined || this.due;
  }

  /** Resolves when the run in progress (and the one it queued, if any) has finished. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops: drops pending changes and timers; a run in progress finishes, nothing starts after it. */
  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
    this.due = false;
  }

  private fire(): void {
    this.timer = undefined;
    if (this.disposed) return;
    if (this.running) {
      this.due = true;
      return;
    }
    const batch = [...this.pending.values()];
    this.pending.clear();
    this.firstPendingAt = undefined;
    this.due = false;
    this.running = this.opts
      .run(batch)
      .catch((e: unknown) => this.opts.onError?.(e))
      .finally(() => {
        this.running = undefined;
        if (!this.due || this.disposed) return;
        // Newer changes still inside their quiet period: their timer runs the next batch.
        if (this.timer !== undefined) this.due = false;
        else this.fire();
      });
  }
}
