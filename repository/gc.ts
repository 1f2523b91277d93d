import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | undefined | null;

/**
 * A full GC on demand. The mover allocates ~1 MiB buffers (cipher and
 * compressor output) at hundreds of MB/s while the JS heap stays tiny, so V8
 * sees little reason to collect and freed ArrayBuffers pile up (measured:
 * RSS grew past 1.2 GiB backing up a 1.2 GiB file). Collecting every few
 * hundred MB keeps RSS flat for a few milliseconds each time.
 */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) gcFn = g;
    else {
      try {
        setFlagsFromString('--expose-gc');
        gcFn = runInNewContext('gc') as () => void;
      } catch {
        gcFn = null;
      }
    }
  }
  gcFn?.();
}

/** Calls collectGarbage every `every` bytes reported. */
export class GcPacer {
  private since = 0;
  constructor(private readonly every = 256 * 1024 * 1024) {}
  add(bytes: number): void {
    this.since += bytes;
    if (this.since >= this.every) {
      this.since = 0;
      collectGarbage();
    }
  }
}
