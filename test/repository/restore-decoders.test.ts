import { describe, expect, it } from 'vitest';
import { maybeCompressSync } from '../../repository/compress.ts';
import { blobId, newMasterKey, seal } from '../../repository/crypto.ts';
import { type RestoreBlob, RestoreWorkers } from '../../repository/restore-workers.ts';
import { text } from './helpers.ts';

/**
 * With two or more decoders the main thread is one of them, running the worker's own source (restore-workers.ts). A
 * job goes to a free decoder, threads first, else waits for one: the first of two jobs goes to the thread, the second
 * here, later ones when either answers. What fails on this thread must fail the restore as a dead thread does — a typed
 * E_REPO_WORKER naming it — not hang a job (sent or waiting) or escape as an unhandled rejection.
 */
describe('the main thread as a restore decoder', () => {
  const key = newMasterKey();
  const raw = text(64 * 1024);
  const sealed = seal(key.encrypt, maybeCompressSync(raw).data);
  const buf = new Uint8Array(new SharedArrayBuffer(sealed.length));
  buf.set(sealed);
  const blob: RestoreBlob = { id: blobId(key, raw), at: 0, length: sealed.length, rawLength: raw.length, comp: maybeCompressSync(raw).comp, targets: [] };

  it('answers every job, sent at once or waiting for a free decoder, as threads alone do', async () => {
    const two = new RestoreWorkers(key, 2);
    const one = new RestoreWorkers(key, 2, undefined, { onThisThread: false });
    try {
      expect(two.size).toBe(2);
      expect(one.size).toBe(2);
      // six jobs at once: two sent, four waiting for a free decoder; every one answered, in its own order
      const wrong = { ...blob, id: '0'.repeat(64) };
      const jobs = [blob, blob, wrong, blob, wrong, blob];
      const replies = await Promise.all(jobs.map((b) => two.verify('p', buf, [b])));
      const refused = `blob ${'0'.repeat(16)} in pack p: content does not match its id`;
      expect(replies.map((r) => r.results[0]?.message ?? null)).toEqual(jobs.map((b) => (b === wrong ? refused : null)));
      expect((await Promise.all(jobs.map((b) => one.verify('p', buf, [b])))).map((r) => r.results[0]?.message ?? null)).toEqual(jobs.map((b) => (b === wrong ? refused : null)));
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
      // waiting for a free decoder when this one fails: answered or refused, never left hanging
      const waiting = workers.verify('p', buf, [blob]);
      await expect(here).rejects.toMatchObject({ code: 'E_REPO_WORKER', message: expect.stringMatching(/^restore worker 2 of 2 failed: /) });
      const [late] = await Promise.allSettled([waiting]);
      if (late.status === 'rejected') expect(late.reason).toMatchObject({ code: 'E_REPO_WORKER' });
      await onThread.catch(() => undefined);
      // later jobs are refused with the same error instead of being sent
      await expect(workers.verify('p', buf, [blob])).rejects.toMatchObject({ code: 'E_REPO_WORKER' });
    } finally {
      await workers.close();
    }
  });
});
