/**
 * Container logs on disk in the CRI format kubelets write
 * (`<RFC3339Nano> <stream> <F|P> <text>`), so `kubectl logs --timestamps`,
 * `--since`, `--tail` and `--previous` are answered from the file alone.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';

export type Stream = 'stdout' | 'stderr';

/** Kubernetes' RFC3339Nano with nanoseconds padded, from a millisecond clock plus a sub-ms counter. */
export function rfc3339Nano(ms: number, subMs = 0): string {
  const iso = new Date(ms).toISOString(); // 2024-01-01T00:00:00.123Z
  return `${iso.slice(0, 23)}${String(subMs).padStart(6, '0')}Z`;
}

/** Appends a container's stdout/stderr to its log file line by line, with timestamps. */
export class LogWriter {
  private readonly out: WriteStream;
  private readonly partial: Record<Stream, string> = { stdout: '', stderr: '' };
  private lastMs = 0;
  private sub = 0;

  constructor(
    readonly file: string,
    private readonly now: () => number = Date.now,
  ) {
    this.out = createWriteStream(file, { flags: 'a' });
  }

  private stamp(): string {
    const ms = this.now();
    if (ms === this.lastMs) this.sub++;
    else {
      this.lastMs = ms;
      this.sub = 0;
    }
    return rfc3339Nano(ms, Math.min(this.sub, 999_999));
  }

  write(stream: Stream, chunk: Buffer | string): void {
    const text = this.partial[stream] + chunk.toString();
    const lines = text.split('\n');
    this.partial[stream] = lines.pop() ?? '';
    let out = '';
    for (const line of lines) out += `${this.stamp()} ${stream} F ${line}\n`;
    // A partial line waits for its end, unless it grows large (progress bars).
    if (this.partial[stream].length > 16 * 1024) {
      out += `${this.stamp()} ${stream} P ${this.partial[stream]}\n`;
      this.partial[stream] = '';
    }
    if (out) this.out.write(out);
  }

  /** Flushes unterminated lines and closes the file. */
  async close(): Promise<void> {
    let out = '';
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.partial[s]) out += `${this.stamp()} ${s} P ${this.partial[s]}\n`;
      this.partial[s] = '';
    }
    if (out) this.out.write(out);
    await new Promise<void>((r) => this.out.end(r));
  }
}

export interface LogRecord {
  time: string;
  stream: Stream;
  full: boolean;
  text: string;
}

export function parseLogLine(line: string): LogRecord | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0 || c < 0) return undefined;
  return { time: line.slice(0, a), stream: line.slice(a + 1, b) as Stream, full: line.slice(b + 1, c) === 'F', text: line.slice(c + 1) };
}

export interface LogQuery {
  timestamps: boolean;
  tailLines?: number;
  sinceTime?: string;
  limitBytes?: number;
}

/** Renders records as kubectl shows them: the text, a newline only for full lines, optional timestamp prefix. */
export function renderRecords(records: LogRecord[], q: LogQuery): string {
  let rs = records;
  if (q.sinceTime) rs = rs.filter((r) => r.time >= q.sinceTime!);
  if (q.tailLines !== undefined) {
    // Tail counts lines, i.e. full records; partial records belong to the line they start.
    let count = 0;
    let i = rs.length;
    while (i > 0 && count < q.tailLines) {
      i--;
      if (rs[i]!.full) count++;
    }
    while (i > 0 && !rs[i - 1]!.full) i--;
    rs = q.tailLines === 0 ? [] : rs.slice(i);
  }
  let out = '';
  for (const r of rs) out += (q.timestamps ? `${r.time} ` : '') + r.text + (r.full ? '\n' : '');
  return out;
}

/** Reads the file from `offset`; returns whole lines parsed plus the offset after the last whole line. */
export async function readRecords(file: string, offset = 0): Promise<{ records: LogRecord[]; offset: number }> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return { records: [], offset };
  }
  if (size <= offset) return { records: [], offset };
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return { records: [], offset };
    const records: LogRecord[] = [];
    for (const line of text.slice(0, end).split('\n')) {
      const r = parseLogLine(line);
      if (r) records.push(r);
    }
    return { records, offset: offset + Buffer.byteLength(text.slice(0, end + 1)) };
  } finally {
    await fh.close();
  }
}
