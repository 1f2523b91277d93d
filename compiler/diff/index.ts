import { hasErrors, type Diagnostic } from '../diagnostics.ts';
import type { CompileResult } from '../compile.ts';
import { diffPlans } from './diff.ts';
import type { PlanDiff } from './types.ts';

export { diffPlans, diffValues } from './diff.ts';
export { diffToMarkdown, errorsToMarkdown } from './markdown.ts';
export type * from './types.ts';

export interface DiffOutcome {
  /** Absent when the head does not compile. */
  diff?: PlanDiff;
  headErrors: Diagnostic[];
  baseErrors: Diagnostic[];
  headWarnings: Diagnostic[];
}

/**
 * Compares two compile results. A base that does not compile is compared as an
 * empty plan (so a PR that fixes a broken main still gets a useful diff); a head
 * that does not compile yields its errors and no diff.
 */
export function diffResults(base: CompileResult, head: CompileResult): DiffOutcome {
  const headErrors = head.diagnostics.filter((d) => d.severity === 'error');
  const baseErrors = base.diagnostics.filter((d) => d.severity === 'error');
  const headWarnings = head.diagnostics.filter((d) => d.severity === 'warning');
  if (hasErrors(head.diagnostics) || !head.plan) return { headErrors, baseErrors, headWarnings };
  return { diff: diffPlans(base.plan, head.plan), headErrors, baseErrors, headWarnings };
}
