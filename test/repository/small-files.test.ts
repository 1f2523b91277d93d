import { cpSync, mkdirSync, promises as fsp, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backup, FileBackend, openRepository, type Repository, restore } from '../../repository/index.ts';
import { describeTree, newRepo, prng, tempDir, text } from './helpers.ts';

/**
 * Files ≤ 32 KiB are read on the seal workers in batches, or on the main thread with blocking calls while the
 * page cache answers and 16 at a time on the thread pool once it does not (backup.ts `backupSmallFile`). Which
 * one runs depends on the workers and the cache, so each is pinned here and all must store the same snapshot.
 */
describe('small files: blocking, concurrent and worker reads store the same snapshot', () => {
  const t = tempDir('small');
  const src = path.join(t.dir, 'src');
  // sizes around the small-file limit (32 KiB): empty, tiny, text and random, exactly the limit, one byte over
  const sizes = [0, 1, 100, 4096, 8191, 32 * 1024, 32 * 1024 + 1];
  // per directory: enough new small blobs that most go to the seal workers in batches (after the first 64)
  const FILES = 150;

  beforeAll(() => {
    for (let d = 0; d < 3; d++) {
      mkdirSync(path.join(src, `d${d}`), { recursive: true });
      for (let i = 0; i < FILES; i++) {
        const size = sizes[i % sizes.length]!;
        const data = i % 2 ? text(size) : prng(size, d * 100 + i + 1);
        writeFileSync(path.join(src, `d${d}`, `f${String(i).padStart(2, '0')}`), data);
      }
    }
  });
  afterAll(() => t.cleanup());

  it('same tree ids, blobs and stats; the concurrent snapshot restores byte for byte', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo'));
    const blocking = await backup(repo, [src], { parent: null, smallFileReads: 'blocking' });
    const concurrent = await backup(repo, [src], { parent: null, smallFileReads: 'concurrent' });
    const workers = await backup(repo, [src], { parent: null, smallFileReads: 'workers' });
    expect(workers.snapshot.tree).toBe(blocking.snapshot.tree);
    // identical content and metadata make identical tree blobs, so the root tree id says it all
    expect(concurrent.snapshot.tree).toBe(blocking.snapshot.tree);
    const pick = (s: typeof blocking.stats) => ({ filesNew: s.filesNew, bytesRead: s.bytesRead, bytesProcessed: s.bytesProcessed, filesUnreadable: s.filesUnreadable });
    expect(pick(concurrent.stats)).toEqual(pick(blocking.stats));
    expect(pick(workers.stats)).toEqual(pick(blocking.stats));
    const perDir = Array.from({ length: FILES }, (_, i) => sizes[i % sizes.length]!).reduce((a, b) => a + b, 0);
    expect(concurrent.stats).toMatchObject({ filesNew: 3 * FILES, bytesRead: 3 * perDir });
    // the second backup found every blob already stored
    expect(concurrent.stats.blobsNew).toBe(0);
    const out = path.join(t.dir, 'out');
    await restore(repo, concurrent.snapshotId, out);
    expect(describeTree(path.join(out, 'src'))).toEqual(describeTree(src));
  });

  it('batches sealed on the seal workers give the same blobs as sealing on the main thread (workers: 0)', async () => {
    // one repository copied before any backup: both copies share keys, so ids and trees must match
    await newRepo(path.join(t.dir, 'repo-inline'));
    cpSync(path.join(t.dir, 'repo-inline'), path.join(t.dir, 'repo-workers'), { recursive: true });
    const a = await openRepository(new FileBackend(path.join(t.dir, 'repo-inline')), 'test-password');
    const b = await openRepository(new FileBackend(path.join(t.dir, 'repo-workers')), 'test-password');
    const inline = await backup(a, [src], { workers: 0 });
    const threaded = await backup(b, [src], { workers: 2 });
    expect(threaded.snapshot.tree).toBe(inline.snapshot.tree);
    const table = (r: Repository) => Object.fromEntries([...r.index].map(([id, l]) => [id, [l.type, l.comp, l.length, l.rawLength]]));
    expect(table(b)).toEqual(table(a));
    expect(threaded.stats.blobsNew).toBe(inline.stats.blobsNew);
    const out = path.join(t.dir, 'out-workers');
    await restore(b, threaded.snapshotId, out);
    expect(describeTree(path.join(out, 'src'))).toEqual(describeTree(src));
  });

  it.each(['concurrent', 'workers'] as const)('a read error on the %s path is a warning naming the file (EIO from /proc/self/mem, size 0 so small)', async (mode) => {
    const { repo } = await newRepo(path.join(t.dir, `repo-eio-${mode}`));
    const r = await backup(repo, [path.join(src, 'd0'), '/proc/self/mem'], { smallFileReads: mode });
    expect(r.stats).toMatchObject({ filesNew: FILES, filesUnreadable: 1 });
    expect(r.warnings).toEqual([{ path: '/proc/self/mem', code: 'EIO', message: expect.stringContaining('EIO') }]);
  });

  it('unchanged small files are neither read nor hashed on the next backup', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo-unchanged'));
    const first = await backup(repo, [src], { smallFileReads: 'concurrent' });
    const again = await backup(repo, [src], { smallFileReads: 'concurrent' });
    expect(again.stats).toMatchObject({ filesUnmodified: 3 * FILES, bytesRead: 0, blobsNew: 0 });
    // the nodes reused from the parent make the very same trees (their ids taken from the parent, not re-serialized)
    expect(again.snapshot.tree).toBe(first.snapshot.tree);
    const out = path.join(t.dir, 'out-unchanged');
    await restore(repo, again.snapshotId, out);
    expect(describeTree(path.join(out, 'src'))).toEqual(describeTree(src));
  });

  it('one changed file makes new trees on its path only, and the snapshot restores', async () => {
    const copy = path.join(t.dir, 'src-one-changed');
    cpSync(src, copy, { recursive: true });
    const { repo } = await newRepo(path.join(t.dir, 'repo-one-changed'));
    const first = await backup(repo, [copy]);
    writeFileSync(path.join(copy, 'd1', 'f07'), 'changed');
    const again = await backup(repo, [copy]);
    expect(again.stats).toMatchObject({ filesChanged: 1, filesUnmodified: 3 * FILES - 1 });
    expect(again.snapshot.tree).not.toBe(first.snapshot.tree);
    // new: the file's content, and the trees of d1, of the backed-up directory and of the snapshot root; d0's and
    // d2's trees are reused
    expect(again.stats.blobsNew).toBe(4);
    const out = path.join(t.dir, 'out-one-changed');
    await restore(repo, again.snapshotId, out);
    expect(describeTree(path.join(out, 'src-one-changed'))).toEqual(describeTree(copy));
  });
  it('changes seen by the seal workers\' lstats (a parent snapshot) are the ones seen by this thread\'s (workers: 0)', async () => {
    // the same edits on two copies with the same parent; each backed up with and without the workers' lstat
    const run = async (workers: number) => {
      const copy = path.join(t.dir, `src-edits-${workers}`);
      cpSync(src, copy, { recursive: true });
      const { repo } = await newRepo(path.join(t.dir, `repo-edits-${workers}`));
      const d = path.join(copy, 'd2');
      const f02 = path.join(d, 'f02');
      const then = new Date('2026-01-02T03:04:05Z'); // whole seconds: utimes can put it back exactly
      await fsp.utimes(f02, then, then);
      await backup(repo, [copy], { workers, smallFileReads: 'workers' });
      // read first (d0 comes first): the workers then run, and the lstats of d1 and d2 go to them
      writeFileSync(path.join(copy, 'd0', 'f00'), 'changed');
      await fsp.chmod(path.join(d, 'f01'), 0o600); // mode only: ctime moves
      writeFileSync(f02, prng((await fsp.stat(f02)).size, 999)); // same size and inode, mtime put back (touch -d): only ctime moves
      await fsp.utimes(f02, then, then);
      await fsp.rm(path.join(d, 'f03'));
      mkdirSync(path.join(d, 'f03')); // a directory where a file was
      await fsp.rm(path.join(d, 'f04'));
      await fsp.symlink('f05', path.join(d, 'f04')); // a symlink where a file was
      await fsp.link(path.join(d, 'f06'), path.join(d, 'f06-link')); // nlink 2: recorded with device and links
      await fsp.rm(path.join(d, 'f08')); // gone
      const again = await backup(repo, [copy], { workers, smallFileReads: 'workers' });
      const out = path.join(t.dir, `out-edits-${workers}`);
      await restore(repo, again.snapshotId, out);
      expect(describeTree(path.join(out, `src-edits-${workers}`))).toEqual(describeTree(copy));
      return again.stats;
    };
    const pick = (s: Awaited<ReturnType<typeof run>>) => ({ new: s.filesNew, changed: s.filesChanged, unmodified: s.filesUnmodified, read: s.bytesRead, dirs: s.dirs });
    const threaded = pick(await run(2));
    expect(threaded).toEqual(pick(await run(0)));
    // d0/f00, f01, f02 and f06 read again; f06-link new (a second path of f06's inode); f03, f04, f08 no longer files
    expect(threaded).toMatchObject({ changed: 4, new: 1, unmodified: 3 * FILES - 7 });
  });

  it('progress totals are counted beside the walk: never below what is done, exact at the end', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo-progress'));
    const seen: { files: number; totalFiles: number; bytes: number; totalBytes: number }[] = [];
    const r = await backup(repo, [src], { onProgress: (p) => seen.push({ ...p }) });
    expect(seen.length).toBeGreaterThan(0);
    for (const p of seen) {
      expect(p.totalFiles).toBeGreaterThanOrEqual(p.files);
      expect(p.totalBytes).toBeGreaterThanOrEqual(p.bytes);
    }
    expect(seen.at(-1)).toMatchObject({ files: 3 * FILES, totalFiles: 3 * FILES, bytes: r.stats.bytesProcessed, totalBytes: r.stats.bytesProcessed });
  });

  it('a backup with a parent takes its totals from the parent and does not count them again', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo-progress-parent'));
    const first = await backup(repo, [src]);
    const readdir = fsp.readdir;
    let scanned = 0;
    (fsp as { readdir: unknown }).readdir = (...args: Parameters<typeof readdir>) => {
      if (/\bscanTotals\b/.test(new Error().stack ?? '')) scanned++;
      return (readdir as (...a: unknown[]) => Promise<unknown>).apply(fsp, args);
    };
    const seen: { files: number; totalFiles: number; bytes: number; totalBytes: number }[] = [];
    try {
      const r = await backup(repo, [src], { onProgress: (p) => seen.push({ ...p }) });
      expect(seen.length).toBeGreaterThan(0);
      // the parent's figures from the first event on, never below what is done
      expect(seen[0]).toMatchObject({ totalFiles: 3 * FILES, totalBytes: first.stats.bytesProcessed });
      for (const p of seen) expect(p.totalFiles).toBeGreaterThanOrEqual(p.files);
      expect(seen.at(-1)).toMatchObject({ files: 3 * FILES, bytes: r.stats.bytesProcessed });
      expect(scanned).toBe(0);
    } finally {
      (fsp as { readdir: unknown }).readdir = readdir;
    }
  });

  it('a backup whose tree grew past its parent counts the totals after all, from the moment they are passed', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo-progress-grown'));
    const grown = path.join(t.dir, 'grown');
    cpSync(src, grown, { recursive: true });
    await backup(repo, [grown]);
    mkdirSync(path.join(grown, 'zz-new'));
    for (let i = 0; i < 20; i++) writeFileSync(path.join(grown, 'zz-new', `n${i}`), prng(3000, 900 + i));
    const lstat = fsp.lstat;
    let scanned = 0;
    (fsp as { lstat: unknown }).lstat = (...args: Parameters<typeof lstat>) => {
      if (/\bscanTotals\b/.test(new Error().stack ?? '')) scanned++;
      return (lstat as (...a: unknown[]) => Promise<unknown>).apply(fsp, args);
    };
    const seen: { files: number; totalFiles: number }[] = [];
    try {
      const r = await backup(repo, [grown], { onProgress: (p) => seen.push({ files: p.files, totalFiles: p.totalFiles }) });
      expect(r.stats.filesNew).toBe(20);
      // the parent's count first, the scan started once the walk went past it, exact at the end
      expect(seen[0]!.totalFiles).toBe(3 * FILES);
      expect(scanned).toBeGreaterThan(0);
      for (const p of seen) expect(p.totalFiles).toBeGreaterThanOrEqual(p.files);
      expect(seen.at(-1)).toMatchObject({ files: 3 * FILES + 20, totalFiles: 3 * FILES + 20 });
    } finally {
      (fsp as { lstat: unknown }).lstat = lstat;
    }
  });

  it('the walk does not wait for the totals: progress comes while the counting walk is held at its first directory', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo-progress-held'));
    // The real fs.promises.readdir, held for the totals scan (backup.ts scanTotals, told by its stack frame, so the
    // walk is never held whatever it lists with) until the first progress event. Code that counts before it walks can
    // make no progress while it is held: the fallback then lets it go, so such code fails below instead of hanging.
    const readdir = fsp.readdir;
    let release!: (by: string) => void;
    const released = new Promise<string>((r) => (release = r));
    const fallback = setTimeout(() => release('fallback: no progress while the totals scan was held'), 20_000);
    let held = 0;
    (fsp as { readdir: unknown }).readdir = async (...args: Parameters<typeof readdir>) => {
      if (String(args[0]).startsWith(src) && /\bscanTotals\b/.test(new Error().stack ?? '')) {
        held++;
        await released;
      }
      return (readdir as (...a: unknown[]) => Promise<unknown>).apply(fsp, args);
    };
    const seen: { files: number; totalFiles: number }[] = [];
    try {
      const r = await backup(repo, [src], {
        onProgress: (p) => {
          seen.push({ files: p.files, totalFiles: p.totalFiles });
          release('the first progress event');
        },
      });
      expect(await released).toBe('the first progress event');
      // The scan had counted nothing yet (it waits at the root's listing): the first totals are the walk's own count.
      expect(seen[0]!.totalFiles).toBe(seen[0]!.files);
      expect(seen[0]!.totalFiles).toBeLessThan(3 * FILES);
      expect(r.stats.filesNew).toBe(3 * FILES);
      // …and the hold was on the scan's path: it reaches the root's listing (it goes on in the background).
      await vi.waitFor(() => expect(held).toBeGreaterThan(0), { timeout: 30_000 });
    } finally {
      clearTimeout(fallback);
      release('test end');
      (fsp as { readdir: unknown }).readdir = readdir;
    }
  });
});
