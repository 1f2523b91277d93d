/**
 * The ledger outside the database: a writer runs inside the app's container (kubectl exec, so it reaches the server
 * on the pod's own loopback) and prints `ack N` after commit N returned; each ack is recorded here with the host's
 * clock the moment it arrives. Nothing about what the database holds is trusted until it is read back after the
 * restore.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export class Ledger {
  /** seq → ms since the epoch when its ack arrived. */
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
        const m = /^ack (\d+)$/.exec(l);
        if (m) this.acks.set(Number(m[1]), now);
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

  /** The longest time between two consecutive acks whose gap overlaps [from, to]: how long a write was blocked. */
  /** The longest gap between two acks overlapping [from, to], and when it began (epoch ms). */
  longestGap(from: number, to: number): { ms: number; at: number } {
    const times = [...this.acks.values()].sort((a, b) => a - b);
    let worst = { ms: 0, at: from };
    for (let i = 1; i < times.length; i++) if (times[i]! >= from && times[i - 1]! <= to && times[i]! - times[i - 1]! > worst.ms) worst = { ms: times[i]! - times[i - 1]!, at: times[i - 1]! };
    return worst;
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
