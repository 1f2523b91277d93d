import { parseArgs } from './args.ts';
import { KINDS, FUNCTIONS } from '../schemas/index.ts';
import { explain } from '../compiler/explain.ts';
import { type Command, UsageError } from './io.ts';

const HELP = `Describe the fields of a kind, like kubectl explain.

Usage:
  coffer explain KIND[.FIELD.PATH] [--recursive]

Examples:
  coffer explain policy
  coffer explain policy.spec.retention
  coffer explain blueprint.spec.actions.backup.phases --recursive
  coffer explain KubeExec              # a blueprint function's arguments

Kinds: ${KINDS.join(', ')}
Blueprint functions: ${FUNCTIONS.join(', ')}
`;

export const run: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { recursive: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('coffer explain takes one argument: KIND[.FIELD.PATH] (see coffer explain --help)');
  io.stdout.write(explain(positionals[0]!, { recursive: values.recursive }));
  return 0;
};
