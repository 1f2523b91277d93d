/** Runs the real kubectl against a sandbox; each sandbox gets its own HOME so discovery caches never leak between tests. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `bin` picks another kubectl (e.g. the `kubectl.1.27` next to the default one). */
export function kubectlFor(kubeconfigPath: string, bin = 'kubectl') {
  const home = mkdtempSync(join(tmpdir(), 'coffer-kubectl-home-'));
  const env = { ...process.env, KUBECONFIG: kubeconfigPath, HOME: home };
  const run = (args: string[], stdin?: string, timeoutMs = 30_000): Promise<KubectlResult> =>
    new Promise((resolve, reject) => {
      const p = spawn(bin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(t);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      p.stdin.end(stdin ?? '');
    });
  /** Starts a long-running kubectl (e.g. `get --watch`) and returns the process. */
  const start = (args: string[]) => spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { run, start, env };
}
