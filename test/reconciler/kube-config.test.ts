import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, KubeConfigError, loadKubeConfig } from '../../reconciler/kube/index.ts';

const kubeconfig = (server: string, ctx = 'main') => `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: { server: "${server}", insecure-skip-tls-verify: true }
users:
- name: u
  user: { token: abc }
contexts:
- name: ${ctx}
  context: { cluster: c, user: u, namespace: shop }
- name: other
  context: { cluster: c, user: u }
current-context: ${ctx}
`;

describe('kubeconfig loading (like kubectl)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-kubeconfig-'));
  const a = join(dir, 'a.yaml');
  writeFileSync(a, kubeconfig('https://10.0.0.1:6443'));
  it('from an explicit path', () => {
    const c = new KubeClient({ kubeconfigPath: a });
    expect(c.serverUrl).toBe('https://10.0.0.1:6443');
    expect(c.kc.getCurrentContext()).toBe('main');
  });
  it('from KUBECONFIG in the given environment, without touching process.env', () => {
    const before = process.env.KUBECONFIG;
    const kc = loadKubeConfig({ env: { KUBECONFIG: a } });
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    expect(process.env.KUBECONFIG).toBe(before);
  });
  it('a chosen context', () => {
    expect(loadKubeConfig({ kubeconfigPath: a, context: 'other' }).getCurrentContext()).toBe('other');
  });
  it('a missing file is a clear error naming it', () => {
    expect(() => loadKubeConfig({ kubeconfigPath: join(dir, 'missing.yaml') })).toThrow(KubeConfigError);
    expect(() => loadKubeConfig({ kubeconfigPath: join(dir, 'missing.yaml') })).toThrow(/cannot load kubeconfig .*missing\.yaml/);
  });
  it('an unreachable API server is a clear error naming it', async () => {
    const b = join(dir, 'b.yaml');
    writeFileSync(b, kubeconfig('http://127.0.0.1:1'));
    await expect(new KubeClient({ kubeconfigPath: b }).request('GET', '/version')).rejects.toThrow(/cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:1/);
  });
});

describe('API request timeout', () => {
  it('a server that accepts but never answers fails with a clear timeout, not a hang', async () => {
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const server = createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'coffer-kubeconfig-'));
    const f = join(dir, 'k.yaml');
    writeFileSync(f, kubeconfig(`http://127.0.0.1:${port}`));
    try {
      await expect(new KubeClient({ kubeconfigPath: f }).request('GET', '/api/v1', { timeoutMs: 300 })).rejects.toThrow(/GET \/api\/v1: no answer from the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ within 0\.3s/);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
