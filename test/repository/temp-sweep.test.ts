/**
 * A process killed inside `FileBackend.put` leaves `.tmp-<name>-<hex>` beside the object it was writing; `list` hides
 * it, so before this nothing ever removed it. Files are planted exactly as `put` names them, with the ages a crash
 * would leave, and the real lock, check, prune and CLI decide what happens to them.
 */
import { mkdirSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { acquireLock, backupEntries, check, openRepository, FileBackend, prune, type Repository } from '../../repository/index.ts';
import { newRepo, tempDir } from './helpers.ts';

describe('stale temporary files of the file backend', () => {
  const t = tempDir('tmp-sweep');
  const root = path.join(t.dir, 'repo');
  let repo: Repository;
  const hour = 3600_000;
  const plant = (rel: string, ageMs: number) => {
    const full = path.join(root, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, 'half a pack');
    const at = new Date(Date.now() - ageMs);
    utimesSync(full, at, at);
    return rel;
  };

  beforeAll(async () => {
    ({ repo } = await newRepo(root));
    await backupEntries(repo, [{ path: 'a.txt', data: Buffer.from('hello\n') }], { time: new Date('2026-01-01T00:00:00Z'), hostname: 'h' });
  });
  afterAll(() => t.cleanup());

  const old = ['data/ab/.tmp-ab12-0a0b0c0d0e0f', 'index/.tmp-cd34-111111111111', 'snapshots/.tmp-ef56-222222222222', '.tmp-config-333333333333'];

  it('check reports the leftovers of killed writes, and none while another operation holds a lock', async () => {
    for (const f of old) plant(f, hour);
    // A write that starts after the lock-free moment (its mtime is later) is in flight, not stale.
    const inFlight = plant('data/ab/.tmp-ab99-444444444444', -hour);
    const r = await check(repo);
    expect(r.ok).toBe(true);
    expect(r.staleTemporaryFiles).toEqual([...old].sort());
    expect(r.staleTemporaryFiles).not.toContain(inFlight);
    const other = await acquireLock(repo, false, 'backup');
    try {
      expect((await check(repo)).staleTemporaryFiles).toEqual([]); // the other operation's files may be in flight
    } finally {
      await other.release();
    }
  });

  it('coffer repo check names them; prune removes exactly them under the exclusive lock', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const code = await main(['repo', 'check'], { stdout: out, stderr: new PassThrough(), env: { COFFER_REPOSITORY: root, COFFER_PASSWORD: 'test-password' }, cwd: t.dir });
    expect(code).toBe(0);
    expect(text).toMatch(/4 stale temporary file\(s\) of interrupted writes \(removed by the next prune\): \.tmp-config-333333333333, data\/ab\/\.tmp-ab12-0a0b0c0d0e0f/);
    const dry = await prune(repo, { dryRun: true });
    expect(dry.temporaryFilesRemoved).toBe(4);
    for (const f of old) expect(existsSync(path.join(root, f)), f).toBe(true);
    const p = await prune(repo);
    expect(p.temporaryFilesRemoved).toBe(4);
    for (const f of old) expect(existsSync(path.join(root, f)), f).toBe(false);
    expect(existsSync(path.join(root, 'data/ab/.tmp-ab99-444444444444'))).toBe(true);
    const reopened = await openRepository(new FileBackend(root), 'test-password');
    expect((await check(reopened, { readData: true })).ok).toBe(true);
  });

  it('deleteTemporary refuses anything but a temporary file inside the repository', async () => {
    const b = new FileBackend(root);
    await expect(b.deleteTemporary('config')).rejects.toThrow(/not a temporary file/);
    await expect(b.deleteTemporary('../.tmp-x')).rejects.toThrow(/not a temporary file/);
  });
});
