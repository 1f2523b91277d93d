import { describe, expect, it } from 'vitest';
import { maybeCompressSync } from '../../repository/compress.ts';
import { blobId, newMasterKey, seal } from '../../repository/crypto.ts';
import { type RestoreBlob, RestoreWorkers } from '../../repository/restore-workers.ts';
import { text } from './helpers.ts';

/**
 * With two or more decoders the main thread is one of them, running the worker's own source (restore-workers.ts). A
 * job is sent to the least busy decoder, threads first on a tie: the first of two jobs goes to the thread, the second
 * here. What fails on this thread must fail the restore as a dead thread does — a typed E_REPO_WORKER naming it — not
 * hang the job or escape as an unhandled rejection.
 */
describe('the main thread as a restore decoder', () => {
  const key = newMasterKey();
  const raw = text(64 * 1024);
  const sealed = seal(key.encrypt, maybeCompressSync(raw).data);
  const buf = new Uint8Array(new SharedArrayBuffer(sealed.length));
  buf.set(sealed);
  const blob: RestoreBlob = { id: blobId(key, raw), at: 0, length: sealed.length, rawLength: raw.length, comp: maybeCompressSync(raw).comp, targets: [] };

  it('verifies on a thread and on this one, and says which is which', async () => {
    const two = new RestoreWorkers(key, 2);
    const one = new RestoreWorkers(key, 2, undefined, { onThisThread: false });
    try {
      expect(two.size).toBe(2);
      expect(one.size).toBe(2);
      const replies = await Promise.all([two.verify('p', buf, [blob]), two.verify('p', buf, [blob]), two.verify('p', buf, [{ ...blob, id: '0'.repeat(64) }])]);
      expect(replies.map((r) => r.results[0]?.message ?? null)).toEqual([null, null, `blob ${'0'.repeat(16)} in pack p: content does not match its id`]);
    } finally {
      await Promise.all([two.close(), one.close()]);
    }
  });

  it('a job that throws here fails as E_REPO_WORKER naming this decoder', async () => {
    const workers = new RestoreWorkers(key, 2);
    try {
      const onThread = workers.verify('p', buf, [blob]);
      // not a buffer: the job throws before its first blob (a bug's stand-in; no caller sends this)
      const here = workers.verify('p', {} as Uint8Array, [blob]);
      await expect(here).rejects.toMatchObject({ code: 'E_REPO_WORKER', message: expect.stringMatching(/^restore worker 2 of 2 failed: /) });
      await onThread.catch(() => undefined);
      // later jobs are refused with the same error instead of being sent
      await expect(workers.verify('p', buf, [blob])).rejects.toMatchObject({ code: 'E_REPO_WORKER' });
    } finally {
      await workers.close();
    }
  });
});
