/**
 * `coffer dev --kubeconfig`: selector edits shown as the namespaces they add or drop on a real API server (the
 * sandbox, or the cluster of COFFER_TEST_KUBECONFIG — namespaces and the label are random and deleted afterwards).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeClient } from '../../reconciler/kube/client.ts';
import { BASE } from '../compiler/helpers.ts';

// Backups, mover Jobs and Pods on a loaded two-core machine take minutes, not the default 60 s (issue 19: the
// SIGTERM test timed out at load 8–11). Each test still fails on its own deadlines when something really hangs.
vi.setConfig({ testTimeout: 300_000 });

const COFFER = fileURLToPath(new URL('../../cli/coffer.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'coffer-dev-cluster-'));
const suffix = randomBytes(3).toString('hex');
const label = `dev-test-${suffix}`;
const ns = { shop: `shop-${suffix}`, billing: `billing-${suffix}`, legacy: `legacy-${suffix}` };
let kubeconfig: string;
let client: KubeClient;
let stopCluster: () => Promise<void>;
const children: ChildProcess[] = [];

const policy = (selector: string) => BASE['policy.yaml']!.replace(/namespaces: .*/, `namespaces: '${selector}'`);
const tier = (t: string) => `has(namespaceObject.metadata.labels) && namespaceObject.metadata.labels["${label}"] == "${t}"`;

beforeAll(async () => {
  const real = process.env.COFFER_TEST_KUBECONFIG;
  if (real) {
    kubeconfig = real;
    stopCluster = async () => undefined;
  } else {
    const { startSandbox } = await import('../../sandbox/index.ts');
    const sb = await startSandbox({ dir: join(work, 'sandbox'), controllers: false });
    kubeconfig = sb.kubeconfigPath;
    stopCluster = () => sb.stop();
  }
  client = new KubeClient({ kubeconfigPath: kubeconfig });
  for (const [name, t] of [[ns.shop, 'gold'], [ns.billing, 'gold'], [ns.legacy, 'bronze']] as const) {
    await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [label]: t } } });
  }
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const name of Object.values(ns)) await client?.delete('v1', 'namespaces', undefined, name).catch(() => undefined);
  await stopCluster?.();
  rmSync(work, { recursive: true, force: true });
});

function start(args: string[], cwd: string) {
  const child = spawn(process.execPath, [COFFER, 'dev', ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, lines, exit };
}

function repo(name: string): string {
  const dir = join(work, name);
  for (const [file, text] of Object.entries({ ...BASE, 'policy.yaml': policy(tier('gold')) })) {
    const rel = file === 'policy.yaml' ? 'policies/db.yaml' : file;
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

describe('coffer dev on a cluster', () => {
  it('shows what each policy selects, then which namespaces a selector edit adds and drops', async () => {
    const dir = repo('a');
    const p = start(['-o', 'json', '--debounce', '100ms', '--kubeconfig', kubeconfig], dir);
    await expect.poll(() => p.lines.length, { timeout: 20_000, interval: 50 }).toBe(1);
    expect(JSON.parse(p.lines[0]!)).toMatchObject({ status: 'initial', namespaces: [{ policy: 'db', selected: [ns.billing, ns.shop].sort(), added: [], removed: [] }] });

    writeFileSync(join(dir, 'policies/db.yaml'), policy(`${tier('bronze')} || namespaceObject.metadata.name == "${ns.shop}"`));
    await expect.poll(() => p.lines.length, { timeout: 10_000, interval: 50 }).toBe(2);
    const second = JSON.parse(p.lines[1]!);
    expect(second).toMatchObject({ status: 'changed', namespaces: [{ policy: 'db', selected: [ns.legacy, ns.shop].sort(), added: [ns.legacy], removed: [ns.billing] }] });
    expect(second.diff.risks.map((r: { code: string }) => r.code)).toContain('selector-changed');
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
  });

  it('a cluster that cannot be reached is a warning on each compile, not the end of the loop', async () => {
    const dir = repo('b');
    const dead = join(work, 'dead-kubeconfig');
    writeFileSync(dead, 'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context: { cluster: c, user: u }\ncurrent-context: c\nusers:\n- name: u\n  user: { token: x }\n');
    const p = start(['-o', 'json', '--kubeconfig', dead], dir);
    await expect.poll(() => p.lines.length, { timeout: 20_000, interval: 50 }).toBe(1);
    const first = JSON.parse(p.lines[0]!);
    expect(first.status).toBe('initial');
    expect(first.namespacesError).toMatch(/ECONNREFUSED|connect|did not answer/i);
    expect(first.namespaces).toBeUndefined();
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
  });
});
