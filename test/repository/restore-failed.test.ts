import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backupEntries, restore } from '../../repository/index.ts';
import { type RestoreFailure, restoreFailed } from '../../repository/restore.ts';
import { newRepo, tempDir } from './helpers.ts';

// What a restore that left files out says: each file's error is Node's (errno first) or the repository's.
describe('restoreFailed', () => {
  const cases: { name: string; failures: RestoreFailure[]; lines: string[]; code: string; says: string }[] = [
    {
      name: 'a full volume',
      failures: [{ rel: 'db/base.img', error: 'ENOSPC: no space left on device, write' }],
      lines: ['db/base.img: ENOSPC: no space left on device, write'],
      code: 'E_RESTORE_TARGET',
      says: 'could not write 1 file(s) into /restore (its filesystem refused them)',
    },
    {
      name: 'over quota and read-only, with a later hard link of a refused file',
      failures: [
        { rel: 'a', error: 'EDQUOT: disk quota exceeded, write' },
        { rel: 'b', error: 'EROFS: read-only file system, open' },
        { rel: 'c', follows: 'a' },
      ],
      lines: ['a: EDQUOT: disk quota exceeded, write', 'b: EROFS: read-only file system, open', 'c: not linked, its first path a failed'],
      code: 'E_RESTORE_TARGET',
      says: 'could not write 2 file(s) into /restore',
    },
    {
      name: 'a target not writable by this user, and a name longer than it allows',
      failures: [
        { rel: 'data/pg_wal', error: "EACCES: permission denied, open '/restore/data/pg_wal'" },
        { rel: 'n', error: "ENAMETOOLONG: name too long, open '/restore/n'" },
      ],
      lines: ["data/pg_wal: EACCES: permission denied, open '/restore/data/pg_wal'", "n: ENAMETOOLONG: name too long, open '/restore/n'"],
      code: 'E_RESTORE_TARGET',
      says: 'could not write 2 file(s) into /restore',
    },
    {
      name: 'a damaged blob',
      failures: [{ rel: 'x/y', error: 'blob 1a2b3c4d: authentication failed (damaged or wrong key)' }],
      lines: ['x/y: blob 1a2b3c4d: authentication failed (damaged or wrong key)'],
      code: 'E_REPO_CORRUPT',
      says: 'skipped 1 damaged file(s)',
    },
    {
      name: 'both causes',
      failures: [
        { rel: 'x', error: 'blob 1a2b3c4d: not a zstd frame' },
        { rel: 'y', error: 'ENOSPC: no space left on device, write' },
      ],
      lines: ['x: blob 1a2b3c4d: not a zstd frame', 'y: ENOSPC: no space left on device, write'],
      code: 'E_REPO_CORRUPT',
      says: 'skipped 1 damaged file(s) and 1 its target refused',
    },
    // a name that only contains an errno is not the target's refusal
    {
      name: 'an errno inside a file name',
      failures: [{ rel: 'logs/ENOSPC: x', error: 'blob 1a2b3c4d: not a zstd frame' }],
      lines: ['logs/ENOSPC: x: blob 1a2b3c4d: not a zstd frame'],
      code: 'E_REPO_CORRUPT',
      says: 'skipped 1 damaged file(s)',
    },
    {
      name: "a name holding ': ENOSPC: ' itself",
      failures: [{ rel: 'logs: ENOSPC: x', error: 'blob 1a2b3c4d: not a zstd frame' }],
      lines: ['logs: ENOSPC: x: blob 1a2b3c4d: not a zstd frame'],
      code: 'E_REPO_CORRUPT',
      says: 'skipped 1 damaged file(s)',
    },
  ];
  it.each(cases)('$name → $code', ({ failures, lines, code, says }) => {
    const e = restoreFailed('0123456789abcdef', '/restore', failures);
    expect(e.code).toBe(code);
    expect(e.message).toContain(`restore of snapshot 01234567 ${says}`);
    for (const line of lines) expect(e.message).toContain(`\n  ${line}`);
  });
});

// The real thing: a snapshot holding a name longer than ext4's 255 bytes (recorded from entries, as a tar-like source
// or another filesystem could give it) restored into a temporary directory.
describe('a restore whose target refuses a name', () => {
  const t = tempDir('restore-refused');
  afterAll(() => t.cleanup());

  it('fails as E_RESTORE_TARGET naming the file, and restores every other file', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo'));
    const long = 'n'.repeat(300);
    const r = await backupEntries(repo, [
      { path: 'ok.txt', data: Buffer.from('kept\n') },
      { path: long, data: Buffer.from('refused\n') },
    ]);
    const target = path.join(t.dir, 'out');
    const e = (await restore(repo, r.snapshotId, target).catch((x: unknown) => x)) as { code?: string; message?: string };
    expect(e.code).toBe('E_RESTORE_TARGET');
    expect(e.message).toContain(`could not write 1 file(s) into ${target}`);
    expect(e.message).toContain(`\n  ${long}: ENAMETOOLONG`);
    expect(readFileSync(path.join(target, 'ok.txt'), 'utf8')).toBe('kept\n');
    expect(existsSync(path.join(target, long.slice(0, 255)))).toBe(false);
  });
});
