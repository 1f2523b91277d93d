/**
 * Test harness for the runtime and controller suites: a real sandbox (API
 * server + controllers) on a free loopback port with its own state directory,
 * and helpers that drive the installed kubectl against it.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll } from 'vitest';

export interface TestCluster {
  dir: string;
  kubeconfig: string;
  kc: KubeConfig;
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** A sandbox on a free port; pass `dir` to reuse a state directory (restart), `keepDir` to leave it behind on stop, `nodes` for several Nodes. */
export async function startTestCluster(opts: { dir?: string; keepDir?: boolean; nodes?: number } = {}): Promise<TestCluster> {
  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'coffer-sr-')));
  const { startSandbox } = await import('../../sandbox/index.ts');
  const sb = await startSandbox({ dir, port: 0, nodes: opts.nodes, log: process.env.SR_DEBUG ? (l: string) => console.error('[sandbox]', l) : undefined });
  const kubeconfig = sb.kubeconfigPath;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const kubectl: TestCluster['kubectl'] = (args, o = {}) =>
    new Promise((resolve) => {
      const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.end(o.input ?? '');
    });
  return {
    dir,
    kubeconfig,
    kc,
    kubectl,
    async stop() {
      await sb.stop();
      if (!opts.keepDir) await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const execFileP = (cmd: string, args: string[]) =>
  new Promise<{ stdout: string; stderr: string }>((resolve, reject) => execFile(cmd, args, (e, stdout, stderr) => (e ? reject(e) : resolve({ stdout, stderr }))));

/** kubectl calls that must succeed (a failure throws with kubectl's stderr), bound to the suite's cluster. */
export function kubectlHelpers(cluster: () => TestCluster) {
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await cluster().kubectl(args, { ...(input !== undefined ? { input } : {}), timeoutMs: 90_000 });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  return {
    ok,
    apply: (obj: unknown) => ok(['apply', '-f', '-'], JSON.stringify(obj)),
    getJson: async (...args: string[]): Promise<any> => JSON.parse(await ok(['get', ...args, '-o', 'json'])),
  };
}

/** A container that idles until SIGTERM and then exits 0, like a well-behaved server. */
export const sleeper = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  image: 'busybox',
  command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done'],
  ...extra,
});

/** One sandbox for the calling suite (started before all its tests, stopped after), with kubectl helpers bound to it. */
export function useTestCluster(opts: { nodes?: number } = {}) {
  let c: TestCluster | undefined;
  beforeAll(async () => {
    c = await startTestCluster(opts);
  });
  afterAll(async () => {
    await c?.stop();
  });
  const cluster = (): TestCluster => {
    if (!c) throw new Error('the test cluster is not started yet (use it inside tests or hooks)');
    return c;
  };
  return { cluster, ...kubectlHelpers(cluster) };
}
