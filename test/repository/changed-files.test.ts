import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { capture } from '../compiler/helpers.ts';
import { backup, initRepository, FileBackend, restore, type Repository } from '../../repository/index.ts';
import { SealWorkers } from '../../repository/seal-workers.ts';
import { FAST_KDF, newRepo, prng, tempDir } from './helpers.ts';

/** `touch -d @s.ns`: put a file's mtime back to what stat said, to the nanosecond. */
function touchBack(file: string, mtimeNs: bigint): void {
  const s = mtimeNs / 1_000_000_000n;
  const ns = (mtimeNs % 1_000_000_000n).toString().padStart(9, '0');
  execFileSync('touch', ['-m', '-d', `@${s}.${ns}`, file]);
}

const FILE = 256 * 1024;
const run = promisify(execFile);

describe('changed-file detection from the parent snapshot (restic archiver semantics)', () => {
  const t = tempDir('changed');
  const src = path.join(t.dir, 'src');
  const env = { COFFER_REPOSITORY: path.join(t.dir, 'repo'), COFFER_PASSWORD: 'pw'};
  const cli = async (argv: string[]) => {
    const c = capture(t.dir);
    const code = await main(['repo', ...argv], { ...c.io, env });
    return { code, out: c.out(), err: c.err() };
  };

  beforeAll(async () => {
    mkdirSync(path.join(src, 'd'), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(path.join(src, 'd', `f${String(i).padStart(2, '0')}`), prng(FILE, i + 1));
    await initRepository(new FileBackend(env.COFFER_REPOSITORY), env.COFFER_PASSWORD, { scrypt: FAST_KDF });
  });
  afterAll(() => t.cleanup());

  it('10% changed: only the changed files are read (bytesRead in `backup -o json`)', async () => {
    const first = await cli(['backup', 'src', '-o', 'json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.out).stats.bytesRead).toBe(20 * FILE);

    writeFileSync(path.join(src, 'd/f03'), prng(FILE, 103));
    appendFileSync(path.join(src, 'd/f11'), 'grown');
    const second = await cli(['backup', 'src', '-o', 'json']);
    expect(second.code).toBe(0);
    const res = JSON.parse(second.out) as { parent: string; stats: Record<string, number>; warnings: unknown[] };
    expect(res.parent).toBe(JSON.parse(first.out).snapshotId);
    expect(res.stats).toMatchObject({ filesChanged: 2, filesUnmodified: 18, filesNew: 0, bytesRead: 2 * FILE + 5 });
    expect(res.warnings).toEqual([]);

    // --force reads everything again; an explicit --parent is used even when it is not the latest
    const forced = JSON.parse((await cli(['backup', 'src', '--force', '-o', 'json'])).out) as { parent: string | null; stats: Record<string, number> };
    expect(forced.parent).toBeNull();
    expect(forced.stats.bytesRead).toBe(20 * FILE + 5);
    const explicit = JSON.parse((await cli(['backup', 'src', '--parent', JSON.parse(first.out).snapshotId, '-o', 'json'])).out) as { stats: Record<string, number> };
    expect(explicit.stats).toMatchObject({ filesChanged: 2, bytesRead: 2 * FILE + 5 });
  });

  it('content changed with size and mtime put back (touch -d) is caught by ctime; a same-size file renamed over it by inode', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo2'));
    const a = path.join(src, 'd/f05');
    const b = path.join(src, 'd/f06');
    await backup(repo, [src]);
    const stA = statSync(a, { bigint: true });
    const stB = statSync(b, { bigint: true });
    writeFileSync(a, prng(FILE, 205)); // same size, in place: inode kept, ctime moves
    touchBack(a, stA.mtimeNs);
    const repl = path.join(t.dir, 'replacement');
    writeFileSync(repl, prng(FILE, 206));
    touchBack(repl, stB.mtimeNs);
    renameSync(repl, b); // same size and mtime, another inode
    expect(statSync(a, { bigint: true }).mtimeNs).toBe(stA.mtimeNs);
    expect(statSync(b, { bigint: true })).toMatchObject({ size: stB.size, mtimeNs: stB.mtimeNs });
    expect(statSync(b, { bigint: true }).ino).not.toBe(stB.ino);

    const r = await backup(repo, [src]);
    expect(r.stats).toMatchObject({ filesChanged: 2, filesUnmodified: 18, bytesRead: 2 * FILE });
    const out = path.join(t.dir, 'out-touch');
    await restore(repo, r.snapshotId, out);
    expect(readFileSync(path.join(out, 'src/d/f05')).equals(prng(FILE, 205))).toBe(true);
    expect(readFileSync(path.join(out, 'src/d/f06')).equals(prng(FILE, 206))).toBe(true);
  });

  it('a large parent has the walk\'s lstats made on the seal workers: changes there are still caught, none missed', async () => {
    const wide = path.join(t.dir, 'wide');
    const { repo } = await newRepo(path.join(t.dir, 'repo-wide'));
    for (const [d, n] of [['d0', 300], ['d1', 600]] as const) {
      mkdirSync(path.join(wide, d), { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(path.join(wide, d, `f${i}`), `${d}/${i}`);
    }
    const opts = { smallFileReads: 'blocking', statAheadFiles: 900 } as const; // the parent will have 900 files
    expect((await backup(repo, [wide], opts)).stats.filesNew).toBe(900);

    const same = path.join(wide, 'd1/f300');
    const st = statSync(same, { bigint: true });
    writeFileSync(same, 'd1/XXX'); // same size, mtime put back: only ctime tells
    touchBack(same, st.mtimeNs);
    appendFileSync(path.join(wide, 'd1/f599'), '+');
    writeFileSync(path.join(wide, 'd1/new'), 'new');
    const lstat = vi.spyOn(SealWorkers.prototype, 'lstat');
    try {
      const r = await backup(repo, [wide], opts);
      expect(r.stats).toMatchObject({ filesUnmodified: 898, filesChanged: 2, filesNew: 1 });
      const asked = new Map<string, number>();
      for (const [dir, names] of lstat.mock.calls) asked.set(path.basename(dir), (asked.get(path.basename(dir)) ?? 0) + names.length);
      expect(Object.fromEntries(asked)).toEqual({ wide: 2, d0: 300, d1: 601 }); // every directory's entries, the top one's too
      const out = path.join(t.dir, 'out-wide');
      await restore(repo, r.snapshotId, out);
      expect(readFileSync(path.join(out, 'wide/d1/f300'), 'utf8')).toBe('d1/XXX');
      expect(readFileSync(path.join(out, 'wide/d1/f599'), 'utf8')).toBe('d1/599+');
      expect(readFileSync(path.join(out, 'wide/d0/f299'), 'utf8')).toBe('d0/299');

      // a parent below the threshold (901 files now, 902 asked): every lstat stays on the walk's own thread
      lstat.mockClear();
      expect((await backup(repo, [wide], { ...opts, statAheadFiles: 902 })).stats.filesUnmodified).toBe(901);
      expect(lstat).not.toHaveBeenCalled();
    } finally {
      lstat.mockRestore();
    }
  });

  describe('files that change while read', () => {
    const big = path.join(t.dir, 'live/big.bin');
    let repo: Repository;
    beforeAll(async () => {
      mkdirSync(path.dirname(big));
      writeFileSync(big, prng(8 * 1024 * 1024, 9));
      ({ repo } = await newRepo(path.join(t.dir, 'repo3')));
    });

    it('changed once during the read: read again, stored as it then is, no warning', async () => {
      let done = false;
      // the first progress tick comes while the file's first chunks are cut, between its stat and its last read
      const r = await backup(repo, [path.dirname(big)], {
        onProgress: () => {
          if (!done) appendFileSync(big, 'x');
          done = true;
        },
      });
      expect(done).toBe(true);
      expect(r.warnings).toEqual([]);
      expect(r.stats.filesChangedWhileRead).toBe(0);
      expect(r.stats.bytesRead).toBeGreaterThan(8 * 1024 * 1024); // read twice
      const out = path.join(t.dir, 'out-live1');
      await restore(repo, r.snapshotId, out);
      expect(readFileSync(path.join(out, 'live/big.bin')).equals(readFileSync(big))).toBe(true);
    });

    it('changing through every read: flagged in the snapshot summary, and read again by the next backup', async () => {
      // a writer on this event loop appends between every two reads (each read is a libuv round trip)
      let writing = true;
      const writer = () => {
        if (!writing) return;
        appendFileSync(big, 'y');
        setImmediate(writer);
      };
      setImmediate(writer);
      const r = await backup(repo, [path.dirname(big)]).finally(() => (writing = false));
      expect(r.stats.filesChangedWhileRead).toBe(1);
      expect(r.warnings).toEqual([{ path: big, code: 'CHANGED_WHILE_READ', message: expect.stringContaining('changed while it was read') }]);
      expect(r.snapshot.summary?.warnings).toEqual(r.warnings);
      const next = await backup(repo, [path.dirname(big)]);
      expect(next.stats).toMatchObject({ filesChanged: 1, filesChangedWhileRead: 0, bytesRead: statSync(big).size });
      expect(next.warnings).toEqual([]);
    });
  });

  it.runIf(process.getuid?.() === 0)('permission denied (root without CAP_DAC_*, via setpriv): file and directory listed by the CLI, the rest saved', async () => {
    const dir = path.join(t.dir, 'perm');
    mkdirSync(path.join(dir, 'closed'), { recursive: true });
    writeFileSync(path.join(dir, 'closed/inside'), 'x');
    writeFileSync(path.join(dir, 'secret'), 'no');
    writeFileSync(path.join(dir, 'open'), 'yes');
    chmodSync(path.join(dir, 'secret'), 0);
    chmodSync(path.join(dir, 'closed'), 0);
    const coffer = fileURLToPath(new URL('../../cli/coffer.js', import.meta.url));
    const r = await run('setpriv', ['--bounding-set', '-dac_override,-dac_read_search', process.execPath, coffer, 'repo', 'backup', dir, '-o', 'json'], { env: { ...process.env, ...env, COFFER_TSX: '1' } });
    const res = JSON.parse(r.stdout) as { stats: Record<string, number>; warnings: { path: string; code: string }[] };
    expect(res.warnings.map((x) => [x.path, x.code])).toEqual([
      [path.join(dir, 'closed'), 'EACCES'],
      [path.join(dir, 'secret'), 'EACCES'],
    ]);
    expect(res.stats).toMatchObject({ filesNew: 1, filesUnreadable: 2 });
    expect(r.stderr).toContain(`warning: ${path.join(dir, 'secret')}: not backed up: EACCES`);
    chmodSync(path.join(dir, 'closed'), 0o755);
  });

  it('an unreadable file (EIO from /proc/self/mem) is listed with its error; the rest is saved', async () => {
    const { repo } = await newRepo(path.join(t.dir, 'repo4'));
    const r = await backup(repo, [path.join(src, 'd'), '/proc/self/mem']);
    expect(r.stats).toMatchObject({ filesNew: 20, filesUnreadable: 1 });
    expect(r.warnings).toEqual([{ path: '/proc/self/mem', code: 'EIO', message: expect.stringContaining('EIO') }]);
    expect(r.snapshot.summary?.warnings).toEqual(r.warnings);
    const out = path.join(t.dir, 'out-eio');
    await restore(repo, r.snapshotId, out);
    expect(readFileSync(path.join(out, 'd/f00')).equals(prng(FILE, 1))).toBe(true);
  });
});
