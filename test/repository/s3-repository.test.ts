/**
 * The whole repository (mover-core's API) on a real S3 server: round trip,
 * dedupe, check, a flipped byte in a stored object, and a backup that
 * succeeds through injected S3 faults.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../repository/backend/open.ts';
import type { RetryEvent } from '../../repository/backend/retry.ts';
import { backup, check, initRepository, openRepository, restore, stats } from '../../repository/index.ts';
import { SLOW_DOWN, type FaultProxy, startFaultProxy } from './s3-fault-proxy.ts';
import { type S3TestServer, startS3Server } from './s3-server.ts';

const PASSWORD = 'correct horse battery staple';
const FAST_KDF = { scrypt: { N: 1 << 10, r: 8, p: 1 } };
let s3: S3TestServer;
let work: string;

beforeAll(async () => {
  s3 = await startS3Server();
  work = await mkdtemp(path.join(tmpdir(), 's3-repo-'));
});
afterAll(async () => {
  await s3?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function makeTree(root: string): Promise<void> {
  await mkdir(path.join(root, 'data/deep/er'), { recursive: true });
  await writeFile(path.join(root, 'data/big.bin'), randomBytes(9 * 1024 * 1024 + 17));
  await writeFile(path.join(root, 'data/deep/er/config.json'), JSON.stringify({ hello: 'world', n: Array.from({ length: 5000 }, (_, i) => i) }));
  await writeFile(path.join(root, 'data/empty'), '');
  await writeFile(path.join(root, 'data/script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await symlink('deep/er/config.json', path.join(root, 'data/link'));
}

/** path → [type, mode, content hash or link target] for every entry under root. */
async function describeTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const rel = path.relative(root, p);
      const st = await lstat(p);
      if (st.isSymbolicLink()) out[rel] = `link ${await readlink(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
        await walk(p);
      } else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(await readFile(p)).digest('hex')}`;
    }
  };
  await walk(root);
  return out;
}

describe('repository on S3 (s3rver)', () => {
  it('init, backup, dedupe on a second backup, restore byte for byte, check --read-data', async () => {
    const src = path.join(work, 'rt/src');
    await makeTree(src);
    const backend = openBackend(s3.url('rt/repo'), s3.env);
    const repo = await initRepository(backend, PASSWORD, FAST_KDF);
    const first = await backup(repo, [path.join(src, 'data')]);
    const afterFirst = (await stats(repo)).storedBytes;
    // Same content under another path: dedupe across paths and snapshots.
    await mkdir(path.join(work, 'rt/copy'), { recursive: true });
    await writeFile(path.join(work, 'rt/copy/big-again.bin'), await readFile(path.join(src, 'data/big.bin')));
    await backup(repo, [path.join(work, 'rt/copy')]);
    const afterSecond = (await stats(repo)).storedBytes;
    expect(afterSecond - afterFirst).toBeLessThan(64 * 1024);
    await backend.close?.();

    const reopened = await openRepository(openBackend(s3.url('rt/repo'), s3.env), PASSWORD);
    const target = path.join(work, 'rt/restore');
    await restore(reopened, first.snapshotId, target);
    expect(await describeTree(path.join(target, 'data'))).toEqual(await describeTree(path.join(src, 'data')));
    const result = await check(reopened, { readData: true });
    expect(result.ok).toBe(true);
    expect(result.damaged).toEqual([]);
    expect(result.packsRead).toBeGreaterThan(0);
  });

  it('a byte flipped inside a stored S3 object is found by check --read-data, naming the pack and snapshot', async () => {
    const src = path.join(work, 'flip/src');
    await makeTree(src);
    const repo = await initRepository(openBackend(s3.url('flip/repo'), s3.env), PASSWORD, FAST_KDF);
    const snap = await backup(repo, [path.join(src, 'data')]);
    // s3rver keeps each object as a plain file: flip one byte of the largest pack, as bit rot would.
    const packs = await openBackend(s3.url('flip/repo'), s3.env).list('data');
    const victim = packs.reduce((a, b) => (b.size > a.size ? b : a));
    const onDisk = await findObjectFile(s3.directory, victim.name);
    const bytes = readFileSync(onDisk);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(onDisk, bytes);
    const result = await check(await openRepository(openBackend(s3.url('flip/repo'), s3.env), PASSWORD), { readData: true });
    expect(result.ok).toBe(false);
    expect(result.damaged.map((d) => d.pack)).toEqual([victim.name]);
    expect(result.damaged[0]!.snapshots).toContain(snap.snapshotId);
  });

  it('a backup goes through throttling and dropped connections, and its data restores intact', async () => {
    const proxy: FaultProxy = await startFaultProxy(s3.endpoint);
    try {
      const events: RetryEvent[] = [];
      const env = { ...s3.env, COFFER_S3_ENDPOINT: proxy.endpoint };
      const retry = { baseDelayMs: 2, maxDelayMs: 10, onRetry: (e: RetryEvent) => events.push(e) };
      const src = path.join(work, 'faults/src');
      await makeTree(src);
      const repo = await initRepository(openBackend(s3.url('faults/repo'), env, { retry }), PASSWORD, FAST_KDF);
      proxy.inject({ method: 'PUT', url: /\/data\//, fault: SLOW_DOWN, times: 2 });
      proxy.inject({ method: 'PUT', url: /\/index\//, fault: 'reset' });
      proxy.inject({ method: 'PUT', url: /\/snapshots\//, fault: { status: 500, code: 'InternalError' } });
      const snap = await backup(repo, [path.join(src, 'data')]);
      expect(proxy.requests.filter((r) => r.fault).length).toBe(4);
      expect(events.length).toBe(4);

      proxy.inject({ method: 'GET', url: /\/data\//, fault: 'reset-mid-body' });
      proxy.inject({ method: 'GET', url: /\/data\//, fault: 'stall' });
      // Short idle timeout for the stall; under load a slow answer may also time out, so the count below is a lower bound.
      const reopened = await openRepository(openBackend(s3.url('faults/repo'), env, { retry, s3: { idleTimeoutMs: 1500 } }), PASSWORD);
      const target = path.join(work, 'faults/restore');
      await restore(reopened, snap.snapshotId, target);
      expect(await describeTree(path.join(target, 'data'))).toEqual(await describeTree(path.join(src, 'data')));
      expect(proxy.requests.filter((r) => r.fault).length).toBe(6);
      expect(events.length).toBeGreaterThanOrEqual(6);
    } finally {
      await proxy.close();
    }
  });
});

async function findObjectFile(dir: string, name: string): Promise<string> {
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (e.isFile() && p.includes(name) && p.endsWith('._S3rver_object')) return p;
  }
  throw new Error(`object file for ${name} not found under ${dir}`);
}
