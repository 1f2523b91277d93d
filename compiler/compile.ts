import { hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.ts';
import { documentsOfKind, type DocumentIndex, type SourceDocument } from './documents.ts';
import type { SourceFile } from './load/source.ts';
import { parseSourceFile, type LoadedDocument } from './load/yaml.ts';
import { buildPlan, VERIFY_RETENTION, type ScheduleResolver } from './plan/build.ts';
import { DEFAULT_TIMEZONE } from './plan/defaults.ts';
import type { Plan, PlanRetention, PlanSchedule } from './plan/types.ts';
import { parseFrequency, retentionWarnings, runsInWindow, ScheduleError } from './schedule/index.ts';
import { classifyDocuments } from './validate/documents.ts';
import { Reporter } from './validate/reporter.ts';
import { checkSemantics, indexDocuments } from './validate/semantic.ts';

export interface CompileResult {
  /** Present only when there are no errors (warnings allowed). */
  plan?: Plan;
  /** Errors and warnings, sorted by file and position. */
  diagnostics: Diagnostic[];
  /** Every recognised document, keyed Kind/name (Restore and TransformSet included); see SourceDocument.schemaValid. */
  documents: DocumentIndex;
  /** Commit the sources were read from ('' for a directory). */
  sourceCommit: string;
}

/**
 * The whole pipeline over files already read: parse → classify + schema → index
 * (duplicates) → references, CEL, templates, schedules → plan. Pure: no clock, no I/O.
 */
export function compileSources(files: SourceFile[], sourceCommit: string): CompileResult {
  const reporter = new Reporter();
  const loaded: LoadedDocument[] = [];
  for (const f of files) {
    const r = parseSourceFile(f);
    loaded.push(...r.documents);
    for (const d of r.diagnostics) reporter.push(d);
  }
  const docs = classifyDocuments(loaded, reporter);
  const documents = indexDocuments(docs, reporter);
  checkSemantics(documents, reporter);
  const schedules = resolveSchedules(documents, reporter);
  if (documentsOfKind(documents, 'Config').length === 0 && docs.length > 0) {
    reporter.push({
      code: 'W_NO_CONFIG',
      severity: 'warning',
      message: 'no Config document (coffer.yaml) found: using cluster "default" and the default catalog branch',
      file: '',
      line: 0,
      column: 0,
      path: '',
    });
  }
  const diagnostics = sortDiagnostics(reporter.diagnostics);
  if (hasErrors(diagnostics)) return { diagnostics, documents, sourceCommit };
  const resolver: ScheduleResolver = (_f, _tz, _w, _r) => {
    throw new Error('unreachable: schedule resolved before plan');
  };
  const plan = buildPlan(documents, sourceCommit, (f, tz, w, r) => schedules.get(`${f}\u0000${tz}\u0000${w?.start}\u0000${w?.end}\u0000${JSON.stringify(r)}`) ?? resolver(f, tz, w, r));
  return { plan, diagnostics, documents, sourceCommit };
}

type Obj = Record<string, any>;

/** Parses every policy's frequency once; errors point inside the frequency string, warnings at spec.retention. */
function resolveSchedules(index: DocumentIndex, reporter: Reporter): Map<string, { schedule: PlanSchedule; warnings: string[] }> {
  const out = new Map<string, { schedule: PlanSchedule; warnings: string[] }>();
  const cfg = documentsOfKind(index, 'Config')[0];
  const defaultTz: string = (cfg?.value.spec as Obj | undefined)?.defaults?.timezone ?? DEFAULT_TIMEZONE;
  for (const d of documentsOfKind(index, 'Policy')) {
    const spec = (d.value.spec ?? {}) as Obj;
    const tz: string = typeof spec.timezone === 'string' ? spec.timezone : defaultTz;
    const verifyFrequency = spec.verify?.frequency;
    if (typeof verifyFrequency === 'string') {
      try {
        out.set(`${verifyFrequency}\u0000${tz}\u0000undefined\u0000undefined\u0000${JSON.stringify(VERIFY_RETENTION)}`, { schedule: parseFrequency(verifyFrequency, tz), warnings: [] });
      } catch (e) {
        if (!(e instanceof ScheduleError)) throw e;
        // A bad time zone is reported once, at spec.timezone / spec.frequency, below.
        if (!/time zone/.test(e.message)) reporter.add(d, ['spec', 'verify', 'frequency'], 'E_SCHEDULE', `verify.frequency: ${e.message}`, { offset: e.offset ?? 0 });
      }
    }
    if (typeof spec.frequency !== 'string') continue;
    const r = spec.retention ?? {};
    const retention: PlanRetention = { hourly: r.hourly ?? 0, daily: r.daily ?? 0, weekly: r.weekly ?? 0, monthly: r.monthly ?? 0, yearly: r.yearly ?? 0 };
    const key = `${spec.frequency}\u0000${tz}\u0000${spec.backupWindow?.start}\u0000${spec.backupWindow?.end}\u0000${JSON.stringify(retention)}`;
    try {
      const s = parseFrequency(spec.frequency, tz);
      const schedule: PlanSchedule = { ...s, window: spec.backupWindow ? { start: spec.backupWindow.start, end: spec.backupWindow.end } : undefined };
      const keepsSomething = Object.values(retention).some((n) => n > 0);
      const warnings = keepsSomething && d.schemaValid !== false ? retentionWarnings(s, retention) : [];
      for (const w of warnings) reporter.add(d, ['spec', 'retention', ...tierOf(w)], 'W_RETENTION', w, { severity: 'warning' });
      if (schedule.window && schedule.window.start === schedule.window.end) {
        reporter.add(d, ['spec', 'backupWindow'], 'W_WINDOW', 'spec.backupWindow start equals end: the window is the whole day', { severity: 'warning' });
      } else if (schedule.window && d.schemaValid !== false && !runsInWindow(schedule, schedule.window)) {
        reporter.add(
          d,
          ['spec', 'backupWindow'],
          'W_WINDOW',
          `no run of frequency '${s.source.trim()}' falls inside the backup window ${schedule.window.start}–${schedule.window.end} (${schedule.timezone}): every run will wait for the window to open`,
          { severity: 'warning' },
        );
      }
      out.set(key, { schedule, warnings });
    } catch (e) {
      if (!(e instanceof ScheduleError)) throw e;
      if (/time zone/.test(e.message)) {
        reporter.add(d, spec.timezone !== undefined ? ['spec', 'timezone'] : ['spec', 'frequency'], 'E_SCHEDULE', `${spec.timezone !== undefined ? 'timezone' : `timezone (from coffer.yaml spec.defaults.timezone)`}: ${e.message}`);
      } else {
        reporter.add(d, ['spec', 'frequency'], 'E_SCHEDULE', `frequency: ${e.message}`, { offset: e.offset ?? 0 });
      }
    }
  }
  return out;
}

function tierOf(warning: string): string[] {
  const m = /^retention\.(hourly|daily|weekly|monthly|yearly)/.exec(warning);
  return m ? [m[1]!] : [];
}

export type { SourceDocument };
