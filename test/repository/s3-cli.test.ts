/**
 * `coffer repo …` as a new user runs it, with `--repo s3://…` against a real
 * S3-protocol server on loopback. Most commands go through `main()` in
 * process (same code path as the executable); one backup runs the real
 * executable to prove the environment-only configuration works end to end.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { type S3TestServer, startS3Server } from './s3-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let s3: S3TestServer;
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  s3 = await startS3Server();
  work = await mkdtemp(path.join(tmpdir(), 's3-cli-'));
  env = { ...s3.env, COFFER_PASSWORD: 'cli password', PATH: process.env.PATH };
  await mkdir(path.join(work, 'app/data/deep'), { recursive: true });
  await writeFile(path.join(work, 'app/data/big.bin'), randomBytes(3 * 1024 * 1024));
  await writeFile(path.join(work, 'app/data/deep/orders.json'), JSON.stringify({ orders: Array.from({ length: 2000 }, (_, i) => ({ id: i })) }));
  await writeFile(path.join(work, 'app/data/empty'), '');
  await symlink('deep/orders.json', path.join(work, 'app/data/current'));
});
afterAll(async () => {
  await s3?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function coffer(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await main(args, { stdout, stderr, env: { ...env, ...extraEnv }, cwd: work });
  return { code, out, err };
}

describe('coffer repo with --repo s3://…', () => {
  const repo = () => s3.url('cli/repo');

  it('init, backup, snapshots, ls, restore (whole and --include), check --read-data, stats, forget --prune, key add/list', async () => {
    expect((await coffer(['repo', 'init', '--repo', repo(), '--output', 'json'])).code).toBe(0);

    const b1 = await coffer(['repo', 'backup', '--repo', repo(), '--tag', 'namespace=shop', '--output', 'json', 'app/data']);
    expect(b1).toMatchObject({ code: 0 });
    const snap1 = JSON.parse(b1.out) as { snapshotId: string; stats: { filesNew: number } };
    expect(snap1.stats.filesNew).toBe(3); // regular files; the symlink is not a "file" in the stats

    const b2 = await coffer(['repo', 'backup', '--repo', repo(), '--tag', 'namespace=shop', '--output', 'json', 'app/data']);
    const snap2 = JSON.parse(b2.out) as { snapshotId: string; parent: string; stats: { filesUnmodified: number; bytesRead: number } };
    expect(snap2.parent).toBe(snap1.snapshotId);
    expect(snap2.stats.filesUnmodified).toBe(3);
    expect(snap2.stats.bytesRead).toBe(0);

    const list = await coffer(['repo', 'snapshots', '--repo', repo(), '--tag', 'namespace=shop', '--output', 'json']);
    expect((JSON.parse(list.out) as { id: string }[]).map((s) => s.id)).toEqual([snap1.snapshotId, snap2.snapshotId]);

    const ls = await coffer(['repo', 'ls', '--repo', repo(), 'latest', '--output', 'json']);
    expect((JSON.parse(ls.out) as { path: string }[]).map((e) => e.path)).toEqual(expect.arrayContaining([expect.stringContaining('big.bin'), expect.stringContaining('orders.json')]));

    expect((await coffer(['repo', 'restore', '--repo', repo(), 'latest', 'out-all'])).code).toBe(0);
    expect((await readFile(path.join(work, 'out-all/data/big.bin'))).equals(await readFile(path.join(work, 'app/data/big.bin')))).toBe(true);
    expect(await readlink(path.join(work, 'out-all/data/current'))).toBe('deep/orders.json');
    expect((await lstat(path.join(work, 'out-all/data/empty'))).size).toBe(0);

    expect((await coffer(['repo', 'restore', '--repo', repo(), snap1.snapshotId.slice(0, 8), 'out-one', '--include', 'data/deep/orders.json'])).code).toBe(0);
    expect(await readFile(path.join(work, 'out-one/data/deep/orders.json'), 'utf8')).toBe(await readFile(path.join(work, 'app/data/deep/orders.json'), 'utf8'));
    await expect(lstat(path.join(work, 'out-one/data/big.bin'))).rejects.toMatchObject({ code: 'ENOENT' });

    const chk = await coffer(['repo', 'check', '--repo', repo(), '--read-data', '--output', 'json']);
    expect(chk.code).toBe(0);
    expect(JSON.parse(chk.out)).toMatchObject({ ok: true, snapshots: 2 });

    const st = await coffer(['repo', 'stats', '--repo', repo(), '--output', 'json']);
    expect(JSON.parse(st.out)).toMatchObject({ snapshots: 2 });

    const fg = await coffer(['repo', 'forget', '--repo', repo(), '--keep-last', '1', '--prune', '--output', 'json']);
    expect(fg.code).toBe(0);
    const after = JSON.parse((await coffer(['repo', 'snapshots', '--repo', repo(), '--output', 'json'])).out) as { id: string }[];
    expect(after.map((s) => s.id)).toEqual([snap2.snapshotId]);

    expect((await coffer(['repo', 'key', 'add', '--repo', repo()], { COFFER_NEW_PASSWORD: 'second password' })).code).toBe(0);
    const keys = JSON.parse((await coffer(['repo', 'key', 'list', '--repo', repo(), '--output', 'json'], { COFFER_PASSWORD: 'second password' })).out) as unknown[];
    expect(keys).toHaveLength(2);
  });

  it('a wrong password, a missing bucket, an unsupported scheme and bad credentials are clear errors', async () => {
    const wrong = await coffer(['repo', 'snapshots', '--repo', repo()], { COFFER_PASSWORD: 'not it' });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/^error: .*password/m);

    const nob = await coffer(['repo', 'init', '--repo', 's3://no-such-bucket/x']);
    expect(nob.code).toBe(1);
    expect(nob.err).toContain(`error: bucket "no-such-bucket" does not exist at endpoint ${s3.endpoint}`);

    const ssh = await coffer(['repo', 'init', '--repo', 'sftp:user@host:/srv/repo']);
    expect(ssh.code).toBe(1);
    expect(ssh.err).toContain('error: unsupported repository URL scheme "sftp:"');

    const denied = await coffer(['repo', 'snapshots', '--repo', repo()], { AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'nothing' });
    expect(denied.code).toBe(1);
    expect(denied.err).toContain('error: access denied to s3://coffer/cli/repo');
  });

  it('the real executable backs up to S3 configured only through the environment', async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'cli/coffer.js'), 'repo', 'backup', 'app/data', '--output', 'json'], {
      cwd: work,
      env: { ...env, COFFER_REPOSITORY: s3.url('cli/repo'), NODE_NO_WARNINGS: '1' },
    });
    expect(JSON.parse(stdout)).toMatchObject({ snapshotId: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });
});
