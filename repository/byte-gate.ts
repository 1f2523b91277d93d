/**
 * Bounds the bytes (or files, or any units) in flight between a producer and its consumers: the reason backing up
 * or restoring 10 GiB needs tens of MiB. One oversized request is let through alone, never alongside others, so a
 * request larger than the limit cannot deadlock.
 */
export class ByteGate {
  /** Units admitted and not yet released (restore reports its peak). */
  used = 0;
  private waiters: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async acquire(n: number): Promise<void> {
    while (this.used > 0 && this.used + n > this.limit) await new Promise<void>((r) => this.waiters.push(r));
    this.used += n;
  }
  release(n: number): void {
    this.used -= n;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
