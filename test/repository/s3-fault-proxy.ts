/**
 * A loopback HTTP proxy in front of a real S3 server that injects real
 * network faults on chosen requests: S3 error responses (500 InternalError,
 * 503 SlowDown, 429, 403 AccessDenied…), stalls that never answer, connection
 * resets before any response, and resets half way through a response body.
 * Everything else is forwarded byte for byte (headers untouched, so SigV4
 * signatures made for the proxy's host still verify upstream).
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The fault injected, if any. */
  fault?: FaultKind;
}

export type FaultKind =
  | { status: number; code: string; message?: string }
  | 'stall'
  | 'reset'
  | 'reset-mid-body';

export interface FaultRule {
  /** Which requests: method and/or a test on the URL (path + query). */
  method?: string;
  url?: RegExp | ((url: string) => boolean);
  fault: FaultKind;
  /** How many matching requests get the fault (default 1); Infinity for all. */
  times?: number;
}

export interface FaultProxy {
  endpoint: string;
  requests: SeenRequest[];
  inject(rule: FaultRule): void;
  clear(): void;
  close(): Promise<void>;
}

export const SLOW_DOWN: FaultKind = { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' };
export const INTERNAL_ERROR: FaultKind = { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' };
export const TOO_MANY: FaultKind = { status: 429, code: 'TooManyRequests', message: 'Too many requests.' };
export const ACCESS_DENIED: FaultKind = { status: 403, code: 'AccessDenied', message: 'Access Denied' };

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const rules: (FaultRule & { left: number })[] = [];
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();

  const pick = (req: http.IncomingMessage): FaultKind | undefined => {
    for (const r of rules) {
      if (r.left <= 0) continue;
      if (r.method && r.method !== req.method) continue;
      const u = req.url ?? '';
      if (r.url && !(typeof r.url === 'function' ? r.url(u) : r.url.test(u))) continue;
      r.left--;
      return r.fault;
    }
    return undefined;
  };

  const server = http.createServer((req, res) => {
    const fault = pick(req);
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, ...(fault ? { fault } : {}) });
    if (fault === 'stall') {
      req.resume(); // swallow the body, answer never
      return;
    }
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault && typeof fault === 'object') {
      req.resume();
      req.on('end', () => {
        const body =
          req.method === 'HEAD'
            ? ''
            : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${fault.message ?? fault.code}</Message><RequestId>fault-proxy</RequestId></Error>`;
        res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (fault === 'reset-mid-body') {
          let sent = 0;
          const total = Number(upRes.headers['content-length'] ?? 0);
          upRes.on('data', (chunk: Buffer) => {
            if (sent >= total / 2) return;
            const take = chunk.subarray(0, Math.max(1, Math.floor(total / 2) - sent));
            sent += take.length;
            res.write(take);
            if (sent >= total / 2) {
              upRes.destroy();
              req.socket.destroy();
            }
          });
          return;
        }
        upRes.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    inject(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    clear() {
      rules.length = 0;
      requests.length = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
