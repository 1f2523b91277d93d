import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Parsed catalog documents by blob id, kept on disk between processes. Blobs are immutable, so an entry never goes
 * stale; the file is only a cache (safe to delete) and lives in Coffer's cache directory, never in the user's
 * repository. It turns listing a 10,000-point catalog from "parse 10,000 YAML files" into one JSON read.
 */
export class DocCache {
  private docs: Map<string, unknown> | undefined;
  private dirty = 0;
  readonly file: string;

  constructor(cacheDir: string, gitdir: string) {
    this.file = join(cacheDir, 'docs', `${createHash('sha256').update(gitdir).digest('hex').slice(0, 16)}.json`);
  }

  private async load(): Promise<Map<string, unknown>> {
    if (!this.docs) {
      try {
        const raw = JSON.parse(await fsp.readFile(this.file, 'utf8')) as { version?: number; docs?: Record<string, unknown> };
        this.docs = new Map(raw.version === 1 && raw.docs ? Object.entries(raw.docs) : []);
      } catch {
        this.docs = new Map();
      }
    }
    return this.docs;
  }

  async get(oid: string): Promise<unknown> {
    return (await this.load()).get(oid);
  }

  async set(oid: string, doc: unknown): Promise<void> {
    (await this.load()).set(oid, doc);
    this.dirty++;
  }

  /** Writes the cache back (atomically) when something was added; a failure only costs speed next time. */
  async flush(): Promise<void> {
    if (!this.dirty || !this.docs) return;
    this.dirty = 0;
    const tmp = `${this.file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await fsp.mkdir(dirname(this.file), { recursive: true });
      await fsp.writeFile(tmp, JSON.stringify({ version: 1, docs: Object.fromEntries(this.docs) }));
      await fsp.rename(tmp, this.file);
    } catch {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }
}
