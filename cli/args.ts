import type { ParseArgsConfig, parseArgs as nodeParseArgs } from 'node:util';
import { Command as Commander, CommanderError, Option } from 'commander';
import { UsageError } from './io.ts';

/**
 * Flag declarations in node:util's `parseArgs` shape. Verbs keep declaring their flags this way next to their code;
 * commander parses them (see `parseArgs` below), so the shape stays the same whoever adds a flag.
 */
export type Options = NonNullable<ParseArgsConfig['options']>;

/** The verb being run (set by main), so flag errors say `coffer VERB`. */
let currentVerb = '';
/** While probing, parseArgs records the verb's flags and stops it before it does anything. */
let probing: { options?: Options } | undefined;

export function setVerb(verb: string): void {
  currentVerb = verb;
}

class Probed extends Error {}

/**
 * The flags a verb accepts, learned by running it in probe mode: its first act is parsing its arguments, so it stops
 * there, before touching anything. Used for shell completion, so verbs keep their flags next to their code.
 */
export async function probeFlags(run: (argv: string[]) => Promise<unknown>, argv: string[] = []): Promise<Options> {
  probing = {};
  try {
    await run(argv);
  } catch (e) {
    if (!(e instanceof Probed)) throw e;
  } finally {
    const found = probing?.options;
    probing = undefined;
    if (found) return found;
  }
  return {};
}

/**
 * The commander command for a verb's flags. A `--no-x` flag stays a flag named `no-x` (commander would make it the
 * negation of `--x`), and values are collected under the declared names, not commander's camelCase.
 */
export function toCommander(name: string, options: Options, allowPositionals = false): { cmd: Commander; keys: Map<Option, string> } {
  const cmd = new Commander(name).helpOption(false).exitOverride().showSuggestionAfterError(true).allowExcessArguments(allowPositionals);
  cmd.configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  const keys = new Map<Option, string>();
  for (const [long, o] of Object.entries(options)) {
    const opt = new Option(`${o.short ? `-${o.short}, ` : ''}--${long}${o.type === 'string' ? ' <value>' : ''}`);
    opt.negate = false;
    if (o.multiple) opt.argParser((v: string | undefined, prev: unknown) => [...(Array.isArray(prev) && prev !== o.default ? prev : []), v ?? true]);
    if (o.default !== undefined) opt.default(o.default);
    cmd.addOption(opt);
    keys.set(opt, long);
  }
  return { cmd, keys };
}

/**
 * node:util's `parseArgs` call shape, parsed by commander, with errors a person can act on: an unknown flag names the
 * verb and suggests the closest known one (`did you mean --namespace?`), a flag missing its value says which; never a
 * parser's raw text. Flags may come before, between or after positionals; `--` ends them.
 */
export function parseArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof nodeParseArgs<T>> {
  const options = config.options ?? {};
  if (probing) {
    probing.options = options;
    throw new Probed();
  }
  const { cmd, keys } = toCommander(`coffer ${currentVerb}`.trim(), options, config.allowPositionals === true);
  try {
    cmd.parse(config.args ?? process.argv.slice(2), { from: 'user' });
  } catch (e) {
    throw e instanceof CommanderError ? flagError(e, cmd, options) : e;
  }
  const parsed = cmd.opts();
  const values: Record<string, unknown> = Object.create(null);
  for (const [opt, long] of keys) {
    const v = parsed[opt.attributeName()];
    if (v !== undefined) values[long] = v;
  }
  return { values, positionals: cmd.args } as unknown as ReturnType<typeof nodeParseArgs<T>>;
}

/** Commander's error → our wording (kubectl's), keeping commander's own "did you mean". */
function flagError(e: CommanderError, cmd: Commander, options: Options): unknown {
  const where = currentVerb ? ` for "coffer ${currentVerb}"` : '';
  const help = currentVerb ? `; see coffer ${currentVerb} --help` : '';
  switch (e.code) {
    case 'commander.unknownOption': {
      const flag = /unknown option '([^']+)'/.exec(e.message)?.[1] ?? e.message;
      // `--quiet=yes`: commander takes `=value` only for flags that have one.
      const bool = /^--([^=]+)=/.exec(flag)?.[1];
      if (bool && options[bool]?.type === 'boolean') return new UsageError(`flag --${bool}${where} takes no value${help}`);
      const hint = suggestionOf(e);
      return new UsageError(`unknown flag ${flag}${where}${hint.length ? `; did you mean ${hint.join(' or ')}?` : help}`);
    }
    case 'commander.optionMissingArgument': {
      const flag = /--[\w-]+/.exec(e.message)?.[0] ?? e.message;
      return new UsageError(`flag ${flag}${where} needs a value${help}`);
    }
    case 'commander.excessArguments':
      return new UsageError(`unexpected argument${where}: ${cmd.args[0] ?? ''}${help}`);
    default:
      return new UsageError(e.message.replace(/^error: /, ''));
  }
}

/** The names in commander's "(Did you mean X?)" or "(Did you mean one of X, Y?)". */
export function suggestionOf(e: CommanderError): string[] {
  const m = /\(Did you mean (?:one of )?(.+)\?\)/.exec(e.message);
  return m ? m[1]!.split(', ') : [];
}
