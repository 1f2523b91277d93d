import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { GitSourceError } from './errors.ts';

export const ZERO_OID = '0000000000000000000000000000000000000000';

export interface RefUpdate {
  gitdir: string;
  /** Full ref name, e.g. refs/heads/coffer-catalog. */
  ref: string;
  newOid: string;
  /** The value the caller built on; undefined means "the ref must not exist yet". */
  expectedOld: string | undefined;
  /** Reflog line identity and message (git's core.logAllRefUpdates behaviour). */
  committer: { name: string; email: string; timestamp: number; timezoneOffset: number };
  message: string;
}

/**
 * Compare-and-swap of a ref using git's own lock protocol (`<ref>.lock` created exclusively, then renamed over the
 * ref), so Coffer, the git CLI and other Coffer processes can update the same repository concurrently without losing
 * an update. Returns false when the ref moved since the caller read it (the caller re-applies its change on the new tip).
 */
export async function compareAndSwapRef(u: RefUpdate, opts: { lockWaitMs?: number } = {}): Promise<boolean> {
  const refPath = join(u.gitdir, u.ref);
  const lockPath = `${refPath}.lock`;
  await fsp.mkdir(dirname(refPath), { recursive: true });
  const handle = await acquireLock(lockPath, opts.lockWaitMs ?? 10_000);
  let renamed = false;
  try {
    const current = await readRefValue(u.gitdir, u.ref);
    if (current !== u.expectedOld) return false;
    await handle.writeFile(`${u.newOid}\n`);
    await handle.sync();
    await handle.close();
    await appendReflog(u, current);
    await fsp.rename(lockPath, refPath);
    renamed = true;
    return true;
  } finally {
    if (!renamed) {
      await handle.close().catch(() => undefined);
      await fsp.rm(lockPath, { force: true });
    }
  }
}

async function acquireLock(lockPath: string, waitMs: number): Promise<fsp.FileHandle> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fsp.open(lockPath, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (Date.now() > deadline) {
        throw new GitSourceError(
          'E_GIT_REF_LOCKED',
          `${lockPath} exists: another process is updating this ref; if no git or coffer process is running, remove the stale lock file`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(5 * 2 ** Math.min(attempt, 6), 200) * (0.5 + Math.random())));
    }
  }
}

/** Current value of a ref from its loose file or packed-refs; undefined when the ref does not exist. */
export async function readRefValue(gitdir: string, ref: string): Promise<string | undefined> {
  try {
    const text = (await fsp.readFile(join(gitdir, ref), 'utf8')).trim();
    if (/^[0-9a-f]{40}$/.test(text)) return text;
    if (text.startsWith('ref: ')) return readRefValue(gitdir, text.slice(5).trim());
    return undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'EISDIR') throw e;
  }
  try {
    const packed = await fsp.readFile(join(gitdir, 'packed-refs'), 'utf8');
    for (const line of packed.split('\n')) {
      if (line.length > 41 && line[40] === ' ' && line.slice(41) === ref) return line.slice(0, 40);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return undefined;
}

async function appendReflog(u: RefUpdate, old: string | undefined): Promise<void> {
  const logPath = join(u.gitdir, 'logs', u.ref);
  const tz = -u.committer.timezoneOffset;
  const sign = tz < 0 ? '-' : '+';
  const abs = Math.abs(tz);
  const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  const line = `${old ?? ZERO_OID} ${u.newOid} ${u.committer.name} <${u.committer.email}> ${u.committer.timestamp} ${zone}\t${u.message.split('\n')[0]}\n`;
  await fsp.mkdir(dirname(logPath), { recursive: true });
  await fsp.appendFile(logPath, line);
}
