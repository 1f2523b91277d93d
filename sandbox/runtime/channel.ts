/**
 * Server side of Kubernetes' WebSocket stream protocol (`*.channel.k8s.io`), as
 * the kubelet speaks it for exec and attach: each binary message starts with a
 * channel byte (0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize, 255
 * close in v5). v4/v5 carry a JSON `Status` on channel 3, from which kubectl
 * takes the exit code.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
export const CLOSE = 255;

/** Picks the newest protocol both sides speak. */
export function negotiate(offered: Iterable<string>): string | undefined {
  const set = new Set([...offered].map((p) => p.trim()));
  return PROTOCOLS.find((p) => set.has(p));
}

/** The exec result as the kubelet reports it on the error channel. */
export function exitStatus(exitCode: number, command: string[]): Record<string, unknown> {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

export function failureStatus(message: string): Record<string, unknown> {
  return { metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 };
}

/** Answers an upgrade request with a plain HTTP error carrying a Kubernetes Status (what kubectl prints as "unable to upgrade connection: …"). */
export function rejectUpgrade(socket: Duplex, code: number, reason: string, message: string): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  const statusText = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' }[code] ?? 'Error';
  socket.end(`HTTP/1.1 ${code} ${statusText}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export interface ChannelSession {
  protocol: string;
  ws: WebSocket;
  write(channel: number, data: Buffer | string): void;
  /** Sends the final status on the error channel and closes the connection. */
  finish(status: Record<string, unknown>): void;
  onStdin(handler: (data: Buffer) => void): void;
  onStdinEnd(handler: () => void): void;
  onResize(handler: (size: { Width: number; Height: number }) => void): void;
  onClose(handler: () => void): void;
}

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  handleProtocols: (protocols) => negotiate(protocols) ?? false,
});

/** Completes the WebSocket handshake and wraps the socket in the channel protocol. */
export function acceptChannels(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<ChannelSession> {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',');
  if (!negotiate(offered)) {
    rejectUpgrade(socket, 400, 'BadRequest', `unsupported WebSocket subprotocols ${JSON.stringify(offered.map((p) => p.trim()))}; this server speaks ${PROTOCOLS.join(', ')}`);
    return Promise.reject(new Error('no common subprotocol'));
  }
  return new Promise((resolve) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const protocol = ws.protocol;
      const stdin: Array<(d: Buffer) => void> = [];
      const stdinEnd: Array<() => void> = [];
      // Frames that arrive before the handler is registered (a client may send stdin right behind the upgrade, even in
      // its first TCP segment) are kept and handed over on registration, never dropped.
      const early: Buffer[] = [];
      let ended = false;
      const resize: Array<(s: { Width: number; Height: number }) => void> = [];
      const close: Array<() => void> = [];
      let finished = false;
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
        if (buf.length === 0) return;
        const channel = buf[0]!;
        let payload = buf.subarray(1);
        if (!isBinary && protocol.startsWith('base64')) payload = Buffer.from(payload.toString(), 'base64');
        if (channel === CLOSE) {
          if (payload[0] === STDIN) {
            ended = true;
            for (const h of stdinEnd) h();
          }
          return;
        }
        if (channel === STDIN && payload.length > 0) {
          if (stdin.length === 0 && early.length < 256) early.push(payload);
          for (const h of stdin) h(payload);
        }
        else if (channel === RESIZE) {
          try {
            const size = JSON.parse(payload.toString());
            for (const h of resize) h(size);
          } catch {
            /* ignore malformed resize */
          }
        }
      });
      ws.on('close', () => {
        ended = true;
        for (const h of stdinEnd) h();
        for (const h of close) h();
      });
      ws.on('error', () => {});
      const session: ChannelSession = {
        protocol,
        ws,
        write(channel, data) {
          if (ws.readyState !== ws.OPEN) return;
          const payload = typeof data === 'string' ? Buffer.from(data) : data;
          ws.send(Buffer.concat([Buffer.from([channel]), payload]), { binary: true });
        },
        finish(status) {
          if (finished) return;
          finished = true;
          if (ws.readyState === ws.OPEN) {
            const v45 = protocol === 'v4.channel.k8s.io' || protocol === 'v5.channel.k8s.io';
            if (v45) session.write(ERROR, JSON.stringify(status));
            else if (status.status !== 'Success') session.write(ERROR, String(status.message ?? 'error'));
            ws.close(1000);
          }
        },
        onStdin: (h) => {
          stdin.push(h);
          for (const d of early.splice(0)) h(d);
        },
        onStdinEnd: (h) => {
          stdinEnd.push(h);
          if (ended) h();
        },
        onResize: (h) => resize.push(h),
        onClose: (h) => close.push(h),
      };
      resolve(session);
    });
  });
}
