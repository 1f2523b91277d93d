import { RepoError } from './errors.ts';

/**
 * What a dead worker thread reports: a typed error naming which worker, whether it died before it was ready
 * (a thread that could not be created — a pids limit, no memory for its heap — or a script that failed to load)
 * and the cause, instead of the raw stack of a worker's `error` event. `kind` is "seal" or "restore".
 */
export function workerError(kind: string, index: number, count: number, started: boolean, cause: unknown): RepoError {
  const e = cause as NodeJS.ErrnoException | undefined;
  const why = `${e?.message ?? String(cause)}${e?.code ? ` (${e.code})` : ''}`;
  const env = kind === 'seal' ? 'COFFER_BACKUP_WORKERS' : 'COFFER_RESTORE_WORKERS';
  const msg = started
    ? `${kind} worker ${index + 1} of ${count} failed: ${why}`
    : `${kind} worker ${index + 1} of ${count} failed to start: ${why}; ${env}=0 runs without worker threads`;
  return Object.assign(new RepoError('E_REPO_WORKER', msg), { cause });
}
