/**
 * Retries for remote storage: exponential backoff with full jitter on the
 * failures that go away by themselves (throttling, 5xx, timeouts, dropped
 * connections), never on the ones that do not (4xx: missing object, access
 * denied, bad request). Attempts are bounded and each attempt has its own
 * deadline, delivered as an AbortSignal so the operation can cancel its I/O.
 *
 * Usable two ways: `retry(op, opts)` around any async operation (the S3
 * backend does this per request and per multipart part), or
 * `withRetry(backend, opts)` around any `Backend`.
 */
import type { Backend, FileInfo, FileType } from './types.ts';

export interface RetryEvent {
  /** What was being done, e.g. `put data/ab/abcdef…`. */
  op: string;
  /** The attempt that just failed, 1-based. */
  attempt: number;
  maxAttempts: number;
  /** How long we wait before the next attempt. */
  delayMs: number;
  error: unknown;
  /** Short reason: `HTTP 503 SlowDown`, `ECONNRESET`, `timeout after 30000 ms`. */
  reason: string;
}

export type Retrying = (event: RetryEvent) => void;

export interface RetryOptions {
  /** Total attempts including the first (default 6). */
  maxAttempts?: number;
  /** First backoff ceiling (default 250 ms); doubles each attempt. */
  baseDelayMs?: number;
  /** Backoff ceiling cap (default 20 s). */
  maxDelayMs?: number;
  /** Deadline of one attempt; 0 disables (default 0: rely on the transport's idle timeout). */
  attemptTimeoutMs?: number;
  /** Called before each wait, for progress lines and logs. */
  onRetry?: Retrying;
  /** Classifier override; default `isRetryable`. */
  retryable?: (error: unknown) => boolean;
  /** Injected for deterministic tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export const DEFAULT_RETRY: Required<Pick<RetryOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'attemptTimeoutMs'>> = {
  maxAttempts: 6,
  baseDelayMs: 250,
  maxDelayMs: 20_000,
  attemptTimeoutMs: 0,
};

/** An attempt that exceeded its deadline. Retryable. */
export class AttemptTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`timeout after ${timeoutMs} ms`);
  }
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'AbortError',
]);
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

interface ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: unknown;
}

function httpStatus(e: ErrorShape): number | undefined {
  return e.$metadata?.httpStatusCode;
}

/**
 * True for failures worth another attempt. A Coffer error (`E_…`, e.g. a
 * missing object) is final unless it wraps a transient cause; so is any
 * HTTP 4xx other than 408/429.
 */
export function isRetryable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as ErrorShape;
  if (typeof e.code === 'string' && e.code.startsWith('E_')) {
    // A backend's own error is final, unless it wraps a transient transport failure.
    return e.code === 'E_REPO_BACKEND' && e.cause !== undefined && e.cause !== error && isRetryable(e.cause);
  }
  const status = httpStatus(e);
  if (status !== undefined && status >= 400) return RETRYABLE_STATUS.has(status);
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  if (e.$retryable) return true;
  const msg = e.message ?? '';
  if (/socket hang up|ECONNRESET|EPIPE|premature close|aborted|other side closed|timed out/i.test(msg)) return true;
  if (e.cause && e.cause !== error) return isRetryable(e.cause);
  return false;
}

/** A short human reason for a failure, for retry lines. */
export function describeFailure(error: unknown): string {
  if (error instanceof AttemptTimeoutError) return error.message;
  const e = (error ?? {}) as ErrorShape;
  const status = httpStatus(e);
  if (status !== undefined) return `HTTP ${status}${e.name && e.name !== 'Error' ? ` ${e.name}` : ''}`;
  if (e.code) return e.code;
  if (e.name === 'TimeoutError') return 'timeout';
  return e.message?.split('\n')[0] ?? String(error);
}

/** Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"): uniform in [0, min(cap, base·2^(attempt-1))]. */
export function backoffDelay(attempt: number, opts: { baseDelayMs: number; maxDelayMs: number }, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());

/**
 * Run `op` until it succeeds, fails with a non-retryable error, or runs out
 * of attempts (the last error is thrown, annotated with the attempt count).
 * `op` receives the attempt number and an AbortSignal that fires at the
 * attempt deadline; an op that ignores the signal is still abandoned then.
 */
export async function retry<T>(
  op: (attempt: number, signal: AbortSignal) => Promise<T>,
  opts: RetryOptions & { label?: string } = {},
): Promise<T> {
  const maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_RETRY.maxAttempts);
  const base = { baseDelayMs: opts.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs, maxDelayMs: opts.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs };
  const timeoutMs = opts.attemptTimeoutMs ?? DEFAULT_RETRY.attemptTimeoutMs;
  const classify = opts.retryable ?? isRetryable;
  const sleep = opts.sleep ?? realSleep;
  for (let attempt = 1; ; attempt++) {
    const ctl = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      const run = op(attempt, ctl.signal);
      if (timeoutMs > 0) {
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const err = new AttemptTimeoutError(timeoutMs);
            reject(err);
            ctl.abort(err);
          }, timeoutMs);
        });
        run.catch(() => undefined); // abandoned attempts must not surface as unhandled rejections
        return await Promise.race([run, deadline]);
      }
      return await run;
    } catch (error) {
      const final = attempt >= maxAttempts || !classify(error);
      if (final) {
        if (attempt > 1 && error && typeof error === 'object') {
          (error as { attempts?: number }).attempts = attempt;
        }
        throw error;
      }
      const delayMs = backoffDelay(attempt, base, opts.random);
      opts.onRetry?.({ op: opts.label ?? 'request', attempt, maxAttempts, delayMs, error, reason: describeFailure(error) });
      await sleep(delayMs);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}

/**
 * Any backend with retries around every call. Safe because every Backend
 * operation is idempotent: put replaces atomically, delete ignores missing
 * objects, reads have no side effects.
 */
export function withRetry(backend: Backend, opts: RetryOptions = {}): Backend {
  const r = <T>(label: string, fn: () => Promise<T>) => retry(() => fn(), { ...opts, label });
  const wrapped: Backend = {
    location: backend.location,
    get: (type: FileType, name: string) => r(`get ${type}/${name}`, () => backend.get(type, name)),
    getRange: (type: FileType, name: string, offset: number, length: number) =>
      r(`get ${type}/${name} [${offset}+${length}]`, () => backend.getRange(type, name, offset, length)),
    put: (type: FileType, name: string, data: Buffer) => r(`put ${type}/${name}`, () => backend.put(type, name, data)),
    delete: (type: FileType, name: string) => r(`delete ${type}/${name}`, () => backend.delete(type, name)),
    list: (type: FileType): Promise<FileInfo[]> => r(`list ${type}`, () => backend.list(type)),
    stat: (type: FileType, name: string) => r(`stat ${type}/${name}`, () => backend.stat(type, name)),
  };
  if (backend.close) wrapped.close = () => backend.close!();
  return wrapped;
}
