/**
 * Two first backups of one S3 profile racing to initialise its repository (the S3 side of the fs backend's
 * create-if-absent, fs-backend.test.ts): exactly one config, every racer but one told E_REPO_EXISTS with its key
 * removed, the repository opens with the password, and no claim objects are left behind. Against s3rver, which
 * ignores `If-None-Match` on PUT — so this exercises the claim scheme, not the store's conditional write.
 */
import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../repository/backend/open.ts';
import { initRepository, openRepository } from '../../repository/index.ts';
import { type S3TestServer, startS3Server } from './s3-server.ts';

const FAST_KDF = { scrypt: { N: 1 << 10, r: 8, p: 1 } };
let s3: S3TestServer;

beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.close();
});

/** Every object key s3rver holds under `prefix` (its objects are files named `KEY._S3rver_object`). */
function keysUnder(prefix: string): string[] {
  const out: string[] = [];
  const root = path.join(s3.directory, s3.bucket);
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('._S3rver_object')) out.push(path.relative(root, p).replace(/\._S3rver_object$/, ''));
    }
  };
  walk(path.join(root, prefix));
  return out.sort();
}

describe('concurrent repository initialisation on S3', () => {
  it.each([2, 4])('%i racers leave one repository that opens with the password, and no claims', async (n) => {
    const prefix = `race-${n}/repo`;
    const results = await Promise.allSettled(Array.from({ length: n }, () => initRepository(openBackend(s3.url(prefix), s3.env), 'pw', FAST_KDF)));
    const won = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof initRepository>>> => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'E_REPO_EXISTS' });
    expect(await openBackend(s3.url(prefix), s3.env).list('keys')).toHaveLength(1);
    const repo = await openRepository(openBackend(s3.url(prefix), s3.env), 'pw');
    expect(repo.config.id).toBe(won[0]!.value.config.id);
    expect(keysUnder(prefix).filter((k) => k.includes('/claims/'))).toEqual([]);
  });

  it('a PUT racing the DELETE that empties its "folder" keeps its object (the test server loses none)', async () => {
    // Real S3 has no directories; s3rver's did, and a delete removing an emptied one lost a racing PUT's object.
    const backend = openBackend(s3.url('folder-race/repo'), s3.env);
    await backend.put('locks', 'a-0', Buffer.from('0'));
    for (let i = 1; i <= 60; i++) await Promise.all([backend.put('locks', `a-${i}`, Buffer.from(String(i))), backend.delete('locks', `a-${i - 1}`)]);
    expect((await backend.list('locks')).map((f) => f.name)).toEqual(['a-60']);
    expect((await backend.get('locks', 'a-60')).toString()).toBe('60');
  });

  it('a second init after the first is refused, and so is a racer that finds a config while it holds a claim', async () => {
    await initRepository(openBackend(s3.url('again/repo'), s3.env), 'pw', FAST_KDF);
    await expect(initRepository(openBackend(s3.url('again/repo'), s3.env), 'pw', FAST_KDF)).rejects.toMatchObject({ code: 'E_REPO_EXISTS' });
    const backend = openBackend(s3.url('again/repo'), s3.env);
    expect(await backend.putIfAbsent!('config', 'config', Buffer.from('x'))).toBe(false);
    // the config is the first one's: it still opens
    expect((await openRepository(openBackend(s3.url('again/repo'), s3.env), 'pw')).config.version).toBe(1);
  });
});
