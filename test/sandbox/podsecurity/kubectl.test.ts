/**
 * Pod Security Admission through the real kubectl (1.29 — kubectl 1.27–1.28 `apply` does not work against the sandbox yet — and the newest in the
 * image): the refusal and warnings print exactly what a real cluster prints
 * (kubernetes.io/docs/concepts/security/pod-security-admission/,
 * …/tutorials/security/ns-level-pss/).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../sandbox/index.ts';

/** The versioned kubectl binaries sit next to the real `kubectl` the PATH one links to. */
const onPath = (process.env.PATH ?? '').split(':').map((d) => path.join(d, 'kubectl')).find((f) => existsSync(f));
const KUBECTL_DIR = path.dirname(realpathSync(onPath ?? 'kubectl'));
let sb: Sandbox;
const home = mkdtempSync(path.join(tmpdir(), 'coffer-psa-home-'));

function kubectl(bin: string, args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath, HOME: path.join(home, path.basename(bin)) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(input);
  });
}

const VIOLATIONS = (c: string) =>
  `allowPrivilegeEscalation != false (container "${c}" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "${c}" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "${c}" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "${c}" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`;

const pod = (ns: string, securityContext?: object, cSecurityContext?: object) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: ns }, spec: { ...(securityContext ? { securityContext } : {}), containers: [{ name: 'c', image: 'busybox', ...(cSecurityContext ? { securityContext: cSecurityContext } : {}) }] } });

const deployment = (ns: string) =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox' }] } } },
  });

beforeAll(async () => {
  sb = await startSandbox({ controllers: false });
});
afterAll(async () => {
  await sb?.stop();
});

describe.each(['kubectl.1.29', 'kubectl.1.33'])('%s', (name) => {
  const bin = path.join(KUBECTL_DIR, name);
  const ns = name.replace('.', '-').replace('.', '-');

  it('refuses a non-conforming Pod in a restricted namespace with the real message, accepts a conforming one', async () => {
    expect((await kubectl(bin, ['create', 'namespace', `${ns}-r`])).code).toBe(0);
    expect((await kubectl(bin, ['label', 'namespace', `${ns}-r`, 'pod-security.kubernetes.io/enforce=restricted'])).code).toBe(0);
    const r = await kubectl(bin, ['apply', '-f', '-'], pod(`${ns}-r`));
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`Error from server (Forbidden): error when creating "STDIN": pods "x" is forbidden: violates PodSecurity "restricted:latest": ${VIOLATIONS('c')}`);
    const ssa = await kubectl(bin, ['apply', '--server-side', '-f', '-'], pod(`${ns}-r`));
    expect(ssa.stderr.trim()).toBe(`Error from server (Forbidden): pods "x" is forbidden: violates PodSecurity "restricted:latest": ${VIOLATIONS('c')}`);
    const good = await kubectl(bin, ['apply', '-f', '-'], pod(`${ns}-r`, { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } }, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }));
    expect(good).toMatchObject({ code: 0, stderr: '', stdout: 'pod/x created\n' });
  });

  it('warns about a Deployment in a warn=restricted namespace and creates it', async () => {
    await kubectl(bin, ['create', 'namespace', `${ns}-w`]);
    await kubectl(bin, ['label', 'namespace', `${ns}-w`, 'pod-security.kubernetes.io/warn=restricted']);
    const r = await kubectl(bin, ['apply', '-f', '-'], deployment(`${ns}-w`));
    expect(r).toMatchObject({ code: 0, stdout: 'deployment.apps/web created\n' });
    expect(r.stderr).toBe(`Warning: would violate PodSecurity "restricted:latest": ${VIOLATIONS('web')}\n`);
  });

  it('an invalid level label is refused as the real API server refuses it', async () => {
    const r = await kubectl(bin, ['label', 'namespace', `${ns}-w`, 'pod-security.kubernetes.io/enforce=strict']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`The Namespace "${ns}-w" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`);
  });

  it('labelling a namespace with enforce warns about the pods already in it', async () => {
    const n = `${ns}-l`;
    await kubectl(bin, ['create', 'namespace', n]);
    expect((await kubectl(bin, ['-n', n, 'run', 'p', '--image=busybox', '--overrides', JSON.stringify({ spec: { hostPID: true } })])).code).toBe(0);
    const r = await kubectl(bin, ['label', 'namespace', n, 'pod-security.kubernetes.io/enforce=baseline']);
    expect(r).toMatchObject({ code: 0, stdout: `namespace/${n} labeled\n` });
    expect(r.stderr).toBe(`Warning: existing pods in namespace "${n}" violate the new PodSecurity enforce level "baseline:latest"\nWarning: p: host namespaces\n`);
  });
});
