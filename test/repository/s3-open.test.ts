import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBackend } from '../../repository/backend/fs.ts';
import { openBackend, parseS3Url, profileRepositoryUrl } from '../../repository/backend/open.ts';

function urlError(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  throw new Error('expected E_REPO_URL');
}

describe('openBackend: filesystem', () => {
  it.each([
    ['file:///var/backups/repo', '/var/backups/repo'],
    ['file://localhost/var/backups/repo', '/var/backups/repo'],
    ['file:///with%20space/r', '/with space/r'],
    ['/abs/repo', '/abs/repo'],
    ['rel/repo', '/work/here/rel/repo'],
    ['./repo', '/work/here/repo'],
    ['../up', '/work/up'],
  ])('%s → FileBackend(%s)', (url, root) => {
    const b = openBackend(url, {}, { cwd: '/work/here' });
    expect(b).toBeInstanceOf(FileBackend);
    expect((b as FileBackend).root).toBe(root);
    expect(b.location).toBe(`file://${root}`);
  });

  it('a file URL with a host is refused', () => {
    const e = urlError(() => openBackend('file://server/share', {}));
    expect(e.code).toBe('E_REPO_URL');
    expect(e.message).toContain('file URLs must be absolute');
  });

  it('the filesystem backend it returns works', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'open-fs-'));
    try {
      const b = openBackend(`file://${dir}`, {});
      await b.put('snapshots', 'abc', Buffer.from('x'));
      expect(await b.list('snapshots')).toEqual([{ name: 'abc', size: 1 }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('openBackend: s3', () => {
  const creds = { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' };
  it.each([
    ['s3://bucket', {}, { bucket: 'bucket', prefix: '', endpoint: undefined, region: 'us-east-1', forcePathStyle: false }],
    ['s3://bucket/a/b/', { AWS_REGION: 'eu-west-3' }, { bucket: 'bucket', prefix: 'a/b', endpoint: undefined, region: 'eu-west-3', forcePathStyle: false }],
    ['s3://bucket/p', { AWS_DEFAULT_REGION: 'ap-south-1' }, { bucket: 'bucket', prefix: 'p', region: 'ap-south-1' }],
    [
      's3://bucket/p',
      { COFFER_S3_ENDPOINT: 'http://127.0.0.1:9000/' },
      { bucket: 'bucket', prefix: 'p', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true },
    ],
    ['s3://bucket/p', { COFFER_S3_ENDPOINT: 'https://minio.local', COFFER_S3_PATH_STYLE: 'false' }, { endpoint: 'https://minio.local', forcePathStyle: false }],
    ['s3://bucket/p', { AWS_ENDPOINT_URL_S3: 'http://ceph:7480', AWS_ENDPOINT_URL: 'http://other' }, { endpoint: 'http://ceph:7480', forcePathStyle: true }],
    ['s3://bucket/p', { AWS_ENDPOINT_URL: 'http://garage:3900' }, { endpoint: 'http://garage:3900' }],
    ['s3://bucket/p', { COFFER_S3_ENDPOINT: 'http://mine:1', AWS_ENDPOINT_URL_S3: 'http://sdk:2' }, { endpoint: 'http://mine:1' }],
    [
      's3://bucket/p?endpoint=http://10.0.0.1:9000&region=garage&pathStyle=true',
      { COFFER_S3_ENDPOINT: 'http://ignored:1', AWS_REGION: 'ignored' },
      { endpoint: 'http://10.0.0.1:9000', region: 'garage', forcePathStyle: true },
    ],
    ['s3:https://minio.example.com:9000/bkt/deep/prefix', {}, { bucket: 'bkt', prefix: 'deep/prefix', endpoint: 'https://minio.example.com:9000', forcePathStyle: true }],
    ['s3:s3.amazonaws.com/bkt/x', {}, { bucket: 'bkt', prefix: 'x', endpoint: undefined, forcePathStyle: false }],
    ['s3://b-1.example/x?objectLockDays=30&objectLockMode=compliance', {}, { bucket: 'b-1.example', objectLock: { mode: 'COMPLIANCE', days: 30 } }],
    ['s3://bucket/x?objectLockDays=7', {}, { objectLock: { mode: 'GOVERNANCE', days: 7 } }],
  ])('%s with %o', (url, env, expected) => {
    expect(parseS3Url(url, env)).toMatchObject(expected);
  });

  it('takes credentials from the environment, session token included, and a Profile Secret wins', () => {
    expect(parseS3Url('s3://bkt/p', { ...creds, AWS_SESSION_TOKEN: 'TOK' }).credentials).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'TOK' });
    expect(parseS3Url('s3://bkt/p', { AWS_ACCESS_KEY_ID: 'only-half' }).credentials).toBeUndefined();
    const b = openBackend('s3://bkt/pre', creds, { credentials: { accessKeyId: 'FROM', secretAccessKey: 'SECRET' } });
    expect(b.location).toBe('s3://bkt/pre');
    expect(b).not.toBeInstanceOf(FileBackend);
  });

  it.each([
    ['s3://user:pass@bucket/p', 'credentials in repository URL "s3://user:***@bucket/p" are not accepted'],
    ['s3://bucket:9000/p', 'has no port'],
    ['s3://b/p', 'not a valid bucket name'],
    ['s3://bucket/a/../b', '"." or ".."'],
    ['s3://bucket/p?foo=1', 'unknown parameter "foo"'],
    ['s3://bucket/p?endpoint=ftp://x', 'must be an http:// or https:// URL'],
    ['s3://bucket/p?endpoint=not a url', 'is not a valid URL'],
    ['s3://bucket/p?pathStyle=maybe', 'pathStyle must be true or false'],
    ['s3://bucket/p?objectLockDays=0', 'objectLockDays must be a positive integer'],
    ['s3://bucket/p?objectLockDays=3&objectLockMode=forever', 'objectLockMode must be GOVERNANCE or COMPLIANCE'],
    ['s3:https://host:9000/', 'names no bucket'],
  ])('%s is refused: %s', (url, fragment) => {
    const e = urlError(() => openBackend(url, creds));
    expect(e.code).toBe('E_REPO_URL');
    expect(e.message).toContain(fragment);
  });
});

describe('openBackend does not load the AWS SDK for a filesystem repository', () => {
  it('only an s3 backend in use imports it', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = `
      const { createRequire } = await import('node:module');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('@aws-sdk/client-s3'));
      const { openBackend } = await import('./repository/backend/open.ts');
      openBackend('/tmp/x', {});
      const b = openBackend('s3://bucket/p', { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', COFFER_S3_ENDPOINT: 'http://127.0.0.1:9' }, { retry: { maxAttempts: 1 } });
      const before = loaded();
      await b.list('snapshots').catch(() => undefined);
      const after = loaded();
      await b.close();
      console.log(JSON.stringify({ before, after }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ before: false, after: true });
  });
});

describe('openBackend: unsupported schemes', () => {
  it.each([
    ['ssh://backup@host/srv/repo', 'unsupported repository URL scheme "ssh:"', 'SSH/SFTP repositories are not supported'],
    ['sftp:backup@host:/srv/repo', 'unsupported repository URL scheme "sftp:"', 'SSH/SFTP'],
    ['rest:http://host:8000/', 'unsupported repository URL scheme "rest:"', 'use a path, file:///abs/path, or s3://bucket/prefix'],
    ['gs://bucket/p', 'unsupported repository URL scheme "gs:"', 's3://bucket/prefix'],
    ['azure:container:/p', 'unsupported repository URL scheme "azure:"', 's3://bucket/prefix'],
    ['https://minio:9000/bucket', 'unsupported repository URL scheme "https:"', 's3://BUCKET/PREFIX?endpoint=https://minio:9000'],
    ['  ', 'empty repository URL', 'use a path'],
  ])('%s', (url, a, b) => {
    const e = urlError(() => openBackend(url, {}));
    expect(e.code).toBe('E_REPO_URL');
    expect(e.message).toContain(a);
    expect(e.message).toContain(b);
  });

  it('a password in a refused URL is not echoed', () => {
    expect(urlError(() => openBackend('ssh://root:hunter2@host/x', {})).message).not.toContain('hunter2');
  });
});

describe('profileRepositoryUrl', () => {
  it.each([
    [{ s3: { bucket: 'backups' } }, 's3://backups'],
    [{ s3: { bucket: 'backups', prefix: 'prod/eu/' } }, 's3://backups/prod/eu'],
    [
      { s3: { bucket: 'backups', prefix: 'c1', endpoint: 'http://minio.coffer:9000', region: 'eu-1', forcePathStyle: true, insecureSkipTLSVerify: true }, immutability: { days: 30 } },
      's3://backups/c1?endpoint=http%3A%2F%2Fminio.coffer%3A9000&region=eu-1&pathStyle=true&insecureSkipTLSVerify=true&objectLockDays=30&objectLockMode=COMPLIANCE',
    ],
    [{ filesystem: { path: '/mnt/backups/repo one' } }, 'file:///mnt/backups/repo%20one'],
  ])('%o → %s', (spec, url) => {
    expect(profileRepositoryUrl(spec)).toBe(url);
  });

  it('round-trips through openBackend/parseS3Url', () => {
    const spec = { s3: { bucket: 'backups', prefix: 'c1/x', endpoint: 'https://minio:9000', region: 'eu-1', forcePathStyle: false, insecureSkipTLSVerify: true }, immutability: { days: 7 } };
    expect(parseS3Url(profileRepositoryUrl(spec), {})).toMatchObject({
      bucket: 'backups',
      prefix: 'c1/x',
      endpoint: 'https://minio:9000',
      region: 'eu-1',
      forcePathStyle: false,
      insecureSkipTLSVerify: true,
      objectLock: { mode: 'COMPLIANCE', days: 7 },
    });
    const fsUrl = profileRepositoryUrl({ filesystem: { path: '/mnt/backups/repo one' } });
    expect((openBackend(fsUrl, {}) as FileBackend).root).toBe('/mnt/backups/repo one');
  });
});
