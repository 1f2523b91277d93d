/**
 * Repository URL → Backend. The one place that knows which URL forms exist:
 *
 *   /abs/path, rel/path, file:///abs/path     filesystem (FileBackend)
 *   s3://BUCKET[/PREFIX][?endpoint=URL&region=R&pathStyle=true|false
 *                        &objectLockDays=N&objectLockMode=GOVERNANCE|COMPLIANCE
 *                        &insecureSkipTLSVerify=true]
 *   s3:https://HOST[:PORT]/BUCKET[/PREFIX]    restic's form, endpoint in the URL (path style)
 *
 * For s3, settings come from the URL query first, then the environment:
 * COFFER_S3_ENDPOINT (else the SDK's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL),
 * AWS_REGION (or AWS_DEFAULT_REGION), COFFER_S3_PATH_STYLE,
 * and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Without
 * credentials in `env` or `opts.credentials`, the AWS SDK's default chain is
 * used (shared config, AWS_PROFILE, IRSA web identity, instance metadata).
 * Path style defaults to on when an endpoint is given (MinIO, Ceph, s3rver)
 * and off for AWS itself.
 */
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FileBackend } from './fs.ts';
import type { RetryOptions } from './retry.ts';
import type { S3BackendOptions, S3Credentials } from './s3.ts';
import { type Backend, BackendError, type FileInfo, type FileType } from './types.ts';

export interface OpenBackendOptions {
  /** Base for relative filesystem paths (default `process.cwd()`). */
  cwd?: string;
  /** Credentials from a Profile's Secret; win over the environment. */
  credentials?: S3Credentials;
  /** Retry policy and progress hook for remote backends. */
  retry?: RetryOptions;
  /** Object Lock retention for S3 (a Profile's immutability); wins over the URL. */
  objectLock?: S3BackendOptions['objectLock'];
  /** Extra S3 settings (part size, timeouts, …) for tests and tuning. */
  s3?: Partial<Omit<S3BackendOptions, 'bucket' | 'prefix'>>;
}

const USAGE = 'use a path, file:///abs/path, or s3://bucket/prefix';
const S3_PARAMS = ['endpoint', 'region', 'pathStyle', 'objectLockDays', 'objectLockMode', 'insecureSkipTLSVerify'];

/** The parts of a Profile's spec (schemas/profile.schema.json) that say where the repository is. */
export interface ProfileLocation {
  s3?: { bucket: string; prefix?: string; region?: string; endpoint?: string; forcePathStyle?: boolean; insecureSkipTLSVerify?: boolean };
  filesystem?: { path: string };
  immutability?: { days: number };
}

/**
 * A Profile as one repository URL, e.g. for a mover Job's COFFER_REPOSITORY:
 * everything but the credentials (those travel as AWS_* variables from the
 * Profile's Secret). Immutability becomes S3 Object Lock in COMPLIANCE mode.
 */
export function profileRepositoryUrl(spec: ProfileLocation): string {
  if (spec.s3) {
    const { bucket, prefix, region, endpoint, forcePathStyle, insecureSkipTLSVerify } = spec.s3;
    const q = new URLSearchParams();
    if (endpoint) q.set('endpoint', endpoint);
    if (region) q.set('region', region);
    if (forcePathStyle !== undefined) q.set('pathStyle', String(forcePathStyle));
    if (insecureSkipTLSVerify) q.set('insecureSkipTLSVerify', 'true');
    if (spec.immutability?.days) {
      q.set('objectLockDays', String(spec.immutability.days));
      q.set('objectLockMode', 'COMPLIANCE');
    }
    const p = (prefix ?? '').replace(/^\/+|\/+$/g, '').split('/').filter(Boolean).map(encodeURIComponent).join('/');
    const qs = q.toString();
    return `s3://${bucket}${p ? `/${p}` : ''}${qs ? `?${qs}` : ''}`;
  }
  if (spec.filesystem) return pathToFileURL(spec.filesystem.path).href;
  throw new BackendError('E_REPO_URL', 'profile has neither s3 nor filesystem');
}

/** Parsed form of an s3 URL, exposed for `coffer repo` messages and tests. */
export function parseS3Url(url: string, env: NodeJS.ProcessEnv): Omit<S3BackendOptions, 'retry' | 'client' | 'now'> {
  let bucket: string;
  let prefix: string;
  let query: URLSearchParams;
  let endpoint: string | undefined;
  let urlPathStyle: boolean | undefined;
  // The URL parser would silently collapse "a/../b"; a prefix with dot segments is a mistake, say so.
  if (url.split(/[?#]/)[0]!.split('/').slice(3).some((s) => s === '..' || s === '.')) {
    throw new BackendError('E_REPO_URL', `"${url}": the prefix may not contain "." or ".." segments`);
  }
  if (url.startsWith('s3://')) {
    const u = safeUrl(url);
    bucket = decodeURIComponent(u.hostname || u.host);
    prefix = decodeURIComponent(u.pathname);
    query = u.searchParams;
    if (u.username || u.password) {
      throw new BackendError('E_REPO_URL', `credentials in repository URL "${redact(url)}" are not accepted: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or use a Profile Secret`);
    }
    if (u.port) throw new BackendError('E_REPO_URL', `"${url}": s3://BUCKET/PREFIX has no port; put the endpoint in ?endpoint=http://host:port or COFFER_S3_ENDPOINT`);
  } else {
    // restic form: s3:https://host:port/bucket/prefix or s3:host/bucket/prefix (https)
    const rest = url.slice('s3:'.length);
    const u = safeUrl(/^https?:\/\//.test(rest) ? rest : `https://${rest}`);
    const segs = u.pathname.split('/').filter(Boolean);
    if (!segs.length) throw new BackendError('E_REPO_URL', `"${url}" names no bucket: expected s3:https://HOST/BUCKET/PREFIX`);
    bucket = decodeURIComponent(segs[0]!);
    prefix = segs.slice(1).map(decodeURIComponent).join('/');
    query = u.searchParams;
    if (u.hostname !== 's3.amazonaws.com') {
      endpoint = `${u.protocol}//${u.host}`;
      urlPathStyle = true;
    }
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/.test(bucket)) {
    throw new BackendError('E_REPO_URL', `"${url}": "${bucket}" is not a valid bucket name (3–255 letters, digits, dots, hyphens)`);
  }
  prefix = prefix.replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((s) => s === '..' || s === '.')) {
    throw new BackendError('E_REPO_URL', `"${url}": the prefix may not contain "." or ".." segments`);
  }
  for (const key of query.keys()) {
    if (!S3_PARAMS.includes(key)) {
      throw new BackendError('E_REPO_URL', `"${url}": unknown parameter "${key}" (known: ${S3_PARAMS.join(', ')})`);
    }
  }
  const envEndpoint = env.COFFER_S3_ENDPOINT ? 'COFFER_S3_ENDPOINT' : env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : env.AWS_ENDPOINT_URL ? 'AWS_ENDPOINT_URL' : undefined;
  endpoint = query.get('endpoint') ?? endpoint ?? (envEndpoint ? env[envEndpoint] : undefined);
  if (endpoint !== undefined) {
    const e = safeUrl(endpoint, query.has('endpoint') ? 'the endpoint parameter' : envEndpoint);
    if (e.protocol !== 'http:' && e.protocol !== 'https:') {
      throw new BackendError('E_REPO_URL', `S3 endpoint "${endpoint}" must be an http:// or https:// URL`);
    }
    endpoint = endpoint.replace(/\/+$/, '');
  }
  const region = query.get('region') ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined) ?? 'us-east-1';
  const pathStyleRaw = query.get('pathStyle') ?? env.COFFER_S3_PATH_STYLE;
  const forcePathStyle = pathStyleRaw !== undefined && pathStyleRaw !== '' ? parseBool(pathStyleRaw, 'pathStyle') : (urlPathStyle ?? endpoint !== undefined);
  const out: Omit<S3BackendOptions, 'retry' | 'client' | 'now'> = { bucket, prefix, endpoint, region, forcePathStyle };
  const days = query.get('objectLockDays');
  if (days !== null) {
    const n = Number(days);
    if (!Number.isInteger(n) || n < 1) throw new BackendError('E_REPO_URL', `"${url}": objectLockDays must be a positive integer, got "${days}"`);
    const mode = (query.get('objectLockMode') ?? 'GOVERNANCE').toUpperCase();
    if (mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') throw new BackendError('E_REPO_URL', `"${url}": objectLockMode must be GOVERNANCE or COMPLIANCE`);
    out.objectLock = { mode, days: n };
  }
  const insecure = query.get('insecureSkipTLSVerify');
  if (insecure !== null && parseBool(insecure, 'insecureSkipTLSVerify')) out.insecureSkipTLSVerify = true;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    out.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  return out;
}

/**
 * Open the backend a repository URL names. Throws BackendError('E_REPO_URL')
 * for unsupported schemes (ssh, sftp, rest, gs, azure, …) and malformed URLs,
 * before any I/O.
 */
export function openBackend(url: string, env: NodeJS.ProcessEnv, opts: OpenBackendOptions = {}): Backend {
  const trimmed = url.trim();
  if (!trimmed) throw new BackendError('E_REPO_URL', `empty repository URL: ${USAGE}`);
  if (trimmed.startsWith('s3:')) {
    const parsed = parseS3Url(trimmed, env);
    return new LazyS3Backend({
      ...parsed,
      ...opts.s3,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      ...(opts.objectLock ? { objectLock: opts.objectLock } : {}),
      retry: opts.retry ?? opts.s3?.retry,
    });
  }
  if (trimmed.startsWith('file:')) {
    const u = safeUrl(trimmed);
    if (u.host && u.host !== 'localhost') {
      throw new BackendError('E_REPO_URL', `"${url}": file URLs must be absolute (file:///path); for a relative path drop the file: prefix`);
    }
    return new FileBackend(fileURLToPath(u));
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(trimmed);
  // "C:\…" style drive letters are paths, not schemes; so is anything with a slash before the colon.
  if (scheme && scheme[1]!.length > 1) {
    const name = scheme[1]!.toLowerCase();
    const hint =
      name === 'ssh' || name === 'sftp'
        ? ' (SSH/SFTP repositories are not supported: mount the path, or use S3)'
        : name === 'http' || name === 'https'
          ? ` (for an S3-compatible server use s3://BUCKET/PREFIX?endpoint=${originOf(trimmed)})`
          : '';
    throw new BackendError('E_REPO_URL', `unsupported repository URL scheme "${name}:" in "${redact(url)}"${hint}: ${USAGE}`);
  }
  return new FileBackend(path.resolve(opts.cwd ?? process.cwd(), trimmed));
}

/**
 * The AWS SDK takes ~0.5 s to load; a filesystem repository (and `coffer
 * validate`, the mover Job's start-up) must not pay for it. The S3 backend is
 * imported on the first call instead, behind this pass-through.
 */
class LazyS3Backend implements Backend {
  readonly location: string;
  private inner: Promise<Backend> | undefined;

  constructor(private readonly opts: S3BackendOptions) {
    const prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.location = `s3://${opts.bucket}${prefix ? `/${prefix}` : ''}`;
  }

  private backend(): Promise<Backend> {
    // Coffer supports Node 20 on purpose and pins the SDK in its lockfile; the SDK's
    // "future versions will need Node 22" warning would print on every S3 command.
    // Set the variable to "false" to see it.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.inner ??= import('./s3.ts').then((m) => new m.S3Backend(this.opts));
    return this.inner;
  }

  async get(type: FileType, name: string): Promise<Buffer> {
    return (await this.backend()).get(type, name);
  }
  async getRange(type: FileType, name: string, offset: number, length: number): Promise<Buffer> {
    return (await this.backend()).getRange(type, name, offset, length);
  }
  async put(type: FileType, name: string, data: Buffer): Promise<void> {
    return (await this.backend()).put(type, name, data);
  }
  /** S3's claim scheme (s3.ts): without it two first backups racing each wrote a config. */
  async putIfAbsent(type: FileType, name: string, data: Buffer): Promise<boolean> {
    return (await this.backend()).putIfAbsent!(type, name, data);
  }
  async delete(type: FileType, name: string): Promise<void> {
    return (await this.backend()).delete(type, name);
  }
  async list(type: FileType): Promise<FileInfo[]> {
    return (await this.backend()).list(type);
  }
  async stat(type: FileType, name: string): Promise<FileInfo | undefined> {
    return (await this.backend()).stat(type, name);
  }
  async close(): Promise<void> {
    if (this.inner) await (await this.inner).close?.();
  }
}

function originOf(s: string): string {
  try {
    return new URL(s).origin;
  } catch {
    return 'http://host:port';
  }
}

function safeUrl(s: string, what?: string): URL {
  try {
    return new URL(s);
  } catch {
    throw new BackendError('E_REPO_URL', `${what ? `${what}: ` : ''}"${redact(s)}" is not a valid URL: ${USAGE}`);
  }
}

function parseBool(v: string, what: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new BackendError('E_REPO_URL', `${what} must be true or false, got "${v}"`);
}

/** Never echo a password someone pasted into a URL. */
function redact(s: string): string {
  return s.replace(/\/\/([^/@:]*):([^/@]*)@/, '//$1:***@');
}
