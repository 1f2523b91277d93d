/**
 * Lifecycle of the pod runtime itself: stopping the sandbox kills every
 * container process it started, and starting it again over the same state
 * directory resumes the pods (restartCount +1) with their volumes intact.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from './runtime-harness.ts';

/** Host processes whose command line mentions `dir` (every pod process binds paths under it). */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

let c: TestCluster | undefined;
afterAll(async () => {
  await c?.stop();
});

describe('sandbox restart', () => {
  it('kills pod processes on stop and resumes pods and volumes on start', async () => {
    c = await startTestCluster({ keepDir: true });
    const dir = c.dir;
    const ok = async (args: string[], input?: string) => {
      const r = await c!.kubectl(args, { input });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }));
    await ok(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'keeper' },
        spec: {
          containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo boot; trap "exit 0" TERM; while true; do sleep 0.2; done'], volumeMounts: [{ name: 'd', mountPath: '/d' }] }],
          volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }],
        },
      }),
    );
    await ok(['wait', '--for=condition=Ready', 'pod/keeper', '--timeout=60s']);
    await ok(['exec', 'keeper', '--', 'sh', '-c', 'echo kept > /d/f']);
    expect(processesUnder(dir).length).toBeGreaterThan(0);

    await c.stop();
    expect(processesUnder(dir)).toEqual([]);

    c = await startTestCluster({ dir });
    await ok(['wait', '--for=condition=Ready', 'pod/keeper', '--timeout=60s']);
    const pod = JSON.parse(await ok(['get', 'pod', 'keeper', '-o', 'json']));
    expect(pod.status.containerStatuses[0].restartCount).toBe(1);
    expect(pod.status.containerStatuses[0].lastState.terminated.exitCode).toBe(137);
    expect(await ok(['exec', 'keeper', '--', 'cat', '/d/f'])).toBe('kept\n');
    expect(await ok(['logs', 'keeper', '--previous'])).toBe('boot\n');
  });
});
