// Whether a build output folder still matches the checkout it was built from. Plain JavaScript on purpose:
// cli/coffer.js asks this before anything else loads, so it must run without tsx (types in stamp.d.ts).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The file at the top of every build output: what it was built from and what it holds. */
export const BUILD_INFO = 'coffer-build.json';

/** `size:mtime` of a file or directory under `root`, or undefined when it is missing. */
export function stampOf(root, rel) {
  try {
    const s = statSync(join(root, rel));
    return `${s.isDirectory() ? 'd' : s.size}:${Math.trunc(s.mtimeMs)}`;
  } catch {
    return undefined;
  }
}

/** The build info of `outDir`, or undefined when there is none (never built, or a build in progress). */
export function readBuildInfo(outDir) {
  try {
    return JSON.parse(readFileSync(join(outDir, BUILD_INFO), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * True when `outDir` holds a build of `checkout` as it is now: every input (sources, runtime files, the folders
 * holding them, the lockfiles) has the size and mtime it had at build time. A few hundred stat calls, ~2 ms.
 */
export function isFresh(outDir, checkout) {
  const info = readBuildInfo(outDir);
  if (!info || typeof info.inputs !== 'object') return false;
  for (const [rel, stamp] of Object.entries(info.inputs)) if (stampOf(checkout, rel) !== stamp) return false;
  return true;
}
