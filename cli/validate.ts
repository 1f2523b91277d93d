import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from './args.ts';
import { formatDiagnostic, hasErrors } from '../compiler/diagnostics.ts';
import { compileTarget } from '../compiler/load/target.ts';
import { type Command, UsageError } from './io.ts';

const HELP = `Validate a policy repository: schemas, references, CEL, templates, schedules.

Usage:
  coffer validate [DIR...] [--ref REF] [--output text|json]

Examples:
  coffer validate                      # the current directory
  coffer validate policies blueprints  # several folders as one repository
  coffer validate --ref origin/main    # a Git revision, without a checkout

Flags:
      --ref REF       validate DIR as of a Git revision (branch, tag, commit, HEAD~1)
  -o, --output FMT    text (default) or json
  -q, --quiet         print errors only, no summary

Exit status: 0 valid (warnings allowed), 1 errors.
`;

export const run: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ref: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'text' },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (values.output !== 'text' && values.output !== 'json') throw new UsageError(`--output must be text or json, got "${values.output}"`);
  const result = await compileTarget(positionals, values.ref, io.cwd);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  const warnings = result.diagnostics.filter((d) => d.severity === 'warning');
  const count = Object.keys(result.documents).length;
  if (values.output === 'json') {
    const body = {
      valid: !hasErrors(result.diagnostics),
      sourceCommit: result.sourceCommit || undefined,
      documents: count,
      ...(result.discovered ? { discovered: result.discovered } : {}),
      errors,
      warnings,
    };
    io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return body.valid ? 0 : 1;
  }
  const showSnippets = io.stdout.isTTY === true && values.ref === undefined;
  for (const d of result.diagnostics) {
    if (values.quiet && d.severity !== 'error') continue;
    const stream = d.severity === 'error' ? io.stdout : io.stderr;
    stream.write(`${formatDiagnostic(d)}\n`);
    if (showSnippets) stream.write(snippet(resolve(io.cwd, d.file), d.line, d.column));
  }
  if (!values.quiet) {
    if (result.discovered?.length) io.stderr.write(`blueprints found beside ${positionals.join(', ') || '.'}: ${result.discovered.join(', ')}\n`);
    const kinds = summarizeKinds(result.documents);
    if (errors.length) io.stderr.write(`\n${errors.length} error(s), ${warnings.length} warning(s)\n`);
    else io.stderr.write(`valid: ${count} document(s)${kinds ? ` (${kinds})` : ''}${warnings.length ? `, ${warnings.length} warning(s)` : ''}\n`);
  }
  return errors.length ? 1 : 0;
};

/** The offending line with a caret under the column, like a compiler; '' when the file cannot be read. */
function snippet(file: string, line: number, column: number): string {
  if (!line) return '';
  try {
    const text = readFileSync(file, 'utf8').split('\n')[line - 1];
    if (text === undefined || text.length > 400) return '';
    const gutter = String(line).padStart(5);
    return `${gutter} | ${text}\n${' '.repeat(5)} | ${' '.repeat(Math.max(0, column - 1))}^\n`;
  } catch {
    return '';
  }
}

function summarizeKinds(docs: Record<string, { kind: string }>): string {
  const counts = new Map<string, number>();
  for (const d of Object.values(docs)) counts.set(d.kind, (counts.get(d.kind) ?? 0) + 1);
  return [...counts.entries()]
    .sort()
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
}
