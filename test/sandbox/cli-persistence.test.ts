/**
 * `coffer sandbox up|down` as a user runs it (a real child process), and
 * persistence: state survives a clean stop and a SIGKILL crash; a torn last
 * journal line is ignored.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlFor } from './kubectl.ts';
import { startSandbox } from '../../sandbox/index.ts';

const COFFER = join(import.meta.dirname, '..', '..', 'cli', 'coffer.js');
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'coffer-sandbox-cli-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) {
    const pidFile = join(d, 'sandbox.pid');
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(d, { recursive: true, force: true });
  }
});

function coffer(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [COFFER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('coffer sandbox up/down', () => {
  it('starts detached, prints how to use it, keeps state across down/up, and survives a crash', { timeout: 180_000 }, async () => {
    const dir = tmp();
    const up = await coffer(['sandbox', 'up', '--detach', '--dir', dir, '--no-controllers']);
    expect(up, JSON.stringify(up)).toMatchObject({ code: 0, stderr: '' });
    expect(up.stdout).toContain(`export KUBECONFIG=${join(dir, 'kubeconfig')}`);
    const k = kubectlFor(join(dir, 'kubeconfig'));
    const c = await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept, namespace: default}\ndata: {a: "1"}\n');
    expect(c.stderr).toBe('');

    const again = await coffer(['sandbox', 'up', '--detach', '--dir', dir]);
    expect(again.code, JSON.stringify(again)).toBe(1);
    expect(again.stderr).toContain('error: a sandbox is already running from');

    const down = await coffer(['sandbox', 'down', '--dir', dir]);
    expect(down, JSON.stringify(down)).toMatchObject({ code: 0 });
    expect(existsSync(join(dir, 'sandbox.pid'))).toBe(false);
    const st = await coffer(['sandbox', 'status', '--dir', dir, '-o', 'json']);
    expect(JSON.parse(st.stdout)).toMatchObject({ running: false });

    const up2 = await coffer(['sandbox', 'up', '--detach', '--dir', dir, '--no-controllers', '-o', 'json']);
    const info = JSON.parse(up2.stdout);
    expect(info.kubeconfig).toBe(join(dir, 'kubeconfig'));
    const got = await k.run(['get', 'cm', 'kept', '-o', 'jsonpath={.data.a}']);
    expect(got.stdout).toBe('1');

    // Crash: a write, then SIGKILL without a clean stop.
    const w = await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-crash, namespace: default}\n');
    expect(w.stderr).toBe('');
    await new Promise((r) => setTimeout(r, 200));
    process.kill(info.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const up3 = await coffer(['sandbox', 'up', '--detach', '--dir', dir, '--no-controllers']);
    expect(up3, JSON.stringify(up3)).toMatchObject({ code: 0 });
    const both = await k.run(['get', 'cm', 'kept', 'after-crash', '-o', 'name']);
    expect(both.stdout.trim().split('\n')).toEqual(['configmap/kept', 'configmap/after-crash']);
    const down2 = await coffer(['sandbox', 'down', '--dir', dir]);
    expect(down2, JSON.stringify(down2)).toMatchObject({ code: 0 });
  });

  it('registers --nodes N nodes', { timeout: 120_000 }, async () => {
    const dir = tmp();
    const up = await coffer(['sandbox', 'up', '--detach', '--dir', dir, '--nodes', '2']);
    expect(up, JSON.stringify(up)).toMatchObject({ code: 0, stderr: '' });
    const got = await kubectlFor(join(dir, 'kubeconfig')).run(['get', 'nodes', '-o', 'name']);
    expect(got.stdout.trim().split('\n')).toEqual(['node/sandbox', 'node/sandbox-worker']);
    expect((await coffer(['sandbox', 'down', '--dir', dir])).code).toBe(0);
    const bad = await coffer(['sandbox', 'up', '--dir', dir, '--nodes', '0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toBe('error: --nodes: "0" is not a node count (an integer from 1 to 64)\n');
  });

  it('remembers the node count across restarts; a start with fewer nodes removes the rest and their pods', { timeout: 120_000 }, async () => {
    const dir = tmp();
    const names = async (sb: Awaited<ReturnType<typeof startSandbox>>) => [...sb.server.store.list('nodes')].map((n) => n.metadata.name);
    const a = await startSandbox({ dir, nodes: 3 });
    expect(await names(a)).toEqual(['sandbox', 'sandbox-worker', 'sandbox-worker2']);
    a.server.ensure({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stranded', namespace: 'default' }, spec: { nodeName: 'sandbox-worker2', containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] } });
    await a.stop();
    const b = await startSandbox({ dir });
    expect(await names(b)).toEqual(['sandbox', 'sandbox-worker', 'sandbox-worker2']);
    await b.stop();
    const c = await startSandbox({ dir, nodes: 1 });
    expect(await names(c)).toEqual(['sandbox']);
    const deadline = Date.now() + 30_000;
    while (c.server.store.get('pods', 'default', 'stranded') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(c.server.store.get('pods', 'default', 'stranded')).toBeUndefined();
    await c.stop();
  });

  it('refuses a bad port and stopping what is not running', async () => {
    const dir = tmp();
    const bad = await coffer(['sandbox', 'up', '--dir', dir, '--port', 'http']);
    expect(bad.stderr).toBe('error: --port: "http" is not a port number (0-65535)\n');
    const down = await coffer(['sandbox', 'down', '--dir', dir]);
    expect(down.stderr).toBe(`error: no sandbox is running from ${dir}\n`);
  });

  it('reloads from snapshot plus journal and ignores a torn last line; resourceVersion keeps increasing', async () => {
    const dir = tmp();
    const a = await startSandbox({ dir, controllers: false });
    a.server.ensure({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one', namespace: 'default' } });
    const rvBefore = a.server.store.resourceVersion;
    await a.stop();
    appendFileSync(join(dir, 'state', 'journal.jsonl'), '{"rv":99999,"gr":"configmaps","obj":{"apiVer');
    const b = await startSandbox({ dir, controllers: false });
    try {
      expect(b.server.store.get('configmaps', 'default', 'one')).toBeTruthy();
      expect(b.server.store.resourceVersion).toBe(rvBefore);
      const two = b.server.ensure({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'two', namespace: 'default' } });
      expect(Number(two.metadata.resourceVersion)).toBeGreaterThan(rvBefore);
    } finally {
      await b.stop();
    }
  });
});
