#!/usr/bin/env node
// The `coffer` executable: runs the TypeScript sources directly through tsx so a
// fresh checkout needs no build step (`npm ci` then `npx coffer …`).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
