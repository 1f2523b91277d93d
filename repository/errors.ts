/** Errors a repository user can cause or meet; each has a stable code the CLI prints without a stack. */
export type RepoErrorCode =
  | 'E_REPO_PASSWORD'
  | 'E_REPO_EXISTS'
  | 'E_REPO_NOT_INITIALIZED'
  | 'E_REPO_CORRUPT'
  | 'E_REPO_LOCKED'
  | 'E_REPO_SNAPSHOT'
  | 'E_REPO_PATH'
  | 'E_REPO_UNSAFE_PATH'
  | 'E_REPO_KEY'
  | 'E_REPO_VERSION'
  | 'E_REPO_MEMORY'
  | 'E_REPO_WORKER'
  /** A blob's codec has no decoder in this process (zstd without its add-on on Node < 22.15). */
  | 'E_REPO_CODEC'
  /** A restore's target refused its files (full, over quota, read-only, not writable, names too long): the repository is not at fault. */
  | 'E_RESTORE_TARGET';

export class RepoError extends Error {
  constructor(
    readonly code: RepoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RepoError';
  }
}
