import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { gitFs } from './fs.ts';
import type { AuthCallback, HttpClient, PromiseFsClient } from 'isomorphic-git';
import { isoGit, isoHttp } from './iso.ts';
import { indexPack } from './pack-writer.ts';
import { GitSourceError, redactUrl } from './errors.ts';
import { objectReader } from './objects.ts';
import { readRefValue } from './refs.ts';

/** Where the policy repository lives: a Git remote (HTTP(S)) reached through a bare cache, or a repository on disk read in place. */
export interface GitSource {
  readonly kind: 'local' | 'remote';
  /** The remote URL without credentials, or the absolute path of the repository on disk. */
  readonly location: string;
  /** The git directory objects are read from (and, for the catalog, written to): the local repo's .git, or the bare cache. */
  readonly gitdir: string;
  /** The policy branch, resolved at open time (the remote's or repository's HEAD branch when not given). */
  readonly branch: string;
  /** Present for remotes: URL, auth and HTTP client for fetch/push. */
  readonly remote?: RemoteAccess;
  /** Shared isomorphic-git object cache (packfile indexes), so repeated reads do not re-parse packs. */
  readonly cache: object;
  /** Fetches what changed (remotes) and resolves the policy branch to its committed tip. Never reads a working copy. */
  fetch(): Promise<SourceRevision>;
}

export interface RemoteAccess {
  url: string;
  http: HttpClient;
  onAuth: AuthCallback;
  onAuthFailure: AuthCallback;
  headers: Record<string, string>;
}

/** One commit of the policy branch, with a way to read its tree (what `compileFromGit(gitdir, commit)` needs). */
export interface SourceRevision {
  commit: string;
  branch: string;
  gitdir: string;
  /** File content at this commit, or undefined when the path does not exist. */
  readFile(path: string): Promise<Uint8Array | undefined>;
  /** Paths of all files (blobs) under `dir` ('' for the whole tree), sorted. */
  listFiles(dir?: string): Promise<string[]>;
}

export interface OpenSourceOptions {
  /** A Git URL (https://…, http://…, file://…) or a path to a repository (bare or not). */
  source: string;
  branch?: string;
  /** Parent directory of the bare caches kept for remotes (default $COFFER_CACHE_DIR, else $XDG_CACHE_HOME/coffer/git, else ~/.cache/coffer/git). */
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  /** For tests and proxies; defaults to isomorphic-git's Node HTTP client. */
  http?: HttpClient;
  /**
   * Do not contact a remote now: without `branch`, the first fetch finds the default branch. `coffer run` opens its
   * source so, because a Git server that refuses it at start-up (a missing token Secret) must become a condition to
   * fix, not a process that exits and crash-loops. `branch` reads "" until then.
   */
  lazy?: boolean;
}

const SCP_LIKE = /^[\w.-]+@[\w.-]+:(?!\/\/)/;

/** Classifies a --source value; SSH and git:// are refused with an actionable message because isomorphic-git speaks HTTP(S) only. */
export function classifySource(source: string): { kind: 'remote'; url: string } | { kind: 'local'; path: string } {
  const s = source.trim();
  if (/^(ssh|git\+ssh|ssh\+git):\/\//i.test(s) || SCP_LIKE.test(s)) {
    throw new GitSourceError(
      'E_GIT_SSH',
      `--source ${redactUrl(s)}: SSH remotes are not supported (Coffer's Git client speaks HTTP(S) only); use the repository's HTTPS URL and put a token in COFFER_GIT_TOKEN`,
    );
  }
  if (/^git:\/\//i.test(s)) {
    throw new GitSourceError('E_GIT_PROTOCOL', `--source ${s}: the git:// protocol is not supported; use the repository's HTTPS URL`);
  }
  if (/^https?:\/\//i.test(s)) return { kind: 'remote', url: s };
  if (/^file:\/\//i.test(s)) return { kind: 'local', path: decodeURIComponent(new URL(s).pathname) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    throw new GitSourceError('E_GIT_PROTOCOL', `--source ${redactUrl(s)}: unsupported URL scheme; use the repository's HTTPS URL (or http://, or a local path)`);
  }
  return { kind: 'local', path: s };
}

/** Finds the git directory of a repository on disk: `<path>/.git` (directory or `gitdir:` file) or `<path>` itself when bare. */
export function findGitdir(path: string): string {
  const abs = resolve(path);
  if (!fs.existsSync(abs)) throw new GitSourceError('E_GIT_NOT_FOUND', `--source ${abs}: no such file or directory`);
  const dotgit = join(abs, '.git');
  if (fs.existsSync(dotgit)) {
    const st = fs.statSync(dotgit);
    if (st.isDirectory()) return dotgit;
    const m = /^gitdir:\s*(.+)\s*$/m.exec(fs.readFileSync(dotgit, 'utf8'));
    if (m) return resolve(abs, m[1]!);
  }
  if (fs.existsSync(join(abs, 'HEAD')) && fs.existsSync(join(abs, 'objects')) && fs.existsSync(join(abs, 'refs'))) return abs;
  throw new GitSourceError('E_GIT_NOT_A_REPO', `--source ${abs}: not a Git repository (no .git directory, and not a bare repository)`);
}

/** Credentials come only from the environment: COFFER_GIT_TOKEN (+ optional COFFER_GIT_USERNAME), never from flags that land in shell history. */
export function authFromEnv(env: NodeJS.ProcessEnv, url: string): Pick<RemoteAccess, 'onAuth' | 'onAuthFailure'> {
  const token = env.COFFER_GIT_TOKEN;
  const username = env.COFFER_GIT_USERNAME ?? 'x-access-token';
  return {
    onAuth: () => {
      if (!token) return { cancel: true };
      return { username, password: token };
    },
    onAuthFailure: () => {
      throw new GitSourceError(
        'E_GIT_AUTH',
        token
          ? `${redactUrl(url)}: the server rejected the token in COFFER_GIT_TOKEN (check it has read/write access to the repository)`
          : `${redactUrl(url)}: authentication required; set COFFER_GIT_TOKEN (and COFFER_GIT_USERNAME if your server needs a specific user)`,
      );
    },
  };
}

export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.COFFER_CACHE_DIR) return join(env.COFFER_CACHE_DIR, 'git');
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'coffer', 'git');
}

/** Turns isomorphic-git's network failures into errors that name the remote and say what to do. */
export function wrapRemoteError(e: unknown, url: string): unknown {
  if (e instanceof GitSourceError) return e;
  const err = e as { code?: string; data?: { statusCode?: number }; message?: string };
  const where = redactUrl(url);
  if (err.code === 'UserCanceledError') {
    return new GitSourceError('E_GIT_AUTH', `${where}: authentication required; set COFFER_GIT_TOKEN (and COFFER_GIT_USERNAME if your server needs a specific user)`);
  }
  if (err.code === 'HttpError') {
    const status = err.data?.statusCode;
    if (status === 401 || status === 403) {
      return new GitSourceError('E_GIT_AUTH', `${where}: HTTP ${status}; set COFFER_GIT_TOKEN to a token with access to the repository`);
    }
    if (status === 404) return new GitSourceError('E_GIT_NOT_FOUND', `${where}: repository not found (HTTP 404)`);
    return new GitSourceError('E_GIT_REMOTE', `${where}: HTTP ${status ?? '?'} ${err.message ?? ''}`.trim());
  }
  const sys = (e as NodeJS.ErrnoException).code;
  if (sys === 'ECONNREFUSED' || sys === 'ENOTFOUND' || sys === 'ECONNRESET' || sys === 'ETIMEDOUT' || sys === 'EAI_AGAIN') {
    return new GitSourceError('E_GIT_UNREACHABLE', `${where}: cannot reach the Git server (${sys})`);
  }
  return e;
}

/**
 * Opens a policy source. Remotes get a bare cache under the cache dir (one per URL, reused across runs so later
 * fetches only transfer what changed); local repositories are read in place from their committed refs.
 */
export async function openSource(opts: OpenSourceOptions): Promise<GitSource> {
  const env = opts.env ?? process.env;
  const where = classifySource(opts.source);
  const cache = {};
  if (where.kind === 'local') {
    const gitdir = findGitdir(where.path);
    const branch = opts.branch ?? (await headBranch(gitdir));
    const location = resolve(where.path);
    return {
      kind: 'local',
      location,
      gitdir,
      branch,
      cache,
      fetch: async () => revision(gitdir, branch, await resolveBranch(gitdir, `refs/heads/${branch}`, branch, location), cache),
    };
  }
  const url = where.url;
  const http = opts.http ?? (await isoHttp());
  const git = await isoGit();
  const access: RemoteAccess = { url, http, headers: { 'user-agent': 'coffer' }, ...authFromEnv(env, url) };
  const key = createHash('sha256').update(redactUrl(url)).digest('hex').slice(0, 16);
  const gitdir = join(opts.cacheDir ?? defaultCacheDir(env), `${key}.git`);
  if (!fs.existsSync(join(gitdir, 'HEAD'))) {
    await fs.promises.mkdir(gitdir, { recursive: true });
    await git.init({ fs: gitFs, gitdir, bare: true });
  }
  await git.addRemote({ fs: gitFs, gitdir, remote: 'origin', url, force: true });
  let branch = opts.branch;
  const doFetch = async (): Promise<SourceRevision> => {
    try {
      const res = await fetchBranch(gitdir, access, branch, cache);
      if (!branch) branch = (res.defaultBranch ?? 'refs/heads/main').replace(/^refs\/heads\//, '');
    } catch (e) {
      if ((e as { code?: string }).code === 'NotFoundError' && branch) {
        throw new GitSourceError('E_GIT_REF_NOT_FOUND', `${redactUrl(url)}: branch "${branch}" does not exist on the remote`);
      }
      throw wrapRemoteError(e, url);
    }
    const oid = await resolveBranch(gitdir, `refs/remotes/origin/${branch}`, branch, redactUrl(url));
    return revision(gitdir, branch, oid, cache);
  };
  if (!branch && !opts.lazy) await doFetch();
  return {
    kind: 'remote',
    location: redactUrl(url),
    gitdir,
    get branch() {
      return branch ?? '';
    },
    remote: access,
    cache,
    fetch: doFetch,
  };
}

/**
 * Fetches one branch into the bare cache's `refs/remotes/origin/<branch>`. The first fetch is shallow (depth 1): a new
 * machine needs the tip's tree, never a million-commit history, so `dr restore` starts as fast at 1M commits as at
 * 1k. Later fetches name that tracking ref as what we have, so the server sends only the commits since (isomorphic-git
 * looks up `ref` for its "have" lines; with a bare branch name it finds nothing in a bare cache and the whole branch
 * would be sent again). Pushing from a shallow cache works: a push sends the commits after the remote's tip, which
 * is always one we fetched.
 */
export async function fetchBranch(gitdir: string, access: RemoteAccess, branch: string | undefined, cache: object): Promise<{ defaultBranch?: string | null; fetchHead?: string | null }> {
  const tracking = branch ? `refs/remotes/origin/${branch}` : undefined;
  const have = tracking ? await readRefValue(gitdir, tracking).catch(() => undefined) : undefined;
  try {
    return await fetchOnce(gitdir, access, branch, tracking, have, cache);
  } catch (e) {
    if (!(e instanceof PackIndexed) || !tracking) throw e;
    // The refs (and the shallow file) were written before the pack; the fetch is complete.
    return { fetchHead: await resolveRef(gitdir, tracking) };
  }
}

/**
 * Fetches one commit the remote's branch reaches (an archived run segment, see catalog/run-archive.ts) by its oid,
 * depth 1: just that commit's tree. Over smart HTTP git's upload-pack serves a "want" of any commit reachable from an
 * advertised ref (stateless requests cannot rely on the advertisement being current), and protocol v2 any object.
 */
export async function fetchCommit(gitdir: string, access: RemoteAccess, oid: string, cache: object): Promise<void> {
  const git = await isoGit();
  try {
    await git.fetch({ fs: indexingFs, http: access.http, gitdir, url: access.url, remote: 'origin', ref: oid, remoteRef: oid, depth: 1, singleBranch: true, tags: false, cache, headers: access.headers, onAuth: access.onAuth, onAuthFailure: access.onAuthFailure });
  } catch (e) {
    if (!(e instanceof PackIndexed)) throw wrapRemoteError(e, access.url);
  }
  if (!objectReader(gitdir).has(oid)) throw new GitSourceError('E_GIT_REMOTE', `${redactUrl(access.url)}: the server did not send commit ${oid}`);
}

/** Thrown by `indexingFs` once the received pack and Coffer's own index of it are on disk. */
class PackIndexed extends Error {}

/**
 * isomorphic-git writes a fetched pack, then indexes it with an O(objects × 256) fan-out loop (minutes for a
 * 100,000-point catalog's tip). This file system writes the pack and `indexPack`'s .idx (pack first, .idx last, so a
 * reader never sees one without the other) and then stops the fetch: in isomorphic-git 1.x the refs and the shallow
 * file are already written at that point — `fetchBranch` checks the tracking ref it then returns.
 */
const indexingFs: PromiseFsClient = {
  promises: {
    ...gitFs.promises,
    writeFile: async (path: string, data: Uint8Array | string, options?: unknown) => {
      if (typeof path === 'string' && /\/objects\/pack\/pack-[0-9a-f]{40}\.pack$/.test(path) && typeof data !== 'string') {
        // isomorphic-git calls writeFile again after a failure (to mkdir first): the second call finds the .idx.
        const idxPath = path.replace(/\.pack$/, '.idx');
        if (!fs.existsSync(idxPath)) {
          const pack = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
          const idx = indexPack(pack);
          await gitFs.promises.writeFile(path, pack);
          await gitFs.promises.writeFile(idxPath, idx);
        }
        throw new PackIndexed(path);
      }
      return (gitFs.promises.writeFile as (p: string, d: unknown, o?: unknown) => Promise<void>)(path, data, options);
    },
  } as PromiseFsClient['promises'],
};

async function fetchOnce(gitdir: string, access: RemoteAccess, branch: string | undefined, tracking: string | undefined, have: string | undefined, cache: object): Promise<{ defaultBranch?: string | null; fetchHead?: string | null }> {
  return (await isoGit()).fetch({
    // Without a branch (discovering the remote's default) there is no tracking ref to finish from: isomorphic-git indexes.
    fs: tracking ? indexingFs : gitFs,
    http: access.http,
    gitdir,
    url: access.url,
    remote: 'origin',
    ...(tracking ? { ref: tracking, remoteRef: branch } : {}),
    ...(have && objectReader(gitdir).has(have) ? {} : { depth: 1 }),
    singleBranch: true,
    tags: false,
    cache,
    headers: access.headers,
    onAuth: access.onAuth,
    onAuthFailure: access.onAuthFailure,
  });
}

/** The branch HEAD names (`ref: refs/heads/<branch>`); `main` when HEAD is detached, unreadable or names no branch. */
async function headBranch(gitdir: string): Promise<string> {
  const head = await fs.promises.readFile(join(gitdir, 'HEAD'), 'utf8').catch(() => '');
  const m = /^ref: refs\/heads\/(.+?)\s*$/.exec(head);
  return m ? m[1]! : 'main';
}

/** A full ref's commit (loose, packed or symbolic), read with refs.ts: no Git library is loaded to open a local source. */
async function resolveRef(gitdir: string, ref: string): Promise<string> {
  const oid = await readRefValue(gitdir, ref).catch(() => undefined);
  if (!oid) throw new GitSourceError('E_GIT_REF_NOT_FOUND', `${ref} not found`);
  return oid;
}

async function resolveBranch(gitdir: string, ref: string, branch: string, where: string): Promise<string> {
  try {
    return await resolveRef(gitdir, ref);
  } catch {
    throw new GitSourceError('E_GIT_REF_NOT_FOUND', `${where}: branch "${branch}" has no commits`);
  }
}

function revision(gitdir: string, branch: string, commit: string, cache: object): SourceRevision {
  return {
    commit,
    branch,
    gitdir,
    // Through the bulk object reader: isomorphic-git's readBlob loads a whole pack file to read one blob from it.
    readFile: async (path) => {
      const parts = path.replace(/^\/+/, '').split('/');
      const objects = objectReader(gitdir);
      const dir = objects.treeAt(commit, parts.slice(0, -1).join('/'));
      const entry = dir ? objects.readTree(dir).find((e) => e.name === parts.at(-1) && e.type === 'blob') : undefined;
      return entry ? new Uint8Array(objects.read(entry.oid).data) : undefined;
    },
    listFiles: (dir = '') => listBlobs(gitdir, commit, dir, cache),
  };
}

/** Lists blob paths under a directory of a commit's tree, depth-first, without reading any blob. */
export async function listBlobs(gitdir: string, commit: string, dir: string, cache: object): Promise<string[]> {
  const prefix = dir.replace(/^\/+|\/+$/g, '');
  const out: string[] = [];
  const git = await isoGit();
  const visit = async (oid: string, base: string): Promise<void> => {
    const { tree } = await git.readTree({ fs: gitFs, gitdir, oid, cache });
    for (const e of tree) {
      const p = base ? `${base}/${e.path}` : e.path;
      if (e.type === 'tree') await visit(e.oid, p);
      else if (e.type === 'blob') out.push(p);
    }
  };
  let start: string;
  try {
    start = prefix ? (await git.readTree({ fs: gitFs, gitdir, oid: commit, filepath: prefix, cache })).oid : (await git.readTree({ fs: gitFs, gitdir, oid: commit, cache })).oid;
  } catch (e) {
    if ((e as { code?: string }).code === 'NotFoundError' || (e as { code?: string }).code === 'ObjectTypeError') return [];
    throw e;
  }
  await visit(start, prefix);
  return out.sort();
}
