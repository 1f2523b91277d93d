/**
 * Whether Node was started with `--max-semi-space-size` (its command line or NODE_OPTIONS; V8 takes `_` for `-`).
 * MOVER_ENV sets it in NODE_OPTIONS; a user may pass it either way.
 */
export function startedWithSemiSpaceFlag(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): boolean {
  const flag = /^--max[-_]semi[-_]space[-_]size(=|$)/;
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => flag.test(a));
}

/**
 * Sets `--max-semi-space-size` back to V8's default: the entry point's first step, before the verb's modules load. Why:
 * the mover starts Node with it (MOVER_NODE_OPTIONS) to keep the main thread's young generation small, and V8 reads it
 * once, when the main isolate's heap is configured at start-up — after that it only costs: while any V8 flag differs
 * from its default, V8 refuses Node's built-in code cache, so every Node module loaded after start-up (the verb's, and
 * all of each worker thread's) was compiled from source. A first backup of 3,000 small files: 5.69–5.78 → 5.41–5.47 G
 * instructions (repository/FORMAT.md, "V8 flags and Node's code cache"). Worker threads size their young generation
 * through `workerHeapLimits` (repository/memory.ts), which a start-up flag would override. Without the flag nothing is
 * loaded (node:v8 is not part of Node's start-up).
 */
export async function releaseStartupHeapFlag(): Promise<void> {
  if (startedWithSemiSpaceFlag()) (await import('node:v8')).setFlagsFromString('--max-semi-space-size=0');
}
