import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';

/** Coffer's caches (bare clones, parsed documents) go to a temporary directory during tests, never to ~/.cache. */
if (!process.env.COFFER_CACHE_DIR) {
  const cache = mkdtempSync(join(tmpdir(), 'coffer-test-cache-'));
  process.env.COFFER_CACHE_DIR = cache;
  afterAll(() => {
    rmSync(cache, { recursive: true, force: true });
    if (process.env.COFFER_CACHE_DIR === cache) delete process.env.COFFER_CACHE_DIR;
  });
}

/** Runs the real git CLI (the independent reader every test checks Coffer's writes with). */
export function gitCli(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'Dev', GIT_AUTHOR_EMAIL: 'dev@example.com', GIT_COMMITTER_NAME: 'Dev', GIT_COMMITTER_EMAIL: 'dev@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: tmpdir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `coffer-${prefix}-`));
}

/** A policy repository with one commit on main, made by the git CLI. */
export function makePolicyRepo(dir: string, files: Record<string, string>, opts: { bare?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  gitCli(dir, 'init', '-q', '-b', 'main');
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  gitCli(dir, 'add', '-A');
  gitCli(dir, 'commit', '-q', '-m', 'initial policies');
  if (!opts.bare) return dir;
  const bare = `${dir}.git`;
  gitCli(dirname(dir), 'clone', '-q', '--bare', dir, bare);
  return bare;
}

export interface GitHttpServer {
  url: (repo: string) => string;
  requests: Array<{ method: string; path: string; authorized: boolean }>;
  close(): Promise<void>;
}

/**
 * Serves bare repositories under `root` over smart HTTP by running `git http-backend` (the git CLI's own CGI) per
 * request, on loopback port 0. With `token`, every request needs Basic auth whose password is the token.
 */
export async function startGitHttp(root: string, opts: { token?: string } = {}): Promise<GitHttpServer> {
  const requests: GitHttpServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://localhost');
    let authorized = !opts.token;
    const auth = req.headers.authorization;
    if (opts.token && auth?.startsWith('Basic ')) {
      const [, pass] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      authorized = pass === opts.token;
    }
    requests.push({ method: req.method ?? 'GET', path: u.pathname, authorized });
    if (!authorized) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('unauthorized');
      return;
    }
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        HOME: tmpdir(),
        REMOTE_USER: 'coffer',
        REMOTE_ADDR: '127.0.0.1',
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const idx = head.indexOf('\r\n\r\n');
      if (idx < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, idx).toString('utf8').split('\r\n')) {
        const c = line.indexOf(':');
        const k = line.slice(0, c).trim();
        const v = line.slice(c + 1).trim();
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(idx + 4));
    });
    cgi.stdout.on('end', () => res.end());
    cgi.on('error', () => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (repo) => `http://127.0.0.1:${port}/${repo}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
