import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dashboard shipped with Coffer: `dashboard/` at the top of the project. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may only talk to this server and run its own files: no inline script, no third-party origin, no framing.
 * The dashboard builds its DOM with textContent, so this is a second line of defence against names from users' Git.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * Static files, loaded once into memory from a folder: a request is answered only when its path is exactly one of
 * the loaded files, so `..`, encoded slashes or symlinks can never reach anything else. Strong ETags (content hash)
 * with `no-cache` — browsers revalidate every load and get a 304 while the files are unchanged.
 */
export class StaticFiles {
  private readonly assets = new Map<string, Asset>();

  constructor(dir: string) {
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile() && TYPES[extname(e.name)] && !e.name.startsWith('.')) {
          const body = readFileSync(p);
          const rel = `/${relative(dir, p).split(sep).join('/')}`;
          this.assets.set(rel, { body, type: TYPES[extname(e.name)]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
        }
      }
    };
    walk(dir);
  }

  /** Paths served, for tests and the 404 message. */
  paths(): string[] {
    return [...this.assets.keys()].sort();
  }

  /** Answers the request if `path` (the URL path, not decoded) names a loaded file; returns false otherwise. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const asset = this.assets.get(path === '/' ? '/index.html' : path);
    if (!asset) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${req.method} not allowed\n`);
      return true;
    }
    const headers: Record<string, string> = {
      'content-type': asset.type,
      etag: asset.etag,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    };
    if (asset.type.startsWith('text/html')) headers['content-security-policy'] = DASHBOARD_CSP;
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === asset.etag)) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': String(asset.body.length) });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  }
}
