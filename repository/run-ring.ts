/**
 * One buffer of `size` bytes lent out in contiguous pieces, oldest first, handed back in any order: check
 * --read-data reads pack runs into it. Why a ring and not a pool of run buffers: runs of a large file are single
 * blobs of 0.5–8 MiB, so a pool kept allocating new sizes and dropping old ones, and a dropped SharedArrayBuffer
 * stays resident until the main thread's next full collection (1 GiB check: 185–232 MiB peak vs 133 with one
 * 17 MiB pack buffer). The ring is allocated once and is what bounds the bytes in flight.
 *
 * A piece larger than the ring waits until the ring is empty and gets a buffer of its own (a tree blob can be).
 */
export class RunRing {
  private ring: Buffer | undefined;
  /** Pieces lent, oldest first (an oversized piece spans the ring). */
  private readonly lent: { start: number; end: number; buf: Buffer; back: boolean }[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    readonly size: number,
    private readonly alloc: (n: number) => Buffer,
  ) {}

  /** `n` bytes, when there is room for them. */
  async take(n: number): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    for (;;) {
      if (n > this.size) {
        if (this.lent.length === 0) {
          // outside the ring, but counted as filling it: nothing else is lent until it is back
          const buf = this.alloc(n);
          this.lent.push({ start: 0, end: this.size, buf, back: false });
          return buf;
        }
      } else {
        const at = this.place(n);
        if (at !== undefined) {
          this.ring ??= this.alloc(this.size);
          const buf = this.ring.subarray(at, at + n);
          this.lent.push({ start: at, end: at + n, buf, back: false });
          return buf;
        }
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Hand back a piece: the very Buffer `take` gave. */
  give(b: Buffer): void {
    if (b.length === 0) return;
    const piece = this.lent.find((p) => p.buf === b && !p.back);
    if (!piece) throw new Error('RunRing.give: not a piece of this ring');
    piece.back = true;
    while (this.lent.length > 0 && this.lent[0]!.back) this.lent.shift();
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Where `n` bytes fit after the newest piece (or at 0, wrapping, before the oldest), or undefined. */
  private place(n: number): number | undefined {
    if (this.lent.length === 0) return 0;
    const head = this.lent[0]!.start;
    const tail = this.lent[this.lent.length - 1]!.end;
    if (tail > head) {
      if (tail + n <= this.size) return tail;
      return n <= head ? 0 : undefined;
    }
    // wrapped: free space is [tail, head)
    return tail + n <= head ? tail : undefined;
  }
}
