/**
 * Pod Security Admission, pure: the checks against golden fixtures, exact
 * messages, version behaviour, label parsing and the registry's validation.
 * Sources: the Pod Security Standards page
 * (kubernetes.io/docs/concepts/security/pod-security-standards/), the Pod
 * Security Admission page (…/concepts/security/pod-security-admission/), and
 * kubernetes/pod-security-admission (policy/check_*.go, admission/admission.go).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PodSecurity } from '../../../sandbox/api/podsecurity/admission.ts';
import { DEFAULT_CHECKS } from '../../../sandbox/api/podsecurity/checks/index.ts';
import { LATEST, v1 } from '../../../sandbox/api/podsecurity/helpers.ts';
import { policyFromLabels } from '../../../sandbox/api/podsecurity/policy.ts';
import { aggregate, forbiddenDetail, newEvaluator, validateChecks } from '../../../sandbox/api/podsecurity/registry.ts';
import type { Check, Level, PodSpec } from '../../../sandbox/api/podsecurity/types.ts';
import { baselinePod, fixturesFor, restrictedPod, type FixturePod } from './fixtures.ts';

const TESTDATA = path.join(import.meta.dirname, 'testdata');
const SERVER_MINOR = 32;
const evaluator = newEvaluator(DEFAULT_CHECKS, SERVER_MINOR);

function evaluate(level: Level, pod: FixturePod | { metadata?: object; spec: PodSpec }, minor?: number) {
  return aggregate(evaluator.evaluatePod({ level, version: minor === undefined ? LATEST : v1(minor) }, pod.metadata ?? {}, pod.spec));
}

function golden(rel: string, actual: string): void {
  const file = path.join(TESTDATA, rel);
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
  }
  expect(actual, rel).toBe(readFileSync(file, 'utf8'));
}

describe('golden fixtures (one pass and one fail case per check, Pod Security Standards)', () => {
  for (const level of ['baseline', 'restricted'] as const) {
    const fixtures = fixturesFor(level, SERVER_MINOR);
    it(`${level}: every fixture matches its golden YAML, passes or fails exactly its check`, () => {
      const messages: string[] = [];
      for (const f of fixtures) {
        golden(f.file, stringify(f.pod));
        const r = evaluate(level, f.pod, SERVER_MINOR);
        if (!f.reason) expect(r.allowed, `${f.file}: ${forbiddenDetail(r)}`).toBe(true);
        else {
          expect(r.reasons, f.file).toEqual([f.reason]);
          messages.push(`${f.file}: ${forbiddenDetail(r)}`);
        }
      }
      golden(`${level}/v1.${SERVER_MINOR}/messages.txt`, messages.join('\n') + '\n');
    });
  }

  it('the minimal restricted pod passes baseline, the minimal baseline pod fails restricted', () => {
    expect(evaluate('baseline', restrictedPod()).allowed).toBe(true);
    expect(evaluate('restricted', baselinePod()).reasons).toEqual(['allowPrivilegeEscalation != false', 'unrestricted capabilities', 'runAsNonRoot != true', 'seccompProfile']);
  });

  it('every registered check has fixtures at the level it belongs to', () => {
    const covered = new Set([...fixturesFor('restricted', SERVER_MINOR), ...fixturesFor('baseline', SERVER_MINOR)].map((f) => f.check));
    // Checks newer than the server (1.34+) cannot apply to `latest` here; the version table covers them.
    const applicable = DEFAULT_CHECKS.filter((c) => c.versions[0]!.minimumVersion.minor <= SERVER_MINOR).map((c) => c.id);
    expect(applicable.filter((id) => !covered.has(id))).toEqual([]);
  });
});

describe('messages, word for word (kubernetes/pod-security-admission policy/check_*.go)', () => {
  const pod = (spec: PodSpec, annotations?: Record<string, string>) => ({ metadata: { name: 'p', ...(annotations ? { annotations } : {}) }, spec });
  const cases: Array<{ name: string; level: Level; pod: { metadata?: object; spec: PodSpec }; want: string }> = [
    {
      name: 'restricted: a bare pod (the Pod Security Admission page example)',
      level: 'restricted',
      pod: pod({ containers: [{ name: 'c', image: 'busybox' }] }),
      want:
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    },
    {
      name: 'baseline: host namespaces, privileged, hostPath, hostPort together, in check-id order',
      level: 'baseline',
      pod: pod({
        hostNetwork: true,
        hostPID: true,
        containers: [
          { name: 'a', image: 'busybox', securityContext: { privileged: true }, ports: [{ containerPort: 80, hostPort: 80 }, { containerPort: 9000, hostPort: 9000 }] },
          { name: 'b', image: 'busybox', securityContext: { privileged: true } },
        ],
        volumes: [{ name: 'root', hostPath: { path: '/' } }],
      }),
      want: 'host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volume "root"), hostPort (container "a" uses hostPorts 80, 9000), privileged (containers "a", "b" must not set securityContext.privileged=true)',
    },
    {
      name: 'baseline: capabilities beyond the default set, sorted and deduplicated',
      level: 'baseline',
      pod: pod({ containers: [{ name: 'a', securityContext: { capabilities: { add: ['SYS_ADMIN', 'NET_RAW', 'CHOWN'] } } }, { name: 'b', securityContext: { capabilities: { add: ['NET_RAW'] } } }] }),
      want: 'non-default capabilities (containers "a", "b" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add)',
    },
    {
      name: 'restricted: drop ALL missing and a forbidden add in one reason',
      level: 'restricted',
      pod: pod({
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          { name: 'a', securityContext: { allowPrivilegeEscalation: false, capabilities: { add: ['NET_BIND_SERVICE', 'SYS_TIME'] } } },
        ],
      }),
      want: 'unrestricted capabilities (container "a" must set securityContext.capabilities.drop=["ALL"]; container "a" must not include "SYS_TIME" in securityContext.capabilities.add)',
    },
    {
      name: 'baseline: seccomp Unconfined on pod and container',
      level: 'baseline',
      pod: pod({ securityContext: { seccompProfile: { type: 'Unconfined' } }, containers: [{ name: 'a', securityContext: { seccompProfile: { type: 'Unconfined' } } }] }),
      want: 'seccompProfile (pod and container "a" must not set securityContext.seccompProfile.type to "Unconfined")',
    },
    {
      name: 'baseline: AppArmor field and annotation',
      level: 'baseline',
      pod: pod({ securityContext: { appArmorProfile: { type: 'Unconfined' } }, containers: [{ name: 'a' }] }, { 'container.apparmor.security.beta.kubernetes.io/a': 'unconfined' }),
      want: 'forbidden AppArmor profiles (pod and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a=\"unconfined\"")',
    },
    {
      name: 'baseline: SELinux type, user and role',
      level: 'baseline',
      pod: pod({ securityContext: { seLinuxOptions: { type: 'spc_t' } }, containers: [{ name: 'a', securityContext: { seLinuxOptions: { user: 'u', role: 'r' } } }] }),
      want: 'seLinuxOptions (pod and container "a" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set; role may not be set)',
    },
    {
      name: 'baseline: unsafe sysctls keep spec order',
      level: 'baseline',
      pod: pod({ securityContext: { sysctls: [{ name: 'vm.swappiness' }, { name: 'kernel.msgmax' }, { name: 'kernel.shm_rmid_forced' }] }, containers: [{ name: 'a' }] }),
      want: 'forbidden sysctls (vm.swappiness, kernel.msgmax)',
    },
    {
      name: 'baseline: procMount Unmasked',
      level: 'baseline',
      pod: pod({ containers: [{ name: 'a', securityContext: { procMount: 'Unmasked' } }] }),
      want: 'procMount (container "a" must not set securityContext.procMount to "Unmasked")',
    },
    {
      name: 'baseline: hostProcess on pod and containers',
      level: 'baseline',
      pod: pod({ securityContext: { windowsOptions: { hostProcess: true } }, containers: [{ name: 'a', securityContext: { windowsOptions: { hostProcess: true } } }, { name: 'b', securityContext: { windowsOptions: { hostProcess: true } } }] }),
      want: 'hostProcess (pod and containers "a", "b" must not set securityContext.windowsOptions.hostProcess=true)',
    },
    {
      name: 'restricted: runAsNonRoot=false and runAsUser=0 set explicitly',
      level: 'restricted',
      pod: pod({
        securityContext: { runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } },
        initContainers: [{ name: 'i', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsUser: 0 } }],
        containers: [{ name: 'a', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: false } }],
      }),
      want: 'runAsNonRoot != true (pod and container "a" must not set securityContext.runAsNonRoot=false), runAsUser=0 (pod and container "i" must not set runAsUser=0)',
    },
    {
      name: 'restricted: volume types, one reason naming every volume',
      level: 'restricted',
      pod: pod({
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [{ name: 'a', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
        volumes: [{ name: 'h', hostPath: { path: '/' } }, { name: 'n', nfs: { server: 's', path: '/' } }, { name: 'ok', emptyDir: {} }, { name: 'odd', madeUp: {} }],
      }),
      want: 'restricted volume types (volumes "h", "n", "odd" use restricted volume types "hostPath", "nfs", "unknown")',
    },
  ];
  for (const c of cases) it(c.name, () => expect(forbiddenDetail(evaluate(c.level, c.pod))).toBe(c.want));
});

describe('versions (policy/check_*.go: each implementation names its first version)', () => {
  const win = (spec: PodSpec): PodSpec => ({ ...spec, os: { name: 'windows' } });
  const bareRestricted: PodSpec = { securityContext: { runAsNonRoot: true }, containers: [{ name: 'a' }] };
  const cases: Array<{ name: string; level: Level; spec: PodSpec; minor?: number; reasons: string[] }> = [
    { name: 'windows pod at v1.24: restricted still asks for Linux-only fields', level: 'restricted', spec: win(bareRestricted), minor: 24, reasons: ['allowPrivilegeEscalation != false', 'unrestricted capabilities', 'seccompProfile'] },
    { name: 'windows pod at v1.25 (spec.os exempts Linux-only fields)', level: 'restricted', spec: win(bareRestricted), minor: 25, reasons: [] },
    { name: 'windows pod at latest', level: 'restricted', spec: win(bareRestricted), reasons: [] },
    { name: 'runAsUser=0 is allowed before v1.23', level: 'restricted', spec: { ...restrictedPod().spec, securityContext: { ...restrictedPod().spec.securityContext, runAsUser: 0 } }, minor: 22, reasons: [] },
    { name: 'runAsUser=0 is refused from v1.23', level: 'restricted', spec: { ...restrictedPod().spec, securityContext: { ...restrictedPod().spec.securityContext, runAsUser: 0 } }, minor: 23, reasons: ['runAsUser=0'] },
    { name: 'before v1.22 restricted uses the baseline capabilities check (no drop ALL)', level: 'restricted', spec: { ...bareRestricted, securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, containers: [{ name: 'a', securityContext: { allowPrivilegeEscalation: false } }] }, minor: 21, reasons: [] },
    { name: 'before v1.19 seccomp is read from annotations, not fields', level: 'baseline', spec: { securityContext: { seccompProfile: { type: 'Unconfined' } }, containers: [{ name: 'a' }] }, minor: 18, reasons: [] },
    { name: 'container_engine_t is refused at v1.30', level: 'baseline', spec: { securityContext: { seLinuxOptions: { type: 'container_engine_t' } }, containers: [{ name: 'a' }] }, minor: 30, reasons: ['seLinuxOptions'] },
    { name: 'container_engine_t is allowed from v1.31', level: 'baseline', spec: { securityContext: { seLinuxOptions: { type: 'container_engine_t' } }, containers: [{ name: 'a' }] }, minor: 31, reasons: [] },
    { name: 'net.ipv4.ip_local_reserved_ports is unsafe at v1.26', level: 'baseline', spec: { securityContext: { sysctls: [{ name: 'net.ipv4.ip_local_reserved_ports' }] }, containers: [{ name: 'a' }] }, minor: 26, reasons: ['forbidden sysctls'] },
    { name: 'net.ipv4.ip_local_reserved_ports is safe from v1.27', level: 'baseline', spec: { securityContext: { sysctls: [{ name: 'net.ipv4.ip_local_reserved_ports' }] }, containers: [{ name: 'a' }] }, minor: 27, reasons: [] },
    { name: 'a 1.32 server evaluates latest without the 1.34 probe-host check', level: 'baseline', spec: { containers: [{ name: 'a', livenessProbe: { httpGet: { host: 'evil.example' } } }] }, reasons: [] },
    { name: 'a 1.32 server evaluates v1.35 as v1.32 (hostUsers:false does not relax runAsNonRoot)', level: 'restricted', spec: { ...restrictedPod().spec, hostUsers: false, securityContext: { seccompProfile: { type: 'RuntimeDefault' } } }, minor: 35, reasons: ['runAsNonRoot != true'] },
    { name: 'privileged never evaluates anything', level: 'privileged', spec: { hostPID: true, containers: [{ name: 'a', securityContext: { privileged: true } }] }, reasons: [] },
  ];
  for (const c of cases) it(c.name, () => expect(evaluate(c.level, { spec: c.spec }, c.minor).reasons).toEqual(c.reasons));

  it('an evaluator without a server cap knows the newest checks (hostProbesAndHostLifecycle at v1.34, user namespaces at v1.35)', () => {
    const newest = newEvaluator(DEFAULT_CHECKS);
    const probe = { containers: [{ name: 'a', livenessProbe: { httpGet: { host: 'evil.example' } } }] };
    expect(forbiddenDetail(aggregate(newest.evaluatePod({ level: 'baseline', version: v1(34) }, {}, probe)))).toBe('probe or lifecycle host (container "a" uses probe or lifecycle host "evil.example")');
    expect(aggregate(newest.evaluatePod({ level: 'baseline', version: v1(33) }, {}, probe)).allowed).toBe(true);
    const userns = { ...restrictedPod().spec, hostUsers: false, securityContext: { seccompProfile: { type: 'RuntimeDefault' } } };
    expect(aggregate(newest.evaluatePod({ level: 'restricted', version: LATEST }, {}, userns)).allowed).toBe(true);
  });
});

describe('namespace labels (api/helpers.go PolicyToEvaluate)', () => {
  const P = 'pod-security.kubernetes.io/';
  it('no labels: privileged everywhere', () => {
    const { policy, errors } = policyFromLabels(undefined);
    expect(errors).toEqual([]);
    expect([policy.enforce.level, policy.warn.level, policy.audit.level]).toEqual(['privileged', 'privileged', 'privileged']);
  });
  it('enforce without warn also warns at the enforce level and version', () => {
    const { policy } = policyFromLabels({ [P + 'enforce']: 'baseline', [P + 'enforce-version']: 'v1.29' });
    expect(policy.warn).toEqual({ level: 'baseline', version: { minor: 29 } });
  });
  it('an invalid enforce level enforces restricted and is a field error', () => {
    const { policy, errors } = policyFromLabels({ [P + 'enforce']: 'strict' });
    expect(policy.enforce.level).toBe('restricted');
    expect(policy.warn.level).toBe('privileged');
    expect(errors).toEqual([{ type: 'FieldValueInvalid', field: `metadata.labels[${P}enforce]`, message: 'Invalid value: "strict": must be one of privileged, baseline, restricted' }]);
  });
  it('invalid warn and audit levels fail open to privileged', () => {
    const { policy, errors } = policyFromLabels({ [P + 'warn']: 'loud', [P + 'audit']: 'x' });
    expect([policy.warn.level, policy.audit.level]).toEqual(['privileged', 'privileged']);
    expect(errors.map((e) => e.field)).toEqual([`metadata.labels[${P}audit]`, `metadata.labels[${P}warn]`]);
  });
  it('an invalid version means latest', () => {
    const { policy, errors } = policyFromLabels({ [P + 'enforce']: 'restricted', [P + 'enforce-version']: '1.25' });
    expect(policy.enforce.version.latest).toBe(true);
    expect(errors[0]!.message).toBe('Invalid value: "1.25": must be "latest" or "v1.x"');
  });
  for (const bad of ['v1.025', 'v2.1', 'v1.', 'latest ']) it(`version ${JSON.stringify(bad)} is invalid`, () => expect(policyFromLabels({ [P + 'warn-version']: bad }).errors).toHaveLength(1));
});

describe('admission decisions (admission/admission.go)', () => {
  const psa = new PodSecurity(evaluator);
  const P = 'pod-security.kubernetes.io/';
  const bare = { metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };

  it('enforce refuses with the policy named as level:version', () => {
    const d = psa.pod({ [P + 'enforce']: 'baseline', [P + 'enforce-version']: 'v1.30' }, { metadata: { name: 'x' }, spec: { hostIPC: true, containers: [{ name: 'c' }] } });
    expect(d).toMatchObject({ allowed: false, reason: 'violates PodSecurity "baseline:v1.30": host namespaces (hostIPC=true)' });
  });
  it('warn without enforce allows and warns; audit records an annotation', () => {
    const d = psa.pod({ [P + 'warn']: 'restricted', [P + 'audit']: 'baseline' }, { metadata: { name: 'x' }, spec: { hostIPC: true, containers: [{ name: 'c' }] } });
    expect(d.allowed).toBe(true);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toMatch(/^would violate PodSecurity "restricted:latest": host namespaces \(hostIPC=true\), allowPrivilegeEscalation != false/);
    expect(d.auditAnnotations['audit-violations']).toBe('would violate PodSecurity "baseline:latest": host namespaces (hostIPC=true)');
  });
  it('a refused pod gets no warning (the refusal says it all)', () => {
    expect(psa.pod({ [P + 'enforce']: 'restricted' }, bare).warnings).toEqual([]);
  });
  it('pod updates are evaluated only when an image changes', () => {
    const labels = { [P + 'enforce']: 'restricted' };
    expect(psa.pod(labels, bare, bare).allowed).toBe(true);
    expect(psa.pod(labels, bare, { ...bare, spec: { containers: [{ name: 'c', image: 'alpine' }] } }).allowed).toBe(false);
  });
  it('workload templates are never refused, only warned about', () => {
    const d = psa.template({ [P + 'enforce']: 'restricted' }, bare);
    expect(d.allowed).toBe(true);
    expect(d.warnings[0]).toMatch(/^would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });
  it('invalid labels on a namespace create are field errors; unchanged invalid labels on update are tolerated', () => {
    expect(psa.namespace({ [P + 'enforce']: 'nope' }, undefined, true, 'n', () => []).errors).toHaveLength(1);
    expect(psa.namespace({ [P + 'enforce']: 'nope', a: 'b' }, { [P + 'enforce']: 'nope' }, false, 'n', () => []).errors).toEqual([]);
  });
  it('tightening enforce lists violating pods grouped by reason, one named per group', () => {
    const mk = (name: string, owner?: string, hostPID = false) => ({ metadata: { name, ...(owner ? { ownerReferences: [{ uid: owner, controller: true }] } : {}) }, spec: { hostPID, containers: [{ name: 'c' }] } });
    const pods = [mk('web-2', 'rs1', true), mk('web-1', 'rs1', true), mk('web-3', 'rs1', true), mk('lone'), mk('ok', undefined, false)];
    const r = psa.namespace({ [P + 'enforce']: 'baseline' }, {}, false, 'shop', () => pods);
    expect(r.warnings).toEqual(['existing pods in namespace "shop" violate the new PodSecurity enforce level "baseline:latest"', 'web-1 (and 2 other pods): host namespaces']);
    expect(psa.namespace({ [P + 'enforce']: 'restricted' }, { [P + 'enforce']: 'restricted' }, false, 'shop', () => pods).warnings).toEqual([]);
    expect(psa.namespace({ [P + 'enforce']: 'baseline' }, { [P + 'enforce']: 'restricted' }, false, 'shop', () => pods).warnings).toEqual([]);
  });
});

describe('registry validation (policy/registry.go validateChecks)', () => {
  const fn = () => ({ allowed: true });
  const cases: Array<{ name: string; checks: Check[]; error: string }> = [
    { name: 'duplicate ids', checks: [{ id: 'a', level: 'baseline', versions: [{ minimumVersion: v1(0), checkPod: fn }] }, { id: 'a', level: 'baseline', versions: [{ minimumVersion: v1(1), checkPod: fn }] }], error: 'multiple checks registered for ID a' },
    { name: 'no versions', checks: [{ id: 'a', level: 'baseline', versions: [] }], error: 'check a: empty' },
    { name: 'latest as a version', checks: [{ id: 'a', level: 'baseline', versions: [{ minimumVersion: LATEST, checkPod: fn }] }], error: "check a: version cannot be 'latest'" },
    { name: 'duplicate version', checks: [{ id: 'a', level: 'baseline', versions: [{ minimumVersion: v1(3), checkPod: fn }, { minimumVersion: v1(3), checkPod: fn }] }], error: 'check a: duplicate version v1.3' },
    { name: 'decreasing versions', checks: [{ id: 'a', level: 'baseline', versions: [{ minimumVersion: v1(3), checkPod: fn }, { minimumVersion: v1(2), checkPod: fn }] }], error: 'check a: versions must be strictly increasing' },
    { name: 'baseline overriding', checks: [{ id: 'a', level: 'baseline', versions: [{ minimumVersion: v1(0), checkPod: fn, overrideCheckIds: ['b'] }] }], error: 'check a: only restricted checks may set overrides' },
    {
      name: 'restricted overriding restricted',
      checks: [{ id: 'a', level: 'restricted', versions: [{ minimumVersion: v1(0), checkPod: fn, overrideCheckIds: ['b'] }] }, { id: 'b', level: 'restricted', versions: [{ minimumVersion: v1(0), checkPod: fn }] }],
      error: 'check a: overrides restricted check b',
    },
  ];
  for (const c of cases) it(c.name, () => expect(() => validateChecks(c.checks)).toThrow(c.error));
  it('the default registry is valid', () => expect(() => validateChecks(DEFAULT_CHECKS)).not.toThrow());
});
