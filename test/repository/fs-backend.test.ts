import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBackend } from '../../repository/index.ts';
import { describeBackendContract } from './backend-contract.ts';
import { tempDir } from './helpers.ts';

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
});
