import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBackend, initRepository, openRepository } from '../../repository/index.ts';
import { describeBackendContract } from './backend-contract.ts';
import { FAST_KDF, tempDir } from './helpers.ts';

describeBackendContract('filesystem', async () => {
  const t = tempDir('fsb');
  return { backend: new FileBackend(t.dir), cleanup: async () => t.cleanup() };
});

describe('FileBackend specifics', () => {
  it('lays data out in two-character directories and leaves no temporary files after writes', async () => {
    const t = tempDir('fsb2');
    try {
      const b = new FileBackend(t.dir);
      const id = 'ab'.padEnd(64, '0');
      await b.put('data', id, Buffer.from('x'));
      await b.put('data', id, Buffer.from('yy')); // overwrite is atomic too
      expect(readdirSync(path.join(t.dir, 'data/ab'))).toEqual([id]);
      expect((await b.get('data', id)).toString()).toBe('yy');
      await expect(b.put('data', '../escape', Buffer.from('x'))).rejects.toMatchObject({ code: 'E_REPO_BACKEND' });
      await expect(b.getRange('data', id, 1, 5)).rejects.toMatchObject({ code: 'E_REPO_BACKEND' });
    } finally {
      t.cleanup();
    }
  });

  it('putIfAbsent writes a name once: the second writer is told, and its bytes are not stored', async () => {
    const t = tempDir('fsb3');
    try {
      const b = new FileBackend(t.dir);
      expect(await b.putIfAbsent('config', 'config', Buffer.from('first'))).toBe(true);
      expect(await b.putIfAbsent('config', 'config', Buffer.from('second'))).toBe(false);
      expect((await b.get('config', 'config')).toString()).toBe('first');
      expect(readdirSync(t.dir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  // Two first backups of one profile each found no repository and each initialised one; the last config won and the
  // other run failed with "config: authentication failed" (seen in the database suites).
  it('concurrent initialisations leave one repository that every racer can open with the password', async () => {
    const t = tempDir('fsb4');
    try {
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => initRepository(new FileBackend(t.dir), 'pw', { scrypt: FAST_KDF })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'E_REPO_EXISTS' });
      expect(await new FileBackend(t.dir).list('keys')).toHaveLength(1);
      const repo = await openRepository(new FileBackend(t.dir), 'pw');
      expect(repo.config.id).toBe((results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<typeof repo>).value.config.id);
    } finally {
      t.cleanup();
    }
  });
});
