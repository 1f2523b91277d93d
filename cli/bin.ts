// The executable's body: the bundle's entry point (build/bundle.ts) and what cli/coffer.js runs through tsx.
import { releaseStartupHeapFlag } from './v8-flags.ts';

// First, before the verb's modules load (dynamic imports below): the mover's start-up V8 flag has done its work by now.
await releaseStartupHeapFlag();
const { main } = await import('./main.ts');
const { lazierTierUp } = await import('./tier-up.ts');

/**
 * Verbs that finish in well under a second. For them, V8's optimizing compiler only burns CPU on code that is about to
 * exit: a 16× higher tier-up budget keeps it out of the way (`coffer validate` of the example repository: ~20% less
 * CPU, measured with npm run bench:cli). Long-running and data-moving verbs (run, backup, restore, repo, …) keep
 * V8's defaults. Set here and not in main(), so tests that call main() in-process are not affected.
 */
const BRIEF = new Set(['validate', 'plan', 'explain', 'get', 'describe', 'logs', 'cancel', 'delete', 'catalog', 'report', 'doctor', 'completion', 'init', 'restorepoints', 'runs']);
// (--version and help are too short to pay back the ~3 ms that loading node:v8 costs.)
if (BRIEF.has(process.argv[2] ?? '')) (await import('node:v8')).setFlagsFromString(lazierTierUp(process.versions.v8));

process.exitCode = await main(process.argv.slice(2));
