import { lookupFunction, validateArgs } from './functions/index.ts';
import { type FunctionContext, FunctionArgsError, PhaseError } from './types.ts';
import { parseDuration } from './functions/Wait.ts';
import { renderArgs, type TemplateContext } from './template.ts';

/** One phase as written in a Blueprint (`spec.actions.ACTION.phases[]` / `finally[]`). */
export interface PhaseSpec {
  name: string;
  func: string;
  args?: Record<string, unknown>;
  /** Duration (`10m`); default 10 minutes. */
  timeout?: string;
}

/** A Blueprint action: phases run in order, `finally` phases always run after them (Kanister's deferPhase). */
export interface ActionSpec {
  phases?: PhaseSpec[];
  finally?: PhaseSpec[];
  /** Artifacts recorded in the restore point: NAME → KEY → template (the plan's `PlanBlueprintAction` shape). */
  outputArtifacts?: Record<string, Record<string, string>>;
}

export type PhaseOutcome = 'Succeeded' | 'Failed' | 'Skipped';

/** What happened in one phase; mirrors the RestorePoint/RestoreResult `hooks[]` records (see `toHookRecords`). */
export interface PhaseResult {
  phase: string;
  func: string;
  /** true for a `finally` phase. */
  deferred: boolean;
  phaseResult: PhaseOutcome;
  startTime?: string;
  endTime?: string;
  durationMs?: number;
  /** High-resolution start (performance.now()), to order phases of nested actions chronologically. */
  startedAt?: number;
  output: Record<string, string>;
  /** Raw stdout, e.g. a database dump written by KubeExec; the caller decides whether it becomes an artifact. */
  stdout?: Buffer;
  error?: string;
}

export interface ActionResult {
  blueprint: string;
  action: string;
  workload?: string;
  ok: boolean;
  phases: PhaseResult[];
  /** Rendered output artifacts (only when every phase succeeded). */
  artifacts: Record<string, Record<string, string>>;
  /** The first failure, for the run's error list. */
  error?: string;
}

export interface RunActionOptions {
  blueprint: string;
  action: string;
  spec: ActionSpec;
  /** namespace, workload, restorePoint, artifacts — `phases` is filled in as phases complete. */
  context: Omit<TemplateContext, 'phases'>;
  ctx: Omit<FunctionContext, 'signal'> & { signal?: AbortSignal };
  /** Injected clock for recorded times. */
  now?: () => Date;
  /**
   * Work done between the phases and the `finally` phases, only when every phase succeeded: the backup run takes the
   * volume snapshots here, while the application is quiesced. Its error fails the action; finally phases still run.
   */
  beforeFinally?: () => Promise<void>;
}

export const DEFAULT_PHASE_TIMEOUT = '10m';

/**
 * Runs a blueprint action: phases in order with templated arguments (each phase sees earlier phases' outputs), stops
 * at the first failure (later phases are recorded as Skipped), then runs every `finally` phase whatever happened —
 * a failing finally phase is recorded and the others still run. Never throws for a phase failure: the structured
 * result says what happened; the caller fails the run when `ok` is false.
 */
export async function runAction(opts: RunActionOptions): Promise<ActionResult> {
  const now = opts.now ?? (() => new Date());
  const phasesCtx: Record<string, { output: Record<string, string> }> = {};
  const results: PhaseResult[] = [];
  let firstError: string | undefined;

  const runOne = async (p: PhaseSpec, deferred: boolean): Promise<void> => {
    const start = now();
    const t0 = performance.now();
    const res: PhaseResult = { phase: p.name, func: p.func, deferred, phaseResult: 'Succeeded', startTime: start.toISOString(), startedAt: t0, output: {} };
    const controller = new AbortController();
    // Finally phases (unfreeze, unlock) are the clean-up an interrupted run needs most: only their own timeout ends them.
    const outer = deferred ? undefined : opts.ctx.signal;
    const onOuter = () => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onOuter, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      if (outer?.aborted) throw new PhaseError(`run cancelled before phase ${p.name}${outer.reason instanceof Error ? `: ${outer.reason.message}` : ''}`);
      const fn = lookupFunction(p.func);
      const context: TemplateContext = { ...opts.context, phases: phasesCtx };
      let args = renderArgs(p.args ?? {}, context, `${opts.blueprint}.${opts.action}.${p.name}`);
      if (fn.coerce) args = fn.coerce(args);
      validateArgs(p.func, args);
      const timeoutMs = parseDuration(p.timeout ?? DEFAULT_PHASE_TIMEOUT);
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new PhaseError(`phase ${p.name} (${p.func}) timed out after ${p.timeout ?? DEFAULT_PHASE_TIMEOUT}`);
          controller.abort(err);
          reject(err);
        }, timeoutMs);
      });
      const r = await Promise.race([fn.run(args, { ...opts.ctx, signal: controller.signal }), timedOut]);
      res.output = r.output;
      res.stdout = r.stdout;
      phasesCtx[p.name] = { output: r.output };
    } catch (e) {
      res.phaseResult = 'Failed';
      res.error = e instanceof PhaseError || e instanceof FunctionArgsError || (e as { code?: string }).code?.startsWith('E_') ? (e as Error).message : `${p.func}: ${(e as Error).message ?? String(e)}`;
      if (e instanceof PhaseError && e.stdout) res.stdout = e.stdout;
      firstError ??= `${opts.blueprint}/${opts.action} phase ${p.name} (${p.func}) failed: ${res.error}`;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
      res.endTime = now().toISOString();
      res.durationMs = Math.round(performance.now() - t0);
      opts.ctx.log?.(`${opts.blueprint}/${opts.action} ${deferred ? 'finally ' : ''}phase ${p.name} (${p.func}): ${res.phaseResult}${res.error ? `: ${res.error.split('\n')[0]}` : ''}`);
      results.push(res);
    }
  };

  for (const p of opts.spec.phases ?? []) {
    if (firstError) {
      results.push({ phase: p.name, func: p.func, deferred: false, phaseResult: 'Skipped', output: {} });
      continue;
    }
    await runOne(p, false);
  }
  if (!firstError && opts.beforeFinally) {
    try {
      await opts.beforeFinally();
    } catch (e) {
      firstError = `${opts.blueprint}/${opts.action}: ${(e as Error).message}`;
    }
  }
  for (const p of opts.spec.finally ?? []) await runOne(p, true);

  const artifacts: Record<string, Record<string, string>> = {};
  if (!firstError) {
    try {
      for (const [name, a] of Object.entries(opts.spec.outputArtifacts ?? {})) {
        artifacts[name] = renderArgs(a, { ...opts.context, phases: phasesCtx }, `${opts.blueprint}.${opts.action}.outputArtifacts.${name}`) as Record<string, string>;
      }
    } catch (e) {
      firstError = `${opts.blueprint}/${opts.action} output artifacts: ${(e as Error).message}`;
    }
  }
  return { blueprint: opts.blueprint, action: opts.action, workload: opts.context.workload ? `${opts.context.workload.kind}/${opts.context.workload.name}` : undefined, ok: !firstError, phases: results, artifacts, error: firstError };
}

/** The `hooks[]` records of a RestorePoint/RestoreResult (schemas/restoreresult.schema.json#/$defs/hooks). */
export function toHookRecords(r: ActionResult): Record<string, unknown>[] {
  return r.phases.map((p) => ({
    blueprint: r.blueprint,
    action: r.action,
    phase: p.phase,
    func: p.func,
    ...(r.workload ? { workload: r.workload } : {}),
    phaseResult: p.phaseResult,
    ...(p.startTime ? { startTime: p.startTime } : {}),
    ...(p.endTime ? { endTime: p.endTime } : {}),
    ...(Object.keys(p.output).length ? { output: p.output } : {}),
    ...(p.error ? { error: p.error } : {}),
  }));
}
