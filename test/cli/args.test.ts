/**
 * Verbs declare flags in node:util's `parseArgs` shape and args.ts parses them with commander: for valid input the
 * result must be what node:util's parseArgs returns (the reference the shape comes from), so flag declarations keep
 * their meaning whichever parser reads them. Cases follow the Node.js docs of util.parseArgs (short groups, `=value`,
 * `--` ending the flags, repeated `multiple` flags, defaults) plus the ones coffer's verbs use (`--no-git`).
 */
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../cli/args.ts';

const options = {
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o', default: 'table' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  tag: { type: 'string', multiple: true },
  include: { type: 'string', multiple: true, default: ['*'] },
  'no-git': { type: 'boolean', default: false },
  'dry-run': { type: 'boolean' },
} satisfies NonNullable<ParseArgsConfig['options']>;

const cases: string[][] = [
  [],
  ['shop'],
  ['-n', 'shop', 'a', 'b'],
  ['a', '--namespace', 'shop', 'b'],
  ['--namespace=shop'],
  ['-nshop'],
  ['-qv', 'x'],
  ['-o', 'json', '--output', 'yaml'],
  ['--tag', 'a', '--tag', 'b', 'x'],
  ['--include', 'ns/*'],
  ['--no-git', '--dry-run'],
  ['--', '--namespace', '-q'],
  ['a', '--', 'b', '--quiet'],
  ['-'],
  ['--namespace', ''],
];

describe('args.ts parses like node:util parseArgs', () => {
  it.each(cases)('%j', (...argv) => {
    const config = { args: argv, options, allowPositionals: true } as const;
    const want = nodeParseArgs(config);
    const got = parseArgs(config);
    expect({ values: { ...got.values }, positionals: got.positionals }).toEqual({ values: { ...want.values }, positionals: want.positionals });
  });

  it.each([
    [['--namespace'], /flag --namespace needs a value/],
    [['--quiet=yes'], /flag --quiet takes no value/],
    [['--namespce', 'x'], /unknown flag --namespce; did you mean --namespace\?/],
    [['-x'], /unknown flag -x/],
  ])('%j is an error a person can act on', (argv, message) => {
    expect(() => parseArgs({ args: argv, options, allowPositionals: true })).toThrow(message);
  });

  it('refuses positionals a verb does not take', () => {
    expect(() => parseArgs({ args: ['extra'], options })).toThrow(/unexpected argument: extra/);
  });
});
