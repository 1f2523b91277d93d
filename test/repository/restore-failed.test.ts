import { describe, expect, it } from 'vitest';
import { restoreFailed } from '../../repository/restore.ts';

// What a restore that left files out says: the failures' messages are Node's (errno first) or the repository's.
describe('restoreFailed', () => {
  const cases: { name: string; errors: string[]; code: string; says: string }[] = [
    { name: 'a full volume', errors: ['db/base.img: ENOSPC: no space left on device, write'], code: 'E_RESTORE_TARGET', says: 'could not write 1 file(s) into /restore (its filesystem refused them)' },
    {
      name: 'over quota and read-only, with a later hard link of a refused file',
      errors: ['a: EDQUOT: disk quota exceeded, write', 'b: EROFS: read-only file system, open', 'c: not linked, its first path a failed'],
      code: 'E_RESTORE_TARGET',
      says: 'could not write 2 file(s) into /restore',
    },
    { name: 'a damaged blob', errors: ['x/y: blob 1a2b3c4d: authentication failed (damaged or wrong key)'], code: 'E_REPO_CORRUPT', says: 'skipped 1 damaged file(s)' },
    { name: 'both causes', errors: ['x: blob 1a2b3c4d: not a zstd frame', 'y: ENOSPC: no space left on device, write'], code: 'E_REPO_CORRUPT', says: 'skipped 1 damaged file(s) and 1 its target refused' },
    // a name that only contains an errno is not the target's refusal
    { name: 'an errno inside a file name', errors: ['logs/ENOSPC: x: blob 1a2b3c4d: not a zstd frame'], code: 'E_REPO_CORRUPT', says: 'skipped 1 damaged file(s)' },
  ];
  it.each(cases)('$name → $code', ({ errors, code, says }) => {
    const e = restoreFailed('0123456789abcdef', '/restore', errors);
    expect(e.code).toBe(code);
    expect(e.message).toContain(`restore of snapshot 01234567 ${says}`);
    for (const line of errors) expect(e.message).toContain(`\n  ${line}`);
  });
});
