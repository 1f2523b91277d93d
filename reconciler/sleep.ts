import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waits `ms`, or less: a stop signal (SIGTERM) or a wake-up (a webhook) ends the wait early. Never rejects, so loops
 * re-check their own state after it; an already aborted signal returns at once. Waits longer than a timer can hold
 * (2^31-1 ms) end early, which costs the caller only an early re-check.
 */
export async function sleepUnlessWoken(ms: number, signal: AbortSignal, wake?: () => Promise<void>): Promise<void> {
  if (signal.aborted) return;
  const woken = new AbortController();
  wake?.().then(
    () => woken.abort(),
    () => woken.abort(),
  );
  await delay(Math.min(Math.max(0, ms), 2 ** 31 - 1), undefined, { signal: AbortSignal.any([signal, woken.signal]) }).catch(() => undefined);
}
