/**
 * Per-thread CPU of a running command, sampled from /proc (Linux schedstat): for each thread of the command's
 * processes, the time it ran and the time it waited in the run queue (runnable, no CPU free).
 *
 * Why: on a shared two-core box, CPU-s ÷ wall mixes two things — how many threads the pipeline keeps busy, and
 * what share of the CPUs the scheduler gave it. The run-queue wait separates them: (run + wait) ÷ wall is how
 * many threads were runnable on average (what the process would use on free cores), and the busiest thread's
 * (run + wait) ÷ wall near 1 marks a serial stage (every other thread waits on it).
 *
 * Threads that exit between two samples lose their last interval (≤ SAMPLE_MS); a command that is not a
 * descendant of the spawned pid (none here) is not seen. Elsewhere than Linux the sampler reports nothing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const SAMPLE_MS = 100;

export interface ThreadTimes {
  /** Seconds on a CPU, summed over the command's threads. */
  runSeconds: number;
  /** Seconds runnable but waiting for a CPU, summed over threads. */
  waitSeconds: number;
  /** Threads seen. */
  threads: number;
  /** The busiest threads by run time (at most 4): [run s, wait s]; `main` is the first process's first thread. */
  top: { main: boolean; run: number; wait: number }[];
  /** The main thread's [run s, wait s]. */
  main?: { run: number; wait: number };
}

function readNs(file: string): [number, number] | undefined {
  try {
    const [run, wait] = readFileSync(file, 'utf8').split(' ');
    return [Number(run), Number(wait)];
  } catch {
    return undefined; // the thread or process is gone
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Start sampling `pid` and its descendants; `stop()` returns the totals (undefined where /proc has no schedstat).
 * `wrapper`: `pid` only waits for its child (GNU time), so its own thread is left out and the child is the main one.
 */
export function sampleThreads(pid: number, wrapper = false): { stop: () => ThreadTimes | undefined } {
  if (!existsSync(`/proc/${pid}/schedstat`)) return { stop: () => undefined };
  const last = new Map<number, { run: number; wait: number; main: boolean }>();
  let mainTid: number | undefined;
  const tick = () => {
    const pids: number[] = wrapper ? [] : [pid];
    for (let todo = children(pid); todo.length; ) {
      const p = todo.shift()!;
      pids.push(p);
      todo.push(...children(p));
    }
    mainTid ??= pids[0];
    for (const p of pids) {
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${p}/task`);
      } catch {
        continue;
      }
      for (const t of tids) {
        const v = readNs(`/proc/${p}/task/${t}/schedstat`);
        if (v) last.set(Number(t), { run: v[0], wait: v[1], main: Number(t) === mainTid });
      }
    }
  };
  tick();
  const timer = setInterval(tick, SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      tick(); // what ran since the last interval counts too (a loaded machine runs the interval late)
      const all = [...last.values()];
      if (!all.length) return undefined;
      const s = (ns: number) => Math.round(ns / 1e7) / 100;
      const main = all.find((x) => x.main);
      return {
        ...(main ? { main: { run: s(main.run), wait: s(main.wait) } } : {}),
        runSeconds: s(all.reduce((a, x) => a + x.run, 0)),
        waitSeconds: s(all.reduce((a, x) => a + x.wait, 0)),
        threads: all.length,
        top: all
          .sort((a, b) => b.run - a.run)
          .slice(0, 4)
          .map((x) => ({ main: x.main, run: s(x.run), wait: s(x.wait) })),
      };
    },
  };
}
