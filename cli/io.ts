/**
 * The edges a command touches, passed in so commands can be driven from tests
 * without spawning a process.
 */
export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type Command = (argv: string[], io: CliIO) => Promise<number>;

export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/** A failure the user caused (bad flag, missing file): printed without a stack trace. */
export class UsageError extends Error {
  readonly code = 'E_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Every Coffer error carries a stable `code`; anything else is a bug and keeps its stack. */
export function isCofferError(e: unknown): e is Error & { code: string } {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('E_');
}
