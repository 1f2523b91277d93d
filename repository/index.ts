/**
 * Coffer's data mover: a deduplicating, compressed, encrypted repository
 * (format in FORMAT.md). The reconciler's mover Jobs call this API; the CLI
 * (`coffer repo …`) is a thin layer over it.
 */
export { FileBackend } from './backend/fs.ts';
export type { Backend, FileInfo, FileType, TemporaryFile } from './backend/types.ts';
export { BackendError } from './backend/types.ts';
export { RepoError, type RepoErrorCode } from './errors.ts';
export { initRepository, openRepository, Repository, FORMAT_VERSION, DEFAULT_PACK_SIZE, type InitOptions, type RepoConfig } from './repo.ts';
export { DEFAULT_SCRYPT, type ScryptParams } from './crypto.ts';
export { DEFAULT_CHUNKER, type ChunkerParams } from './chunker.ts';
export { backup, backupEntries, type BackupOptions, type BackupResult, type BackupStats, type BackupProgress, type Entry } from './backup.ts';
export { openForBackup } from './backup-start.ts';
export { restore, type RestoreOptions, type RestoreStats, type RestoreProgress } from './restore.ts';
export { check, type CheckOptions, type CheckResult, type DamagedPack } from './check.ts';
export { forget, prune, type ForgetOptions, type PruneStats } from './prune.ts';
export { ls, stats, type LsEntry, type RepoStats } from './inspect.ts';
export { listSnapshots, findSnapshot, type Snapshot, type SnapshotInfo, type TreeNode } from './tree.ts';
export { acquireLock, interruptLocks, removeLocks, withLock, staleTemporaryFiles, sweepTemporaryFiles, type HeldLock } from './lock.ts';
