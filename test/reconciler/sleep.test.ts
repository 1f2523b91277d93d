import { describe, expect, it } from 'vitest';
import { sleepUnlessWoken } from '../../reconciler/sleep.ts';

describe('sleepUnlessWoken', () => {
  const hour = 3_600_000;
  it('returns at once when already stopped', async () => {
    await expect(sleepUnlessWoken(hour, AbortSignal.abort())).resolves.toBeUndefined();
  });
  it('ends an hour-long wait when stopped, without rejecting', async () => {
    const stop = new AbortController();
    const waiting = sleepUnlessWoken(hour, stop.signal);
    stop.abort(new Error('SIGTERM'));
    await expect(waiting).resolves.toBeUndefined();
  });
  it('ends an hour-long wait when woken (a webhook), also when the wake-up fails', async () => {
    await expect(sleepUnlessWoken(hour, new AbortController().signal, () => Promise.resolve())).resolves.toBeUndefined();
    await expect(sleepUnlessWoken(hour, new AbortController().signal, () => Promise.reject(new Error('x')))).resolves.toBeUndefined();
  });
  it('waits out a short sleep', async () => {
    await expect(sleepUnlessWoken(5, new AbortController().signal)).resolves.toBeUndefined();
  });
});
