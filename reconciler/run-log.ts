/**
 * The lines a run logs, kept with its Run record so `coffer logs` shows them after the Pods are gone: timestamped,
 * each at most 2,000 characters, and at most 500 (the first 100 and the newest 400, with a marker between).
 */
export class RunLog {
  private readonly head: string[] = [];
  private readonly tail: string[] = [];
  private dropped = 0;
  constructor(private readonly now: () => Date) {}

  add(message: string): void {
    const line = `${this.now().toISOString()} ${message.length > 1975 ? `${message.slice(0, 1974)}…` : message}`;
    if (this.head.length < 100) return void this.head.push(line);
    this.tail.push(line);
    if (this.tail.length > 399) {
      this.tail.shift();
      this.dropped++;
    }
  }

  get lines(): string[] {
    return this.dropped ? [...this.head, `… ${this.dropped} line(s) left out …`, ...this.tail] : [...this.head, ...this.tail];
  }
}
