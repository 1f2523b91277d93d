#!/usr/bin/env node
// The `coffer` executable of a checkout. It runs the build output (`npm run build`, also run by `npm ci`'s
// prepare step) when that matches the sources, so no TypeScript is compiled at start-up; after an edit, until the
// next build, it runs the TypeScript sources through tsx, so it never runs stale code. COFFER_TSX=1 forces tsx.
// The image runs dist/lib/coffer.mjs directly.
import module from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshBuildInfo } from '../build/stamp.js';

// Node 22.1+: V8 keeps the code it compiled (in the OS temp folder), so later starts skip parsing the bundle again.
// Node 20 has no such cache for ES modules; there this is a no-op.
module.enableCompileCache?.();

const checkout = fileURLToPath(new URL('..', import.meta.url));
const dist = join(checkout, 'dist');
const built = process.env.COFFER_TSX === '1' ? undefined : freshBuildInfo(dist, checkout);
if (built) {
  await import(pathToFileURL(join(dist, built.entry)).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./bin.ts');
}
