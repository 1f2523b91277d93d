import type { Backend } from './backend/types.ts';
import { type CompressionSetting, writerCodec } from './compress.ts';
import { DEFAULT_BUDGET, planMemory } from './memory.ts';
import { DEFAULT_PACK_SIZE, openRepository, type Repository } from './repo.ts';
import { DEFAULT_CHUNKER } from './chunker.ts';
import { defaultWorkerCount, SealWorkers } from './seal-workers.ts';
import { xattrSupport } from './xattr.ts';

export interface BackupStartOptions {
  /** As `BackupOptions.parent`: `null` (`--force`) means no parent, so every file is read. */
  parent?: string | null;
  memoryBudget?: number;
  compression?: CompressionSetting;
  /** As `BackupOptions.workers`. */
  workers?: number;
}

/**
 * Open a repository for a backup of files, starting what the backup needs while scrypt derives the key on the
 * thread pool (the main thread only waits there): the seal workers — their isolates' start-up, 40–300 ms on this box
 * by load, was on the critical path between the first read and the first cut — and the two add-ons' loads (zstd,
 * xattr). The workers start keyless and get the key by message once the backup has the repository open
 * (`SealWorkers.init`); pass them on as `BackupOptions.sealWorkers`, which closes them when the backup ends.
 *
 * They start only when the backup cannot have a parent snapshot (the repository has none, or `parent: null`): then
 * it reads every file and needs them. With a parent, most runs read nothing, and workers started for nothing would
 * cost their CPU and their isolates' memory (an unchanged backup's peak RSS); they start lazily there, as before.
 * A failed open (wrong password, no repository) stops them before the error is thrown: no blob is sealed, nothing written.
 */
export async function openForBackup(backend: Backend, password: string, opts: BackupStartOptions = {}): Promise<{ repo: Repository; sealWorkers?: SealWorkers }> {
  // the count runBackup would choose: planMemory's sealWorkers depends on the budget alone
  const count = opts.workers ?? Math.min(defaultWorkerCount(), planMemory(opts.memoryBudget ?? DEFAULT_BUDGET, DEFAULT_CHUNKER, DEFAULT_PACK_SIZE, 0).sealWorkers);
  const wanted = count > 0 && (opts.parent === null || (opts.parent === undefined && (await noSnapshots(backend))));
  let sealWorkers: SealWorkers | undefined;
  // Started once scrypt runs, not before: creating the threads and loading the add-ons takes this thread 5–90 ms
  // (by load), which would delay the reads of the config and key files that the derivation waits for.
  const start = () => {
    if (wanted) sealWorkers = new SealWorkers(undefined, undefined, count, undefined, undefined, writerCodec(opts.compression));
    xattrSupport();
  };
  try {
    return { repo: await openRepository(backend, password, start), sealWorkers };
  } catch (e) {
    await sealWorkers?.close();
    throw e;
  }
}

/** No snapshot at all (a listing of names: no key needed). A listing that fails is left to the open to report. */
async function noSnapshots(backend: Backend): Promise<boolean> {
  try {
    return (await backend.list('snapshots')).length === 0;
  } catch {
    return false;
  }
}
