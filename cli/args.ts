import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util';
import { suggest } from '../compiler/suggest.ts';
import { UsageError } from './io.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

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
 * node:util's parseArgs with errors a person can act on: an unknown flag names the verb and suggests the closest
 * known one (`did you mean --namespace?`), a flag missing its value says which; never Node's raw parser text.
 */
export function parseArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof nodeParseArgs<T>> {
  if (probing) {
    probing.options = config.options ?? {};
    throw new Probed();
  }
  try {
    return nodeParseArgs(config);
  } catch (e) {
    throw flagError(e, config.options ?? {});
  }
}

function flagError(e: unknown, options: Options): unknown {
  const code = (e as { code?: string }).code;
  const msg = (e as Error).message;
  const where = currentVerb ? ` for "coffer ${currentVerb}"` : '';
  const help = currentVerb ? `; see coffer ${currentVerb} --help` : '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /option '([^']+)'/.exec(msg)?.[1] ?? msg;
    const names = Object.entries(options).flatMap(([long, o]) => [`--${long}`, ...(o.short ? [`-${o.short}`] : [])]);
    const hint = flag.startsWith('--') ? suggest(flag, names.filter((n) => n.startsWith('--'))) : undefined;
    return new UsageError(`unknown flag ${flag}${where}${hint ? `; did you mean ${hint}?` : help}`);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /Option '(?:-\w, )?(--[^ ']+)/.exec(msg)?.[1];
    return new UsageError(flag ? `flag ${flag}${where} ${/argument missing/.test(msg) ? 'needs a value' : 'takes no value'}${help}` : msg);
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return new UsageError(`unexpected argument${where}: ${msg.replace(/^Unexpected argument '([^']*)'.*$/s, '$1')}${help}`);
  return e;
}
