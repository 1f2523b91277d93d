/**
 * The pod subresources that need a live process: `log` (with follow),
 * `exec` and `attach` over the WebSocket channel protocol. Errors mirror the
 * kubelet's wording, so kubectl prints what it prints against a real cluster.
 */
import { readdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { acceptChannels, exitStatus, failureStatus, rejectUpgrade, STDERR, STDOUT } from './channel.ts';
import { checkExecutable, spawnInContainer } from './container.ts';
import type { Kubelet, LiveContainer, PodWorker } from './kubelet.ts';
import { readRecords, renderRecords, type LogQuery } from './logfile.ts';
import type { PodSubresources, PodTarget } from './types.ts';

class SubresourceError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

function waitingReason(c: LiveContainer): string | undefined {
  return 'waiting' in c.state ? c.state.waiting.reason : undefined;
}

/** Finds the container a request addresses, with the kubelet's error for each way it can be wrong. */
function locate(kubelet: Kubelet, t: PodTarget, opts: { allowTerminated: boolean }): { worker: PodWorker; live: LiveContainer } {
  const worker = kubelet.worker(t.namespace, t.name);
  if (!worker) throw new SubresourceError(404, 'NotFound', `pods "${t.name}" not found`);
  const requested = t.query.get('container') ?? undefined;
  const { record, names } = worker.container(requested || worker.pod.metadata.annotations?.['kubectl.kubernetes.io/default-container']);
  if (!record) {
    if (!requested) throw new SubresourceError(400, 'BadRequest', `a container name must be specified for pod ${t.name}, choose one of: [${names.join(' ')}]`);
    throw new SubresourceError(400, 'BadRequest', `container ${requested} is not valid for pod ${t.name}`);
  }
  const live = worker.live(record.spec.name)!;
  const reason = waitingReason(live);
  if (reason && !(opts.allowTerminated && live.restartCount > 0)) {
    throw new SubresourceError(400, 'BadRequest', `container "${live.name}" in pod "${t.name}" is waiting to start: ${reason}`);
  }
  if (!opts.allowTerminated && !live.proc) {
    throw new SubresourceError(400, 'BadRequest', `container not found ("${live.name}")`);
  }
  return { worker, live };
}

function parseLogQuery(q: URLSearchParams): LogQuery {
  const num = (k: string) => (q.get(k) !== null && q.get(k) !== '' ? Number(q.get(k)) : undefined);
  const since = num('sinceSeconds');
  return {
    timestamps: q.get('timestamps') === 'true',
    tailLines: num('tailLines'),
    limitBytes: num('limitBytes'),
    sinceTime: q.get('sinceTime') ?? (since !== undefined ? new Date(Date.now() - since * 1000).toISOString() : undefined),
  };
}

async function logFile(live: LiveContainer, previous: boolean): Promise<string | undefined> {
  const files = (await readdir(live.logDir).catch(() => [] as string[])).filter((f) => f.endsWith('.log')).map((f) => Number(f.slice(0, -4))).sort((a, b) => a - b);
  if (files.length === 0) return undefined;
  // Files are numbered by restart: the newest is the current instance, the one before it is "previous".
  const idx = previous ? files.length - 2 : files.length - 1;
  if (idx < 0) return undefined;
  return path.join(live.logDir, `${files[idx]}.log`);
}

export function podSubresources(kubelet: Kubelet): PodSubresources {
  return {
    async log(req: IncomingMessage, res: ServerResponse, t: PodTarget) {
      try {
        const { live, worker } = locate(kubelet, t, { allowTerminated: true });
        const previous = t.query.get('previous') === 'true';
        const file = await logFile(live, previous);
        if (!file) {
          if (previous) throw new SubresourceError(400, 'BadRequest', `previous terminated container "${live.name}" in pod "${t.name}" not found`);
          throw new SubresourceError(400, 'BadRequest', `container "${live.name}" in pod "${t.name}" is waiting to start: ContainerCreating`);
        }
        const q = parseLogQuery(t.query);
        res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
        let sent = 0;
        const limit = q.limitBytes;
        const send = (text: string): boolean => {
          if (!text) return true;
          let chunk = text;
          if (limit !== undefined && sent + Buffer.byteLength(chunk) > limit) chunk = Buffer.from(chunk).subarray(0, limit - sent).toString();
          sent += Buffer.byteLength(chunk);
          res.write(chunk);
          return limit === undefined || sent < limit;
        };
        let { records, offset } = await readRecords(file);
        let more = send(renderRecords(records, q));
        const follow = t.query.get('follow') === 'true' && !previous;
        if (!follow || !more) {
          res.end();
          return;
        }
        // Follow: poll the file until the container stops writing to it or the client goes away.
        let closed = false;
        req.on('close', () => (closed = true));
        res.on('close', () => (closed = true));
        const followQ: LogQuery = { ...q, tailLines: undefined, sinceTime: undefined };
        while (!closed && more) {
          const current = worker.live(live.name);
          const stillWriting = !!current?.proc && current.restartCount === live.restartCount;
          ({ records, offset } = await readRecords(file, offset));
          more = send(renderRecords(records, followQ));
          if (!stillWriting && records.length === 0) {
            // One last read after the writer closed, then stop.
            ({ records, offset } = await readRecords(file, offset));
            send(renderRecords(records, followQ));
            break;
          }
          if (records.length === 0) await new Promise((r) => setTimeout(r, 100));
        }
        res.end();
      } catch (e) {
        if (res.headersSent) {
          res.end();
          return;
        }
        const err = e instanceof SubresourceError ? e : new SubresourceError(500, 'InternalError', (e as Error).message);
        res.writeHead(err.code, { 'content-type': 'application/json' });
        res.end(statusBody(err.code, err.reason, err.message));
      }
    },

    async exec(req: IncomingMessage, socket: Duplex, head: Buffer, t: PodTarget) {
      let live: LiveContainer;
      try {
        ({ live } = locate(kubelet, t, { allowTerminated: false }));
      } catch (e) {
        const err = e instanceof SubresourceError ? e : new SubresourceError(500, 'InternalError', (e as Error).message);
        rejectUpgrade(socket, err.code, err.reason, err.message);
        return;
      }
      const command = t.query.getAll('command');
      if (command.length === 0) {
        rejectUpgrade(socket, 400, 'BadRequest', 'you must specify at least 1 command');
        return;
      }
      const session = await acceptChannels(req, socket, head).catch(() => undefined);
      if (!session) return;
      const proc = live.proc!;
      const sandbox = live.sandbox!;
      await proc.started;
      const problem = checkExecutable({ ...sandbox, env: sandbox.env }, command[0]);
      if (problem || !proc.hostPid) {
        session.finish(
          failureStatus(
            `Internal error occurred: error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: ${problem ?? 'container is not running'}: unknown`,
          ),
        );
        return;
      }
      const tty = t.query.get('tty') === 'true';
      const wantStdin = t.query.get('stdin') === 'true';
      // A pseudo-terminal from util-linux `script`, which propagates the exit code (-e).
      const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const child = tty
        ? spawnInContainer(proc.hostPid, sandbox, ['/usr/bin/script', '-qefc', quoted, '/dev/null'], { stdin: wantStdin, env: { TERM: 'xterm', ...sandbox.env } })
        : spawnInContainer(proc.hostPid, sandbox, command, { stdin: wantStdin });
      // Backpressure: stop reading the command's output while the socket has megabytes queued.
      const forward = (stream: NodeJS.ReadableStream, channel: number) =>
        stream.on('data', (c: Buffer) => {
          session.write(channel, c);
          if (session.ws.bufferedAmount > 4 * 1024 * 1024) {
            stream.pause();
            const poll = setInterval(() => {
              if (session.ws.bufferedAmount < 1024 * 1024 || session.ws.readyState !== session.ws.OPEN) {
                clearInterval(poll);
                stream.resume();
              }
            }, 5);
          }
        });
      forward(child.stdout!, STDOUT);
      forward(child.stderr!, tty ? STDOUT : STDERR);
      if (child.stdin) {
        child.stdin.on('error', () => {});
        session.onStdin((d) => child.stdin!.write(d));
        session.onStdinEnd(() => child.stdin!.end());
      }
      session.onClose(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      child.on('error', (e) => session.finish(failureStatus(e.message)));
      child.on('close', (code, signal) => {
        const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 128 + 15);
        session.finish(exitStatus(exitCode, command));
      });
    },

    async attach(req: IncomingMessage, socket: Duplex, head: Buffer, t: PodTarget) {
      let live: LiveContainer;
      let worker: PodWorker;
      try {
        ({ live, worker } = locate(kubelet, t, { allowTerminated: false }));
      } catch (e) {
        const err = e instanceof SubresourceError ? e : new SubresourceError(500, 'InternalError', (e as Error).message);
        rejectUpgrade(socket, err.code, err.reason, err.message);
        return;
      }
      const session = await acceptChannels(req, socket, head).catch(() => undefined);
      if (!session) return;
      const proc = live.proc!;
      // Where the output starts is fixed before stdin is wired: what the container answers to the first input must
      // not fall before the offset (the shell can reply within the time a log read takes).
      const file = await logFile(live, false);
      let offset = file ? (await readRecords(file)).offset : 0;
      if (t.query.get('stdin') === 'true' && proc.stdin) {
        session.onStdin((d) => proc.stdin!.write(d));
      }
      let closed = false;
      session.onClose(() => (closed = true));
      while (!closed && file) {
        const { records, offset: next } = await readRecords(file, offset);
        offset = next;
        for (const r of records) session.write(r.stream === 'stderr' ? STDERR : STDOUT, r.text + (r.full ? '\n' : ''));
        const current = worker.live(live.name);
        if (!current?.proc || current.restartCount !== live.restartCount) {
          if (records.length === 0) break;
          continue;
        }
        if (records.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      const st = worker.live(live.name)?.state;
      const code = st && 'terminated' in st ? st.terminated.exitCode : 0;
      session.finish(exitStatus(code, ['attach']));
    },
  };
}
