import { backupEntries, type BackupStats, type Repository } from '../../repository/index.ts';
import type { BundleEntry } from './bundle.ts';

/** Snapshot path of manifest bundles, so the repository's parent selection pairs a namespace's bundles together. */
export const MANIFEST_PATH = '/coffer/manifests';

export interface WriteBundleOptions {
  /** Tags such as cluster, namespace, policy, restorepoint; `kind=manifests` is added. */
  tags: Record<string, string>;
  /** The run's time, recorded as the snapshot time and every entry's mtime. */
  time?: Date;
  hostname?: string;
}

/**
 * Stores a manifest bundle (Secret data included) as one repository snapshot: encrypted and deduplicated like volume
 * data, never in Git. Entries may be streamed (a spooled export): each is stored as it comes. Returns the snapshot id the RestorePoint records as `repository.manifestSnapshot`.
 */
export async function writeBundle(repo: Repository, entries: Iterable<BundleEntry> | AsyncIterable<BundleEntry>, opts: WriteBundleOptions): Promise<{ snapshotId: string; stats: BackupStats }> {
  const time = opts.time ?? new Date();
  async function* files() {
    for await (const e of entries) yield { path: e.path, data: e.data, mode: 0o600, mtime: time };
  }
  const r = await backupEntries(
    repo,
    files(),
    { tags: { ...opts.tags, kind: 'manifests' }, time, hostname: opts.hostname, paths: [MANIFEST_PATH], parent: null },
  );
  return { snapshotId: r.snapshotId, stats: r.stats };
}
