import { describe, expect, it } from 'vitest';
import { Coalescer, type Change, type Timers } from '../../compiler/watch/debounce.ts';

/** Virtual time: timers fire only when the test advances the clock. */
class VirtualTimers implements Timers {
  t = 0;
  private next = 1;
  private queue = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.queue.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.queue.delete(handle as number);
  }
  get pending(): number {
    return this.queue.size;
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.queue.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      this.queue.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await settle();
    }
    this.t = end;
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));

type Step = { notify: string } | { advance: number } | { finish: true } | { flush: true } | { dispose: true };

interface Case {
  name: string;
  delayMs: number;
  maxWaitMs?: number;
  /** Runs complete only on a `finish` step (a slow compile), instead of at once. */
  manual?: boolean;
  steps: Step[];
  /** Each run: the virtual time it started and the paths of its batch. */
  runs: Array<[number, string[]]>;
}

const burst = (n: number, gap: number): Step[] => Array.from({ length: n }, (_, i) => [{ notify: i % 2 ? 'policies/a.yaml' : `policies/f${i}.yaml` }, { advance: gap }] as Step[]).flat();

const CASES: Case[] = [
  { name: 'one save compiles once after the quiet period', delayMs: 300, steps: [{ notify: 'a.yaml' }, { advance: 299 }, { advance: 1 }], runs: [[300, ['a.yaml']]] },
  {
    name: 'a burst of 20 saves compiles once, paths deduplicated',
    delayMs: 300,
    steps: [...burst(20, 5), { advance: 1000 }],
    runs: [[95 + 300, ['policies/f0.yaml', 'policies/f2.yaml', 'policies/f4.yaml', 'policies/f6.yaml', 'policies/f8.yaml', 'policies/f10.yaml', 'policies/f12.yaml', 'policies/f14.yaml', 'policies/f16.yaml', 'policies/f18.yaml', 'policies/a.yaml']]],
  },
  { name: 'saves further apart than the quiet period compile separately', delayMs: 300, steps: [{ notify: 'a.yaml' }, { advance: 400 }, { notify: 'b.yaml' }, { advance: 400 }], runs: [[300, ['a.yaml']], [700, ['b.yaml']]] },
  { name: 'the same file saved twice in the quiet period is one change', delayMs: 300, steps: [{ notify: 'a.yaml' }, { advance: 100 }, { notify: 'a.yaml' }, { advance: 300 }], runs: [[400, ['a.yaml']]] },
  {
    name: 'a never-ending stream still compiles every maxWait',
    delayMs: 300,
    maxWaitMs: 1000,
    steps: Array.from({ length: 25 }, () => [{ notify: 'gen.yaml' }, { advance: 100 }] as Step[]).flat(),
    runs: [[1000, ['gen.yaml']], [2000, ['gen.yaml']]],
  },
  {
    name: 'saves during a slow compile queue exactly one more compile',
    delayMs: 100,
    manual: true,
    steps: [{ notify: 'a.yaml' }, { advance: 100 }, { notify: 'b.yaml' }, { advance: 150 }, { notify: 'c.yaml' }, { advance: 150 }, { notify: 'd.yaml' }, { advance: 500 }, { finish: true }, { advance: 1000 }, { finish: true }, { advance: 1000 }],
    runs: [[100, ['a.yaml']], [900, ['b.yaml', 'c.yaml', 'd.yaml']]],
  },
  {
    name: 'a save still in its quiet period when the slow compile ends waits for that period',
    delayMs: 100,
    manual: true,
    steps: [{ notify: 'a.yaml' }, { advance: 100 }, { notify: 'b.yaml' }, { advance: 200 }, { notify: 'c.yaml' }, { advance: 50 }, { finish: true }, { advance: 49 }, { advance: 1 }, { finish: true }],
    runs: [[100, ['a.yaml']], [400, ['b.yaml', 'c.yaml']]],
  },
  { name: 'flush compiles at once with an empty batch (the first compile)', delayMs: 300, steps: [{ flush: true }, { advance: 1000 }], runs: [[0, []]] },
  { name: 'nothing runs after dispose', delayMs: 300, steps: [{ notify: 'a.yaml' }, { advance: 100 }, { dispose: true }, { notify: 'b.yaml' }, { advance: 1000 }], runs: [] },
  {
    name: 'a compile in progress at dispose finishes, the queued one does not start',
    delayMs: 100,
    manual: true,
    steps: [{ notify: 'a.yaml' }, { advance: 100 }, { notify: 'b.yaml' }, { advance: 200 }, { dispose: true }, { finish: true }, { advance: 1000 }],
    runs: [[100, ['a.yaml']]],
  },
];

describe('Coalescer (debounce, maxWait, one compile at a time)', () => {
  it.each(CASES)('$name', async (c) => {
    const timers = new VirtualTimers();
    const runs: Array<[number, string[]]> = [];
    const finishers: Array<() => void> = [];
    const co = new Coalescer({
      delayMs: c.delayMs,
      ...(c.maxWaitMs !== undefined ? { maxWaitMs: c.maxWaitMs } : {}),
      timers,
      now: () => timers.t,
      run: (batch: Change[]) => {
        runs.push([timers.t, batch.map((b) => b.path)]);
        return c.manual ? new Promise<void>((r) => finishers.push(r)) : Promise.resolve();
      },
    });
    for (const s of c.steps) {
      if ('notify' in s) co.notify({ event: 'change', path: s.notify });
      else if ('advance' in s) await timers.advance(s.advance);
      else if ('flush' in s) co.flush();
      else if ('dispose' in s) co.dispose();
      else {
        finishers.shift()?.();
        await settle();
      }
      await settle();
    }
    expect(runs).toEqual(c.runs);
    expect(finishers.length).toBe(0);
  });

  it('keeps going after a compile throws, and reports the error', async () => {
    const timers = new VirtualTimers();
    const errors: unknown[] = [];
    let n = 0;
    const co = new Coalescer({
      delayMs: 10,
      timers,
      now: () => timers.t,
      run: async () => {
        if (++n === 1) throw new Error('boom');
      },
      onError: (e) => errors.push(e),
    });
    co.notify({ event: 'change', path: 'a.yaml' });
    await timers.advance(10);
    co.notify({ event: 'change', path: 'a.yaml' });
    await timers.advance(10);
    await co.idle();
    expect(n).toBe(2);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
    expect(co.busy).toBe(false);
  });
});
