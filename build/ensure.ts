/**
 * A fresh build, made at most once at a time: what the sandbox's `coffer` image and the build tests need before
 * they run the bundle. Several vitest workers (or sandboxes) may ask at once: one builds under a lock folder
 * (mkdir is atomic), the others wait for it and find the build fresh.
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { build, CHECKOUT, DEFAULT_OUT } from './bundle.ts';
import { isFresh } from './stamp.js';

/** A lock older than this was left by a build that died. */
const STALE_LOCK_MS = 10 * 60_000;
let inflight: Promise<void> | undefined;

export function ensureBuild(outDir = DEFAULT_OUT): Promise<void> {
  if (isFresh(outDir, CHECKOUT)) return Promise.resolve();
  inflight ??= locked(outDir).finally(() => {
    inflight = undefined;
  });
  return inflight;
}

async function locked(outDir: string): Promise<void> {
  const lock = `${outDir}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      await sleep(250);
    }
  }
  try {
    if (!isFresh(outDir, CHECKOUT)) await build({ outDir });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
