import { resolve } from 'node:path';
import { parseArgs } from './args.ts';
import { stringify } from 'yaml';
import type { CompileResult } from '../compiler/compile.ts';
import { CompileFailed, formatDiagnostic } from '../compiler/diagnostics.ts';
import { diffResults, diffToMarkdown, errorsToMarkdown } from '../compiler/diff/index.ts';
import { compileTarget, locateInGit } from '../compiler/load/target.ts';
import { readGitCommit } from '../compiler/load/git.ts';
import { compileSources } from '../compiler/compile.ts';
import { planJson } from '../compiler/plan/build.ts';
import { canonicalize } from '../compiler/plan/canonical.ts';
import type { Plan } from '../compiler/plan/types.ts';
import { humanSeconds, nextRuns } from '../compiler/schedule/index.ts';
import { type CliIO, type Command, UsageError } from './io.ts';

const HELP = `Compile the execution plan, or show what a change does to it.

Usage:
  coffer plan [DIR...] [--ref REF] [--output table|json|yaml] [--next-runs N] [--now TIME]
  coffer plan [DIR] --diff BASE [--head REF] [--format markdown|json] [--detailed-exitcode]

Examples:
  coffer plan                                   # table of policies, profiles, warnings
  coffer plan -o json > plan.json               # the deterministic plan (byte-identical for the same repo)
  coffer plan --diff origin/main --head HEAD    # PR review: risks first, field-level changes
  coffer plan --diff HEAD                       # what your uncommitted edits change

Flags:
      --ref REF              compile DIR as of a Git revision instead of the working tree
  -o, --output FMT           table (default), json or yaml
      --next-runs N          with json/yaml: add the next N run times per policy (outside the plan)
      --now TIME             the clock for next runs (RFC 3339; default: now)
      --diff BASE            compare against Git revision BASE
      --head REF             the revision to review (default: the working tree of DIR)
      --format FMT           diff output: markdown (default) or json
      --detailed-exitcode    with --diff: exit 0 no change, 2 changes, 1 errors
`;

export const run: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ref: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'next-runs': { type: 'string' },
      now: { type: 'string' },
      diff: { type: 'string' },
      head: { type: 'string' },
      format: { type: 'string' },
      'detailed-exitcode': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const now = values.now !== undefined ? new Date(values.now) : new Date();
  if (Number.isNaN(now.getTime())) throw new UsageError(`--now must be an RFC 3339 time, got "${values.now}"`);
  if (values.diff !== undefined) return runDiff(io, positionals, values.diff, values.head, values.format ?? values.output ?? 'markdown', values['detailed-exitcode']);
  if (values.head !== undefined || values.format !== undefined || values['detailed-exitcode']) throw new UsageError('--head, --format and --detailed-exitcode need --diff BASE');
  const output = values.output ?? 'table';
  if (!['table', 'json', 'yaml'].includes(output)) throw new UsageError(`--output must be table, json or yaml, got "${output}"`);
  let runsWanted = 0;
  if (values['next-runs'] !== undefined) {
    runsWanted = Number(values['next-runs']);
    if (!Number.isInteger(runsWanted) || runsWanted < 1 || runsWanted > 1000) throw new UsageError(`--next-runs must be an integer from 1 to 1000, got "${values['next-runs']}"`);
  }
  const result = await compileTarget(positionals, values.ref, io.cwd);
  const plan = requirePlan(result, io, output === 'table');
  if (output === 'table') {
    io.stdout.write(planTable(plan, now));
    return 0;
  }
  const body: unknown = runsWanted ? { plan, nextRuns: nextRunsByPolicy(plan, now, runsWanted) } : plan;
  io.stdout.write(output === 'json' ? (runsWanted ? `${JSON.stringify(canonicalize(body), null, 2)}\n` : planJson(plan)) : stringify(canonicalize(body), { lineWidth: 0 }));
  return 0;
};

function requirePlan(result: CompileResult, io: CliIO, tableShowsRetention = false): Plan {
  for (const w of result.diagnostics) {
    if (w.severity === 'warning' && !(tableShowsRetention && w.code === 'W_RETENTION')) io.stderr.write(`${formatDiagnostic(w)}\n`);
  }
  if (!result.plan) throw new CompileFailed(result.diagnostics);
  return result.plan;
}

async function runDiff(io: CliIO, dirs: string[], baseRef: string, headRef: string | undefined, format: string, detailed: boolean): Promise<number> {
  if (format !== 'markdown' && format !== 'json') throw new UsageError(`--format must be markdown or json, got "${format}"`);
  if (dirs.length > 1) throw new UsageError('--diff takes a single DIR');
  const dir = dirs[0] ?? '.';
  const { gitdir, subdir } = await locateInGit(resolve(io.cwd, dir));
  const fromGit = async (ref: string, allowMissingDir = false): Promise<CompileResult> => {
    const { commit, files } = await readGitCommit(gitdir, ref, subdir, { allowMissingDir });
    return compileSources(files, commit);
  };
  const base = await fromGit(baseRef, true);
  const head = headRef !== undefined ? await fromGit(headRef) : await compileTarget([dir], undefined, io.cwd);
  const outcome = diffResults(base, head);
  if (!outcome.diff) {
    if (format === 'json') io.stdout.write(`${JSON.stringify({ errors: outcome.headErrors }, null, 2)}\n`);
    else io.stdout.write(errorsToMarkdown(outcome.headErrors, headRef));
    return 1;
  }
  if (format === 'json') {
    io.stdout.write(`${JSON.stringify(canonicalize({ ...outcome.diff, baseErrors: outcome.baseErrors, warnings: outcome.headWarnings }), null, 2)}\n`);
  } else {
    io.stdout.write(diffToMarkdown(outcome.diff, { baseRef, headRef: headRef ?? 'working tree', baseErrors: outcome.baseErrors, warnings: outcome.headWarnings }));
  }
  if (!detailed) return 0;
  return outcome.diff.changes.length ? 2 : 0;
}

function nextRunsByPolicy(plan: Plan, now: Date, n: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of plan.policies) out[p.name] = p.paused ? [] : nextRuns(p.schedule, now, n).map((d) => d.toISOString());
  return out;
}

/** kubectl-style columns: padded, no borders. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd()).join('\n') + '\n';
}

function planTable(plan: Plan, now: Date): string {
  const out: string[] = [];
  const rows = [['POLICY', 'FREQUENCY', 'TIMEZONE', 'RPO', 'RETENTION h/d/w/m/y', 'PROFILE', 'BLUEPRINTS', 'NEXT RUN']];
  for (const p of plan.policies) {
    const r = p.retention;
    const next = p.paused ? 'paused' : (nextRuns(p.schedule, now, 1)[0]?.toISOString().replace('.000Z', 'Z') ?? '-');
    rows.push([
      p.name,
      p.schedule.source + (p.schedule.window ? ` [${p.schedule.window.start}-${p.schedule.window.end}]` : ''),
      p.schedule.timezone,
      humanSeconds(p.schedule.maxIntervalSeconds),
      `${r.hourly}/${r.daily}/${r.weekly}/${r.monthly}/${r.yearly}`,
      p.profile,
      p.blueprints.map((b) => b.blueprint).join(',') || '-',
      next,
    ]);
  }
  out.push(plan.policies.length ? table(rows).trimEnd() : 'No policies.');
  if (plan.profiles.length) {
    const prow = [['PROFILE', 'TYPE', 'LOCATION', 'ENCRYPTION KEY', 'IMMUTABLE']];
    for (const p of plan.profiles) {
      const k = p.encryption.keySecret;
      prow.push([p.name, p.type, p.location + (p.s3?.endpoint ? ` (${p.s3.endpoint})` : ''), `secret ${k.namespace ? `${k.namespace}/` : ''}${k.name}[${k.key}]`, p.immutability ? `${p.immutability.days}d` : '-']);
    }
    out.push('', table(prow).trimEnd());
  }
  const extra = [`${plan.blueprints.length} blueprint(s)`, `${plan.transformSets.length} transform set(s)`, `${plan.restores.length} restore request(s)`];
  out.push('', `cluster ${plan.config.cluster} · catalog ${plan.config.catalog.branch}:${plan.config.catalog.path} · ${extra.join(' · ')}`);
  const warnings = plan.policies.flatMap((p) => p.warnings.map((w) => `  ${p.name}: ${w}`));
  if (warnings.length) out.push('', 'Warnings:', ...warnings);
  out.push('', `plan ${plan.hash}${plan.sourceCommit ? ` from commit ${plan.sourceCommit}` : ' from the working tree'}`, '');
  return out.join('\n');
}
