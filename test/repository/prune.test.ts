import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, backupEntries, check, forget, listSnapshots, prune, restore, stats, type Repository } from '../../repository/index.ts';
import { newRepo, prng, tempDir } from './helpers.ts';

describe('forget and prune', () => {
  const t = tempDir('prune');
  let repo: Repository;
  const src = path.join(t.dir, 'src');

  beforeAll(async () => {
    ({ repo } = await newRepo(path.join(t.dir, 'repo'), { packSize: 2 * 1024 * 1024 }));
    mkdirSync(src);
  });
  afterAll(() => t.cleanup());

  it('forget by GFS counts keeps the right snapshots (one per day for 3 days, one per ISO week for 3 weeks)', async () => {
    // 20 daily snapshots of small manifests, 06:00 UTC each day from 2026-01-01
    for (let d = 0; d < 20; d++) {
      await backupEntries(repo, [{ path: 'm.yaml', data: Buffer.from(`day ${d}\n`) }], { time: new Date(Date.UTC(2026, 0, 1 + d, 6)), tags: { kind: 'gfs' }, hostname: 'h' });
    }
    const r = await forget(repo, { keep: { daily: 3, weekly: 3 }, tags: { kind: 'gfs' }, dryRun: true });
    expect((await listSnapshots(repo)).length).toBe(20); // dry run removes nothing
    const kept = r.groups[0]!.keep.map((k) => k.time.slice(0, 10));
    // daily: Jan 20 (Tue), 19, 18; weekly: weeks of Jan 19 and Jan 12 are already covered (20, 18), the third is Jan 5–11 → Jan 11
    expect(kept).toEqual(['2026-01-20', '2026-01-19', '2026-01-18', '2026-01-11']);
    expect(r.groups[0]!.keep.find((k) => k.time.startsWith('2026-01-11'))!.reasons).toEqual(['weekly']);
    const real = await forget(repo, { keep: { daily: 3, weekly: 3 }, tags: { kind: 'gfs' } });
    expect(real.removed).toHaveLength(16);
    expect((await listSnapshots(repo)).map((s) => s.time.slice(0, 10))).toEqual(['2026-01-11', '2026-01-18', '2026-01-19', '2026-01-20']);
  });

  it('forget by id, then prune removes the data only that snapshot referenced and keeps the rest restorable', async () => {
    writeFileSync(path.join(src, 'keep.bin'), prng(3 * 1024 * 1024, 1));
    writeFileSync(path.join(src, 'drop.bin'), prng(6 * 1024 * 1024, 2));
    const a = await backup(repo, [src]);
    const before = await stats(repo);
    writeFileSync(path.join(src, 'drop.bin'), prng(1024, 3));
    const b = await backup(repo, [src]);
    await forget(repo, { ids: [a.snapshotId.slice(0, 8)] });
    const p = await prune(repo);
    expect(p.packsDeleted + p.packsRepacked).toBeGreaterThan(0);
    expect(p.bytesFreed).toBeGreaterThan(5 * 1024 * 1024);
    const after = await stats(repo);
    expect(after.storedBytes).toBeLessThan(before.storedBytes - 5 * 1024 * 1024);
    expect((await check(repo, { readData: true })).ok).toBe(true);
    const out = path.join(t.dir, 'out');
    await restore(repo, b.snapshotId, out);
    expect(readFileSync(path.join(out, 'src/keep.bin')).equals(prng(3 * 1024 * 1024, 1))).toBe(true);
    expect(readFileSync(path.join(out, 'src/drop.bin')).equals(prng(1024, 3))).toBe(true);
    // a second prune has nothing left to do
    const again = await prune(repo);
    expect(again.packsDeleted + again.packsRepacked).toBe(0);
  });

  it('prune during a running backup is refused by the lock, and the backup completes intact', async () => {
    for (let i = 0; i < 4; i++) writeFileSync(path.join(src, `new${i}.bin`), prng(4 * 1024 * 1024, 100 + i));
    let pruneError: unknown;
    let tried = false;
    const running = backup(repo, [src], {
      onProgress: () => {
        if (tried) return;
        tried = true;
        // fire prune while the backup holds its shared lock and has uploaded packs not yet referenced by any snapshot
        pruneError = prune(repo).then(
          () => 'prune ran',
          (e: unknown) => e,
        );
      },
    });
    const r = await running;
    expect(tried).toBe(true);
    expect(await pruneError).toMatchObject({ code: 'E_REPO_LOCKED' });
    expect((await check(repo, { readData: true })).ok).toBe(true);
    const out = path.join(t.dir, 'out-concurrent');
    await restore(repo, r.snapshotId, out, { include: ['src/new3.bin'] });
    expect(readFileSync(path.join(out, 'src/new3.bin')).equals(prng(4 * 1024 * 1024, 103))).toBe(true);
    // once the backup is done, prune runs and keeps what the new snapshot references
    await prune(repo);
    expect((await check(repo, { readData: true })).ok).toBe(true);
  });
});
