import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, check, FileBackend, openRepository, restore } from '../../repository/index.ts';
import { FAST_KDF, prng, tempDir } from './helpers.ts';
import { initRepository } from '../../repository/index.ts';
import { isStale } from '../../repository/lock.ts';

const COFFER = fileURLToPath(new URL('../../cli/coffer.js', import.meta.url));

function countPacks(repoDir: string): number {
  const data = path.join(repoDir, 'data');
  if (!existsSync(data)) return 0;
  return readdirSync(data).reduce((n, d) => n + readdirSync(path.join(data, d)).filter((f) => !f.startsWith('.')).length, 0);
}

/** `coffer repo backup SRC` into `repoDir` as a child process, and a way to stop it once `packs` packs have landed. */
function backupChild(repoDir: string, src: string) {
  const child = spawn(process.execPath, [COFFER, 'repo', 'backup', src, '-o', 'json'], {
    env: { ...process.env, COFFER_REPOSITORY: repoDir, COFFER_PASSWORD: 'pw' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    stderr: () => stderr,
    exited,
    /** Sends `signal` once `packs` packs are in the repository; false if the backup ended first. */
    async signalAfter(packs: number, signal: NodeJS.Signals): Promise<boolean> {
      for (let i = 0; i < 3000 && child.exitCode === null; i++) {
        if (countPacks(repoDir) >= packs) return child.kill(signal);
        await new Promise((r) => setTimeout(r, 10));
      }
      return false;
    },
  };
}

const FILES = 12;
const SIZE = 8 * 1024 * 1024;

/** A source of FILES random files (seeded from `seed`) and an empty repository of 1 MiB packs, so many packs land before a snapshot would. */
function sourceAndRepository(name: string, seed: number): { repoDir: string; src: string; dir: string } {
  const t = tempDir(name);
  const repoDir = path.join(t.dir, 'repo');
  const src = path.join(t.dir, 'src');
  beforeAll(async () => {
    mkdirSync(src);
    for (let i = 0; i < FILES; i++) writeFileSync(path.join(src, `f${i}.bin`), prng(SIZE, i + seed));
    await initRepository(new FileBackend(repoDir), 'pw', { scrypt: FAST_KDF, packSize: 1024 * 1024 });
  });
  afterAll(() => t.cleanup());
  return { repoDir, src, dir: t.dir };
}

describe('kill -9 in the middle of a backup', () => {
  const { repoDir, src, dir } = sourceAndRepository('crash', 1);

  it('leaves a repository that check passes, and the next backup re-uses the uploaded packs', async () => {
    const child = backupChild(repoDir, src);
    // wait until a good part of the data is uploaded, then SIGKILL
    const killed = await child.signalAfter(30, 'SIGKILL');
    const { signal } = await child.exited;
    expect(child.stderr()).toBe('');
    expect(killed).toBe(true);
    expect(signal).toBe('SIGKILL');
    const packsLeft = countPacks(repoDir);
    expect(packsLeft).toBeGreaterThanOrEqual(30);

    const repo = await openRepository(new FileBackend(repoDir), 'pw');
    expect(readdirSync(path.join(repoDir, 'locks')).length).toBe(1); // the dead process's lock remains…
    const c = await check(repo, { readData: true });
    expect(c.errors).toEqual([]);
    expect(c.ok).toBe(true);
    expect(c.snapshots).toBe(0);
    expect(c.unindexedPacks.length).toBeGreaterThan(0);

    // …but it is stale (its pid is gone), so the next backup proceeds and re-uses what was uploaded
    const r = await backup(repo, [src]);
    expect(r.stats.packsRecovered).toBeGreaterThan(0);
    expect(readdirSync(path.join(repoDir, 'locks'))).toEqual([]); // the stale lock was cleared
    const total = FILES * SIZE;
    expect(r.stats.bytesRead).toBe(total);
    expect(r.stats.bytesAddedRaw).toBeLessThan(total - 25 * 1024 * 1024);
    expect((await check(repo, { readData: true })).ok).toBe(true);

    const out = path.join(dir, 'out');
    await restore(repo, r.snapshotId, out, { include: ['src/f0.bin', `src/f${FILES - 1}.bin`] });
    expect(readdirSync(path.join(out, 'src')).sort()).toEqual(['f0.bin', `f${FILES - 1}.bin`].sort());
    expect(readFileSync(path.join(out, 'src/f0.bin')).equals(prng(SIZE, 1))).toBe(true);
    expect(readFileSync(path.join(out, `src/f${FILES - 1}.bin`)).equals(prng(SIZE, FILES))).toBe(true);
  });
});

describe('SIGTERM in the middle of a backup (a mover Pod deleted when its run is cancelled)', () => {
  const { repoDir, src } = sourceAndRepository('sigterm', 100);

  it('exits 143 at once, its lock marked interrupted; the next backup re-uses what it wrote and clears the lock', async () => {
    const child = backupChild(repoDir, src);
    expect(await child.signalAfter(20, 'SIGTERM')).toBe(true);
    const { code, signal } = await child.exited;
    expect({ code, signal }).toEqual({ code: 143, signal: null });
    expect(child.stderr()).toContain('coffer repo backup: interrupted by SIGTERM; the repository lock is marked interrupted');

    const repo = await openRepository(new FileBackend(repoDir), 'pw');
    const locks = readdirSync(path.join(repoDir, 'locks'));
    expect(locks).toHaveLength(1);
    const body = await repo.loadJSON<Parameters<typeof isStale>[0]>('locks', locks[0]!);
    expect(body).toMatchObject({ operation: 'backup', interrupted: 'SIGTERM', exclusive: false });
    // stale wherever it is read, not only on this host once its pid is gone (a mover Pod's host is gone with it)
    expect(isStale({ ...body, hostname: 'another-host' }, new Date(body.time))).toBe(true);
    expect(isStale({ ...body, hostname: 'another-host', interrupted: undefined }, new Date(body.time))).toBe(false);

    const r = await backup(repo, [src]);
    expect(r.stats.packsRecovered).toBeGreaterThan(0);
    expect(readdirSync(path.join(repoDir, 'locks'))).toEqual([]);
    expect(r.stats.bytesAddedRaw).toBeLessThan(FILES * SIZE - 15 * 1024 * 1024);
    expect((await check(repo, { readData: true })).ok).toBe(true);
  });
});
