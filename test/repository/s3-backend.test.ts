import { randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../repository/backend/open.ts';
import { S3Backend } from '../../repository/backend/s3.ts';
import { describeBackendContract } from './backend-contract.ts';
import { type FaultProxy, startFaultProxy } from './s3-fault-proxy.ts';
import { type S3TestServer, startS3Server } from './s3-server.ts';

const MiB = 1024 * 1024;
let s3: S3TestServer;

beforeAll(async () => {
  s3 = await startS3Server({ buckets: ['coffer', 'other'] });
});
afterAll(async () => {
  await s3?.close();
});

function backendAt(prefix: string, extra: Partial<ConstructorParameters<typeof S3Backend>[0]> = {}): S3Backend {
  return new S3Backend({
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    // Small parts so the large-object case really goes through multipart.
    partSize: 5 * MiB,
    multipartThreshold: 6 * MiB,
    ...extra,
  });
}

describeBackendContract(
  's3 on s3rver (through openBackend)',
  async () => ({
    backend: openBackend(s3.url(`contract/${randomUUID()}`), s3.env, { s3: { partSize: 5 * MiB, multipartThreshold: 6 * MiB } }),
    cleanup: async () => {},
  }),
  { largeSize: 13 * MiB + 12345 },
);

describeBackendContract(
  's3 on s3rver at the bucket root',
  async () => {
    const bucket = `root-${randomUUID().slice(0, 8)}`;
    const own = await startS3Server({ buckets: [bucket] });
    return { backend: openBackend(own.url(), own.env), cleanup: () => own.close() };
  },
  { largeSize: 2 * MiB },
);

describe('S3Backend on the wire', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('uploads large packs in parts, small ones in a single PUT, and only the completed object is visible', async () => {
    proxy.clear();
    const b = backendAt(`mp/${randomUUID()}`, { endpoint: proxy.endpoint });
    const big = randomBytes(16 * MiB + 3);
    const small = randomBytes(1 * MiB);
    await b.put('data', 'aa' + 'b'.repeat(62), big);
    await b.put('data', 'cc' + 'd'.repeat(62), small);
    const creates = proxy.requests.filter((r) => r.method === 'POST' && /[?&]uploads/.test(r.url));
    const parts = proxy.requests.filter((r) => r.method === 'PUT' && /partNumber=/.test(r.url));
    const completes = proxy.requests.filter((r) => r.method === 'POST' && /uploadId=/.test(r.url));
    const plain = proxy.requests.filter((r) => r.method === 'PUT' && !/partNumber=/.test(r.url));
    expect(creates).toHaveLength(1);
    expect(parts).toHaveLength(4); // 5+5+5+1.000003 MiB
    expect(completes).toHaveLength(1);
    expect(plain).toHaveLength(1);
    expect((await b.get('data', 'aa' + 'b'.repeat(62))).equals(big)).toBe(true);
    await b.close();
  });

  it('sends Object Lock retention headers (and Content-MD5) when the profile asks for immutability', async () => {
    proxy.clear();
    const now = Date.UTC(2026, 0, 1);
    const b = backendAt(`lock/${randomUUID()}`, { endpoint: proxy.endpoint, objectLock: { mode: 'COMPLIANCE', days: 30 }, now: () => now });
    await b.put('snapshots', 'f'.repeat(64), Buffer.from('snap'));
    await b.put('locks', 'e'.repeat(64), Buffer.from('lock'));
    const [snapPut, lockPut] = proxy.requests.filter((r) => r.method === 'PUT');
    expect(snapPut!.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
    expect(new Date(String(snapPut!.headers['x-amz-object-lock-retain-until-date'])).getTime()).toBe(now + 30 * 86_400_000);
    expect(snapPut!.headers['content-md5']).toBe('9el1qlUdGuTpHozpO5aWsA==');
    // Locks must stay deletable: never retained.
    expect(lockPut!.headers['x-amz-object-lock-mode']).toBeUndefined();
    await b.close();
  });

  it('keeps prefixes apart in one bucket', async () => {
    const a = backendAt(`iso/${randomUUID()}`);
    const c = backendAt(`iso/${randomUUID()}`);
    await a.put('snapshots', '1'.repeat(64), Buffer.from('a'));
    expect(await c.list('snapshots')).toEqual([]);
    expect(await a.list('snapshots')).toEqual([{ name: '1'.repeat(64), size: 1 }]);
    await a.close();
    await c.close();
  });

  it('pages through listings longer than one S3 page (1000 keys)', async () => {
    const b = backendAt(`page/${randomUUID()}`);
    const names = Array.from({ length: 1105 }, (_, i) => i.toString(16).padStart(64, '0'));
    for (let i = 0; i < names.length; i += 64) {
      await Promise.all(names.slice(i, i + 64).map((n) => b.put('index', n, Buffer.from('i'))));
    }
    const listed = await b.list('index');
    expect(listed.length).toBe(1105);
    expect(listed.map((f) => f.name)).toEqual([...names].sort());
    await b.close();
  }, 120_000);
});

describe('S3Backend errors name the bucket and the endpoint', () => {
  async function message(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
    try {
      await p;
    } catch (e) {
      return { code: (e as { code?: string }).code, message: (e as Error).message };
    }
    throw new Error('expected a failure');
  }

  it('missing bucket', async () => {
    const b = new S3Backend({ bucket: 'no-such-bucket', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const ops = [() => b.get('config', 'config'), () => b.stat('config', 'config'), () => b.put('keys', 'k1', Buffer.from('x')), () => b.list('snapshots')];
    for (const op of ops) {
      const m = await message(op());
      expect(m.code).toBe('E_REPO_BACKEND');
      expect(m.message).toContain('bucket "no-such-bucket" does not exist');
      expect(m.message).toContain(s3.endpoint);
    }
    await b.close();
  });

  it('wrong credentials are access denied, not retried', async () => {
    const proxy = await startFaultProxy(s3.endpoint);
    const b = new S3Backend({ bucket: s3.bucket, endpoint: proxy.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'WRONG', secretAccessKey: 'WRONG' } });
    const m = await message(b.get('config', 'config'));
    expect(m.code).toBe('E_REPO_BACKEND');
    expect(m.message).toMatch(/access denied to s3:\/\/coffer at endpoint http:\/\/127\.0\.0\.1:\d+ \(InvalidAccessKeyId\)/);
    expect(proxy.requests).toHaveLength(1);
    await b.close();
    await proxy.close();
  });

  it('an endpoint nobody listens on', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const b = openBackend(`s3://coffer/x?endpoint=http://127.0.0.1:${port}`, { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }, { retry: { maxAttempts: 2, baseDelayMs: 1 } });
    const m = await message(b.get('config', 'config'));
    expect(m.message).toBe(`cannot reach S3 endpoint http://127.0.0.1:${port} for s3://coffer/x (ECONNREFUSED) (after 2 attempts): check COFFER_S3_ENDPOINT or ?endpoint=`);
    await b.close?.();
  });

  it('an endpoint that is not S3', async () => {
    const web = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html><body>hello</body></html>');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const ep = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    const b = openBackend(`s3://coffer/x?endpoint=${ep}`, { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }, { retry: { maxAttempts: 1 } });
    const m = await message(b.list('snapshots'));
    expect(m.code).toBe('E_REPO_BACKEND');
    expect(m.message).toContain(`unexpected response from endpoint ${ep} for list snapshots in s3://coffer/x — is it an S3 endpoint?`);
    await b.close?.();
    await new Promise<void>((r) => web.close(() => r()));
  });
});
