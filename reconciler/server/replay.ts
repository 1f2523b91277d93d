/**
 * Remembers webhook deliveries for a bounded window so a captured, validly signed request cannot be sent again.
 * GitHub, GitLab and Gitea name each delivery (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`, `X-Gitea-Delivery`); the
 * generic hook signs a timestamp instead, so its signature is the id and the tolerance bounds how long it must be kept.
 * Memory is bounded twice: ids older than the window are dropped, and at most `max` are kept (oldest dropped first —
 * an attacker would have to make `max` signed deliveries to push one out, which needs the secret anyway).
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    readonly windowMs = 24 * 3600_000,
    private readonly max = 10_000,
  ) {}

  /** True the first time `id` is offered within the window, false for a replay. */
  admit(id: string): boolean {
    const t = this.now();
    for (const [k, at] of this.seen) {
      if (t - at < this.windowMs && this.seen.size < this.max) break;
      this.seen.delete(k);
    }
    if (this.seen.has(id)) return false;
    this.seen.set(id, t);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
