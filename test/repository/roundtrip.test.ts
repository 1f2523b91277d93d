import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync, writeSync, chmodSync, appendFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, backupEntries, check, ls, openRepository, restore, stats, type Repository, FileBackend } from '../../repository/index.ts';
import { describeTree, newRepo, prng, tempDir, text } from './helpers.ts';

describe('backup and restore round trip', () => {
  const t = tempDir('rt');
  const src = path.join(t.dir, 'src');
  let repo: Repository;
  let first: Awaited<ReturnType<typeof backup>>;

  beforeAll(async () => {
    mkdirSync(path.join(src, 'app/config'), { recursive: true });
    mkdirSync(path.join(src, 'empty-dir'));
    writeFileSync(path.join(src, 'app/config/settings.json'), text(300_000));
    writeFileSync(path.join(src, 'app/big.bin'), prng(12 * 1024 * 1024, 5));
    writeFileSync(path.join(src, 'empty'), '');
    writeFileSync(path.join(src, 'script.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(path.join(src, 'script.sh'), 0o751);
    chmodSync(path.join(src, 'app/config/settings.json'), 0o600);
    chmodSync(path.join(src, 'app/config'), 0o700);
    symlinkSync('app/config/settings.json', path.join(src, 'link-rel'));
    symlinkSync('/nonexistent/target', path.join(src, 'link-dangling'));
    // sparse: 40 MiB with data only at 1 MiB and 30 MiB
    const fd = openSync(path.join(src, 'sparse.img'), 'w');
    writeSync(fd, Buffer.from('head'), 0, 4, 1024 * 1024);
    writeSync(fd, Buffer.from('tail'), 0, 4, 30 * 1024 * 1024);
    closeSync(fd);
    appendFileSync(path.join(src, 'sparse.img'), ''); // keep size from writes
    const fd2 = openSync(path.join(src, 'sparse.img'), 'r+');
    closeSync(fd2);
    utimesSync(path.join(src, 'script.sh'), 1_600_000_000.123456, 1_600_000_000.123456);
    ({ repo } = await newRepo(path.join(t.dir, 'repo')));
    first = await backup(repo, [src]);
  });
  afterAll(() => t.cleanup());

  it('restores byte for byte with modes, mtimes, symlinks, empty and sparse files', async () => {
    const out = path.join(t.dir, 'out1');
    const s = await restore(repo, first.snapshotId, out);
    expect(s.errors).toEqual([]);
    expect(describeTree(path.join(out, 'src'))).toEqual(describeTree(src));
    // the sparse file stays sparse: far fewer blocks than its 30 MiB size
    const st = statSync(path.join(out, 'src/sparse.img'));
    expect(st.size).toBe(30 * 1024 * 1024 + 4);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('opens again with the password and lists the snapshot', async () => {
    const again = await openRepository(new FileBackend(path.join(t.dir, 'repo')), 'test-password');
    const entries = await ls(again, 'latest', 'src/app/config');
    expect(entries.map((e) => e.path)).toEqual(['src/app/config', 'src/app/config/settings.json']);
    expect(entries[1]!.mode).toBe(0o600);
    expect((await ls(again, first.snapshotId.slice(0, 8))).find((e) => e.path === 'src/link-rel')?.target).toBe('app/config/settings.json');
  });

  it('an unchanged re-backup reads nothing and adds no data', async () => {
    const again = await backup(repo, [src]);
    expect(again.snapshot.parent).toBe(first.snapshotId);
    expect(again.stats.bytesRead).toBe(0);
    expect(again.stats.filesUnmodified).toBe(first.stats.filesNew);
    expect(again.stats.blobsNew).toBe(0);
  });

  it('dedupes across snapshots and across paths', async () => {
    const copy = path.join(t.dir, 'copy');
    mkdirSync(copy);
    writeFileSync(path.join(copy, 'same-big.bin'), readFileSync(path.join(src, 'app/big.bin')));
    const before = (await stats(repo)).storedBytes;
    const r = await backup(repo, [copy]);
    const after = (await stats(repo)).storedBytes;
    expect(r.stats.bytesRead).toBe(12 * 1024 * 1024);
    // 12 MiB of already-stored data adds only a few KiB of trees/index/snapshot
    expect(after - before).toBeLessThan(64 * 1024);
    expect(r.stats.blobsNew).toBeLessThanOrEqual(2); // the two new trees
  });

  it('re-backup after inserting bytes in the middle of a large file stores only the changed chunks', async () => {
    const big = path.join(src, 'app/big.bin');
    const data = readFileSync(big);
    writeFileSync(big, Buffer.concat([data.subarray(0, 6_000_000), Buffer.from('inserted bytes!'), data.subarray(6_000_000)]));
    const r = await backup(repo, [src]);
    expect(r.stats.filesChanged).toBe(1);
    expect(r.stats.bytesRead).toBe(data.length + 15);
    // at most ~2 chunks (≤ 2 × 8 MiB max, typically ~2 MiB) of new data for a 12 MiB file; assert the figure
    expect(r.stats.bytesAddedRaw).toBeLessThan(0.5 * data.length);
    const out = path.join(t.dir, 'out2');
    await restore(repo, r.snapshotId, out, { include: ['src/app/big.bin'] });
    expect(readFileSync(path.join(out, 'src/app/big.bin')).equals(readFileSync(big))).toBe(true);
    expect(readdirSync(path.join(out, 'src'))).toEqual(['app']);
  });

  it('zero runs take a fast path with exactly the boundaries the chunker would cut', async () => {
    const dir = path.join(t.dir, 'zeros');
    mkdirSync(dir);
    const data = Buffer.concat([prng(3 * 1024 * 1024, 9), Buffer.alloc(40 * 1024 * 1024), prng(5 * 1024 * 1024, 10), Buffer.alloc(9 * 1024 * 1024 + 7)]);
    writeFileSync(path.join(dir, 'disk.img'), data);
    const r = await backup(repo, [dir]);
    const root = JSON.parse((await repo.loadBlob(r.snapshot.tree, 'tree')).toString());
    const sub = JSON.parse((await repo.loadBlob(root.nodes[0].subtree, 'tree')).toString());
    const got = (sub.nodes[0].content as string[]).map((id) => repo.index.get(id)!.rawLength);
    const want: number[] = [];
    for (let s = 0; s < data.length; ) {
      const n = repo.chunker.cut(data, s, data.length, true);
      want.push(n);
      s += n;
    }
    expect(got).toEqual(want);
    // the zero runs dedupe to a few distinct blobs (chunks that straddle data and zeros are unique)
    const ids = sub.nodes[0].content as string[];
    expect(new Set(ids).size).toBeLessThanOrEqual(ids.length - 3);
    expect(r.stats.bytesAddedRaw).toBeLessThan(32 * 1024 * 1024);
  });

  it('stores in-memory entries (manifests) and restores them', async () => {
    const r = await backupEntries(repo, [
      { path: 'ns/shop/deployment.yaml', data: Buffer.from('kind: Deployment\n') },
      { path: 'ns/shop/secret.yaml', data: Buffer.from('kind: Secret\ndata: {a: b}\n') },
    ], { tags: { namespace: 'shop', kind: 'manifests' } });
    expect(r.snapshot.tags).toEqual({ namespace: 'shop', kind: 'manifests' });
    const out = path.join(t.dir, 'out3');
    await restore(repo, r.snapshotId, out);
    expect(readFileSync(path.join(out, 'ns/shop/secret.yaml'), 'utf8')).toBe('kind: Secret\ndata: {a: b}\n');
    expect((await check(repo, { readData: true })).ok).toBe(true);
  });
});
