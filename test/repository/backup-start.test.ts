import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backup, check, FileBackend, openForBackup, openRepository, restore } from '../../repository/index.ts';
import { blobId, newMasterKey, unseal } from '../../repository/crypto.ts';
import { acquireLock } from '../../repository/lock.ts';
import { decompress } from '../../repository/compress.ts';
import { SealWorkers, shared } from '../../repository/seal-workers.ts';
import { describeTree, newRepo, prng, tempDir, text } from './helpers.ts';

/**
 * Seal workers started before the key is derived (backup-start.ts) get it by message (`SealWorkers.init`). What must
 * hold: a job before the key fails; a key is taken once; a key that arrives altered fails every job; a backup through
 * workers started this way stores exactly the blobs of one through workers started with the key; a failed open or
 * lock leaves no worker running and nothing written.
 */
describe('seal workers started before the key', () => {
  const t = tempDir('backup-start');
  const src = path.join(t.dir, 'src');

  beforeAll(() => {
    mkdirSync(path.join(src, 'd'), { recursive: true });
    writeFileSync(path.join(src, 'd/random.bin'), prng(3 * 1024 * 1024, 5)); // several chunks, cut on the workers
    writeFileSync(path.join(src, 'd/state.json'), text(2 * 1024 * 1024));
    writeFileSync(path.join(src, 'small.txt'), 'hello');
  });
  afterAll(() => t.cleanup());

  const chunker = async () => {
    const { repo } = await newRepo(path.join(t.dir, `keys-${Math.random().toString(36).slice(2)}`));
    return { repo, gear: { gear: repo.chunker.gear, params: repo.chunker.params } };
  };

  it('fails every job sent before the key, and works once it is given', async () => {
    const { repo, gear } = await chunker();
    const workers = new SealWorkers(undefined, undefined, 2);
    try {
      const data = shared(prng(200 * 1024, 1));
      await expect(workers.blobId(data)).rejects.toThrow(/no key: the job came before init/);
      await expect(workers.seal(data)).rejects.toThrow(/no key/);
      await expect(workers.chunk(data, 0, data.length, true)).rejects.toThrow(/no key/);
      workers.init(repo.key, gear, 1 << 20);
      expect(await workers.blobId(data)).toBe(blobId(repo.key, data));
      const { sealed, comp } = await workers.seal(data);
      const opened = await decompress(unseal(repo.key.encrypt, sealed, 'blob'), comp, data.length, 'blob');
      expect(opened.equals(data)).toBe(true);
    } finally {
      await workers.close();
    }
  });

  it('takes one key: the same again is a no-op, another is refused, and a worker refuses a second key sent to it directly', async () => {
    const { repo, gear } = await chunker();
    const workers = new SealWorkers(repo.key, gear, 1);
    try {
      workers.init(repo.key, gear, 1 << 20);
      expect(() => workers.init(newMasterKey(), gear, 1 << 20)).toThrow(expect.objectContaining({ code: 'E_REPO_WORKER' }));
      // past the API: a second init message straight to the worker (as a bug would send it) is refused there too
      const slot = (workers as unknown as { slots: { worker: { postMessage(m: unknown): void } }[] }).slots[0]!;
      const other = newMasterKey();
      slot.worker.postMessage({ seq: -1, op: 'init', encrypt: new Uint8Array(other.encrypt), mac: new Uint8Array(other.mac), gear: new Uint32Array(gear.gear), chunker: { ...gear.params }, gcEvery: 1 << 20 });
      const data = shared(prng(100 * 1024, 2));
      const { sealed, comp } = await workers.seal(data);
      // still the repository's key: it opens under it, and the id is the repository's
      expect((await decompress(unseal(repo.key.encrypt, sealed, 'blob'), comp, data.length, 'blob')).equals(data)).toBe(true);
      expect(() => unseal(other.encrypt, sealed, 'blob')).toThrow(/authentication failed/);
      expect(await workers.blobId(data)).toBe(blobId(repo.key, data));
    } finally {
      await workers.close();
    }
  });

  it('fails the pool when a worker reports a key other than the one sent: no sealed blob is handed out', async () => {
    const { repo, gear } = await chunker();
    const workers = new SealWorkers(undefined, undefined, 2);
    try {
      // alter the key on its way to one worker (what the fingerprint check is for: a key changed in transit)
      const slot = (workers as unknown as { slots: { worker: { postMessage(m: { op: string; encrypt?: Uint8Array }): void } }[] }).slots[1]!;
      const post = slot.worker.postMessage.bind(slot.worker);
      slot.worker.postMessage = (m) => post(m.op === 'init' ? { ...m, encrypt: new Uint8Array(32) } : m);
      workers.init(repo.key, gear, 1 << 20);
      const data = shared(prng(100 * 1024, 3));
      // both jobs were sent before the init replies came: each is rejected, whichever worker took it
      const jobs = [workers.seal(data), workers.seal(data), workers.blobId(data)];
      for (const j of jobs) await expect(j).rejects.toThrow(expect.objectContaining({ code: 'E_REPO_WORKER', message: expect.stringMatching(/key other than the repository key/) }));
      await expect(workers.seal(data)).rejects.toThrow(/key other than the repository key/);
    } finally {
      await workers.close();
    }
  });

  it('rejects jobs after close instead of waiting forever', async () => {
    const { repo, gear } = await chunker();
    const workers = new SealWorkers(repo.key, gear, 1);
    await workers.close();
    await expect(workers.blobId(shared(prng(1024, 4)))).rejects.toThrow(expect.objectContaining({ code: 'E_REPO_WORKER', message: expect.stringMatching(/closed/) }));
  });

  it('starts workers for a first backup (or --force), stores the same blobs, restores byte-identical and checks clean', async () => {
    const dir = path.join(t.dir, 'repo-first');
    await newRepo(dir);
    const backend = new FileBackend(dir);
    const first = await openForBackup(backend, 'test-password', { workers: 2 });
    expect(first.sealWorkers?.count).toBe(2);
    const a = await backup(first.repo, [src], { sealWorkers: first.sealWorkers });
    // closed by the backup
    await expect(first.sealWorkers!.blobId(shared(prng(1024, 6)))).rejects.toThrow(/closed/);
    expect(a.stats.blobsNew).toBeGreaterThan(3);

    // a parent now exists: nothing starts early (an unchanged backup reads nothing)
    const second = await openForBackup(backend, 'test-password', { workers: 2 });
    expect(second.sealWorkers).toBeUndefined();
    expect((await openForBackup(backend, 'test-password', { workers: 2, parent: a.snapshotId })).sealWorkers).toBeUndefined();

    // --force: every file read again through early workers; the same keys and gear give the same blobs, all deduplicated
    const forced = await openForBackup(backend, 'test-password', { workers: 2, parent: null });
    expect(forced.sealWorkers?.count).toBe(2);
    const b = await backup(forced.repo, [src], { parent: null, sealWorkers: forced.sealWorkers });
    expect(b.snapshot.tree).toBe(a.snapshot.tree);
    expect(b.stats.blobsNew).toBe(0);
    expect(b.stats.bytesRead).toBe(a.stats.bytesRead);

    // and the same blobs as a backup on this thread alone, into a copy of the same repository's keys
    const inline = await backup(await openRepository(backend, 'test-password'), [src], { parent: null, workers: 0 });
    expect(inline.snapshot.tree).toBe(a.snapshot.tree);
    expect(inline.stats.blobsNew).toBe(0);

    const repo = await openRepository(backend, 'test-password');
    const target = path.join(t.dir, 'restored');
    await restore(repo, a.snapshotId, target);
    expect(describeTree(path.join(target, 'src'))).toEqual(describeTree(src));
    const c = await check(repo, { readData: true });
    expect(c.errors).toEqual([]);
  });

  it('a wrong password stops the early workers and writes nothing', async () => {
    const dir = path.join(t.dir, 'repo-wrong');
    const { backend } = await newRepo(dir);
    const before = (await backend.list('locks')).length + (await backend.list('data')).length;
    const closed = vi.spyOn(SealWorkers.prototype, 'close');
    try {
      await expect(openForBackup(backend, 'not-the-password', { workers: 2 })).rejects.toThrow(expect.objectContaining({ code: 'E_REPO_PASSWORD' }));
      // the workers had started (no snapshot yet: a first backup) and were closed before the error came out
      expect(closed).toHaveBeenCalledTimes(1);
      await expect((closed.mock.contexts[0] as SealWorkers).blobId(shared(prng(1024, 8)))).rejects.toThrow(/closed/);
    } finally {
      closed.mockRestore();
    }
    expect((await backend.list('locks')).length + (await backend.list('data')).length).toBe(before);
  });

  it('a backup refused by a lock closes its early workers and writes no pack', async () => {
    const dir = path.join(t.dir, 'repo-locked');
    const { repo, backend } = await newRepo(dir);
    const held = await acquireLock(repo, true, 'prune');
    try {
      const { repo: r, sealWorkers } = await openForBackup(backend, 'test-password', { workers: 2 });
      expect(sealWorkers?.count).toBe(2);
      await expect(backup(r, [src], { sealWorkers })).rejects.toThrow(expect.objectContaining({ code: 'E_REPO_LOCKED' }));
      await expect(sealWorkers!.blobId(shared(prng(1024, 7)))).rejects.toThrow(/closed/);
      expect(await backend.list('data')).toEqual([]);
    } finally {
      await held.release();
    }
  });

  it('a backup of a missing path closes its early workers', async () => {
    const { backend } = await newRepo(path.join(t.dir, 'repo-missing'));
    const { repo, sealWorkers } = await openForBackup(backend, 'test-password', { workers: 1 });
    await expect(backup(repo, [path.join(t.dir, 'no-such-dir')], { sealWorkers })).rejects.toThrow(expect.objectContaining({ code: 'E_REPO_PATH' }));
    await expect(sealWorkers!.blobId(shared(prng(1024, 9)))).rejects.toThrow(/closed/);
  });
});
