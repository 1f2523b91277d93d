/**
 * The CSI emulation's point-in-time copy (`copyTreeLive`): copied while writers run, writers paused only to bring the
 * copy level. Whatever the writers did during the first pass — append, rewrite in place at the same size, create,
 * delete, rename, chmod, new directories — the copy must equal the source as it was when the pause began.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, appendFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyTreeLive } from '../../sandbox/controllers/copytree.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** path → content (files) or `dir <mode>`; with modes, so chmod shows. */
function state(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      const rel = relative(root, p);
      if (st.isDirectory()) {
        out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
        visit(p);
      } else out[rel] = `${(st.mode & 0o7777).toString(8)} ${readFileSync(p, 'utf8')}`;
    }
  };
  visit(root);
  return out;
}

describe('copyTreeLive', () => {
  it('equals the source at the pause, whatever writers did during the first pass', async () => {
    const work = mkdtempSync(join(tmpdir(), 'coffer-copylive-'));
    dirs.push(work);
    const src = join(work, 'src');
    mkdirSync(join(src, 'base'), { recursive: true });
    // Enough untouched data that the first pass takes a while, and files the writer will touch.
    for (let i = 0; i < 200; i++) writeFileSync(join(src, 'base', `rel-${i}`), 'x'.repeat(20_000));
    for (let i = 0; i < 5; i++) writeFileSync(join(src, `wal-${i}`), '');
    writeFileSync(join(src, 'page'), 'a'.repeat(8192));
    writeFileSync(join(src, 'doomed'), 'bye');
    writeFileSync(join(src, 'moved'), 'm');

    let stop = false;
    let stopped: () => void = () => undefined;
    const halted = new Promise<void>((r) => (stopped = r));
    let step = 0;
    const writer = (async () => {
      while (!stop) {
        step++;
        appendFileSync(join(src, `wal-${step % 5}`), `${step}\n`);
        // Same size, new content: only the timestamps tell.
        const fd = openSync(join(src, 'page'), 'r+');
        writeSync(fd, String.fromCharCode(97 + (step % 26)).repeat(8192), 0);
        closeSync(fd);
        if (step === 3) rmSync(join(src, 'doomed'));
        if (step === 4) renameSync(join(src, 'moved'), join(src, 'renamed'));
        if (step === 5) chmodSync(join(src, 'base', 'rel-7'), 0o600);
        if (step === 6) mkdirSync(join(src, 'new-dir', 'deep'), { recursive: true });
        if (step === 7) writeFileSync(join(src, 'new-dir', 'deep', 'f'), 'new');
        await new Promise((r) => setImmediate(r));
      }
      stopped();
    })();

    let atPause: Record<string, string> = {};
    const { recopied } = await copyTreeLive(src, join(work, 'copy'), async () => {
      stop = true;
      await halted;
      atPause = state(src);
      return () => undefined;
    });
    await writer;
    expect(step).toBeGreaterThan(7);
    expect(recopied).toBeGreaterThan(0);
    expect(state(join(work, 'copy'))).toEqual(atPause);
    expect(atPause).not.toHaveProperty('doomed');
    expect(atPause).toHaveProperty('renamed');
    expect(atPause['base/rel-7']).toMatch(/^600 /);
  });

  it('a quiet tree is copied in the first pass; the pause recopies nothing', async () => {
    const work = mkdtempSync(join(tmpdir(), 'coffer-copylive-'));
    dirs.push(work);
    const src = join(work, 'src');
    mkdirSync(join(src, 'a', 'b'), { recursive: true });
    writeFileSync(join(src, 'a', 'b', 'f'), 'data');
    // Old timestamps: nothing is racy.
    const old = new Date(Date.now() - 60_000);
    const { utimesSync } = await import('node:fs');
    for (const p of [join(src, 'a', 'b', 'f')]) utimesSync(p, old, old);
    await new Promise((r) => setTimeout(r, 1100));
    const r = await copyTreeLive(src, join(work, 'copy'), async () => () => undefined);
    expect(r.recopied).toBe(0);
    expect(state(join(work, 'copy'))).toEqual(state(src));
  });
});
