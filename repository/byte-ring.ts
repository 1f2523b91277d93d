/**
 * One buffer lent out in contiguous regions, oldest first, freed in any order: the bytes a pipeline has in flight,
 * bounded and reused instead of allocated per piece.
 * - backup: the seal workers write sealed blobs into regions the pack writer frees once each blob is written. Every
 *   sealed blob was a fresh buffer (allocated on the worker, transferred, queued for the pack's write), dead once
 *   written but freed only by a forced collection — up to 32 MiB live on the main thread, its garbage, and glibc's
 *   arenas keeping what was freed (FORMAT.md, "Peak RSS, second pass").
 * - check --read-data: pack runs are read into regions and freed once verified. A pool of run buffers kept
 *   allocating new sizes (a large file's runs are single blobs of 0.5–8 MiB) and dropping old ones, and a dropped
 *   SharedArrayBuffer stays resident until the main thread's next full collection (1 GiB check: 185–232 MiB peak).
 *
 * A region is reserved for the most it can take, trimmed to what was written when it is still the newest region, and
 * freed when its reader is done. Regions are freed out of order (two workers, pieces of different sizes); space is
 * reclaimed from the oldest one on, so a slow piece holds back the space after it until it is freed. Waiters are
 * served first come, first served: a large piece is never starved by small ones. The buffer is allocated on first use.
 */
export class ByteRing {
  private buf: Buffer | undefined;
  /** Live regions in reservation order; `done` once freed (reclaimed when every older one is too). */
  private readonly live: Region[] = [];
  /** Where the next region starts. */
  private head = 0;
  private readonly waiters: { n: number; resolve: (r: Region) => void }[] = [];

  constructor(
    readonly size: number,
    private readonly alloc: (n: number) => Buffer = shared,
  ) {}

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
    this.buf ??= this.alloc(this.size);
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

/** Shared memory: worker threads read and write regions without a copy. */
function shared(n: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(n));
}

/**
 * `n` bytes held until `free`: a region of `ring`, or, larger than the ring (check --read-data meets a tree blob
 * that is), a buffer of its own that holds the whole ring meanwhile, so the bytes in flight stay what the ring allows
 * except for that one piece.
 */
export async function lend(ring: ByteRing, n: number, alloc: (n: number) => Buffer): Promise<{ buf: Buffer; free(): void }> {
  const region = await ring.reserve(Math.min(n, ring.size));
  return { buf: n > ring.size ? alloc(n) : region.view, free: () => ring.free(region) };
}
