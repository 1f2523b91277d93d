/**
 * Cancelling one run of a running `coffer run` (`coffer cancel RUN`), scheduled or not, without stopping the loop:
 * each backup run and declared restore in flight registers here with its own abort, and a cancel aborts exactly that
 * run. The run's
 * blueprints still run their `finally` phases (no app stays quiesced), nothing is committed as a restore point, and
 * the Run is recorded as Cancelled, naming who cancelled it.
 */

/** The abort reason of a run a person cancelled: the run ends Cancelled, not Failed. */
export class RunCancelled extends Error {
  readonly code = 'E_CANCELLED';
  constructor(message: string) {
    super(message);
    this.name = 'RunCancelled';
  }
}

export function cancelledBy(signal: AbortSignal | undefined): RunCancelled | undefined {
  return signal?.aborted && signal.reason instanceof RunCancelled ? signal.reason : undefined;
}

export interface RunningRun {
  run: string;
  type: 'backup' | 'restore';
  policy: string;
  namespace: string;
  startTime: string;
  /** Set once a cancel was asked for; the run is stopping. */
  cancelledBy?: string;
}

export class RunningRuns {
  private readonly runs = new Map<string, { info: RunningRun; abort: AbortController }>();

  /** Registers a run that is starting; its signal aborts when someone cancels it. */
  start(info: RunningRun): AbortSignal {
    const abort = new AbortController();
    this.runs.set(info.run, { info, abort });
    return abort.signal;
  }

  /** The run has finished (recorded or about to be): a cancel now finds nothing to stop. */
  end(run: string): void {
    this.runs.delete(run);
  }

  list(): RunningRun[] {
    return [...this.runs.values()].map((r) => ({ ...r.info }));
  }

  /** Stops the run if it is in flight here; undefined when it is not (finished, never existed, another replica's). */
  cancel(run: string, who: string): RunningRun | undefined {
    const r = this.runs.get(run);
    if (!r) return undefined;
    if (!r.abort.signal.aborted) {
      r.info.cancelledBy = who;
      r.abort.abort(new RunCancelled(`cancelled by ${who}`));
    }
    return { ...r.info };
  }
}
