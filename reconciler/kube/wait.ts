/** A wait that ran out of time; the message names what was awaited and the last state seen. */
export class TimeoutError extends Error {
  readonly code = 'E_TIMEOUT';
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export interface WaitOptions {
  timeoutMs: number;
  /** First poll interval; grows ×1.5 up to maxIntervalMs so long waits do not hammer the API server. */
  intervalMs?: number;
  maxIntervalMs?: number;
  signal?: AbortSignal;
  /** What we wait for, for the timeout message ("VolumeSnapshot shop/db-snap to be readyToUse"). */
  what: string;
}

/**
 * Polls `probe` until it returns a value other than undefined. `probe` may throw to abort the wait with its own error
 * (a Failed Job, a snapshot error). Polling rather than watching keeps this working against any API server, including
 * ones whose watch is flaky behind proxies; intervals are short at first so fast operations return quickly.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined>, opts: WaitOptions & { describe?: () => string }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let interval = opts.intervalMs ?? 100;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    const left = deadline - Date.now();
    if (left <= 0) {
      const last = opts.describe ? `; last state: ${opts.describe()}` : '';
      throw new TimeoutError(`timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for ${opts.what}${last}`);
    }
    await sleep(Math.min(interval, left), opts.signal);
    interval = Math.min(interval * 1.5, opts.maxIntervalMs ?? 2000);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping result order; every item runs even if one fails (settled results). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i]!, i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
