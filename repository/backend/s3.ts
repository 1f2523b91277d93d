/**
 * A repository in an S3 bucket (AWS S3 or any S3-compatible store: MinIO,
 * Ceph RGW, R2, Wasabi, s3rver in tests), laid out like the filesystem
 * backend under an optional key prefix:
 *
 *   PREFIX/config  PREFIX/keys/ID  PREFIX/data/AB/ABCD…  PREFIX/index/ID
 *   PREFIX/snapshots/ID  PREFIX/locks/ID
 *
 * Objects are immutable, already encrypted blobs, so the backend is simple:
 * a single PUT (atomic on S3) or, above `multipartThreshold`, an explicit
 * multipart upload whose parts are retried one by one and which only becomes
 * visible on CompleteMultipartUpload; ranged GETs for pack reads; marker-paged
 * listing; deletes that ignore missing objects. Every request goes through
 * `retry()` (backoff + full jitter on throttling, 5xx, timeouts, resets); the
 * SDK's own retries are off so there is one policy and one progress hook.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  type ObjectLockMode,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type RetryOptions, describeFailure, retry } from './retry.ts';
import { type Backend, BackendError, type FileInfo, type FileType } from './types.ts';

const TYPES: readonly FileType[] = ['config', 'keys', 'data', 'index', 'snapshots', 'locks'];
const NAME_RE = /^[A-Za-z0-9._-]+$/;
const MiB = 1024 * 1024;
/** putIfAbsent: a claim older than this is a dead writer's (a live one finishes in a few requests). */
const CLAIM_TTL_MS = 60_000;
const CLAIM_ATTEMPTS = 12;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3BackendOptions {
  bucket: string;
  /** Key prefix inside the bucket (no leading/trailing slash needed); '' for the bucket root. */
  prefix?: string;
  /** Custom endpoint for S3-compatible stores (`http://127.0.0.1:9000`); unset for AWS. */
  endpoint?: string;
  /** Default `us-east-1`. */
  region?: string;
  /** `bucket` in the path instead of the host name; needed by most S3-compatible stores. */
  forcePathStyle?: boolean;
  /** Explicit credentials (from a profile Secret); unset → the SDK's default chain (env, ~/.aws, IRSA, IMDS). */
  credentials?: S3Credentials;
  /** Objects larger than this are uploaded in parts (default 32 MiB). */
  multipartThreshold?: number;
  /** Part size of multipart uploads (default 16 MiB; S3's minimum is 5 MiB). */
  partSize?: number;
  /** Parts of one object uploaded at the same time (default 4). */
  partConcurrency?: number;
  /** Abandon a connection attempt after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Fail a request whose socket sees no bytes for this long (default 30 s) — catches stalled servers. */
  idleTimeoutMs?: number;
  /** Retry policy (attempts, backoff, per-attempt deadline, `onRetry` hook). */
  retry?: RetryOptions;
  /**
   * S3 Object Lock: put every object except locks under retention for `days`
   * (the Profile's immutability). Needs a bucket created with Object Lock;
   * deletes then only add delete markers. Not testable against s3rver: the
   * request headers are verified in tests, the retention itself is not.
   */
  objectLock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  /** Injected clock for object-lock dates. */
  now?: () => number;
  /** Accept any TLS certificate from the endpoint (a Profile's insecureSkipTLSVerify; testing only). */
  insecureSkipTLSVerify?: boolean;
  /** Use this client instead of building one (tests, shared connection pools). */
  client?: S3Client;
}

interface AwsErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export class S3Backend implements Backend {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly region: string;
  private readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly retryOpts: RetryOptions;
  private readonly objectLock: S3BackendOptions['objectLock'];
  private readonly now: () => number;
  private bucketChecked = false;

  constructor(opts: S3BackendOptions) {
    if (!opts.bucket) throw new BackendError('E_REPO_URL', 's3 backend: a bucket name is required');
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.endpoint = opts.endpoint;
    this.region = opts.region ?? 'us-east-1';
    this.location = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    this.partSize = Math.max(5 * MiB, opts.partSize ?? 16 * MiB);
    this.multipartThreshold = Math.max(this.partSize, opts.multipartThreshold ?? 32 * MiB);
    this.partConcurrency = Math.max(1, opts.partConcurrency ?? 4);
    this.retryOpts = opts.retry ?? {};
    this.objectLock = opts.objectLock;
    this.now = opts.now ?? Date.now;
    this.ownsClient = !opts.client;
    this.client = opts.client ?? new S3Client(clientConfig(opts, this.region));
  }

  // ---- keys ---------------------------------------------------------------

  private key(type: FileType, name: string): string {
    if (!TYPES.includes(type)) throw new BackendError('E_REPO_BACKEND', `unknown file type "${type}"`);
    let rel: string;
    if (type === 'config') rel = 'config';
    else {
      if (!NAME_RE.test(name) || name === '.' || name === '..') {
        throw new BackendError('E_REPO_BACKEND', `invalid object name "${name}"`);
      }
      rel = type === 'data' ? `data/${name.slice(0, 2)}/${name}` : `${type}/${name}`;
    }
    return this.prefix ? `${this.prefix}/${rel}` : rel;
  }

  private where(): string {
    return this.endpoint ? `endpoint ${this.endpoint}` : `AWS S3 region ${this.region}`;
  }

  /** Turn an SDK/network failure into a BackendError that names the bucket, endpoint and object. */
  private fail(e: unknown, what: string): BackendError {
    if (e instanceof BackendError) return e;
    const err = (e ?? {}) as AwsErrorShape;
    const name = err.Code ?? err.name ?? '';
    const status = err.$metadata?.httpStatusCode;
    const attempts = (e as { attempts?: number }).attempts;
    const after = attempts ? ` (after ${attempts} attempts)` : '';
    let out: BackendError;
    if (name === 'NoSuchKey' || (status === 404 && name === 'NotFound')) {
      out = new BackendError('E_REPO_NOT_FOUND', `${this.location}: ${what} does not exist`);
    } else if (name === 'NoSuchBucket') {
      out = new BackendError('E_REPO_BACKEND', `bucket "${this.bucket}" does not exist at ${this.where()} (create it first, or check the bucket name and endpoint)`);
    } else if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403) {
      out = new BackendError(
        'E_REPO_BACKEND',
        `access denied to ${this.location} at ${this.where()} (${name || 'HTTP 403'}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile's credentials Secret`,
      );
    } else if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
      out = new BackendError('E_REPO_BACKEND', `bucket "${this.bucket}" is not in region ${this.region} at ${this.where()} (${name || 'HTTP 301'}): set AWS_REGION or ?region=`);
    } else if (name === 'CredentialsProviderError') {
      out = new BackendError(
        'E_REPO_BACKEND',
        `no S3 credentials for ${this.location}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run with an IAM role)`,
      );
    } else if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(err.code ?? '')) {
      out = new BackendError('E_REPO_BACKEND', `cannot reach S3 ${this.where()} for ${this.location} (${err.code})${after}: check COFFER_S3_ENDPOINT or ?endpoint=`);
    } else if (/Deserialization error|char '<'|non-whitespace before first tag|Unexpected end/i.test(err.message ?? '')) {
      out = new BackendError('E_REPO_BACKEND', `unexpected response from ${this.where()} for ${what} in ${this.location} — is it an S3 endpoint? (${describeFailure(e)})`);
    } else {
      out = new BackendError('E_REPO_BACKEND', `${this.location}: ${what} failed at ${this.where()}: ${describeFailure(e)}${err.message && status !== undefined ? ` — ${err.message.split('\n')[0]}` : ''}${after}`);
    }
    (out as { cause?: unknown }).cause = e;
    return out;
  }

  private run<T>(what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return retry((_attempt, signal) => op(signal), { ...this.retryOpts, label: `${what} (${this.location})` });
  }

  // ---- Backend ------------------------------------------------------------

  async get(type: FileType, name: string): Promise<Buffer> {
    const Key = this.key(type, name);
    try {
      return await this.run(`get ${type}/${name}`, async (abortSignal) => {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }), { abortSignal });
        return toBuffer(await out.Body!.transformToByteArray());
      });
    } catch (e) {
      throw this.fail(e, `${type}/${name}`);
    }
  }

  async getRange(type: FileType, name: string, offset: number, length: number): Promise<Buffer> {
    const Key = this.key(type, name);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new BackendError('E_REPO_BACKEND', `${this.location}: ${type}/${name}: invalid range ${offset}+${length}`);
    }
    if (length === 0) {
      if (!(await this.stat(type, name))) throw new BackendError('E_REPO_NOT_FOUND', `${this.location}: ${type}/${name} does not exist`);
      return Buffer.alloc(0);
    }
    try {
      return await this.run(`get ${type}/${name} [${offset}+${length}]`, async (abortSignal) => {
        const out = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key, Range: `bytes=${offset}-${offset + length - 1}` }),
          { abortSignal },
        );
        const buf = toBuffer(await out.Body!.transformToByteArray());
        if (buf.length !== length) {
          // Lenient with servers that send more than asked: the whole object with 200 (Range
          // ignored), or a longer range starting at our offset (s3rver answers bytes=0-0 so).
          const start = /^bytes (\d+)-/.exec(out.ContentRange ?? '')?.[1];
          if (!out.ContentRange && buf.length >= offset + length) return buf.subarray(offset, offset + length);
          if (start !== undefined && Number(start) === offset && buf.length > length) return buf.subarray(0, length);
          throw new BackendError('E_REPO_BACKEND', `${this.location}: ${type}/${name}: short read at ${offset}+${length} (got ${buf.length})`);
        }
        return buf;
      });
    } catch (e) {
      if ((e as AwsErrorShape).name === 'InvalidRange') {
        throw new BackendError('E_REPO_BACKEND', `${this.location}: ${type}/${name}: short read at ${offset}+${length} (range beyond the end)`);
      }
      throw this.fail(e, `${type}/${name}`);
    }
  }

  async put(type: FileType, name: string, data: Buffer): Promise<void> {
    const Key = this.key(type, name);
    const lock = this.lockParams(type);
    try {
      if (data.length <= this.multipartThreshold) {
        await this.run(`put ${type}/${name}`, (abortSignal) =>
          this.client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key,
              Body: data,
              ContentLength: data.length,
              ContentType: 'application/octet-stream',
              ...lock,
              ...(lock ? { ContentMD5: md5(data) } : {}),
            }),
            { abortSignal },
          ),
        );
      } else {
        await this.putMultipart(type, name, Key, data, lock);
      }
    } catch (e) {
      throw this.fail(e, `put ${type}/${name}`);
    }
  }

  /**
   * Create-if-absent without compare-and-swap. S3 (since 2020) and s3rver list and read after write consistently,
   * but `If-None-Match: *` on PutObject is honoured by AWS (2024), MinIO and R2 and ignored by s3rver and older
   * stores, so it cannot be the only guard. Each writer puts a claim `PREFIX/claims/TYPE-NAME/TIME-RANDOM`, lists
   * the claims of that name, and proceeds only when its own is the only live one (older than CLAIM_TTL_MS: a dead
   * writer's). Two writers cannot both proceed: whichever claimed second lists after the first claim was written
   * and sees it. Both may step back (each saw the other): they remove their claims and retry after random jitter.
   * The winner checks the object is still absent and puts it with `If-None-Match: *` (a store that honours it
   * also refuses a writer that skipped this scheme), then removes its claim. False when the object exists.
   */
  async putIfAbsent(type: FileType, name: string, data: Buffer): Promise<boolean> {
    const Key = this.key(type, name);
    const dir = `${this.prefix ? `${this.prefix}/` : ''}claims/${type}-${name}/`;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      if (await this.stat(type, name)) return false;
      const mine = `${dir}${String(this.now()).padStart(15, '0')}-${randomBytes(8).toString('hex')}`;
      const claimKey = (k: string) => this.run(`claim ${type}/${name}`, (abortSignal) => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: k, Body: Buffer.alloc(0), ContentLength: 0 }), { abortSignal }));
      const unclaim = (k: string) => this.run(`unclaim ${type}/${name}`, (abortSignal) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: k }), { abortSignal })).catch(() => undefined);
      try {
        await claimKey(mine);
        const page = await this.run(`list claims ${type}/${name}`, (abortSignal) => this.client.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: dir, MaxKeys: 1000 }), { abortSignal }));
        const live = (page.Contents ?? []).map((o) => o.Key!).filter((k) => k === mine || this.now() - Number(k.slice(dir.length, dir.length + 15)) < CLAIM_TTL_MS);
        if (live.length === 1 && live[0] === mine) {
          if (await this.stat(type, name)) return false;
          try {
            await this.run(`put ${type}/${name}`, (abortSignal) =>
              this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: data, ContentLength: data.length, ContentType: 'application/octet-stream', IfNoneMatch: '*', ...this.lockParams(type) }), { abortSignal }),
            );
          } catch (e) {
            const err = e as AwsErrorShape;
            if (err.name === 'PreconditionFailed' || err.$metadata?.httpStatusCode === 412) return false;
            throw e;
          }
          return true;
        }
      } catch (e) {
        throw this.fail(e, `put ${type}/${name} if absent`);
      } finally {
        await unclaim(mine);
      }
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 200 * (attempt + 1)));
    }
    throw new BackendError('E_REPO_BACKEND', `${this.location}: ${type}/${name}: other writers kept claiming it (${CLAIM_ATTEMPTS} attempts); try again`);
  }

  private lockParams(type: FileType): { ObjectLockMode: ObjectLockMode; ObjectLockRetainUntilDate: Date } | undefined {
    if (!this.objectLock || type === 'locks' || this.objectLock.days <= 0) return undefined;
    return {
      ObjectLockMode: this.objectLock.mode,
      ObjectLockRetainUntilDate: new Date(this.now() + this.objectLock.days * 86_400_000),
    };
  }

  /**
   * Parts are retried individually, so a reset at 90% of a 64 MiB pack costs
   * one part, not the pack. Nothing is visible until Complete; on failure the
   * upload is aborted so no orphaned parts are billed.
   */
  private async putMultipart(
    type: FileType,
    name: string,
    Key: string,
    data: Buffer,
    lock: ReturnType<S3Backend['lockParams']>,
  ): Promise<void> {
    const created = await this.run(`start multipart ${type}/${name}`, (abortSignal) =>
      this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, ContentType: 'application/octet-stream', ...lock }),
        { abortSignal },
      ),
    );
    const UploadId = created.UploadId!;
    const count = Math.ceil(data.length / this.partSize);
    const parts: { ETag: string; PartNumber: number }[] = new Array(count);
    try {
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < count; i = next++) {
          const body = data.subarray(i * this.partSize, Math.min(data.length, (i + 1) * this.partSize));
          const PartNumber = i + 1;
          const out = await this.run(`put ${type}/${name} part ${PartNumber}/${count}`, (abortSignal) =>
            this.client.send(
              new UploadPartCommand({
                Bucket: this.bucket,
                Key,
                UploadId,
                PartNumber,
                Body: body,
                ContentLength: body.length,
                ...(lock ? { ContentMD5: md5(body) } : {}),
              }),
              { abortSignal },
            ),
          );
          parts[i] = { ETag: out.ETag!, PartNumber };
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.partConcurrency, count) }, worker));
      await this.run(`complete multipart ${type}/${name}`, async (abortSignal) => {
        try {
          return await this.client.send(
            new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
            { abortSignal },
          );
        } catch (e) {
          // A Complete whose response was lost is retried; the server then no longer knows the upload.
          if ((e as AwsErrorShape).name === 'NoSuchUpload' && (await this.stat(type, name))?.size === data.length) return undefined;
          throw e;
        }
      });
    } catch (e) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => undefined);
      throw e;
    }
  }

  async delete(type: FileType, name: string): Promise<void> {
    const Key = this.key(type, name);
    try {
      await this.run(`delete ${type}/${name}`, (abortSignal) =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }), { abortSignal }),
      );
    } catch (e) {
      const name_ = (e as AwsErrorShape).name;
      if (name_ === 'NoSuchKey' || name_ === 'NotFound') return;
      throw this.fail(e, `delete ${type}/${name}`);
    }
  }

  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const s = await this.stat('config', 'config');
      return s ? [s] : [];
    }
    this.key(type, 'x'); // validates the type
    const dir = this.prefix ? `${this.prefix}/${type}/` : `${type}/`;
    const out: FileInfo[] = [];
    // ListObjects (v1) with markers: supported by every S3-compatible store, and
    // no opaque continuation tokens (s3rver cannot mint them on OpenSSL 3).
    let marker: string | undefined;
    try {
      for (;;) {
        const page = await this.run(`list ${type}`, (abortSignal) =>
          this.client.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: dir, Marker: marker, MaxKeys: 1000 }), { abortSignal }),
        );
        if (page.Name === undefined && page.IsTruncated === undefined) {
          // A 200 that is not a ListBucketResult (a web server, a proxy login page): never read it as "empty".
          throw Object.assign(new Error('Deserialization error: the listing response is not a ListBucketResult'), { name: 'NotS3' });
        }
        const contents = page.Contents ?? [];
        for (const obj of contents) {
          const rel = obj.Key!.slice(dir.length);
          const parts = rel.split('/');
          const name = parts[parts.length - 1]!;
          if (!NAME_RE.test(name)) continue;
          if (type === 'data' ? parts.length !== 2 || !/^[0-9a-f]{2}$/.test(parts[0]!) : parts.length !== 1) continue;
          out.push({ name, size: obj.Size ?? 0 });
        }
        if (!page.IsTruncated || contents.length === 0) break;
        marker = page.NextMarker ?? contents[contents.length - 1]!.Key;
      }
    } catch (e) {
      throw this.fail(e, `list ${type}`);
    }
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  async stat(type: FileType, name: string): Promise<FileInfo | undefined> {
    const Key = this.key(type, name);
    try {
      const head = await this.run(`stat ${type}/${name}`, (abortSignal) =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }), { abortSignal }),
      );
      return { name: type === 'config' ? 'config' : name, size: head.ContentLength ?? 0 };
    } catch (e) {
      const err = e as AwsErrorShape;
      if (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) {
        // HEAD responses carry no error body, so a missing bucket also looks like 404: tell them apart once.
        await this.checkBucket();
        return undefined;
      }
      throw this.fail(e, `stat ${type}/${name}`);
    }
  }

  private async checkBucket(): Promise<void> {
    if (this.bucketChecked) return;
    try {
      await this.run('head bucket', (abortSignal) => this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal }));
      this.bucketChecked = true;
    } catch (e) {
      const err = e as AwsErrorShape;
      if (err.name === 'NotFound' || err.name === 'NoSuchBucket' || err.$metadata?.httpStatusCode === 404) {
        throw this.fail(Object.assign(new Error('NoSuchBucket'), { name: 'NoSuchBucket' }), 'bucket');
      }
      throw this.fail(e, 'bucket');
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}

function clientConfig(opts: S3BackendOptions, region: string): S3ClientConfig {
  return {
    region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle ?? false,
    credentials: opts.credentials,
    followRegionRedirects: true,
    // One retry policy (ours), with a progress hook; the SDK would otherwise retry 3× underneath it.
    maxAttempts: 1,
    // Objects are AEAD-authenticated on read; the SDK's default CRC trailers
    // (since 3.729) break many S3-compatible stores, so only send them when required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: opts.connectTimeoutMs ?? 10_000,
      socketTimeout: opts.idleTimeoutMs ?? 30_000,
      httpAgent: { keepAlive: true, maxSockets: 64 },
      httpsAgent: { keepAlive: true, maxSockets: 64, ...(opts.insecureSkipTLSVerify ? { rejectUnauthorized: false } : {}) },
    },
  };
}

function toBuffer(a: Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}
