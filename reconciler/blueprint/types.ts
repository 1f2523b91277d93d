import type { KubeClient } from '../kube/client.ts';

/** What every blueprint function gets besides its arguments: the cluster, a cancellation signal, a logger. */
export interface FunctionContext {
  client: KubeClient;
  /** Aborted when the phase times out or the run is cancelled; functions stop waiting and clean up. */
  signal: AbortSignal;
  log?: (message: string) => void;
}

/** What a function returns: `output` keys are readable by later phases as `{{ phases.NAME.output.KEY }}`. */
export interface FunctionResult {
  output: Record<string, string>;
  /** Raw streams, for artifacts (a database dump) and for failure messages; not put into Git. */
  stdout?: Buffer;
  stderr?: Buffer;
}

/** A blueprint function: validated, rendered arguments in, result out; throws `PhaseError` on failure. */
export interface BlueprintFunction {
  readonly name: string;
  run(args: Record<string, unknown>, ctx: FunctionContext): Promise<FunctionResult>;
  /** Turns rendered template strings into the types the schema wants ("3" → 3) before validation. */
  coerce?(args: Record<string, unknown>): Record<string, unknown>;
}

/** A phase failed; the message names the function and carries the tail of its output so the user sees why. */
export class PhaseError extends Error {
  readonly code: string = 'E_PHASE';
  constructor(
    message: string,
    readonly stdout?: Buffer,
    readonly stderr?: Buffer,
  ) {
    super(message);
    this.name = 'PhaseError';
  }
}

/** Arguments did not match `schemas/functions/<Name>.schema.json` (or rendered to something invalid). */
export class FunctionArgsError extends Error {
  readonly code = 'E_FUNCTION_ARGS';
  constructor(message: string) {
    super(message);
    this.name = 'FunctionArgsError';
  }
}

/**
 * Lines printed as `coffer-output KEY=VALUE` become phase output (the convention documented in the function schemas;
 * Kanister's `kando output` does the same job). Later lines win.
 */
export function parseOutputLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^coffer-output ([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The last `n` lines of some output, for error messages. */
export function tail(buf: Buffer | string | undefined, n = 20): string {
  if (!buf) return '';
  const lines = buf.toString('utf8').replace(/\n$/, '').split('\n');
  return lines.slice(-n).join('\n');
}
