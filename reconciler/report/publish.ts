import type { Plan } from '../../compiler/plan/types.ts';
import { factsOf, type Catalog, type CommitResult } from '../catalog/index.ts';
import { complianceChanges, complianceMessage, type ComplianceChange } from './changes.ts';
import { latestVerifications } from '../verify/store.ts';
import { evaluateCompliance } from './compliance.ts';
import { complianceRuns } from './history.ts';
import { renderMarkdown } from './render.ts';
import type { ComplianceReport } from './types.ts';

/** `reports/` from coffer.yaml `spec.reports.path`, without trailing slashes. */
export function reportsDir(plan: Pick<Plan, 'config'>): string {
  return (plan.config.reports?.path ?? 'reports').replace(/\/+$/, '') || 'reports';
}

/**
 * Reads what compliance needs from the catalog branch tip and evaluates it: restore point summaries from the index,
 * the latest-run pointers, and the run history only as far back as the rules look (`complianceRuns`).
 */
export async function computeCompliance(catalog: Catalog, plan: Plan, selected: ReadonlyMap<string, readonly string[]>, now: Date): Promise<ComplianceReport> {
  const [points, runs, lastRuns, verifications] = await Promise.all([catalog.listRestorePoints(), complianceRuns(catalog, plan.policies, selected), catalog.latestRuns(), plan.policies.some((p) => p.verify) ? latestVerifications(catalog) : []]);
  return evaluateCompliance({
    plan,
    selected,
    restorePoints: points.items.map(factsOf),
    runs,
    lastRuns,
    verifications,
    now,
  });
}

/** The report last committed on the catalog branch, if any. */
export async function readCommittedReport(catalog: Catalog, plan: Pick<Plan, 'config'>): Promise<ComplianceReport | undefined> {
  const raw = await catalog.readFile(`${reportsDir(plan)}/compliance.json`);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as ComplianceReport;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

export interface PublishResult {
  report: ComplianceReport;
  changes: ComplianceChange[];
  /** Present when a commit was made (compliance changed). */
  commit?: CommitResult;
  message?: string;
}

/**
 * Called after each reconcile: evaluates compliance and commits `reports/compliance.json` and `compliance.md` to the
 * catalog branch in one commit — only when an outcome changed, so the branch history is the audit trail of
 * compliance itself, with a subject line saying what changed.
 */
export async function publishCompliance(opts: { catalog: Catalog; plan: Plan; selected: ReadonlyMap<string, readonly string[]>; now: Date }): Promise<PublishResult> {
  const report = await computeCompliance(opts.catalog, opts.plan, opts.selected, opts.now);
  const previous = await readCommittedReport(opts.catalog, opts.plan);
  const changes = complianceChanges(previous, report);
  if (previous && !changes.length) return { report, changes };
  const message = complianceMessage(changes, report, !previous);
  const dir = reportsDir(opts.plan);
  const commit = await opts.catalog.commitChanges(
    {
      put: [
        { path: `${dir}/compliance.json`, content: `${JSON.stringify(report, null, 2)}\n` },
        { path: `${dir}/compliance.md`, content: renderMarkdown(report) },
      ],
    },
    message,
  );
  return { report, changes, commit, message };
}
