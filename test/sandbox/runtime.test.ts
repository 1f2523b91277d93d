/**
 * The pod runtime against a real sandbox, driven with the installed kubectl and
 * @kubernetes/client-node: pods really run under bubblewrap, logs and exec use
 * the real protocols, exit codes and restart policies are truthful.
 */
import { PassThrough, Writable } from 'node:stream';
import { Attach, Exec, CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { COFFER_IMAGE_DIR } from '../../sandbox/runtime/images.ts';

const CHECKOUT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
import { eventually, useTestCluster } from './runtime-harness.ts';

const { cluster, ok } = useTestCluster();

async function pod(name: string): Promise<any> {
  return JSON.parse(await ok(['get', 'pod', name, '-o', 'json']));
}

describe('pods run as bubblewrap processes', () => {
  it('runs a busybox pod, serves its logs, and kubectl exec propagates exit codes', async () => {
    await ok(['run', 'shell', '--image=busybox:1.36', '--env=GREETING=hi', '--', 'sh', '-c', 'echo "$GREETING from $(hostname)"; echo oops >&2; trap "exit 0" TERM; while true; do sleep 0.2; done']);
    await ok(['wait', '--for=condition=Ready', 'pod/shell', '--timeout=30s']);
    const p = await pod('shell');
    expect(p.status.phase).toBe('Running');
    expect(p.spec.nodeName).toBe('sandbox');
    expect(p.status.podIP).toMatch(/^10\.244\./);
    expect(p.status.containerStatuses[0].state.running.startedAt).toMatch(/Z$/);

    const logs = await eventually(async () => {
      const out = await ok(['logs', 'shell']);
      return out.includes('oops') && out;
    });
    expect(logs).toBe('hi from shell\noops\n');
    expect(await ok(['logs', 'shell', '--tail=1'])).toBe('oops\n');
    expect(await ok(['logs', 'shell', '--timestamps'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hi from shell\n/);

    const r = await cluster().kubectl(['exec', 'shell', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    expect(r.stderr).toContain('command terminated with exit code 3');

    // Same mount and PID namespace as the container: its PID 1 is the pod's shell.
    const ps = await ok(['exec', 'shell', '--', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; cat /etc/hostname; pwd']);
    expect(ps).toContain('sh -c echo');
    expect(ps).toContain('shell\n/\n');

    // Interactive stdin.
    const piped = await ok(['exec', '-i', 'shell', '--', 'sh', '-c', 'tr a-z A-Z'], 'hello stdin\n');
    expect(piped).toBe('HELLO STDIN\n');

    // Missing binary: an error, not a hang.
    const missing = await cluster().kubectl(['exec', 'shell', '--', 'no-such-binary']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('executable file not found in $PATH');

    // Graceful delete: the TERM trap lets it exit at once, and the object goes away.
    await ok(['delete', 'pod', 'shell', '--timeout=30s']);
    const gone = await cluster().kubectl(['get', 'pod', 'shell']);
    expect(gone.stderr).toContain('pods "shell" not found');
  });

  it('follows logs until the container exits (kubectl logs -f)', async () => {
    await ok(['run', 'counter', '--image=busybox', '--restart=Never', '--', 'sh', '-c', 'for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done']);
    await eventually(async () => (await pod('counter')).status?.phase !== 'Pending' && true, 30_000, 'counter to start');
    const r = await cluster().kubectl(['logs', '-f', 'counter'], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    const done = await eventually(async () => {
      const p = await pod('counter');
      return p.status.phase === 'Succeeded' && p;
    });
    expect(done.status.containerStatuses[0].state.terminated.exitCode).toBe(0);
    expect(done.status.containerStatuses[0].state.terminated.reason).toBe('Completed');
  });

  it('reports failures and restarts per restartPolicy', async () => {
    await ok(['run', 'fails', '--image=alpine', '--restart=Never', '--', 'sh', '-c', 'echo bye; exit 7']);
    const failed = await eventually(async () => {
      const p = await pod('fails');
      return p.status.phase === 'Failed' && p;
    });
    expect(failed.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 7, reason: 'Error' });
    expect(failed.status.containerStatuses[0].restartCount).toBe(0);

    await ok(['run', 'crashloop', '--image=busybox', '--restart=Always', '--', 'sh', '-c', 'echo run; exit 1']);
    const looping = await eventually(async () => {
      const p = await pod('crashloop');
      return p.status.containerStatuses?.[0]?.restartCount >= 2 && p;
    }, 30_000, 'two restarts');
    expect(looping.status.phase).toBe('Running');
    expect(looping.status.containerStatuses[0].lastState.terminated.exitCode).toBe(1);
    expect(await ok(['logs', 'crashloop', '--previous'])).toBe('run\n');
    await ok(['delete', 'pod', 'crashloop', 'fails', '--grace-period=0', '--force']).catch(() => {});
  });

  it('keeps images outside the table Pending with a clear event', async () => {
    await ok(['run', 'nginx', '--image=nginx:1.27']);
    const p = await eventually(async () => {
      const p = await pod('nginx');
      return p.status?.containerStatuses?.[0]?.state?.waiting && p;
    });
    expect(p.status.phase).toBe('Pending');
    expect(['ErrImagePull', 'ImagePullBackOff']).toContain(p.status.containerStatuses[0].state.waiting.reason);
    const events = await eventually(async () => {
      const out = await ok(['get', 'events', '--field-selector', 'involvedObject.name=nginx', '-o', 'json']);
      const items = JSON.parse(out).items as any[];
      return items.find((e) => e.reason === 'Failed') as any;
    });
    expect(events.message).toContain('Failed to pull image "nginx:1.27"');
    expect(events.message).toContain('not in the sandbox image table');
    await ok(['delete', 'pod', 'nginx', '--grace-period=0', '--force']).catch(() => {});
  });

  it('mounts configMap, secret and emptyDir volumes and resolves env references', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config' }, data: { mode: 'fast', 'app.conf': 'key=value' } }));
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secret' }, data: { password: Buffer.from('s3cr3t').toString('base64') } }));
    const manifest = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'volumes', labels: { app: 'v' } },
      spec: {
        restartPolicy: 'Never',
        initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'echo from-init > /work/init.txt'], volumeMounts: [{ name: 'scratch', mountPath: '/work' }] }],
        containers: [
          {
            name: 'main',
            image: 'debian:12',
            workingDir: '/work',
            command: ['sh', '-c'],
            args: ['cat init.txt; cat /config/app.conf; echo; cat /secret/password; echo; echo "$MODE $PASSWORD $POD_NAME $(MODE)"; touch /config/x 2>/dev/null || echo ro'],
            env: [
              { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'mode' } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'password' } } },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            ],
            volumeMounts: [
              { name: 'scratch', mountPath: '/work' },
              { name: 'config', mountPath: '/config' },
              { name: 'secret', mountPath: '/secret' },
              { name: 'eph', mountPath: '/eph' },
            ],
          },
        ],
        volumes: [
          { name: 'scratch', emptyDir: {} },
          { name: 'config', configMap: { name: 'app-config' } },
          { name: 'secret', secret: { secretName: 'app-secret' } },
          { name: 'eph', ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } } },
        ],
      },
    };
    await ok(['apply', '-f', '-'], JSON.stringify(manifest));
    await eventually(async () => (await pod('volumes')).status.phase === 'Succeeded', 30_000, 'pod to succeed');
    const p = await pod('volumes');
    expect(p.status.initContainerStatuses[0].state.terminated.exitCode).toBe(0);
    expect(await ok(['logs', 'volumes', '-c', 'main'])).toBe('from-init\nkey=value\ns3cr3t\nfast s3cr3t volumes fast\nro\n');
    // A generic ephemeral volume gets a claim owned by the pod.
    const claim = JSON.parse(await ok(['get', 'pvc', 'volumes-eph', '-o', 'json']));
    expect(claim.metadata.ownerReferences[0]).toMatchObject({ kind: 'Pod', name: 'volumes', uid: p.metadata.uid });
    expect(claim.status.phase).toBe('Bound');
    // $(MODE) in args is expanded by the kubelet, as Kubernetes does. Init container logs by name:
    expect(await ok(['logs', 'volumes', '-c', 'init'])).toBe('');
  });

  it('serves exec to @kubernetes/client-node Exec (the reconciler hook path)', async () => {
    await ok(['run', 'hooks', '--image=busybox', '--', 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done']);
    await ok(['wait', '--for=condition=Ready', 'pod/hooks', '--timeout=30s']);
    const exec = new Exec(cluster().kc);
    const run = (cmd: string[], stdin?: string) =>
      new Promise<{ out: string; err: string; status: any }>((resolve, reject) => {
        let out = '';
        let err = '';
        const stdout = new Writable({ write: (ch, _e, cb) => ((out += ch), cb()) });
        const stderr = new Writable({ write: (ch, _e, cb) => ((err += ch), cb()) });
        let input: PassThrough | null = null;
        if (stdin !== undefined) {
          input = new PassThrough();
          input.end(stdin);
        }
        exec.exec('default', 'hooks', 'hooks', cmd, stdout, stderr, input, false, (status) => resolve({ out, err, status })).catch(reject);
      });
    const a = await run(['sh', '-c', 'echo dump; echo warn >&2']);
    expect(a.out).toBe('dump\n');
    expect(a.err).toBe('warn\n');
    expect(a.status.status).toBe('Success');
    const b = await run(['sh', '-c', 'exit 42']);
    expect(b.status.status).toBe('Failure');
    expect(b.status.details.causes[0]).toEqual({ reason: 'ExitCode', message: '42' });
    const s = await run(['sh', '-c', 'wc -c'], 'twelve bytes');
    expect(s.out.trim()).toBe('12');

    const core = cluster().kc.makeApiClient(CoreV1Api);
    const log = await core.readNamespacedPodLog({ name: 'hooks', namespace: 'default' });
    expect(log).toBe('');
    await ok(['delete', 'pod', 'hooks', '--timeout=30s']);
  });

  it('restarts a container whose liveness probe fails, with a fresh /tmp', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'lively' },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'c',
            image: 'busybox',
            command: ['sh', '-c', 'test -f /tmp/started && echo restarted-dirty; touch /tmp/started /tmp/alive; echo up; trap "exit 0" TERM; while true; do sleep 0.2; done'],
            livenessProbe: { exec: { command: ['test', '-f', '/tmp/alive'] }, periodSeconds: 1, failureThreshold: 1 },
          },
        ],
      },
    }));
    await ok(['wait', '--for=condition=Ready', 'pod/lively', '--timeout=30s']);
    await ok(['exec', 'lively', '--', 'rm', '/tmp/alive']);
    const restarted = await eventually(async () => {
      const p = await pod('lively');
      const s = p.status.containerStatuses?.[0];
      return s?.restartCount >= 1 && s.state.running && p;
    }, 30_000, 'liveness restart');
    expect(restarted.status.containerStatuses[0].lastState.terminated).toBeTruthy();
    expect(await ok(['logs', 'lively'])).toBe('up\n');
    await ok(['delete', 'pod', 'lively', '--timeout=30s']);
  });

  it('gates readiness on an exec readiness probe', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'probed' },
      spec: {
        containers: [
          {
            name: 'c',
            image: 'busybox',
            command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done'],
            readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
          },
        ],
      },
    }));
    await eventually(async () => (await pod('probed')).status?.phase === 'Running', 30_000, 'running');
    const before = await pod('probed');
    expect(before.status.containerStatuses[0].ready).toBe(false);
    expect(before.status.conditions.find((x: any) => x.type === 'Ready').status).toBe('False');
    await ok(['exec', 'probed', '--', 'touch', '/tmp/ready']);
    await ok(['wait', '--for=condition=Ready', 'pod/probed', '--timeout=30s']);
    await ok(['exec', 'probed', '--', 'rm', '/tmp/ready']);
    await ok(['wait', '--for=condition=Ready=false', 'pod/probed', '--timeout=30s']);
    await ok(['delete', 'pod', 'probed', '--timeout=30s']);
  });

  it('runs the Coffer image as the Coffer CLI (entrypoint coffer, the build output bound read-only at /opt/coffer)', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    await ok(['run', 'cli', '--image=ghcr.io/coffer-dev/coffer:v0.1', '--restart=Never', '--', 'version']);
    await eventually(async () => (await pod('cli')).status?.phase === 'Succeeded', 60_000, 'coffer version to finish');
    expect(await ok(['logs', 'cli'])).toBe(`coffer ${version}\n`);
    await ok(['run', 'cli-sh', '--image=coffer', '--restart=Never', '--command', '--', 'sh', '-c', `coffer version; touch ${COFFER_IMAGE_DIR}/x 2>/dev/null || echo read-only; test -e ${CHECKOUT}/cli/main.ts || echo no-checkout`]);
    await eventually(async () => (await pod('cli-sh')).status?.phase === 'Succeeded', 60_000, 'shell in coffer image');
    expect(await ok(['logs', 'cli-sh'])).toBe(`coffer ${version}\nread-only\nno-checkout\n`);
  });

  it('runs preStop hooks and SIGTERM on graceful delete, SIGKILL after the grace period, sooner when a second delete shortens it', async () => {
    const shared = `${cluster().dir}/hostpath-shared`;
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'graceful' },
      spec: {
        terminationGracePeriodSeconds: 5,
        containers: [
          {
            name: 'c',
            image: 'busybox',
            command: ['sh', '-c', 'trap "echo term >> /shared/log; exit 0" TERM; while true; do sleep 0.1; done'],
            lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /shared/log'] } } },
            volumeMounts: [{ name: 's', mountPath: '/shared' }],
          },
        ],
        volumes: [{ name: 's', hostPath: { path: shared, type: 'DirectoryOrCreate' } }],
      },
    }));
    await ok(['wait', '--for=condition=Ready', 'pod/graceful', '--timeout=30s']);
    await ok(['delete', 'pod', 'graceful', '--timeout=30s']);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`${shared}/log`, 'utf8')).toBe('prestop\nterm\n');

    // A PID 1 without a TERM handler ignores SIGTERM (as in a container): SIGKILL ends it after the grace period.
    await ok(['run', 'stubborn', '--image=busybox', '--', 'sleep', '1000']);
    await ok(['wait', '--for=condition=Ready', 'pod/stubborn', '--timeout=30s']);
    await ok(['delete', 'pod', 'stubborn', '--grace-period=1', '--timeout=30s']);
    // The pod object is gone only after its processes are: none of them may remain.
    const { readdirSync } = await import('node:fs');
    const left = readdirSync('/proc').filter((p) => {
      try {
        return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('_stubborn_');
      } catch {
        return false;
      }
    });
    expect(left).toEqual([]);

    // A second delete with a shorter grace period cuts short the first one's wait (an hour here), as a real
    // kubelet does: without it the pod would stay Terminating past the timeout below.
    await ok(['run', 'stubborn2', '--image=busybox', '--', 'sleep', '1000']);
    await ok(['wait', '--for=condition=Ready', 'pod/stubborn2', '--timeout=30s']);
    await ok(['delete', 'pod', 'stubborn2', '--grace-period=3600', '--wait=false']);
    expect((await pod('stubborn2')).metadata.deletionGracePeriodSeconds).toBe(3600);
    await ok(['delete', 'pod', 'stubborn2', '--grace-period=1', '--timeout=30s']);
  });

  it('gives stdin+tty containers a terminal that attach drives (kubectl run -it)', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'interactive' }, spec: { restartPolicy: 'Never', containers: [{ name: 'it', image: 'busybox', stdin: true, tty: true, command: ['sh'] }] } }));
    await ok(['wait', '--for=condition=Ready', 'pod/interactive', '--timeout=30s']);
    let out = '';
    const stdout = new Writable({ write: (ch, _e, cb) => ((out += ch), cb()) });
    const input = new PassThrough();
    const ws = await new Attach(cluster().kc).attach('default', 'interactive', 'it', stdout, stdout, input, true);
    input.write('tty; echo sum-$((1+2)); exit 3\n');
    await eventually(async () => out.includes('sum-3'), 30_000, 'shell output');
    expect(out).toContain('/dev/pts/');
    const done = await eventually(async () => {
      const p = await pod('interactive');
      return p.status.phase === 'Failed' && p;
    }, 30_000, 'shell exit');
    expect(done.status.containerStatuses[0].state.terminated.exitCode).toBe(3);
    ws.close();
  });
});
