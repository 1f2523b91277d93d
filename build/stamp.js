// Whether a build output folder still matches the checkout it was built from. Plain JavaScript on purpose:
// cli/coffer.js asks this before anything else loads, so it must run without tsx (types in stamp.d.ts).
import { readFileSync, statSync } from 'node:fs';

/** The file at the top of every build output: what it was built from and what it holds. */
export const BUILD_INFO = 'coffer-build.json';

/** `size:mtime` of a file or directory under `root`, or undefined when it is missing. */
export function stampOf(root, rel) {
  // No path.join and no exception for a missing file: this runs a few hundred times before every `coffer` command.
  const s = statSync(`${root.endsWith('/') ? root : `${root}/`}${rel}`, { throwIfNoEntry: false });
  return s && `${s.isDirectory() ? 'd' : s.size}:${Math.trunc(s.mtimeMs)}`;
}

/** The build info of `outDir`, or undefined when there is none (never built, or a build in progress). */
export function readBuildInfo(outDir) {
  try {
    return JSON.parse(readFileSync(`${outDir}/${BUILD_INFO}`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * True when `outDir` holds a build of `checkout` as it is now: every input (sources, runtime files, the folders
 * holding them, the lockfiles) has the size and mtime it had at build time. A few hundred stat calls, ~5 ms of CPU.
 */
export function isFresh(outDir, checkout) {
  return freshBuildInfo(outDir, checkout) !== undefined;
}

/** The build info of `outDir` when it is fresh (see isFresh), else undefined: one read for cli/coffer.js. */
export function freshBuildInfo(outDir, checkout) {
  const info = readBuildInfo(outDir);
  if (!info || typeof info.inputs !== 'object') return undefined;
  for (const [rel, stamp] of Object.entries(info.inputs)) if (stampOf(checkout, rel) !== stamp) return undefined;
  return info;
}
