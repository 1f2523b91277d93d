import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AttemptTimeoutError, type RetryEvent, backoffDelay, isRetryable, retry, withRetry } from '../../repository/backend/retry.ts';
import { S3Backend, type S3BackendOptions } from '../../repository/backend/s3.ts';
import { BackendError } from '../../repository/backend/types.ts';
import { ACCESS_DENIED, type FaultProxy, INTERNAL_ERROR, SLOW_DOWN, TOO_MANY, startFaultProxy } from './s3-fault-proxy.ts';
import { type S3TestServer, startS3Server } from './s3-server.ts';

const MiB = 1024 * 1024;

describe('retry policy (pure)', () => {
  it.each([
    [{ $metadata: { httpStatusCode: 500 }, name: 'InternalError' }, true],
    [{ $metadata: { httpStatusCode: 502 } }, true],
    [{ $metadata: { httpStatusCode: 503 }, name: 'SlowDown' }, true],
    [{ $metadata: { httpStatusCode: 504 } }, true],
    [{ $metadata: { httpStatusCode: 429 } }, true],
    [{ $metadata: { httpStatusCode: 408 } }, true],
    [{ $metadata: { httpStatusCode: 400 }, name: 'BadRequest' }, false],
    [{ $metadata: { httpStatusCode: 403 }, name: 'AccessDenied' }, false],
    [{ $metadata: { httpStatusCode: 404 }, name: 'NoSuchKey' }, false],
    [{ $metadata: { httpStatusCode: 416 }, name: 'InvalidRange' }, false],
    [{ name: 'SlowDown' }, true],
    [{ name: 'TimeoutError' }, true],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), true],
    [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), true],
    [Object.assign(new Error('x'), { code: 'EPIPE' }), true],
    [Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), true],
    [Object.assign(new Error('getaddrinfo ENOTFOUND nope'), { code: 'ENOTFOUND' }), false],
    [new AttemptTimeoutError(10), true],
    [new BackendError('E_REPO_NOT_FOUND', 'gone'), false],
    [new Error('Deserialization error: to see the raw response…'), false],
    [new TypeError('x is not a function'), false],
    [undefined, false],
  ])('isRetryable(%o) = %s', (err, expected) => {
    expect(isRetryable(err)).toBe(expected);
  });

  it('backs off exponentially with full jitter under a cap', () => {
    const opts = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, opts, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect([1, 2, 3].map((a) => backoffDelay(a, opts, () => 0))).toEqual([0, 0, 0]);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(200);
  });

  it('retries retryable failures with the computed delays and reports each one', async () => {
    const slept: number[] = [];
    const events: RetryEvent[] = [];
    let calls = 0;
    const out = await retry(
      async (attempt) => {
        calls++;
        if (attempt < 4) throw Object.assign(new Error('slow'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
        return 'ok';
      },
      { baseDelayMs: 100, maxDelayMs: 250, sleep: async (ms) => void slept.push(ms), random: () => 0.5, onRetry: (e) => events.push(e), label: 'put data/x' },
    );
    expect(out).toBe('ok');
    expect(calls).toBe(4);
    expect(slept).toEqual([50, 100, 125]);
    expect(events.map((e) => [e.op, e.attempt, e.maxAttempts, e.reason])).toEqual([
      ['put data/x', 1, 6, 'HTTP 503 SlowDown'],
      ['put data/x', 2, 6, 'HTTP 503 SlowDown'],
      ['put data/x', 3, 6, 'HTTP 503 SlowDown'],
    ]);
  });

  it('gives up after maxAttempts, annotating the error, and never retries a 4xx', async () => {
    let calls = 0;
    const err = await retry(
      async () => {
        calls++;
        throw Object.assign(new Error('boom'), { $metadata: { httpStatusCode: 500 } });
      },
      { maxAttempts: 3, sleep: async () => {} },
    ).catch((e: unknown) => e as Error & { attempts?: number });
    expect(calls).toBe(3);
    expect(err.attempts).toBe(3);

    calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw Object.assign(new Error('denied'), { $metadata: { httpStatusCode: 403 } });
        },
        { sleep: async () => {} },
      ),
    ).rejects.toThrow('denied');
    expect(calls).toBe(1);
  });

  it('abandons an attempt at its deadline, aborting its signal, and retries', async () => {
    const aborted: unknown[] = [];
    const out = await retry(
      (attempt, signal) =>
        attempt === 1
          ? new Promise<string>((_, reject) => {
              signal.addEventListener('abort', () => {
                aborted.push(signal.reason);
                reject(new Error('aborted by signal'));
              });
            })
          : Promise.resolve('second'),
      { attemptTimeoutMs: 20, sleep: async () => {} },
    );
    expect(out).toBe('second');
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toBeInstanceOf(AttemptTimeoutError);
  });
});

describe('S3 faults injected by a proxy in front of s3rver', () => {
  let s3: S3TestServer;
  let proxy: FaultProxy;
  let events: RetryEvent[];

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await startFaultProxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.close();
  });
  beforeEach(() => {
    proxy.clear();
    events = [];
  });

  function backend(extra: Partial<S3BackendOptions> = {}): S3Backend {
    return new S3Backend({
      bucket: s3.bucket,
      prefix: `faults/${randomUUID()}`,
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      partSize: 5 * MiB,
      multipartThreshold: 6 * MiB,
      retry: { baseDelayMs: 5, maxDelayMs: 20, onRetry: (e) => events.push(e) },
      ...extra,
    });
  }
  const id = (c: string) => c.repeat(64);
  const faulted = () => proxy.requests.filter((r) => r.fault);

  it('503 SlowDown on PUT is retried and the object lands intact', async () => {
    const b = backend();
    const data = randomBytes(300_000);
    proxy.inject({ method: 'PUT', fault: SLOW_DOWN, times: 2 });
    await b.put('data', id('a'), data);
    expect(faulted()).toHaveLength(2);
    expect(events.map((e) => e.reason)).toEqual(['HTTP 503 SlowDown', 'HTTP 503 SlowDown']);
    expect((await b.get('data', id('a'))).equals(data)).toBe(true);
    await b.close();
  });

  it('500 InternalError on GET and 429 on LIST are retried', async () => {
    const b = backend();
    await b.put('index', id('b'), Buffer.from('index-bytes'));
    proxy.inject({ method: 'GET', url: /\/index\//, fault: INTERNAL_ERROR });
    proxy.inject({ method: 'GET', url: /[?&]prefix=/, fault: TOO_MANY });
    expect((await b.get('index', id('b'))).toString()).toBe('index-bytes');
    expect(await b.list('index')).toEqual([{ name: id('b'), size: 11 }]);
    expect(faulted()).toHaveLength(2);
    expect(events.map((e) => e.reason).sort()).toEqual(['HTTP 429 TooManyRequests', 'HTTP 500 InternalError']);
    await b.close();
  });

  it('a stalled server times out and the request is retried', async () => {
    // The only test with a short idle timeout; under load a slow answer may time out too, so counts are lower bounds.
    const b = backend({ idleTimeoutMs: 1000 });
    const data = randomBytes(50_000);
    await b.put('data', id('c'), data);
    proxy.inject({ method: 'GET', fault: 'stall' });
    const got = await b.getRange('data', id('c'), 1000, 2000);
    expect(got.equals(data.subarray(1000, 3000))).toBe(true);
    expect(faulted().map((r) => r.fault)).toEqual(['stall']);
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events[0]!.reason).toMatch(/timeout|TimeoutError/i);
    expect(proxy.requests.filter((r) => r.method === 'GET').length).toBe(events.length + 1);
    await b.close();
  });

  it('a connection reset before the response, and one half way through a body, are retried', async () => {
    const b = backend();
    const data = randomBytes(2 * MiB);
    proxy.inject({ method: 'PUT', fault: 'reset' });
    await b.put('data', id('d'), data);
    proxy.inject({ method: 'GET', fault: 'reset-mid-body' });
    const back = await b.get('data', id('d'));
    expect(back.equals(data)).toBe(true);
    expect(faulted().map((r) => r.fault)).toEqual(['reset', 'reset-mid-body']);
    expect(events).toHaveLength(2);
    await b.close();
  });

  it('a failed multipart part is retried alone; the other parts are sent once', async () => {
    const b = backend();
    const data = randomBytes(16 * MiB);
    proxy.inject({ method: 'PUT', url: /partNumber=2(&|$)/, fault: SLOW_DOWN });
    proxy.inject({ method: 'PUT', url: /partNumber=3(&|$)/, fault: 'reset' });
    await b.put('data', id('e'), data);
    const partCounts = [1, 2, 3, 4].map((n) => proxy.requests.filter((r) => r.method === 'PUT' && new RegExp(`partNumber=${n}(&|$)`).test(r.url)).length);
    expect(partCounts).toEqual([1, 2, 2, 1]);
    expect(events.map((e) => e.op).sort()).toEqual([
      `put data/${id('e')} part 2/4 (${b.location})`,
      `put data/${id('e')} part 3/4 (${b.location})`,
    ]);
    expect((await b.get('data', id('e'))).equals(data)).toBe(true);
    await b.close();
  });

  it('a multipart upload that keeps failing is aborted and leaves no object', async () => {
    const b = backend({ retry: { maxAttempts: 2, baseDelayMs: 1 } });
    proxy.inject({ method: 'PUT', url: /partNumber=2(&|$)/, fault: INTERNAL_ERROR, times: Infinity });
    await expect(b.put('data', id('f'), randomBytes(12 * MiB))).rejects.toThrow(/put data\/f+ failed at endpoint .*HTTP 500 InternalError.*after 2 attempts/);
    expect(proxy.requests.some((r) => r.method === 'DELETE' && /uploadId=/.test(r.url))).toBe(true);
    expect(await b.stat('data', id('f'))).toBeUndefined();
    await b.close();
  });

  it('403 and 404 are not retried', async () => {
    const b = backend();
    await b.put('keys', id('1'), Buffer.from('k'));
    proxy.clear();
    proxy.inject({ method: 'GET', fault: ACCESS_DENIED });
    await expect(b.get('keys', id('1'))).rejects.toMatchObject({ code: 'E_REPO_BACKEND', message: expect.stringContaining('access denied') });
    await expect(b.get('keys', id('2'))).rejects.toMatchObject({ code: 'E_REPO_NOT_FOUND' });
    expect(proxy.requests.filter((r) => r.method === 'GET')).toHaveLength(2);
    expect(events).toEqual([]);
    await b.close();
  });

  it('gives up after the configured attempts with a message that says so', async () => {
    const b = backend({ retry: { maxAttempts: 3, baseDelayMs: 1, onRetry: (e) => events.push(e) } });
    proxy.inject({ method: 'HEAD', fault: SLOW_DOWN, times: Infinity });
    await expect(b.stat('snapshots', id('9'))).rejects.toThrow(/HTTP 503.*after 3 attempts/);
    expect(proxy.requests.filter((r) => r.method === 'HEAD')).toHaveLength(3);
    expect(events).toHaveLength(2);
    await b.close();
  });

  it('withRetry adds the same policy around any backend', async () => {
    const raw = backend({ retry: { maxAttempts: 1 } });
    const b = withRetry(raw, { baseDelayMs: 1, maxDelayMs: 5, onRetry: (e) => events.push(e) });
    proxy.inject({ method: 'PUT', fault: SLOW_DOWN });
    proxy.inject({ method: 'GET', fault: 'reset' });
    await b.put('snapshots', id('7'), Buffer.from('snapshot'));
    expect((await b.get('snapshots', id('7'))).toString()).toBe('snapshot');
    expect(events.map((e) => e.op)).toEqual([`put snapshots/${id('7')}`, `get snapshots/${id('7')}`]);
    await b.close?.();
  });
});
