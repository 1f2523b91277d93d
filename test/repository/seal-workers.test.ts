import { cpSync, mkdirSync, openSync, closeSync, writeSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backup, backupEntries, check, FileBackend, openRepository, type Repository } from '../../repository/index.ts';
import { RestoreWorkers } from '../../repository/restore-workers.ts';
import { blobId, unseal } from '../../repository/crypto.ts';
import { decompress } from '../../repository/compress.ts';
import { defaultWorkerCount, SealWorkers, shared } from '../../repository/seal-workers.ts';
import { newRepo, prng, tempDir, text } from './helpers.ts';

/** Every blob the index knows: id → [type, compression, stored length, raw length]. */
function blobTable(repo: Repository): Record<string, [string, number, number, number]> {
  const out: Record<string, [string, number, number, number]> = {};
  for (const [id, loc] of repo.index) out[id] = [loc.type, loc.comp, loc.length, loc.rawLength];
  return out;
}

/**
 * Seal workers must change where the work runs, never the result: the same input under the
 * same keys gives the same snapshot tree, the same blob ids and the same compression decisions
 * with the main-thread path (workers: 0) and the worker path.
 */
describe('seal workers', () => {
  const t = tempDir('workers');
  const src = path.join(t.dir, 'src');
  const inline = path.join(t.dir, 'repo-inline');
  const threaded = path.join(t.dir, 'repo-threaded');

  beforeAll(async () => {
    mkdirSync(path.join(src, 'data/nested'), { recursive: true });
    writeFileSync(path.join(src, 'data/random.bin'), prng(9 * 1024 * 1024, 11)); // several chunks, incompressible
    writeFileSync(path.join(src, 'data/nested/state.json'), text(3 * 1024 * 1024)); // compressible, above the inline size
    writeFileSync(path.join(src, 'data/small.json'), text(5000)); // below the inline size: main thread either way
    writeFileSync(path.join(src, 'data/mid.bin'), prng(100 * 1024, 12));
    // random and text runs in one file: chunks that are part text are compressed (compress.ts tier)
    writeFileSync(path.join(src, 'data/disk.img'), Buffer.concat([prng(1536 * 1024, 13), text(1536 * 1024), prng(1536 * 1024, 14), text(700 * 1024)]));
    writeFileSync(path.join(src, 'data/dup.bin'), prng(9 * 1024 * 1024, 11)); // dedupes against random.bin
    writeFileSync(path.join(src, 'empty'), '');
    const fd = openSync(path.join(src, 'sparse.img'), 'w'); // a zero run above the chunker's max
    writeSync(fd, Buffer.from('x'), 0, 1, 20 * 1024 * 1024);
    closeSync(fd);
    // one repository, copied before any backup: both copies share keys and the gear seed
    await newRepo(inline);
    cpSync(inline, threaded, { recursive: true });
  });
  afterAll(() => t.cleanup());

  afterEach(() => {
    delete process.env.COFFER_ZSTD;
    delete process.env.COFFER_ZSTD_NAPI;
  });

  /** zstd (the add-on), brotli (a process where it cannot load) and `--compression max`: each codec's worker copy must match compress.ts. */
  const codecs = [
    { codec: 'zstd', comp: 2, env: undefined, compression: 'auto' as const },
    { codec: 'brotli', comp: 1, env: 'off', compression: 'auto' as const },
    { codec: 'zstd max', comp: 2, env: undefined, compression: 'max' as const },
    // small blobs through the add-on, as where zstd-napi did not build
    { codec: 'zstd, no zstd-napi', comp: 2, env: undefined, napi: 'off', compression: 'auto' as const },
  ];

  it.each(codecs)('gives the same tree, blob ids and compression with and without workers ($codec)', async ({ comp, env, napi, compression }) => {
    if (env) process.env.COFFER_ZSTD = env;
    if (napi) process.env.COFFER_ZSTD_NAPI = napi;
    const dir = path.join(t.dir, `large-${comp}-${compression}-${napi ?? 'napi'}`);
    cpSync(inline, `${dir}-inline`, { recursive: true });
    cpSync(inline, `${dir}-threaded`, { recursive: true });
    const a = await openRepository(new FileBackend(`${dir}-inline`), 'test-password');
    const b = await openRepository(new FileBackend(`${dir}-threaded`), 'test-password');
    const time = new Date('2026-01-02T03:04:05Z');
    const ra = await backup(a, [src], { workers: 0, parent: null, time, hostname: 'h', compression });
    const rb = await backup(b, [src], { workers: 2, parent: null, time, hostname: 'h', compression });
    expect(rb.snapshot.tree).toBe(ra.snapshot.tree);
    expect(rb.stats.blobsNew).toBe(ra.stats.blobsNew);
    expect(rb.stats.bytesAddedRaw).toBe(ra.stats.bytesAddedRaw);
    const ta = blobTable(a);
    expect(Object.keys(ta).length).toBeGreaterThan(10);
    expect(blobTable(b)).toEqual(ta);
    // both kinds of blob went through the workers: compressed text and raw random data
    const comps = new Set(Object.values(blobTable(b)).filter(([, , , raw]) => raw >= 32 * 1024).map(([, comp]) => comp));
    expect(comps).toEqual(new Set([0, comp]));
    const ca = await check(b, { readData: true });
    expect(ca.errors).toEqual([]);
    expect(ca.ok).toBe(true);
  });

  it.each(codecs)('small files read on the workers are compressed and sealed as the main thread does (the worker keeps its own copy of tier and compressSmall; $codec)', async ({ comp, env, napi, compression }) => {
    if (env) process.env.COFFER_ZSTD = env;
    if (napi) process.env.COFFER_ZSTD_NAPI = napi;
    const small = path.join(t.dir, 'small-src');
    mkdirSync(small, { recursive: true });
    // text, random, a text/random mix and sizes around the 64-byte floor: every branch of brotliQuality for ≤ 32 KiB
    for (let i = 0; i < 120; i++) {
      const size = [40, 64, 700, 4096, 8192, 8193, 20_000, 32 * 1024][i % 8]!; // 8192 | 8193: either side of the 8 KiB the small-table dictionary covered until 2026-12-08
      const data = i % 3 === 0 ? text(size + i) : i % 3 === 1 ? prng(size, 100 + i) : Buffer.concat([text(size >> 1), prng(size >> 1, 300 + i)]);
      writeFileSync(path.join(small, `f${String(i).padStart(3, '0')}`), data);
    }
    const inlineRepo = path.join(t.dir, `small-inline-${comp}-${compression}-${napi ?? 'napi'}`);
    const workerRepo = path.join(t.dir, `small-workers-${comp}-${compression}-${napi ?? 'napi'}`);
    await newRepo(inlineRepo);
    cpSync(inlineRepo, workerRepo, { recursive: true });
    const a = await openRepository(new FileBackend(inlineRepo), 'test-password');
    const b = await openRepository(new FileBackend(workerRepo), 'test-password');
    const time = new Date('2026-01-02T03:04:05Z');
    const ra = await backup(a, [small], { workers: 0, parent: null, time, hostname: 'h', smallFileReads: 'blocking', compression });
    const rb = await backup(b, [small], { workers: 2, parent: null, time, hostname: 'h', smallFileReads: 'workers', compression });
    expect(rb.snapshot.tree).toBe(ra.snapshot.tree);
    const tb = blobTable(b);
    expect(tb).toEqual(blobTable(a));
    // both decisions were taken on the worker path: some small blobs compressed, some stored raw
    expect(new Set(Object.values(tb).filter(([type]) => type === 'data').map(([, c]) => c))).toEqual(new Set([0, comp]));
  });

  it("hashes chunks on the cutting worker only while the sealing one has more queued; the ids are the blobs' ids either way", async () => {
    const repo = await openRepository(new FileBackend(inline), 'test-password');
    const workers = new SealWorkers(repo.key, { gear: repo.chunker.gear, params: repo.chunker.params }, 2);
    try {
      const data = new Uint8Array(new SharedArrayBuffer(3 * 1024 * 1024));
      data.set(prng(data.length, 21));
      const cuts = (r: { lengths: number[] }) => r.lengths.reduce<number[]>((a, n) => [...a, (a.at(-1) ?? 0) + n], []);
      // both idle: the ids are left to the sealing worker (a changed backup's chunks are mostly duplicates)
      const idle = await workers.chunk(data, 0, data.length, true);
      expect(idle.ids).toBeUndefined();
      // the sealing worker has a seal queued: the cutting worker hashes what it cut
      const sealing = workers.seal(data);
      const busy = await workers.chunk(data, 0, data.length, true);
      await sealing;
      expect(cuts(busy)).toEqual(cuts(idle));
      let at = 0;
      const want = busy.lengths.map((n) => blobId(repo.key, data.subarray(at, (at += n))));
      expect(busy.ids).toEqual(want);
      expect(await Promise.all(busy.lengths.map((n, i) => workers.blobId(data.subarray(cuts(busy)[i]! - n, cuts(busy)[i]))))).toEqual(want);
    } finally {
      await workers.close();
    }
  });

  /**
   * The worker encrypts a blob in 64 KiB pieces into its output buffer (no blob-sized `cipher.update` copy): every
   * size around a piece boundary, incompressible (stored raw) and text (compressed), must open with the main
   * thread's `unseal` + `decompress` to the input, byte for byte.
   */
  it('seals blobs of every size around the 64 KiB encryption piece so the main thread opens them to the input', async () => {
    const repo = await openRepository(new FileBackend(inline), 'test-password');
    const workers = new SealWorkers(repo.key, { gear: repo.chunker.gear, params: repo.chunker.params }, 1);
    try {
      const K = 64 * 1024;
      for (const size of [K - 1, K, K + 1, 3 * K + 17, 5 * 1024 * 1024 + 3]) {
        for (const [kind, make] of [['random', (n: number) => prng(n, size)], ['text', (n: number) => text(n)]] as const) {
          const input = make(size);
          const { sealed, comp } = await workers.seal(shared(input));
          expect(sealed.length, `${kind} ${size}`).toBeGreaterThan(28);
          expect(comp, `${kind} ${size}`).toBe(kind === 'random' ? 0 : 2);
          const plain = await decompress(unseal(repo.key.encrypt, sealed, `${kind} ${size}`), comp, size, `${kind} ${size}`);
          expect(plain.equals(input), `${kind} ${size}`).toBe(true);
        }
      }
    } finally {
      await workers.close();
    }
  });

  /**
   * Sealed into a region of shared memory (ByteRing), many at once: more compressible blobs than the worker compresses
   * at a time (COMPRESSING_MAX), so most wait their turn; each must land in its own region, frame header rewritten
   * (contentSized without the copy), and open to its input; a region too small is refused, not overrun.
   */
  it('seals many blobs at once into given regions, as the main thread would seal them', async () => {
    const repo = await openRepository(new FileBackend(inline), 'test-password');
    const workers = new SealWorkers(repo.key, { gear: repo.chunker.gear, params: repo.chunker.params }, 1);
    try {
      const inputs = Array.from({ length: 10 }, (_, i) => (i % 3 === 2 ? prng(200 * 1024 + i, i) : Buffer.concat([text(300 * 1024 + i * 7), Buffer.from([i])])));
      const ring = new SharedArrayBuffer(inputs.reduce((a, b) => a + b.length + 28, 0));
      let at = 0;
      const regions = inputs.map((b) => {
        const r = Buffer.from(ring, at, b.length + 28);
        at += b.length + 28;
        return r;
      });
      const out = await Promise.all(inputs.map((b, i) => workers.seal(shared(b), regions[i])));
      for (let i = 0; i < inputs.length; i++) {
        const { sealed, comp } = out[i]!;
        expect(sealed.buffer).toBe(ring);
        expect(sealed.byteOffset).toBe(regions[i]!.byteOffset);
        expect(comp, `blob ${i}`).toBe(i % 3 === 2 ? 0 : 2);
        const stored = unseal(repo.key.encrypt, sealed, `blob ${i}`);
        // a zstd frame that carries its content size (Single_Segment_Flag): a decoder allocates no 2 MiB window
        if (comp === 2) expect(stored[4]! & 0x20, `blob ${i}`).toBe(0x20);
        const plain = await decompress(stored, comp, inputs[i]!.length, `blob ${i}`);
        expect(plain.equals(inputs[i]!), `blob ${i}`).toBe(true);
      }
      const raw = prng(100 * 1024, 99);
      await expect(workers.seal(shared(raw), Buffer.from(new SharedArrayBuffer(raw.length + 27)))).rejects.toThrow(/does not fit/);
    } finally {
      await workers.close();
    }
  });

  /**
   * A file's chunks are admitted to the seal gate behind the reading loop (backup.ts `admitChunks`): when the workers
   * fail after its first buffer was cut, the loop, the admissions and the seals waiting for ring space must all end —
   * the backup fails with the workers' error, it does not hang, and no snapshot is written.
   */
  it('fails a backup whose seal workers stop after its first cut, instead of hanging', async () => {
    const dir = path.join(t.dir, 'workers-stop');
    cpSync(inline, dir, { recursive: true });
    const repo = await openRepository(new FileBackend(dir), 'test-password');
    const workers = new SealWorkers(repo.key, { gear: repo.chunker.gear, params: repo.chunker.params }, 2);
    let closed = false;
    const run = backup(repo, [path.join(src, 'data/random.bin')], {
      sealWorkers: workers,
      parent: null,
      // the first progress call comes right after the first buffer's cut, while its chunks are being admitted
      onProgress: () => {
        if (!closed && (closed = true)) void workers.close();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'E_REPO_WORKER' });
    expect(closed).toBe(true);
    expect(await new FileBackend(dir).list('snapshots')).toEqual([]);
  });

  it('seals in-memory entries the same way', async () => {
    const a = await openRepository(new FileBackend(inline), 'test-password');
    const b = await openRepository(new FileBackend(threaded), 'test-password');
    const entries = [{ path: 'ns/a.yaml', data: text(200_000) }, { path: 'ns/b.bin', data: prng(2 * 1024 * 1024, 3) }];
    const time = new Date('2026-01-02T03:04:05Z');
    const ra = await backupEntries(a, entries, { workers: 0, time });
    const rb = await backupEntries(b, entries, { workers: 1, time });
    expect(rb.snapshot.tree).toBe(ra.snapshot.tree);
  });

  it('picks a worker count from the environment or the cores', () => {
    expect(defaultWorkerCount({ COFFER_BACKUP_WORKERS: '0' })).toBe(0);
    expect(defaultWorkerCount({ COFFER_BACKUP_WORKERS: '3' })).toBe(3);
    expect(defaultWorkerCount({ COFFER_BACKUP_WORKERS: '99' })).toBe(8);
    const auto = defaultWorkerCount({ COFFER_BACKUP_WORKERS: 'x' });
    expect(auto).toBeGreaterThanOrEqual(0);
    expect(auto).toBeLessThanOrEqual(2);
  });

  /**
   * A worker whose heap cannot even be set up dies before it is ready (as when a Pod's memory or pids limit
   * leaves no room for a thread): every job fails with a typed error naming the worker and the cause, which the
   * CLI prints without a stack, instead of the raw `error` event.
   */
  it('a worker that cannot start fails its jobs with E_REPO_WORKER naming the cause', async () => {
    const repo = await openRepository(new FileBackend(inline), 'test-password');
    // 3 MiB: below it Node ≥ 22 aborts the whole process (V8 runs out while deserializing the worker's isolate, before
    // Node reports ERR_WORKER_OUT_OF_MEMORY); from 4 MiB Node 20's worker comes online before it runs out. Checked on
    // 20, 22 and 24 (node-runtimes.test.ts runs this file on each).
    const tiny = { maxOldGenerationSizeMb: 3, maxYoungGenerationSizeMb: 1 };
    const seal = new SealWorkers(repo.key, { gear: repo.chunker.gear, params: repo.chunker.params }, 2, 1 << 20, tiny);
    try {
      await expect(seal.blobId(new Uint8Array(new SharedArrayBuffer(64)))).rejects.toMatchObject({
        name: 'RepoError',
        code: 'E_REPO_WORKER',
        message: expect.stringMatching(/^seal worker \d of 2 failed to start: .*ERR_WORKER_OUT_OF_MEMORY.*COFFER_BACKUP_WORKERS=0/),
      });
      // later jobs get the same error, not a hang
      await expect(seal.seal(new Uint8Array(new SharedArrayBuffer(64)))).rejects.toMatchObject({ code: 'E_REPO_WORKER' });
    } finally {
      await seal.close();
    }
    const rest = new RestoreWorkers(repo.key, 1, 1 << 20, { limits: tiny });
    try {
      await expect(rest.run('pack', new Uint8Array(new SharedArrayBuffer(64)), [])).rejects.toMatchObject({
        code: 'E_REPO_WORKER',
        message: expect.stringMatching(/^restore worker 1 of 1 failed to start: .*COFFER_RESTORE_WORKERS=0/),
      });
    } finally {
      await rest.close();
    }
  });
});
