/**
 * Pod Security fixtures: a minimal valid pod per level, and per check a few
 * tweaks of it that pass and that fail that check (and only it). Written out as
 * golden YAML under `testdata/<level>/v1.<minor>/{pass,fail}/<check><n>.yaml`
 * (regenerate with UPDATE_GOLDEN=1). Cases follow the Pod Security Standards
 * page (kubernetes.io/docs/concepts/security/pod-security-standards/).
 */
import type { PodSpec } from '../../../sandbox/api/podsecurity/types.ts';

export interface FixturePod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: { name: string; annotations?: Record<string, string> };
  spec: PodSpec;
}

type Tweak = (p: FixturePod) => void;

export interface CheckFixtures {
  check: string;
  /** The forbidden reason every fail case must produce. */
  reason: string;
  pass: Tweak[];
  fail: Tweak[];
}

/** Baseline: nothing but an init container and a container. */
export function baselinePod(): FixturePod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'base' },
    spec: {
      initContainers: [{ name: 'initcontainer1', image: 'busybox' }],
      containers: [{ name: 'container1', image: 'busybox' }],
    },
  };
}

/** Restricted: runAsNonRoot, RuntimeDefault seccomp, no privilege escalation, every capability dropped. */
export function restrictedPod(): FixturePod {
  const p = baselinePod();
  p.spec.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
  for (const c of [...p.spec.initContainers!, ...p.spec.containers!]) c.securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  return p;
}

const each = (p: FixturePod, f: (c: NonNullable<PodSpec['containers']>[number]) => void) => [...p.spec.initContainers!, ...p.spec.containers!].forEach(f);
const sc = (c: NonNullable<PodSpec['containers']>[number]) => (c.securityContext ??= {});
const podSc = (p: FixturePod) => (p.spec.securityContext ??= {});
const annotate = (p: FixturePod, k: string, v: string) => (p.metadata.annotations = { ...(p.metadata.annotations ?? {}), [k]: v });

export const BASELINE_FIXTURES: CheckFixtures[] = [
  {
    check: 'windowsHostProcess',
    reason: 'hostProcess',
    pass: [(p) => (podSc(p).windowsOptions = { hostProcess: false })],
    fail: [(p) => (podSc(p).windowsOptions = { hostProcess: true }), (p) => (sc(p.spec.containers![0]!).windowsOptions = { hostProcess: true })],
  },
  {
    check: 'hostNamespaces',
    reason: 'host namespaces',
    pass: [(p) => Object.assign(p.spec, { hostNetwork: false, hostPID: false, hostIPC: false })],
    fail: [(p) => (p.spec.hostNetwork = true), (p) => (p.spec.hostPID = true), (p) => (p.spec.hostIPC = true)],
  },
  {
    check: 'privileged',
    reason: 'privileged',
    pass: [(p) => each(p, (c) => (sc(c).privileged = false))],
    fail: [(p) => (sc(p.spec.containers![0]!).privileged = true), (p) => (sc(p.spec.initContainers![0]!).privileged = true)],
  },
  {
    check: 'capabilities_baseline',
    reason: 'non-default capabilities',
    pass: [(p) => each(p, (c) => (sc(c).capabilities = { ...sc(c).capabilities, add: ['CHOWN', 'NET_BIND_SERVICE', 'KILL'] }))],
    fail: [
      (p) => (sc(p.spec.containers![0]!).capabilities = { ...sc(p.spec.containers![0]!).capabilities, add: ['NET_RAW'] }),
      (p) => (sc(p.spec.initContainers![0]!).capabilities = { ...sc(p.spec.initContainers![0]!).capabilities, add: ['SYS_ADMIN'] }),
    ],
  },
  {
    check: 'hostPathVolumes',
    reason: 'hostPath volumes',
    pass: [(p) => (p.spec.volumes = [{ name: 'scratch', emptyDir: {} }])],
    fail: [(p) => (p.spec.volumes = [{ name: 'host', hostPath: { path: '/a' } }])],
  },
  {
    check: 'hostPorts',
    reason: 'hostPort',
    pass: [(p) => (p.spec.containers![0]!.ports = [{ containerPort: 8080, hostPort: 0 }])],
    fail: [(p) => (p.spec.containers![0]!.ports = [{ containerPort: 8080, hostPort: 80 }]), (p) => (p.spec.initContainers![0]!.ports = [{ containerPort: 8081, hostPort: 8081 }])],
  },
  {
    check: 'appArmorProfile',
    reason: 'forbidden AppArmor profile',
    pass: [(p) => (podSc(p).appArmorProfile = { type: 'RuntimeDefault' }), (p) => annotate(p, 'container.apparmor.security.beta.kubernetes.io/container1', 'localhost/foo')],
    fail: [(p) => (podSc(p).appArmorProfile = { type: 'Unconfined' }), (p) => annotate(p, 'container.apparmor.security.beta.kubernetes.io/container1', 'unconfined')],
  },
  {
    check: 'seLinuxOptions',
    reason: 'seLinuxOptions',
    pass: [(p) => (podSc(p).seLinuxOptions = { type: 'container_t', level: 's0:c1,c2' })],
    fail: [(p) => (podSc(p).seLinuxOptions = { type: 'spc_t' }), (p) => (sc(p.spec.containers![0]!).seLinuxOptions = { user: 'system_u' }), (p) => (sc(p.spec.containers![0]!).seLinuxOptions = { role: 'system_r' })],
  },
  {
    check: 'procMount',
    reason: 'procMount',
    pass: [(p) => each(p, (c) => (sc(c).procMount = 'Default'))],
    fail: [(p) => (sc(p.spec.containers![0]!).procMount = 'Unmasked')],
  },
  {
    check: 'seccompProfile_baseline',
    reason: 'seccompProfile',
    pass: [(p) => (podSc(p).seccompProfile = { type: 'Localhost', localhostProfile: 'profiles/audit.json' })],
    fail: [(p) => (podSc(p).seccompProfile = { type: 'Unconfined' }), (p) => (sc(p.spec.containers![0]!).seccompProfile = { type: 'Unconfined' })],
  },
  {
    check: 'sysctls',
    reason: 'forbidden sysctls',
    pass: [(p) => (podSc(p).sysctls = [{ name: 'net.ipv4.ip_local_port_range', value: '1024 65535' }, { name: 'net.ipv4.tcp_rmem', value: '4096 87380 6291456' }])],
    fail: [(p) => (podSc(p).sysctls = [{ name: 'kernel.msgmax', value: '65536' }])],
  },
];

export const RESTRICTED_FIXTURES: CheckFixtures[] = [
  {
    check: 'restrictedVolumes',
    reason: 'restricted volume types',
    pass: [
      (p) =>
        (p.spec.volumes = [
          { name: 'a', emptyDir: {} },
          { name: 'b', configMap: { name: 'c' } },
          { name: 'c', secret: { secretName: 's' } },
          { name: 'd', persistentVolumeClaim: { claimName: 'pvc' } },
          { name: 'e', projected: { sources: [] } },
          { name: 'f', downwardAPI: { items: [] } },
          { name: 'g', csi: { driver: 'x' } },
          { name: 'h', ephemeral: { volumeClaimTemplate: { spec: {} } } },
        ]),
    ],
    fail: [(p) => (p.spec.volumes = [{ name: 'n', nfs: { server: 'nfs', path: '/' } }]), (p) => (p.spec.volumes = [{ name: 'g', gitRepo: { repository: 'r' } }]), (p) => (p.spec.volumes = [{ name: 'h', hostPath: { path: '/a' } }])],
  },
  {
    check: 'allowPrivilegeEscalation',
    reason: 'allowPrivilegeEscalation != false',
    pass: [],
    fail: [(p) => delete sc(p.spec.containers![0]!).allowPrivilegeEscalation, (p) => (sc(p.spec.initContainers![0]!).allowPrivilegeEscalation = true)],
  },
  {
    check: 'runAsNonRoot',
    reason: 'runAsNonRoot != true',
    pass: [(p) => (delete podSc(p).runAsNonRoot, each(p, (c) => (sc(c).runAsNonRoot = true)))],
    fail: [(p) => delete podSc(p).runAsNonRoot, (p) => (podSc(p).runAsNonRoot = false), (p) => (sc(p.spec.containers![0]!).runAsNonRoot = false)],
  },
  {
    check: 'runAsUser',
    reason: 'runAsUser=0',
    pass: [(p) => ((podSc(p).runAsUser = 1000), (sc(p.spec.containers![0]!).runAsUser = 1001))],
    fail: [(p) => (podSc(p).runAsUser = 0), (p) => (sc(p.spec.containers![0]!).runAsUser = 0)],
  },
  {
    check: 'seccompProfile_restricted',
    reason: 'seccompProfile',
    pass: [(p) => (delete podSc(p).seccompProfile, each(p, (c) => (sc(c).seccompProfile = { type: 'RuntimeDefault' })))],
    fail: [(p) => delete podSc(p).seccompProfile, (p) => (podSc(p).seccompProfile = { type: 'Unconfined' }), (p) => (sc(p.spec.containers![0]!).seccompProfile = { type: 'Unconfined' })],
  },
  {
    check: 'capabilities_restricted',
    reason: 'unrestricted capabilities',
    pass: [(p) => (sc(p.spec.containers![0]!).capabilities = { drop: ['ALL'], add: ['NET_BIND_SERVICE'] })],
    fail: [(p) => delete sc(p.spec.containers![0]!).capabilities, (p) => (sc(p.spec.containers![0]!).capabilities = { drop: ['ALL'], add: ['CHOWN'] }), (p) => (sc(p.spec.initContainers![0]!).capabilities = { drop: ['NET_RAW'] })],
  },
];

/** Every fixture of a level at `minor`: [path under testdata, pod, expected reason or undefined for pass]. */
export function fixturesFor(level: 'baseline' | 'restricted', minor: number): Array<{ file: string; pod: FixturePod; reason?: string; check: string }> {
  const base = level === 'baseline' ? baselinePod : restrictedPod;
  const sets = level === 'baseline' ? BASELINE_FIXTURES : [...BASELINE_FIXTURES, ...RESTRICTED_FIXTURES];
  const out: Array<{ file: string; pod: FixturePod; reason?: string; check: string }> = [{ file: `${level}/v1.${minor}/pass/base.yaml`, pod: base(), check: 'base' }];
  for (const s of sets) {
    // Restricted replaces these baseline checks with stricter ones; their restricted fixtures cover them.
    if (level === 'restricted' && ['hostPathVolumes', 'capabilities_baseline', 'seccompProfile_baseline'].includes(s.check)) continue;
    for (const [kind, tweaks] of [['pass', s.pass], ['fail', s.fail]] as const)
      tweaks.forEach((t, i) => {
        const pod = base();
        const name = `${s.check.toLowerCase()}${i}`;
        pod.metadata.name = name;
        t(pod);
        out.push({ file: `${level}/v1.${minor}/${kind}/${name}.yaml`, pod, check: s.check, ...(kind === 'fail' ? { reason: s.reason } : {}) });
      });
  }
  return out;
}
