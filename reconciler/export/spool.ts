import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BundleEntry } from './bundle.ts';

/**
 * Bundle files parked on local disk (one private append-only file) between the export, which runs first, and the
 * write into the repository, which happens only once hooks, snapshots and volume exports succeeded. Memory holds
 * each file's path, offset and length only, so a namespace of 50,000 objects costs a few MiB, not its whole bundle.
 */
export class BundleSpool {
  private readonly records: { path: string; offset: number; length: number }[] = [];
  private readonly paths = new Set<string>();
  private size = 0;
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly fh: fsp.FileHandle,
  ) {}

  static async create(): Promise<BundleSpool> {
    const dir = await fsp.mkdtemp(join(tmpdir(), 'coffer-export-'));
    return new BundleSpool(dir, await fsp.open(join(dir, 'bundle'), 'w+', 0o600));
  }

  get count(): number {
    return this.records.length;
  }

  /** Appends one file; positional writes, so callers may add concurrently. Two objects on one path is an error. */
  async add(path: string, data: Buffer): Promise<void> {
    if (this.paths.has(path)) throw new Error(`two exported objects map to ${path}`);
    this.paths.add(path);
    const offset = this.size;
    this.size += data.length;
    this.records.push({ path, offset, length: data.length });
    const w = this.fh.write(data, 0, data.length, offset);
    this.writes = Promise.all([this.writes, w]);
    await w;
  }

  /** Every file, in path order, read back one at a time. */
  async *entries(): AsyncGenerator<BundleEntry> {
    await this.writes;
    const sorted = [...this.records].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const r of sorted) {
      const data = Buffer.allocUnsafe(r.length);
      await this.fh.read(data, 0, r.length, r.offset);
      yield { path: r.path, data };
    }
  }

  async close(): Promise<void> {
    await this.writes.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}
