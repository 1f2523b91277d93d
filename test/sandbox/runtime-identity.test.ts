/**
 * Identity inside containers, against a real sandbox with the installed kubectl:
 * runAsUser/runAsGroup/fsGroup/supplementalGroups really change the process
 * credentials, runAsNonRoot fails the container as the kubelet does, fsGroup
 * owns volumes, and env values never reach a command line. Cases from
 * kubernetes.io/docs/tasks/configure-pod-container/security-context/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eventually, sleeper, useTestCluster } from './runtime-harness.ts';

const { cluster, ok, apply, getJson } = useTestCluster();

const podWith = (name: string, spec: Record<string, unknown>, container: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { terminationGracePeriodSeconds: 1, ...spec, containers: [sleeper('c', container)] },
});

describe('identity inside containers', () => {
  it('runAsUser 1000, runAsGroup 3000, fsGroup 2000 (the security-context task page): id, emptyDir ownership, setgid', async () => {
    await apply(
      podWith(
        'sec',
        { securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000] }, volumes: [{ name: 'sec-vol', emptyDir: {} }] },
        { volumeMounts: [{ name: 'sec-vol', mountPath: '/data/demo' }], securityContext: { allowPrivilegeEscalation: false } },
      ),
    );
    await ok(['wait', '--for=condition=Ready', 'pod/sec', '--timeout=60s']);
    // coreutils `id` (the sandbox's busybox) prints the effective gid first, then the kernel-sorted list.
    expect(await ok(['exec', 'sec', '--', 'id'])).toBe('uid=1000 gid=3000 groups=3000,2000,4000\n');
    expect(await ok(['exec', 'sec', '--', 'sh', '-c', 'echo hello > /data/demo/testfile; stat -c "%u:%g %A" /data/demo/testfile /data/demo'])).toBe('1000:2000 -rw-r--r--\n0:2000 drwxrwsrwx\n');
    // The container's PID 1 runs with the same credentials (and no_new_privs), seen from the host.
    const pid1 = await ok(['exec', 'sec', '--', 'sh', '-c', 'grep -E "^(Uid|Gid|Groups|NoNewPrivs|CapEff)" /proc/1/status | tr -s "\\t " " "']);
    expect(pid1).toBe('Uid: 1000 1000 1000 1000\nGid: 3000 3000 3000 3000\nGroups: 2000 3000 4000 \nCapEff: 0000000000000000\nNoNewPrivs: 1\n');
    await ok(['delete', 'pod', 'sec', '--wait=false']);
  });

  it('the container securityContext wins over the pod; without runAsGroup the primary group is root', async () => {
    await apply(podWith('mixed', { securityContext: { runAsUser: 1000, runAsGroup: 3000 } }, { securityContext: { runAsUser: 2000 } }));
    await apply(podWith('nogroup', { securityContext: { runAsUser: 1234 } }));
    await ok(['wait', '--for=condition=Ready', 'pod/mixed', 'pod/nogroup', '--timeout=60s']);
    expect(await ok(['exec', 'mixed', '--', 'id'])).toBe('uid=2000 gid=3000 groups=3000\n');
    expect(await ok(['exec', 'nogroup', '--', 'id'])).toBe('uid=1234 gid=0(root) groups=0(root)\n');
    // A process without permission gets EACCES: /etc files are root's, a PVC-like root dir is not writable.
    const r = await cluster().kubectl(['exec', 'nogroup', '--', 'sh', '-c', 'echo x > /root/f']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Permission denied');
    await ok(['delete', 'pod', 'mixed', 'nogroup', '--wait=false']);
  });

  it('a PVC is not writable by a non-root user until fsGroup hands it to the pod (EACCES as on a node)', async () => {
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'vol' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } } });
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cred' }, stringData: { key: 'v' } });
    const mounts = { volumeMounts: [{ name: 'vol', mountPath: '/data' }, { name: 'cred', mountPath: '/cred' }] };
    const volumes = [{ name: 'vol', persistentVolumeClaim: { claimName: 'vol' } }, { name: 'cred', secret: { secretName: 'cred', defaultMode: 0o400 } }];
    await apply(podWith('nofs', { securityContext: { runAsUser: 1000 }, volumes }, mounts));
    await ok(['wait', '--for=condition=Ready', 'pod/nofs', '--timeout=60s']);
    const denied = await cluster().kubectl(['exec', 'nofs', '--', 'sh', '-c', 'touch /data/x']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("touch: cannot touch '/data/x': Permission denied");
    expect((await cluster().kubectl(['exec', 'nofs', '--', 'cat', '/cred/key'])).stderr).toContain('Permission denied');
    await ok(['delete', 'pod', 'nofs', '--timeout=30s']);

    await apply(podWith('withfs', { securityContext: { runAsUser: 1000, fsGroup: 2000, fsGroupChangePolicy: 'OnRootMismatch' }, volumes }, mounts));
    await ok(['wait', '--for=condition=Ready', 'pod/withfs', '--timeout=60s']);
    expect(await ok(['exec', 'withfs', '--', 'sh', '-c', 'mkdir /data/d && touch /data/d/x && stat -c "%u:%g %A %n" /data /data/d /data/d/x; cat /cred/key; echo; stat -L -c "%g %a" /cred/key'])).toBe(
      '0:2000 drwxrwsr-x /data\n1000:2000 drwxr-sr-x /data/d\n1000:2000 -rw-r--r-- /data/d/x\nv\n2000 440\n',
    );
    await ok(['delete', 'pod', 'withfs', '--wait=false']);
  });

  it('readOnlyRootFilesystem: the root and /tmp refuse writes (EROFS), volumes do not', async () => {
    await apply(podWith('ro', { volumes: [{ name: 'scratch', emptyDir: {} }] }, { securityContext: { readOnlyRootFilesystem: true }, volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }));
    await ok(['wait', '--for=condition=Ready', 'pod/ro', '--timeout=60s']);
    const r = await cluster().kubectl(['exec', 'ro', '--', 'sh', '-c', 'touch /scratch/ok && echo vol-ok; touch /tmp/x; touch /root/x']);
    expect(r.stdout).toBe('vol-ok\n');
    expect(r.stderr).toContain("touch: cannot touch '/tmp/x': Read-only file system");
    expect(r.stderr).toContain("touch: cannot touch '/root/x': Read-only file system");
    await ok(['delete', 'pod', 'ro', '--wait=false']);
    // The Coffer image (USER 65532) runs with a read-only root, as deploy/deployment.yaml asks.
    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'coffer-ro' }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'ghcr.io/coffer-dev/coffer:latest', args: ['--help'], securityContext: { readOnlyRootFilesystem: true, runAsNonRoot: true } }] } });
    const phase = await eventually(
      async () => {
        const p = (await getJson('pod', 'coffer-ro')).status?.phase;
        return (p === 'Succeeded' || p === 'Failed') && p;
      },
      90_000,
      'the coffer pod to finish',
    );
    expect(phase).toBe('Succeeded');
    await ok(['delete', 'pod', 'coffer-ro', '--wait=false']);
  });

  it('root keeps only the default capabilities; drop ALL leaves none; privileged keeps all', async () => {
    await apply(podWith('caps-default', {}));
    await apply(podWith('caps-none', {}, { securityContext: { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } }));
    await apply(podWith('caps-priv', {}, { securityContext: { privileged: true } }));
    await ok(['wait', '--for=condition=Ready', 'pod/caps-default', 'pod/caps-none', 'pod/caps-priv', '--timeout=60s']);
    const capBnd = async (p: string) => (await ok(['exec', p, '--', 'sh', '-c', 'grep CapBnd /proc/1/status | cut -f2'])).trim();
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    expect(await capBnd('caps-default')).toBe('00000000a80425fb');
    expect(await capBnd('caps-none')).toBe('0000000000000400');
    expect(BigInt('0x' + (await capBnd('caps-priv')))).toBeGreaterThan(0xa80425fbn);
    await ok(['delete', 'pod', 'caps-default', 'caps-none', 'caps-priv', '--wait=false']);
  });

  it('runAsNonRoot with an image that runs as root: CreateContainerConfigError with the kubelet message and event', async () => {
    await apply(podWith('nonroot', { securityContext: { runAsNonRoot: true } }));
    const uid = (await getJson('pod', 'nonroot')).metadata.uid;
    const want = `container has runAsNonRoot and image will run as root (pod: "nonroot_default(${uid})", container: c)`;
    const waiting = await eventually(async () => (await getJson('pod', 'nonroot')).status?.containerStatuses?.[0]?.state?.waiting, 30_000, 'a waiting state');
    expect(waiting).toEqual({ reason: 'CreateContainerConfigError', message: want });
    const events = await eventually(async () => {
      const list = await getJson('events', '--field-selector', 'involvedObject.name=nonroot');
      return list.items.find((e: any) => e.reason === 'Failed');
    });
    expect(events).toMatchObject({ type: 'Warning', message: `Error: ${want}` });
    expect((await ok(['get', 'pod', 'nonroot', '--no-headers'])).split(/\s+/)[2]).toBe('CreateContainerConfigError');
    // runAsUser: 0 with runAsNonRoot is the other kubelet message.
    await apply(podWith('nonroot0', { securityContext: { runAsNonRoot: true, runAsUser: 0 } }));
    const uid0 = (await getJson('pod', 'nonroot0')).metadata.uid;
    const w0 = await eventually(async () => (await getJson('pod', 'nonroot0')).status?.containerStatuses?.[0]?.state?.waiting?.message);
    expect(w0).toBe(`container's runAsUser breaks non-root policy (pod: "nonroot0_default(${uid0})", container: c)`);
    await ok(['delete', 'pod', 'nonroot', 'nonroot0', '--wait=false']);
  });

  it('a Deployment in a restricted namespace is warned about; its ReplicaSet reports the refused pods as FailedCreate', async () => {
    await ok(['create', 'namespace', 'locked']);
    await ok(['label', 'namespace', 'locked', 'pod-security.kubernetes.io/enforce=restricted']);
    const r = await cluster().kubectl(['-n', 'locked', 'create', 'deployment', 'web', '--image=busybox']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
    const event = await eventually(async () => (await getJson('events', '-n', 'locked')).items.find((e: any) => e.reason === 'FailedCreate'), 30_000, 'a FailedCreate event');
    expect(event.involvedObject.kind).toBe('ReplicaSet');
    expect(event.message).toMatch(/^Error creating: pods "web-[a-z0-9]+-[a-z0-9]+" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false \(container "busybox" must set/);
    await ok(['delete', 'namespace', 'locked', '--wait=false']);
  });

  it('secret-sourced env values are in the container, on no host command line', async () => {
    const secret = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: secret } });
    await apply(podWith('env', {}, { env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }, { name: 'PLAIN', value: `plain-${secret}` }] }));
    await ok(['wait', '--for=condition=Ready', 'pod/env', '--timeout=60s']);
    // While an exec is running too (it is a host process of its own).
    const exec = cluster().kubectl(['exec', 'env', '--', 'sh', '-c', 'echo "$DB_PASSWORD"; sleep 2']);
    await new Promise((r) => setTimeout(r, 700));
    const leaks: string[] = [];
    let scanned = 0;
    for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
      let cmd: string;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      scanned++;
      if (cmd.includes(secret)) leaks.push(`${pid}: ${cmd.replace(/\0/g, ' ')}`);
    }
    expect(scanned).toBeGreaterThan(10);
    expect(leaks).toEqual([]);
    expect((await exec).stdout).toBe(`${secret}\n`);
    await ok(['delete', 'pod', 'env', '--wait=false']);
  });
});
