import { hostname } from 'node:os';
import type { TemporaryFile } from './backend/types.ts';
import { RepoError } from './errors.ts';
import type { Repository } from './repo.ts';

interface LockBody {
  time: string;
  exclusive: boolean;
  hostname: string;
  pid: number;
  operation: string;
  /** The signal that ended its holder mid-operation (`interruptLocks`): stale to everyone at once. */
  interrupted?: string;
}

/** A lock not refreshed for this long is stale (refreshed every 5 minutes while held). */
export const STALE_AFTER_MS = 30 * 60 * 1000;
const REFRESH_MS = 5 * 60 * 1000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stale: its holder was interrupted (`interruptLocks`), it was not refreshed in 30 minutes, or it is held by a process
 * on this host that no longer exists (e.g. killed by SIGKILL).
 */
export function isStale(l: LockBody, now: Date): boolean {
  if (l.interrupted !== undefined) return true;
  if (now.getTime() - Date.parse(l.time) > STALE_AFTER_MS) return true;
  return l.hostname === hostname() && !pidAlive(l.pid);
}

export interface HeldLock {
  release(): Promise<void>;
  /** Stale locks seen while acquiring: a sign that an earlier run crashed (left packs without an index). */
  readonly staleSeen: string[];
  /**
   * When no other live lock existed: the moment this lock was written. Every writer holds a lock, so a temporary
   * file older than this belongs to a process that is gone. Undefined when another operation was running.
   */
  readonly lockFreeAt?: Date;
}

/** The locks this process holds, each as the function that marks it interrupted. */
const held = new Set<(signal: string) => Promise<void>>();

/**
 * Shared locks (backup, check, restore) coexist; an exclusive lock (prune,
 * forget) excludes all others. Acquisition writes our lock first and then
 * looks for conflicts, so two racing processes cannot both win.
 */
export async function acquireLock(repo: Repository, exclusive: boolean, operation: string): Promise<HeldLock> {
  const body = (): LockBody => ({ time: new Date().toISOString(), exclusive, hostname: hostname(), pid: process.pid, operation });
  const writtenAt = new Date();
  let name = await repo.saveJSON('locks', body());
  const now = new Date();
  const staleSeen: string[] = [];
  let othersLive = false;
  for (const f of await repo.backend.list('locks')) {
    if (f.name === name) continue;
    let other: LockBody;
    try {
      other = await repo.loadJSON<LockBody>('locks', f.name);
    } catch (e) {
      if ((e as { code?: string }).code === 'E_REPO_NOT_FOUND') continue;
      throw e;
    }
    if (isStale(other, now)) {
      staleSeen.push(f.name);
      continue;
    }
    othersLive = true;
    if (exclusive || other.exclusive) {
      await repo.backend.delete('locks', name);
      throw new RepoError(
        'E_REPO_LOCKED',
        `repository is locked ${other.exclusive ? 'exclusively' : ''} by "${other.operation}" (pid ${other.pid} on ${other.hostname} since ${other.time}); retry later, or run "coffer repo unlock" if that process is gone`.replace('  ', ' '),
      );
    }
  }
  const timer = setInterval(() => {
    void (async () => {
      const fresh = await repo.saveJSON('locks', body());
      await repo.backend.delete('locks', name);
      name = fresh;
    })().catch(() => undefined);
  }, REFRESH_MS);
  timer.unref();
  const interrupt = async (signal: string) => {
    clearInterval(timer);
    const marked = await repo.saveJSON('locks', { ...body(), interrupted: signal });
    await repo.backend.delete('locks', name);
    name = marked;
  };
  held.add(interrupt);
  return {
    staleSeen,
    ...(othersLive ? {} : { lockFreeAt: writtenAt }),
    async release() {
      held.delete(interrupt);
      clearInterval(timer);
      await repo.backend.delete('locks', name);
    },
  };
}

/**
 * Marks every lock this process holds as interrupted by `signal`, for a CLI that a signal stops mid-operation (a mover
 * Pod deleted when its run is cancelled). The lock is not simply removed: like a crashed run's, it tells the next
 * backup to re-index the packs this one wrote; but it is stale to everyone at once — where a killed mover's lock,
 * written from a Pod that no longer exists, would hold up prune and forget for 30 minutes. Returns how many it marked.
 */
export async function interruptLocks(signal: string): Promise<number> {
  const all = [...held];
  held.clear();
  await Promise.all(all.map((mark) => mark(signal).catch(() => undefined)));
  return all.length;
}

/** Remove stale locks (or all with `all`); returns how many were removed. */
export async function removeLocks(repo: Repository, all = false): Promise<number> {
  let n = 0;
  const now = new Date();
  for (const f of await repo.backend.list('locks')) {
    let stale = all;
    if (!stale) {
      try {
        stale = isStale(await repo.loadJSON<LockBody>('locks', f.name), now);
      } catch {
        stale = true;
      }
    }
    if (stale) {
      await repo.backend.delete('locks', f.name);
      n++;
    }
  }
  return n;
}

/** Hold a lock for the duration of `fn`. */
export async function withLock<T>(repo: Repository, exclusive: boolean, operation: string, fn: (lock: HeldLock) => Promise<T>): Promise<T> {
  const lock = await acquireLock(repo, exclusive, operation);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

/**
 * Temporary files left by writes that never finished: those older than the lock's lock-free moment (see
 * `HeldLock.lockFreeAt`); none while another operation runs, since its files may still be in flight.
 */
export async function staleTemporaryFiles(repo: Repository, lock: HeldLock): Promise<TemporaryFile[]> {
  if (!lock.lockFreeAt || !repo.backend.listTemporary) return [];
  const before = lock.lockFreeAt.getTime();
  return (await repo.backend.listTemporary()).filter((f) => f.mtime.getTime() < before);
}

/** Removes stale temporary files; only under an exclusive lock, so nothing can start writing meanwhile. */
export async function sweepTemporaryFiles(repo: Repository, lock: HeldLock): Promise<TemporaryFile[]> {
  const stale = await staleTemporaryFiles(repo, lock);
  for (const f of stale) await repo.backend.deleteTemporary!(f.path);
  return stale;
}
