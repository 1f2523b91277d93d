import type { CompileResult } from '../compile.ts';
import type { Diagnostic } from '../diagnostics.ts';
import { diffPlans } from '../diff/diff.ts';
import type { PlanDiff } from '../diff/types.ts';
import type { Plan } from '../plan/types.ts';
import type { Change } from './debounce.ts';
import type { NamespaceSelection } from './selection.ts';

/** What one compile of `coffer dev` found, ready to print (text) or serialise (one JSON object per compile). */
export interface CompileReport {
  /** 1 for the first compile, then +1 per compile. */
  seq: number;
  /** When the compile finished (RFC 3339). */
  time: string;
  durationMs: number;
  /** The file changes that caused this compile ([] for the first one). */
  files: Change[];
  /**
   * initial: the first plan that compiled (there was no good plan to compare with);
   * changed / unchanged: compared with the last good plan; error: did not compile, the last good plan stays the baseline.
   */
  status: 'initial' | 'changed' | 'unchanged' | 'error';
  /** The plan that compiled now (absent on error). */
  plan?: Plan;
  /** The last good plan this compile is compared with, when there is one. */
  baseline?: { hash: string; seq: number };
  /** Same shape as `coffer plan --diff --format json` (absent for initial and error). */
  diff?: PlanDiff;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** With a cluster (`--kubeconfig`): what each policy selects now (initial), or how selections changed (changed). */
  namespaces?: NamespaceSelection[];
  /** The cluster could not be asked (unreachable, forbidden); the compile itself is still reported. */
  namespacesError?: string;
}

/**
 * The memory of a `coffer dev` session: the last plan that compiled. Each compile result is compared with it, and
 * only a result that compiles replaces it — so after a typo is fixed, the diff shown is against the plan before the
 * typo, i.e. exactly what the whole edit changed. Pure: results and times come in, reports come out.
 */
export class DevSession {
  private seq = 0;
  private lastGood: { plan: Plan; seq: number } | undefined;

  /** `baseline` starts the comparison from a known plan (e.g. the one at Git HEAD) instead of the first compile. */
  constructor(baseline?: Plan) {
    if (baseline) this.lastGood = { plan: baseline, seq: 0 };
  }

  get baseline(): Plan | undefined {
    return this.lastGood?.plan;
  }

  /** Folds in one compile. `failure` stands for a source that could not be read at all (the directory is gone). */
  step(input: { result?: CompileResult; failure?: Diagnostic; files: Change[]; time: Date; durationMs: number }): CompileReport {
    const seq = ++this.seq;
    const base = {
      seq,
      time: input.time.toISOString(),
      durationMs: Math.round(input.durationMs),
      files: input.files,
      ...(this.lastGood ? { baseline: { hash: this.lastGood.plan.hash, seq: this.lastGood.seq } } : {}),
    };
    const diagnostics = input.result?.diagnostics ?? [];
    const errors = input.failure ? [input.failure] : diagnostics.filter((d) => d.severity === 'error');
    const warnings = diagnostics.filter((d) => d.severity === 'warning');
    const plan = input.result?.plan;
    if (errors.length || !plan) {
      return { ...base, status: 'error', errors: errors.length ? errors : [noPlan()], warnings };
    }
    const previous = this.lastGood;
    this.lastGood = { plan, seq };
    if (!previous) return { ...base, status: 'initial', plan, errors: [], warnings };
    const diff = diffPlans(previous.plan, plan);
    return { ...base, status: diff.changes.length ? 'changed' : 'unchanged', plan, diff, errors: [], warnings };
  }
}

function noPlan(): Diagnostic {
  return { code: 'E_INVALID', severity: 'error', message: 'the repository did not produce a plan', file: '', line: 0, column: 0, path: '' };
}
