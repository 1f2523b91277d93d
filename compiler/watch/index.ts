/**
 * `coffer dev`: watch a working copy of a policy repository, recompile on save (debounced) and report each compile
 * against the last plan that compiled. Pure parts — the coalescer (debounce.ts) and the session (session.ts) — are
 * separate from the chokidar edge (watcher.ts); this module wires them with the compiler passed in.
 */
import type { CompileResult } from '../compile.ts';
import type { Diagnostic } from '../diagnostics.ts';
import type { Plan, PlanPolicy } from '../plan/types.ts';
import { Coalescer, type Change, type Timers } from './debounce.ts';
import { selectionChanges } from './selection.ts';
import { DevSession, type CompileReport } from './session.ts';
import { watchPolicyDirs, type WatchedDir, type WatchOptions } from './watcher.ts';

export { Coalescer, realTimers, type Change, type Timers } from './debounce.ts';
export { DevSession, type CompileReport } from './session.ts';
export { selectionChanges, type NamespaceSelection } from './selection.ts';
export { classifyPath, watchPolicyDirs, type WatchedDir, type WatchOptions } from './watcher.ts';
export { renderReport, reportJson, type RenderOptions } from './render.ts';

export interface DevLoopOptions {
  dirs: WatchedDir[];
  /** Reads and compiles the working copy; may throw a SourceError (directory gone), reported as a failed compile. */
  compile: () => Promise<CompileResult>;
  onReport: (r: CompileReport) => void;
  /** Abort to stop: the watcher closes, a compile in progress finishes, nothing starts after. */
  signal: AbortSignal;
  debounceMs: number;
  maxWaitMs?: number;
  /** Compare the first compile with this plan (e.g. Git HEAD's) instead of printing it whole. */
  baseline?: Plan;
  now?: () => Date;
  /** Monotonic milliseconds for compile durations (default performance.now). */
  monotonic?: () => number;
  timers?: Timers;
  watch?: WatchOptions;
  /** The watcher failed (e.g. too many inotify watches); the loop keeps going. */
  onWatchError?: (e: unknown) => void;
  /**
   * Evaluates namespace selectors against a live cluster (policy name → selected namespaces). When given, each report
   * says which namespaces a policy starts or stops protecting; a failure is reported, never fatal.
   */
  selectNamespaces?: (policies: readonly PlanPolicy[]) => Promise<Map<string, string[]>>;
  /** The watcher finished its initial scan: changes from now on are seen. */
  onReady?: () => void;
}

/** Runs the watch → debounce → compile → report loop until `signal` aborts. */
export async function runDevLoop(opts: DevLoopOptions): Promise<void> {
  if (opts.signal.aborted) return;
  const now = opts.now ?? (() => new Date());
  const monotonic = opts.monotonic ?? (() => performance.now());
  const session = new DevSession(opts.baseline);
  const coalescer = new Coalescer({
    delayMs: opts.debounceMs,
    ...(opts.maxWaitMs !== undefined ? { maxWaitMs: opts.maxWaitMs } : {}),
    ...(opts.timers ? { timers: opts.timers } : {}),
    run: async (changes: Change[]) => {
      const start = monotonic();
      let result: CompileResult | undefined;
      let failure: Diagnostic | undefined;
      try {
        result = await opts.compile();
      } catch (e) {
        failure = asDiagnostic(e);
      }
      const before = session.baseline;
      const report = session.step({ ...(result ? { result } : {}), ...(failure ? { failure } : {}), files: changes, time: now(), durationMs: monotonic() - start });
      if (opts.selectNamespaces && (report.status === 'initial' || report.status === 'changed')) await addSelection(report, before, opts.selectNamespaces);
      opts.onReport(report);
    },
    onError: (e) => opts.onWatchError?.(e),
  });
  const watcher = watchPolicyDirs(opts.dirs, (c) => coalescer.notify(c), (e) => opts.onWatchError?.(e), opts.watch);
  const stopped = new Promise<void>((res) => opts.signal.addEventListener('abort', () => res(), { once: true }));
  try {
    await Promise.race([watcher.ready, stopped]);
    if (!opts.signal.aborted) {
      opts.onReady?.();
      coalescer.flush();
      await stopped;
    }
  } finally {
    coalescer.dispose();
    await coalescer.idle();
    await watcher.close();
  }
}

/** Namespace selection of the new plan, and for a change also of the baseline, against the cluster as it is now. */
async function addSelection(report: CompileReport, before: Plan | undefined, select: NonNullable<DevLoopOptions['selectNamespaces']>): Promise<void> {
  try {
    const after = await select(report.plan!.policies);
    const was = report.status === 'changed' && before ? await select(before.policies) : undefined;
    report.namespaces = selectionChanges(was, after);
  } catch (e) {
    report.namespacesError = (e as Error).message ?? String(e);
  }
}

/** A source that cannot be read at all (directory deleted mid-edit) is shown like any compile error. */
function asDiagnostic(e: unknown): Diagnostic {
  const code = (e as { code?: unknown }).code;
  return {
    code: typeof code === 'string' && code.startsWith('E_') ? code : 'E_INTERNAL',
    severity: 'error',
    message: (e as Error).message ?? String(e),
    file: '',
    line: 0,
    column: 0,
    path: '',
  };
}
