import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import type { CliIO } from '../../cli/io.ts';
import { prng, tempDir, text } from './helpers.ts';

function io(env: Record<string, string>, cwd: string, tty = false): CliIO & { out(): string; err(): string } {
  const o = new PassThrough();
  const e = new PassThrough();
  let out = '';
  let err = '';
  o.on('data', (d) => (out += d));
  e.on('data', (d) => (err += d));
  Object.assign(e, { isTTY: tty });
  return { stdout: o, stderr: e, env, cwd, out: () => out, err: () => err };
}

describe('coffer repo (CLI)', () => {
  const t = tempDir('cli');
  const env = { COFFER_REPOSITORY: path.join(t.dir, 'repo'), COFFER_PASSWORD: 'correct horse' };
  const run = async (argv: string[], e: Record<string, string> = env, tty = false) => {
    const x = io(e, t.dir, tty);
    const code = await main(['repo', ...argv], x);
    return { code, out: x.out(), err: x.err() };
  };

  beforeAll(() => {
    mkdirSync(path.join(t.dir, 'data/sub'), { recursive: true });
    writeFileSync(path.join(t.dir, 'data/a.json'), text(200_000));
    writeFileSync(path.join(t.dir, 'data/sub/b.bin'), prng(3 * 1024 * 1024));
  });
  afterAll(() => t.cleanup());

  it('init, backup with tags (JSON), snapshots, ls, restore, check, stats', async () => {
    const init = await run(['init', '-o', 'json']);
    expect(init.code).toBe(0);
    expect(JSON.parse(init.out).repository).toBe(`file://${env.COFFER_REPOSITORY}`);

    const b = await run(['backup', 'data', '--tag', 'namespace=shop', '--tag', 'pvc=data-0', '-o', 'json']);
    expect(b.code).toBe(0);
    const res = JSON.parse(b.out);
    expect(res.tags).toEqual({ namespace: 'shop', 'pvc': 'data-0' });
    expect(res.stats.filesNew).toBe(2);
    expect(b.err).toBe(''); // no progress when not a TTY

    const b2 = await run(['backup', 'data', '--parent', res.snapshotId.slice(0, 8)], env, true);
    expect(b2.code).toBe(0);
    expect(b2.out).toContain('0 new, 0 changed, 2 unmodified');
    // on a TTY: one progress line rewritten in place (bytes, files, rate, ETA), cleared at the end
    expect(b2.err).toMatch(/\r\x1b\[K\[\d\d:\d\d\] 100\.0%  2\/2 files  .+\/s  ETA /);
    expect(b2.err.endsWith('\r\x1b[K')).toBe(true);

    const snaps = await run(['snapshots', '-o', 'json', '--tag', 'namespace=shop']);
    expect(JSON.parse(snaps.out).map((s: { id: string }) => s.id)).toEqual([res.snapshotId]);
    const table = await run(['snapshots']);
    expect(table.out).toMatch(/^ID\s+TIME\s+HOST\s+TAGS\s+PATHS\s+SIZE/);
    expect(table.out).toContain('namespace=shop,pvc=data-0');

    const ls = await run(['ls', 'latest', 'data/sub', '-o', 'json']);
    expect(JSON.parse(ls.out).map((e: { path: string }) => e.path)).toEqual(['data/sub', 'data/sub/b.bin']);

    const r = await run(['restore', res.snapshotId.slice(0, 8), 'restored', '--include', 'data/sub/b.bin']);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(t.dir, 'restored/data/sub/b.bin')).equals(prng(3 * 1024 * 1024))).toBe(true);

    const c = await run(['check', '--read-data', '-o', 'json']);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out).ok).toBe(true);

    const s = await run(['stats', '-o', 'yaml']);
    expect(s.out).toMatch(/snapshots: 2/);
    expect(s.out).toMatch(/compressionRatio: /);
  });

  it('key add/list/remove with passwords from files, never flags', async () => {
    writeFileSync(path.join(t.dir, 'new.pw'), 'second password\n');
    const add = await run(['key', 'add', '--new-password-file', 'new.pw', '-o', 'json']);
    expect(add.code).toBe(0);
    const id = JSON.parse(add.out).id as string;
    const viaFile = { COFFER_REPOSITORY: env.COFFER_REPOSITORY };
    const list = await run(['key', 'list', '-o', 'json', '--password-file', 'new.pw'], viaFile);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.out).find((k: { current: boolean }) => k.current).id).toBe(id);
    const rm = await run(['key', 'remove', id.slice(0, 8)]);
    expect(rm.code).toBe(0);
    const denied = await run(['snapshots', '--password-file', 'new.pw'], viaFile);
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/^error: .*wrong password/);
  });

  it('forget --keep-last with --prune, and clear errors for bad input', async () => {
    // groups are host + paths + tags, like restic: the tagged snapshot is its own group and stays
    writeFileSync(path.join(t.dir, 'data/c.txt'), 'new file');
    expect((await run(['backup', 'data'])).code).toBe(0);
    const f = await run(['forget', '--keep-last', '1', '--prune', '-o', 'json']);
    expect(f.code).toBe(0);
    const body = JSON.parse(f.out);
    expect(body.removed).toHaveLength(1);
    expect(body.prune.packsBefore).toBeGreaterThan(0);
    const left = JSON.parse((await run(['snapshots', '-o', 'json'])).out);
    expect(left).toHaveLength(2);
    expect(left.map((x: { tags: object }) => Object.keys(x.tags).length)).toEqual([2, 0]);

    expect((await run(['forget'])).err).toMatch(/forget needs snapshot ids or at least one positive --keep/);
    expect((await run(['backup', 'data', '--tag', 'novalue'])).err).toMatch(/--tag "novalue": expected key=value/);
    expect((await run(['snapshots'], { COFFER_PASSWORD: 'x' })).err).toMatch(/no repository: pass --repo URL or set COFFER_REPOSITORY/);
    expect((await run(['snapshots'], { COFFER_REPOSITORY: env.COFFER_REPOSITORY })).err).toMatch(/no repository password/);
    expect((await run(['snapshots', '--password', 'x'])).err).toMatch(/unknown flag --password for "coffer repo"; see coffer repo --help/);
    expect((await run(['restore', 'ffffffff', 'x'])).err).toMatch(/no snapshot "ffffffff"/);
    expect((await run(['backup', 'does-not-exist'])).err).toMatch(/does-not-exist: no such file or directory/);
    expect((await run(['init'])).err).toMatch(/a repository already exists here/);
  });
});
