/**
 * Per-key exponential back-off for pod creation that the API server refuses
 * (Pod Security, quota): the real controllers requeue rate-limited instead of
 * retrying at once, so a refused workload does not spin or flood its events.
 */
export class CreateBackoff {
  private readonly state = new Map<string, { until: number; delayMs: number }>();

  constructor(
    private readonly baseMs = 1000,
    private readonly maxMs = 60_000,
  ) {}

  /** Milliseconds until `key` may try again (0: now). */
  wait(key: string, now = Date.now()): number {
    const s = this.state.get(key);
    return s ? Math.max(0, s.until - now) : 0;
  }

  /** Records a refusal; returns the delay before the next attempt. */
  failed(key: string, now = Date.now()): number {
    const prev = this.state.get(key);
    const delayMs = prev ? Math.min(prev.delayMs * 2, this.maxMs) : this.baseMs;
    this.state.set(key, { until: now + delayMs, delayMs });
    return delayMs;
  }

  succeeded(key: string): void {
    this.state.delete(key);
  }
}
