/**
 * Readiness, liveness and startup probes for a running container: exec (inside
 * the container's namespaces), httpGet and tcpSocket (pods share the host
 * network, so the target is loopback). Thresholds and periods as in the spec.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { ContainerProcess } from './container.ts';
import { spawnInContainer } from './container.ts';

export interface ProbeCallbacks {
  onReady(ready: boolean): void;
  onLivenessFailure(message: string): void;
  onReadinessFailure(message: string): void;
}

type Result = { ok: true } | { ok: false; message: string };

function portOf(container: any, port: number | string): number {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p: any) => p.name === port);
  return named ? named.containerPort : Number(port);
}

export async function runProbe(probe: any, container: any, proc: ContainerProcess): Promise<Result> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.exec) {
    if (!proc.hostPid || !proc.sandbox) return { ok: false, message: 'container not started' };
    const hostPid = proc.hostPid;
    const sandbox = proc.sandbox;
    return await new Promise<Result>((resolve) => {
      const child = spawnInContainer(hostPid, sandbox, probe.exec.command ?? []);
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c));
      child.stderr!.on('data', (c: Buffer) => (out += c));
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ ok: false, message: `command timed out after ${probe.timeoutSeconds ?? 1}s` });
      }, timeoutMs);
      child.on('close', (code) => {
        clearTimeout(t);
        resolve(code === 0 ? { ok: true } : { ok: false, message: out.trim() || `command exited ${code}` });
      });
      child.on('error', (e) => resolve({ ok: false, message: e.message }));
    });
  }
  if ((probe.httpGet || probe.tcpSocket) && proc.sandbox?.privateNetwork) return privateNetworkProbe(probe, container, proc, timeoutMs);
  if (probe.httpGet) {
    const port = portOf(container, probe.httpGet.port);
    const headers: Record<string, string> = {};
    for (const h of probe.httpGet.httpHeaders ?? []) headers[h.name] = h.value;
    return await new Promise<Result>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: probe.httpGet.path ?? '/', headers, timeout: timeoutMs }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      });
      req.on('timeout', () => req.destroy(new Error('context deadline exceeded')));
      req.on('error', (e) => resolve({ ok: false, message: `Get "http://127.0.0.1:${port}${probe.httpGet.path ?? '/'}": ${e.message}` }));
    });
  }
  if (probe.tcpSocket) {
    const port = portOf(container, probe.tcpSocket.port);
    return await new Promise<Result>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port, timeout: timeoutMs }, () => {
        s.destroy();
        resolve({ ok: true });
      });
      s.on('timeout', () => s.destroy(new Error('i/o timeout')));
      s.on('error', (e) => resolve({ ok: false, message: `dial tcp 127.0.0.1:${port}: ${e.message}` }));
    });
  }
  return { ok: true };
}

/**
 * tcpSocket/httpGet against a container with its own network namespace (database images): the dial happens inside
 * that namespace (`nsenter -n`), from bash's /dev/tcp or a one-line Node client, so the port is the container's own.
 */
async function privateNetworkProbe(probe: any, container: any, proc: ContainerProcess, timeoutMs: number): Promise<Result> {
  if (!proc.hostPid) return { ok: false, message: 'container not started' };
  const port = portOf(container, (probe.tcpSocket ?? probe.httpGet).port);
  const path = probe.httpGet?.path ?? '/';
  const argv = probe.tcpSocket
    ? ['/usr/bin/bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]
    : [process.execPath, '-e', `require('http').get({host:'127.0.0.1',port:${port},path:${JSON.stringify(path)}},(r)=>process.exit(r.statusCode>=200&&r.statusCode<400?0:1)).on('error',(e)=>{console.error(e.message);process.exit(2)})`];
  const what = probe.tcpSocket ? `dial tcp 127.0.0.1:${port}` : `Get "http://127.0.0.1:${port}${path}"`;
  return await new Promise<Result>((resolve) => {
    const child = spawn('nsenter', ['-t', String(proc.hostPid), '-n', '--', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve(code === 0 ? { ok: true } : { ok: false, message: `${what}: ${err.trim().split('\n').pop() || (code === 1 && probe.httpGet ? 'HTTP probe failed' : 'connection refused')}` });
    });
    child.on('error', (e) => resolve({ ok: false, message: e.message }));
  });
}

export class Prober {
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private started: boolean;

  constructor(
    private readonly container: any,
    private readonly proc: ContainerProcess,
    private readonly cb: ProbeCallbacks,
  ) {
    this.started = !container.startupProbe;
  }

  start(): void {
    if (this.container.startupProbe) this.loop(this.container.startupProbe, 'startup');
    if (this.container.readinessProbe) this.loop(this.container.readinessProbe, 'readiness');
    else if (!this.container.startupProbe) this.cb.onReady(true);
    if (this.container.livenessProbe) this.loop(this.container.livenessProbe, 'liveness');
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
  }

  private loop(probe: any, kind: 'startup' | 'readiness' | 'liveness'): void {
    let successes = 0;
    let failures = 0;
    const period = (probe.periodSeconds ?? 10) * 1000;
    const tick = async () => {
      if (this.stopped || !this.proc.running) return;
      if (kind !== 'startup' && !this.started) {
        this.timers.push(setTimeout(tick, 200));
        return;
      }
      const r = await runProbe(probe, this.container, this.proc);
      if (this.stopped) return;
      if (r.ok) {
        successes++;
        failures = 0;
        if (kind === 'startup') {
          this.started = true;
          if (!this.container.readinessProbe) this.cb.onReady(true);
          return;
        }
        if (kind === 'readiness' && successes >= (probe.successThreshold ?? 1)) this.cb.onReady(true);
      } else {
        failures++;
        successes = 0;
        const threshold = probe.failureThreshold ?? 3;
        if (kind === 'readiness') {
          this.cb.onReadinessFailure(r.message);
          if (failures >= threshold) this.cb.onReady(false);
        } else if (failures >= threshold) {
          this.cb.onLivenessFailure(r.message);
          return;
        }
      }
      this.timers.push(setTimeout(tick, period));
    };
    this.timers.push(setTimeout(tick, (probe.initialDelaySeconds ?? 0) * 1000));
  }
}

/** Runs a lifecycle handler (preStop/postStart: exec, httpGet, tcpSocket or sleep) with a time limit. */
export async function runLifecycleHook(handler: any, container: any, proc: ContainerProcess, limitSeconds: number): Promise<{ ok: boolean; message?: string }> {
  if (handler?.sleep) {
    await new Promise((r) => setTimeout(r, Math.min(handler.sleep.seconds ?? 0, limitSeconds) * 1000));
    return { ok: true };
  }
  const r = await runProbe({ ...handler, timeoutSeconds: limitSeconds }, container, proc);
  return r.ok ? { ok: true } : { ok: false, message: r.message };
}
