/**
 * Shared memory the seal workers write sealed blobs into, handed back by the pack writer once each blob is written.
 * Why: every sealed blob was a fresh buffer (allocated on the worker, transferred, queued for the pack's write), dead
 * once written but freed only by a forced collection — up to 32 MiB live on the main thread (seal gate plus the pack
 * writer's queue), its garbage, and glibc's arenas keeping what was freed (FORMAT.md, "Peak RSS, second pass"). One
 * ring of `size` bytes bounds all of it, and its pages are reused instead of allocated per blob.
 *
 * A region is reserved before the seal for the most the blob can take (raw length plus the seal's overhead), trimmed to
 * what the worker wrote when it is still the newest region, and freed when the pack writer is done with it. Regions
 * are freed out of order (two workers, blobs of different sizes); space is reclaimed from the oldest one on, so a slow
 * blob holds back the space after it until it is written. Waiters are served first come, first served: a large blob
 * is never starved by small ones.
 */
export class SealRing {
  readonly buf: Buffer;
  /** Live regions in reservation order; `done` once freed (reclaimed when every older one is too). */
  private readonly live: Region[] = [];
  /** Where the next region starts. */
  private head = 0;
  private readonly waiters: { n: number; resolve: (r: Region) => void }[] = [];

  constructor(readonly size: number) {
    this.buf = Buffer.from(new SharedArrayBuffer(size));
  }

  /** A region of `n` bytes (n ≤ size), as soon as there is room and every earlier caller has been served. */
  reserve(n: number): Promise<Region> {
    if (n > this.size) throw new RangeError(`a ${n}-byte region does not fit a ${this.size}-byte ring`);
    if (!this.waiters.length) {
      const r = this.take(n);
      if (r) return Promise.resolve(r);
    }
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Keep only the first `used` bytes of `r`; the rest is free again when `r` is the newest region. */
  trim(r: Region, used: number): void {
    if (used > r.end - r.start) throw new RangeError(`${used} bytes written into a ${r.end - r.start}-byte region`);
    if (this.live[this.live.length - 1] === r && this.head === r.end) this.head = r.start + used;
    r.end = r.start + used;
    this.wake();
  }

  /** `r`'s bytes are no longer needed. Idempotent: a failed write and its caller's cleanup may both free it. */
  free(r: Region): void {
    if (r.done) return;
    r.done = true;
    while (this.live.length && this.live[0]!.done) this.live.shift();
    if (!this.live.length) this.head = 0;
    this.wake();
  }

  /** Bytes not reserved (free space that a wrap leaves unusable at the end counts too). */
  get available(): number {
    if (!this.live.length) return this.size;
    const tail = this.live[0]!.start;
    return this.head > tail ? this.size - this.head + tail : tail - this.head;
  }

  private wake(): void {
    while (this.waiters.length) {
      const r = this.take(this.waiters[0]!.n);
      if (!r) return;
      this.waiters.shift()!.resolve(r);
    }
  }

  private take(n: number): Region | undefined {
    let at: number;
    if (!this.live.length) at = 0;
    else {
      const tail = this.live[0]!.start;
      // head > tail: free space is [head, size) and [0, tail); head ≤ tail with live regions: [head, tail)
      if (this.head > tail) {
        if (this.size - this.head >= n) at = this.head;
        else if (tail >= n) at = 0;
        else return undefined;
      } else if (tail - this.head >= n) at = this.head;
      else return undefined;
    }
    const r: Region = { start: at, end: at + n, done: false, view: this.buf.subarray(at, at + n) };
    this.live.push(r);
    this.head = at + n;
    return r;
  }
}

/** Bytes of a ring: `view` is buf[start, end) as reserved (`end` moves down when trimmed). */
export interface Region {
  start: number;
  end: number;
  done: boolean;
  readonly view: Buffer;
}
