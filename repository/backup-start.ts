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
  let sealWorkers: SealWorkers | undefined;
  let wanted = false;
  let deriving = false;
  let opened = false;
  let failed: unknown;
  // Started once scrypt runs, not before: creating the threads and loading the add-ons takes this thread 5–90 ms (by
  // load), which would delay the reads of the config and key files that the derivation waits for. The listing of
  // snapshots runs beside the open (one more round trip on S3); if it answers only after the open, nothing starts early.
  const start = () => {
    if (!wanted || !deriving || opened || sealWorkers || failed) return;
    try {
      sealWorkers = new SealWorkers(undefined, undefined, count, undefined, undefined, writerCodec(opts.compression));
    } catch (e) {
      failed = e; // a thread that cannot be created (E_REPO_WORKER): thrown once the open is done
    }
  };
  const noParent = count <= 0 || typeof opts.parent === 'string' ? Promise.resolve(false) : opts.parent === null ? Promise.resolve(true) : noSnapshots(backend);
  // never rejects (noSnapshots answers false on any error, start keeps its failure); not awaited: an answer after the open starts nothing
  void noParent.then((w) => {
    wanted = w;
    start();
  });
  try {
    const repo = await openRepository(backend, password, () => {
      deriving = true;
      xattrSupport();
      start();
    });
    opened = true;
    if (failed) throw failed;
    return { repo, sealWorkers };
  } catch (e) {
    opened = true;
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
