/**
 * Sandbox authentication through the real clients: kubectl (`create token`,
 * `auth whoami`, the Unauthorized message), @kubernetes/client-node
 * (TokenReview, an in-cluster client built by `loadFromCluster()` from a Pod's
 * mounted token, CA and namespace), and raw HTTP for malformed credentials.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { AuthenticationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { Authenticator } from '../../sandbox/api/auth/authenticator.ts';
import { loadCredentials } from '../../sandbox/api/auth/pki.ts';
import { keyId, signJwt } from '../../sandbox/api/auth/jwt.ts';
import { eventually } from './runtime-harness.ts';

let sb: Sandbox;
let home: string;

/** Async: the sandbox serves from this process. `bin` picks one of the image's kubectl versions. */
function kubectl(args: string[], opts: { bin?: string; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(opts.bin ?? 'kubectl', ['--kubeconfig', sb.kubeconfigPath, ...args], { env: { ...process.env, HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const UNAUTHORIZED = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };
/** Where the image keeps kubectl.1.27 … kubectl.1.33: beside the real kubectl binary. */
const kubectlDir = dirname(realpathSync((process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'kubectl')).find((f) => existsSync(f)) ?? 'kubectl'));

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'auth-home-'));
  sb = await startSandbox();
  await ok(['create', 'namespace', 'team']);
});

afterAll(async () => {
  await sb?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('HTTPS with the sandbox CA', () => {
  const version = (ca?: string) =>
    new Promise<number>((resolve, reject) => {
      httpsGet(`${sb.httpsUrl}/version`, { ca, headers: { authorization: `Bearer ${sb.adminToken}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });

  it('the kubeconfig pins the CA instead of skipping verification, and the port speaks TLS with it', async () => {
    const text = readFileSync(sb.kubeconfigPath, 'utf8');
    expect(text).toContain(`server: ${sb.httpsUrl}`);
    expect(text).toContain(`certificate-authority-data: ${Buffer.from(sb.caPem).toString('base64')}`);
    expect(text).not.toContain('insecure-skip-tls-verify');
    expect(await version(sb.caPem)).toBe(200);
    await expect(version()).rejects.toThrow(/self[- ]signed|unable to verify/i);
  });
});

describe('ServiceAccount tokens through kubectl', () => {
  it('kubectl create token, then auth whoami with it prints the ServiceAccount user and groups', async () => {
    const token = (await ok(['create', 'token', 'default', '-n', 'team'])).trim();
    expect(token.split('.')).toHaveLength(3);
    const who = await ok(['--token', token, 'auth', 'whoami']);
    expect(who).toMatch(/Username\s+system:serviceaccount:team:default\n/);
    expect(who).toMatch(/Groups\s+\[system:serviceaccounts system:serviceaccounts:team system:authenticated\]\n/);
    const sa = JSON.parse(await ok(['get', 'sa', 'default', '-n', 'team', '-o', 'json']));
    expect(who).toMatch(new RegExp(`UID\\s+${sa.metadata.uid}\\n`));
  });

  it('the admin kubeconfig is cluster-admin (kubeadm:cluster-admins, system:masters)', async () => {
    const who = await ok(['auth', 'whoami', '-o', 'json']);
    expect(JSON.parse(who).status.userInfo).toEqual({ username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', 'system:masters', 'system:authenticated'] });
  });

  for (const v of ['1.27', '1.33']) {
    it(`kubectl ${v} auth whoami finds SelfSubjectReview`, async () => {
      const bin = join(kubectlDir, `kubectl.${v}`);
      const r = await kubectl(['auth', 'whoami'], { bin });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/Username\s+kubernetes-admin/);
    });
  }

  it('an expired, garbage or foreign-signed token: kubectl says "You must be logged in"', async () => {
    const creds = await loadCredentials(sb.dir);
    const sa = JSON.parse(await ok(['get', 'sa', 'default', '-n', 'team', '-o', 'json']));
    // Signed with the sandbox's own key, two hours ago, for ten minutes.
    const past = new Authenticator({ lookup: { get: () => undefined }, signingKey: creds.saPrivateKey, publicKey: creds.saPublicKey, adminToken: 'unused', now: () => Date.now() - 7_200_000 });
    const expired = past.issue(sa, ['https://kubernetes.default.svc.cluster.local'], 600).token;
    const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = Math.floor(Date.now() / 1000);
    const forged = signJwt(
      { iss: 'https://kubernetes.default.svc.cluster.local', aud: ['https://kubernetes.default.svc.cluster.local'], iat: now, nbf: now, exp: now + 600, sub: 'system:serviceaccount:team:default', 'kubernetes.io': { namespace: 'team', serviceaccount: { name: 'default', uid: sa.metadata.uid } } },
      foreign.privateKey,
      keyId(creds.saPublicKey),
    );
    for (const token of [expired, 'garbage', forged]) {
      const r = await kubectl(['--token', token, 'get', 'pods', '-n', 'team']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe('error: You must be logged in to the server (Unauthorized)');
    }
  });

  it('kubectl create token refuses a duration under 10 minutes with the API server message', async () => {
    const r = await kubectl(['create', 'token', 'default', '-n', 'team', '--duration', '5m']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TokenRequest.authentication.k8s.io "default" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes');
  });

  it('a token deleted with its ServiceAccount stops working', async () => {
    await ok(['create', 'serviceaccount', 'temp', '-n', 'team']);
    const token = (await ok(['create', 'token', 'temp', '-n', 'team'])).trim();
    expect(await ok(['--token', token, 'auth', 'whoami'])).toContain('system:serviceaccount:team:temp');
    await ok(['delete', 'serviceaccount', 'temp', '-n', 'team']);
    expect((await kubectl(['--token', token, 'auth', 'whoami'])).stderr.trim()).toBe('error: You must be logged in to the server (Unauthorized)');
  });
});

describe('legacy token Secrets (tokens controller)', () => {
  it('fills a kubernetes.io/service-account-token Secret; the token works until the Secret goes', async () => {
    await ok(['create', 'serviceaccount', 'legacy', '-n', 'team']);
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token', metadata: { name: 'legacy-token', namespace: 'team', annotations: { 'kubernetes.io/service-account.name': 'legacy' } } }));
    const secret = await eventually(async () => {
      const s = JSON.parse(await ok(['get', 'secret', 'legacy-token', '-n', 'team', '-o', 'json']));
      return s.data?.token && s;
    });
    const sa = JSON.parse(await ok(['get', 'sa', 'legacy', '-n', 'team', '-o', 'json']));
    expect(secret.metadata.annotations['kubernetes.io/service-account.uid']).toBe(sa.metadata.uid);
    expect(Buffer.from(secret.data['ca.crt'], 'base64').toString()).toBe(sb.caPem);
    expect(Buffer.from(secret.data.namespace, 'base64').toString()).toBe('team');
    const token = Buffer.from(secret.data.token, 'base64').toString();
    expect(await ok(['--token', token, 'auth', 'whoami'])).toMatch(/Username\s+system:serviceaccount:team:legacy\n/);
    await ok(['delete', 'secret', 'legacy-token', '-n', 'team']);
    expect((await kubectl(['--token', token, 'auth', 'whoami'])).stderr.trim()).toBe('error: You must be logged in to the server (Unauthorized)');
  });

  it('deletes token Secrets with their ServiceAccount', async () => {
    await ok(['create', 'serviceaccount', 'brief', '-n', 'team']);
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token', metadata: { name: 'brief-token', namespace: 'team', annotations: { 'kubernetes.io/service-account.name': 'brief' } } }));
    await eventually(async () => JSON.parse(await ok(['get', 'secret', 'brief-token', '-n', 'team', '-o', 'json'])).data?.token);
    await ok(['delete', 'serviceaccount', 'brief', '-n', 'team']);
    await eventually(async () => (await kubectl(['get', 'secret', 'brief-token', '-n', 'team'])).code === 1, 10_000, 'the token Secret to be deleted');
  });
});

describe('TokenReview through client-node', () => {
  it('authenticates tokens for their audiences, and the admin token', async () => {
    const api = sb.kubeConfig.makeApiClient(AuthenticationV1Api);
    const vault = (await ok(['create', 'token', 'default', '-n', 'team', '--audience', 'vault', '--duration', '20m'])).trim();
    const forVault = await api.createTokenReview({ body: { spec: { token: vault, audiences: ['vault'] } } });
    expect(forVault.status?.authenticated).toBe(true);
    expect(forVault.status?.user?.username).toBe('system:serviceaccount:team:default');
    expect(forVault.status?.audiences).toEqual(['vault']);
    // Not for the API server: the review says so, and the API refuses it as a credential.
    const forApi = await api.createTokenReview({ body: { spec: { token: vault } } });
    expect(forApi.status?.authenticated).toBeFalsy();
    expect(forApi.status?.error).toContain('audiences');
    expect((await fetch(`${sb.url}/api/v1/namespaces/team/pods`, { headers: { authorization: `Bearer ${vault}` } })).status).toBe(401);
    const admin = await api.createTokenReview({ body: { spec: { token: sb.adminToken } } });
    expect(admin.status?.user?.groups).toContain('system:masters');
    const bad = await api.createTokenReview({ body: { spec: { token: 'x.y.z' } } });
    expect(bad.status?.authenticated).toBeFalsy();
  });
});

describe('malformed credentials are 401, never 500', () => {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const tokens = ['a.b.c', 'eyJhbGciOiJFUzI1NiJ9.e30.', `${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.`, `${b64({ alg: 'ES256' })}.${b64([])}.AAAA`, '%%%.%%%.%%%', 'x'.repeat(12_000), `${b64('str')}.${b64(1)}.${b64(null)}`];
  for (const t of tokens) {
    it(`Bearer ${t.slice(0, 30)}${t.length > 30 ? '…' : ''}`, async () => {
      const r = await fetch(`${sb.url}/api/v1/namespaces`, { headers: { authorization: `Bearer ${t}` } });
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual(UNAUTHORIZED);
    });
  }
  it('no credentials at all is system:anonymous', async () => {
    const r = await fetch(`${sb.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }) });
    // As on a real cluster, RBAC grants whoami (system:basic-user) to system:authenticated only.
    expect(r.status).toBe(403);
    expect((await r.json()).message).toBe('selfsubjectreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope');
  });
});

describe('a Pod gets its ServiceAccount token, CA and namespace', () => {
  it('mounts them at /var/run/secrets/kubernetes.io/serviceaccount and an in-cluster client works with them', async () => {
    await ok(['run', 'app', '-n', 'team', '--image=busybox', '--', 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done']);
    await ok(['wait', '--for=condition=Ready', 'pod/app', '-n', 'team', '--timeout=60s']);
    const pod = JSON.parse(await ok(['get', 'pod', 'app', '-n', 'team', '-o', 'json']));
    const vol = pod.spec.volumes.find((v: { name: string }) => v.name.startsWith('kube-api-access-'));
    expect(vol.name).toMatch(/^kube-api-access-[a-z0-9]{5}$/);
    expect(pod.spec.containers[0].volumeMounts).toEqual([{ name: vol.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }]);

    const read = (f: string) => ok(['exec', 'app', '-n', 'team', '--', 'cat', `/var/run/secrets/kubernetes.io/serviceaccount/${f}`]);
    const token = await read('token');
    expect(await read('namespace')).toBe('team');
    expect(await read('ca.crt')).toBe(sb.caPem);
    const who = JSON.parse(await ok(['--token', token, 'auth', 'whoami', '-o', 'json'])).status.userInfo;
    expect(who.username).toBe('system:serviceaccount:team:default');
    expect(who.extra['authentication.kubernetes.io/pod-name']).toEqual(['app']);
    expect(who.extra['authentication.kubernetes.io/pod-uid']).toEqual([pod.metadata.uid]);

    // client-node's in-cluster configuration: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the mounted CA and token.
    const env = Object.fromEntries((await ok(['exec', 'app', '-n', 'team', '--', 'env'])).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const root = mkdtempSync(join(tmpdir(), 'in-cluster-'));
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    try {
      const sadir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
      mkdirSync(sadir, { recursive: true });
      for (const [f, data] of [['token', token], ['ca.crt', sb.caPem], ['namespace', 'team']]) writeFileSync(join(sadir, f!), data!);
      // What the Pod's ServiceAccount may read is RBAC's to say: grant it the namespace's view role.
      await ok(['create', 'rolebinding', 'default-view', '-n', 'team', '--clusterrole=view', '--serviceaccount=team:default']);
      process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
      process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT;
      const kc = new KubeConfig();
      kc.loadFromCluster(root);
      expect(kc.getCurrentCluster()?.server).toBe(sb.httpsUrl);
      const pods = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'team' });
      expect(pods.items.map((p) => p.metadata?.name)).toContain('app');
    } finally {
      process.env.KUBERNETES_SERVICE_HOST = saved.host;
      process.env.KUBERNETES_SERVICE_PORT = saved.port;
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      rmSync(root, { recursive: true, force: true });
    }

    // The token is bound to the Pod: deleting the Pod revokes it.
    await ok(['delete', 'pod', 'app', '-n', 'team', '--wait=true']);
    await eventually(async () => (await kubectl(['--token', token, 'auth', 'whoami'])).code === 1, 30_000, 'the pod-bound token to be refused');
  });

  it('automountServiceAccountToken: false on the ServiceAccount mounts nothing; a missing ServiceAccount is refused', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'quiet', namespace: 'team' }, automountServiceAccountToken: false }));
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'quiet', namespace: 'team' }, spec: { serviceAccountName: 'quiet', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] } }));
    const pod = JSON.parse(await ok(['get', 'pod', 'quiet', '-n', 'team', '-o', 'json']));
    expect(pod.spec.volumes).toBeUndefined();
    const r = await kubectl(['run', 'ghostly', '-n', 'team', '--image=busybox', '--overrides', JSON.stringify({ spec: { serviceAccountName: 'ghost' } }), '--', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('pods "ghostly" is forbidden: error looking up service account team/ghost: serviceaccount "ghost" not found');
  });
});

describe('audit log', () => {
  it('records user, verb, resource, subresource, namespace, name and code', () => {
    const events = sb.server.audit.events();
    expect(events).toContainEqual(expect.objectContaining({ username: 'kubernetes-admin', verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'team', name: 'default', code: 201 }));
    // exec over WebSocket is a GET upgrade: apiserver's request info calls it "get"; 101 is the switch of protocols.
    expect(events).toContainEqual(expect.objectContaining({ username: 'kubernetes-admin', verb: 'get', resource: 'pods', subresource: 'exec', namespace: 'team', name: 'app', code: 101 }));
    expect(events).toContainEqual(expect.objectContaining({ username: '', verb: 'list', resource: 'namespaces', code: 401 }));
    expect(events).toContainEqual(expect.objectContaining({ username: 'system:serviceaccount:team:default', verb: 'list', resource: 'pods', namespace: 'team', code: 200 }));
  });
});

describe('credentials survive a restart over the same directory', () => {
  it('keeps the CA, the admin token and issued ServiceAccount tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auth-restart-'));
    try {
      const a = await startSandbox({ dir, controllers: false });
      a.server.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'keep' } });
      await new Promise((r) => setImmediate(r));
      const tr = await (await fetch(`${a.url}/api/v1/namespaces/keep/serviceaccounts/default/token`, { method: 'POST', headers: { authorization: `Bearer ${a.adminToken}`, 'content-type': 'application/json' }, body: '{}' })).json();
      const first = { ca: a.caPem, admin: a.adminToken };
      await a.stop();
      const b = await startSandbox({ dir, controllers: false });
      try {
        expect({ ca: b.caPem, admin: b.adminToken }).toEqual(first);
        const r = await fetch(`${b.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, { method: 'POST', headers: { authorization: `Bearer ${tr.status.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }) });
        expect(r.status).toBe(201);
        expect((await r.json()).status.userInfo.username).toBe('system:serviceaccount:keep:default');
        const cms = await fetch(`${b.url}/api/v1/namespaces/keep/configmaps`, { headers: { authorization: `Bearer ${b.adminToken}` } });
        expect((await cms.json()).items.map((c: { metadata: { name: string } }) => c.metadata.name)).toEqual(['kube-root-ca.crt']);
      } finally {
        await b.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
