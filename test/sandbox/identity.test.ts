/**
 * Container identity, pure: the effective uid/gid/groups/capabilities from pod
 * and container securityContext over the image's USER, and the kubelet's
 * runAsNonRoot refusals word for word (pkg/kubelet/kuberuntime/security_context_others.go;
 * kubernetes.io/docs/tasks/configure-pod-container/security-context/). Plus
 * fsGroup ownership on a real directory (pkg/volume/volume_linux.go).
 */
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContainerConfigError } from '../../sandbox/runtime/env.ts';
import { applyFsGroup } from '../../sandbox/runtime/fsgroup.ts';
import { DEFAULT_CAPABILITIES, parseImageUser, resolveIdentity, setprivArgv } from '../../sandbox/runtime/identity.ts';

const pod = (securityContext: object = {}) => ({ metadata: { name: 'p', namespace: 'ns', uid: 'u-1' }, spec: { securityContext } });
const c = (securityContext: object = {}) => ({ name: 'c', securityContext });

describe('resolveIdentity', () => {
  const cases: Array<{ name: string; pod: object; container: object; image?: string; want: object }> = [
    { name: 'image default root, nothing set', pod: {}, container: {}, want: { uid: 0, gid: 0, groups: [0], noNewPrivs: false, capabilities: DEFAULT_CAPABILITIES } },
    { name: 'the docs example: runAsUser 1000, runAsGroup 3000, fsGroup 2000', pod: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000 }, container: {}, want: { uid: 1000, gid: 3000, groups: [3000, 2000] } },
    { name: 'container runAsUser wins over the pod', pod: { runAsUser: 1000, runAsGroup: 3000 }, container: { runAsUser: 2000 }, want: { uid: 2000, gid: 3000 } },
    { name: 'runAsUser without runAsGroup: primary group root', pod: { runAsUser: 1000 }, container: {}, want: { uid: 1000, gid: 0, groups: [0] } },
    { name: 'supplementalGroups after fsGroup, deduplicated', pod: { runAsGroup: 5, fsGroup: 7, supplementalGroups: [9, 7, 5] }, container: {}, want: { groups: [5, 7, 9] } },
    { name: 'image USER uid:gid (the Coffer image)', pod: {}, container: {}, image: '65532:65532', want: { uid: 65532, gid: 65532, groups: [65532] } },
    { name: 'runAsUser overrides the image user and its group', pod: { runAsUser: 10 }, container: {}, image: '65532:65532', want: { uid: 10, gid: 0 } },
    { name: 'allowPrivilegeEscalation false sets no_new_privs', pod: {}, container: { allowPrivilegeEscalation: false }, want: { noNewPrivs: true } },
    { name: 'drop ALL, add NET_BIND_SERVICE', pod: {}, container: { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } }, want: { capabilities: ['net_bind_service'] } },
    { name: 'drop one default, add a non-default', pod: {}, container: { capabilities: { drop: ['NET_RAW'], add: ['SYS_TIME'] } }, want: { capabilities: [...DEFAULT_CAPABILITIES.filter((x) => x !== 'net_raw'), 'sys_time'] } },
    { name: 'privileged keeps every capability and may escalate', pod: {}, container: { privileged: true, allowPrivilegeEscalation: false }, want: { capabilities: 'all', noNewPrivs: false } },
    { name: 'runAsNonRoot with a non-root runAsUser', pod: { runAsNonRoot: true, runAsUser: 1000 }, container: {}, want: { uid: 1000 } },
    { name: 'runAsNonRoot with a non-root image user', pod: { runAsNonRoot: true }, container: {}, image: '65532', want: { uid: 65532, gid: 0 } },
  ];
  for (const t of cases) it(t.name, () => expect(resolveIdentity(pod(t.pod), c(t.container), t.image)).toMatchObject(t.want));

  const refusals: Array<{ name: string; pod: object; container: object; image?: string; message: string }> = [
    { name: 'runAsNonRoot, image runs as root', pod: { runAsNonRoot: true }, container: {}, message: 'container has runAsNonRoot and image will run as root (pod: "p_ns(u-1)", container: c)' },
    { name: 'runAsNonRoot on the container, runAsUser 0 on the pod', pod: { runAsUser: 0 }, container: { runAsNonRoot: true }, message: `container's runAsUser breaks non-root policy (pod: "p_ns(u-1)", container: c)` },
    { name: 'runAsNonRoot, image user is a name', pod: { runAsNonRoot: true }, container: {}, image: 'app', message: 'container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "p_ns(u-1)", container: c)' },
  ];
  for (const t of refusals)
    it(`refuses: ${t.name}`, () => {
      const run = () => resolveIdentity(pod(t.pod), c(t.container), t.image);
      expect(run).toThrow(ContainerConfigError);
      expect(run).toThrow(t.message);
    });
  it('runAsNonRoot: false on the container overrides the pod', () => expect(resolveIdentity(pod({ runAsNonRoot: true }), c({ runAsNonRoot: false }), undefined).uid).toBe(0));
  it('parses image users', () => {
    expect(parseImageUser(undefined)).toEqual({ uid: 0 });
    expect(parseImageUser('1000:2000')).toEqual({ uid: 1000, gid: 2000 });
    expect(parseImageUser('nginx')).toEqual({ name: 'nginx' });
  });
  it('setpriv argv', () => {
    expect(setprivArgv({ uid: 0, gid: 0, groups: [], noNewPrivs: false, capabilities: ['chown'] })).toEqual(['/usr/bin/setpriv', '--reuid=0', '--regid=0', '--clear-groups', '--bounding-set=-all,+chown', '--']);
  });
});

describe('applyFsGroup (fsGroup on a real directory; runs as root like the kubelet)', () => {
  const tree = () => {
    const root = mkdtempSync(path.join(tmpdir(), 'coffer-fsgroup-'));
    mkdirSync(path.join(root, 'sub'));
    writeFileSync(path.join(root, 'sub', 'f'), 'x', { mode: 0o600 });
    return root;
  };
  const st = (p: string) => {
    const s = statSync(p);
    return `${s.gid} ${(s.mode & 0o7777).toString(8)}`;
  };
  it('group-owns every entry, adds group rw (dirs: x and setgid)', async () => {
    const root = tree();
    await applyFsGroup(root, 2000, { readOnly: false });
    expect([st(root), st(path.join(root, 'sub')), st(path.join(root, 'sub', 'f'))]).toEqual(['2000 2770', '2000 2775', '2000 660']);
  });
  it('read-only volumes get group read only', async () => {
    const root = tree();
    await applyFsGroup(root, 2000, { readOnly: true });
    expect(st(path.join(root, 'sub', 'f'))).toBe('2000 640');
  });
  it('OnRootMismatch skips the walk when the root already matches', async () => {
    const root = tree();
    await applyFsGroup(root, 2000, { readOnly: false });
    writeFileSync(path.join(root, 'late'), 'y', { mode: 0o600 });
    await applyFsGroup(root, 2000, { readOnly: false, policy: 'OnRootMismatch' });
    expect(st(path.join(root, 'late'))).toBe('2000 600'); // setgid root gave it the group; its mode was left alone
    await applyFsGroup(root, 2000, { readOnly: false, policy: 'Always' });
    expect(st(path.join(root, 'late'))).toBe('2000 660');
  });
});
