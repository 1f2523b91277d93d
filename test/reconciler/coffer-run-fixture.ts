/**
 * `coffer run` in-process (the CLI's own entry point, output captured), for suites that need the whole command —
 * flags, lazily opened source, server, loop, shutdown — rather than its parts. stop() does what SIGTERM does by
 * calling the handler this run registered, so the test process itself is never signalled.
 */
import { main } from '../../cli/main.ts';
import { capture } from '../cli-capture.ts';
import { waitFor } from './sample-app-fixture.ts';

export interface CofferRun {
  /** The server's base URL (`--listen 127.0.0.1:0` picks the port). */
  url: string;
  err: () => string;
  running: () => boolean;
  /** SIGTERM: resolves with the exit code. */
  stop: () => Promise<number>;
}

/** Starts `coffer run ARGV` (which must include `--listen`); resolves once it listens and handles SIGTERM. */
export async function startCofferRun(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<CofferRun> {
  const before = new Set(process.listeners('SIGTERM'));
  const c = capture(opts.cwd, opts.env);
  let exited: number | undefined;
  const exit = main(['run', ...argv], c.io).then((code) => (exited = code));
  let handler: (() => void) | undefined;
  await waitFor('coffer run to listen', async () => {
    handler = process.listeners('SIGTERM').find((l) => !before.has(l)) as (() => void) | undefined;
    return (handler !== undefined && /"event":"listening"/.test(c.err())) || exited !== undefined;
  }, 60_000);
  if (exited !== undefined) throw new Error(`coffer run exited with ${exited}: ${c.err()}`);
  return {
    url: /"url":"([^"]+)"/.exec(c.err())![1]!,
    err: c.err,
    running: () => exited === undefined,
    stop: () => {
      handler!();
      return exit;
    },
  };
}
