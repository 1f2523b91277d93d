/**
 * The ledger outside the database: a writer runs inside the app's container (kubectl exec, so it reaches the server
 * on the pod's own loopback) and prints `ack N T` after commit N returned, T read from the container's clock at that
 * moment (the same kernel clock as the host's: the sandbox runs no VM). Nothing about what the database holds is
 * trusted until it is read back after the restore.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export class Ledger {
  /** seq → ms since the epoch when commit seq was acknowledged (the host's arrival time if the line had no T). */
  readonly acks = new Map<number, number>();
  private readonly child: ChildProcess;
  private buffered = '';
  private stderr = '';
  readonly exited: Promise<number>;

  constructor(kubeconfig: string, namespace: string, pod: string, script: string) {
    this.child = spawn('kubectl', ['--kubeconfig', kubeconfig, 'exec', '-n', namespace, pod, '--', 'bash', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => {
      const now = Date.now();
      this.buffered += c.toString();
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop()!;
      for (const l of lines) {
        const m = /^ack (\d+)(?: (\d+(?:\.\d+)?))?$/.exec(l);
        if (m) this.acks.set(Number(m[1]), m[2] ? Number(m[2]) * 1000 : now);
      }
    });
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code ?? -1)));
  }

  get errors(): string {
    return this.stderr;
  }

  /** Waits until at least `n` commits were acknowledged. */
  async waitFor(n: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.acks.size < n) {
      if (Date.now() > deadline) throw new Error(`writer acknowledged ${this.acks.size} of ${n} commits: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Commit gaps overlapping [from, to] (see `commitGaps`). */
  gaps(from: number, to: number, excluded?: { from: number; to: number }[]): CommitGaps {
    return commitGaps([...this.acks.values()], from, to, excluded);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** What a restore kept of the ledger: every ack before the consistency point must be there. */
export function compare(acks: Map<number, number>, restored: Set<number>, consistentAtMs: number) {
  const before = [...acks].filter(([, t]) => t < consistentAtMs).map(([s]) => s);
  const lost = before.filter((s) => !restored.has(s));
  const afterPoint = [...restored].filter((s) => !before.includes(s)).length;
  return { ackedBeforePoint: before.length, restored: restored.size, lost, restoredAfterPoint: afterPoint };
}

export interface CommitGaps {
  /** Longest time between two consecutive acknowledged commits: the longest a write was blocked. */
  longestMs: number;
  /** When that gap began (epoch ms; `from` when there was none). */
  at: number;
  /** 99th percentile of the gaps (nearest rank): the commit latency most writes saw. */
  p99Ms: number;
  /** Gaps counted (consecutive ack pairs overlapping the window). */
  gaps: number;
  /** The longest gap less the time it overlaps the `excluded` spans (the sandbox's own freezes of the pod). */
  longestOutsideMs: number;
}

/**
 * The gaps between consecutive acks (sorted by time) that overlap [from, to]: a gap that started before the window
 * and ended in it was a write blocked during it, as was one that started in it and ended after. An empty window
 * gives zeros.
 */
export function commitGaps(ackTimes: number[], from: number, to: number, excluded: { from: number; to: number }[] = []): CommitGaps {
  const t = [...ackTimes].sort((a, b) => a - b);
  const gaps: { ms: number; at: number }[] = [];
  for (let i = 1; i < t.length; i++) if (t[i]! >= from && t[i - 1]! <= to) gaps.push({ ms: t[i]! - t[i - 1]!, at: t[i - 1]! });
  if (!gaps.length) return { longestMs: 0, at: from, p99Ms: 0, gaps: 0, longestOutsideMs: 0 };
  const worst = gaps.reduce((w, g) => (g.ms > w.ms ? g : w));
  const sorted = gaps.map((g) => g.ms).sort((a, b) => a - b);
  const outside = gaps.map((g) => g.ms - excluded.reduce((sum, x) => sum + Math.max(0, Math.min(x.to, g.at + g.ms) - Math.max(x.from, g.at)), 0));
  return { longestMs: round(worst.ms), at: worst.at, p99Ms: round(sorted[Math.ceil(0.99 * sorted.length) - 1]!), gaps: gaps.length, longestOutsideMs: round(Math.max(0, ...outside)) };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * What ran when a write was blocked: the hook phase (by its recorded start and end) the gap overlaps most, `between A
 * and B` for the time between two phases (between the last backup phase and the first finally phase: the volume
 * snapshot), `before hooks` (manifest export) or `after hooks` (volume export by the mover, manifests).
 */
export function placeGap(gap: { at: number; ms: number }, hooks: { phase: string; startTime?: string; endTime?: string }[]): string {
  const spans = hooks.filter((h) => h.startTime && h.endTime).map((h) => ({ name: h.phase, from: Date.parse(h.startTime!), to: Date.parse(h.endTime!) })).sort((a, b) => a.from - b.from);
  if (!spans.length) return 'no hooks';
  const segments = [{ name: 'before hooks', from: -Infinity, to: spans[0]!.from }];
  spans.forEach((s, i) => {
    segments.push(s);
    const next = spans[i + 1];
    segments.push({ name: next ? `between ${s.name} and ${next.name}` : 'after hooks', from: s.to, to: next ? next.from : Infinity });
  });
  const overlap = (s: { from: number; to: number }) => Math.min(s.to, gap.at + gap.ms) - Math.max(s.from, gap.at);
  return segments.reduce((best, s) => (overlap(s) > overlap(best) ? s : best)).name;
}
