/**
 * RBAC conformance through the real kubectl (the default one and 1.27):
 * `auth can-i` with and without `--as`, `--list`, a forbidden call's exact
 * message, impersonation refused to a non-impersonator, escalation refused to
 * a ServiceAccount binding cluster-admin, validation of a malformed binding,
 * aggregation of a labelled ClusterRole into `view`, and a 403 on a WebSocket
 * upgrade. Expected texts are what kube-apiserver 1.32 answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realpathSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { request } from 'node:http';
import { startSandbox, type Sandbox } from '../../../sandbox/index.ts';
import { kubectlFor } from '../kubectl.ts';

const SA = 'system:serviceaccount:coffer-system:coffer';
// Resolved before any sandbox starts (no sandbox is served from this worker yet).
const kubectlDir = dirname(realpathSync(execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim()));
const VERSIONS: [string, string][] = [
  ['default', 'kubectl'],
  ['1.27', join(kubectlDir, 'kubectl.1.27')],
];

const CAN_I_LIST = [
  'Resources                                       Non-Resource URLs                     Resource Names   Verbs',
  'selfsubjectreviews.authentication.k8s.io        []                                    []               [create]',
  'selfsubjectaccessreviews.authorization.k8s.io   []                                    []               [create]',
  'selfsubjectrulesreviews.authorization.k8s.io    []                                    []               [create]',
  'pods                                            []                                    []               [delete get list]',
  '                                                [/.well-known/openid-configuration]   []               [get]',
  '                                                [/api/*]                              []               [get]',
  '                                                [/api]                                []               [get]',
  '                                                [/apis/*]                             []               [get]',
  '                                                [/apis]                               []               [get]',
  '                                                [/healthz]                            []               [get]',
  '                                                [/healthz]                            []               [get]',
  '                                                [/livez]                              []               [get]',
  '                                                [/livez]                              []               [get]',
  '                                                [/openapi/*]                          []               [get]',
  '                                                [/openapi]                            []               [get]',
  '                                                [/openid/v1/jwks]                     []               [get]',
  '                                                [/readyz]                             []               [get]',
  '                                                [/readyz]                             []               [get]',
  '                                                [/version/]                           []               [get]',
  '                                                [/version/]                           []               [get]',
  '                                                [/version]                            []               [get]',
  '                                                [/version]                            []               [get]',
  'configmaps                                      []                                    [shop-config]    [get]',
];

describe.each(VERSIONS)('RBAC with kubectl %s', (_v, bin) => {
  let sb: Sandbox;
  let k: ReturnType<typeof kubectlFor>;
  const ok = async (args: string[], stdin?: string) => {
    const r = await k.run(args, stdin);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  beforeAll(async () => {
    sb = await startSandbox({ controllers: false });
    k = kubectlFor(sb.kubeconfigPath, bin);
    await ok(['create', 'namespace', 'shop']);
    await ok(['create', 'namespace', 'coffer-system']);
    await ok(['create', 'serviceaccount', 'coffer', '-n', 'coffer-system']);
    await ok(['create', 'secret', 'generic', 'db', '-n', 'shop', '--from-literal=password=x']);
  });
  afterAll(async () => {
    await sb?.stop();
  });

  it('auth can-i answers no, then yes once a RoleBinding grants it', async () => {
    const before = await k.run(['auth', 'can-i', 'delete', 'pods', '-n', 'shop', `--as=${SA}`]);
    expect([before.code, before.stdout]).toEqual([1, 'no\n']);
    await ok(['create', 'role', 'pod-deleter', '-n', 'shop', '--verb=delete,get,list', '--resource=pods']);
    await ok(['create', 'rolebinding', 'coffer-pod-deleter', '-n', 'shop', '--role=pod-deleter', '--serviceaccount=coffer-system:coffer']);
    const after = await k.run(['auth', 'can-i', 'delete', 'pods', '-n', 'shop', `--as=${SA}`]);
    expect([after.code, after.stdout]).toEqual([0, 'yes\n']);
    expect((await k.run(['auth', 'can-i', 'delete', 'pods', '-n', 'default', `--as=${SA}`])).stdout).toBe('no\n');
    expect((await k.run(['auth', 'can-i', 'create', 'pods/exec', '-n', 'shop', `--as=${SA}`])).stdout).toBe('no\n');
    expect((await k.run(['auth', 'can-i', 'get', '/version', `--as=${SA}`])).stdout).toBe('yes\n');
    expect((await k.run(['auth', 'can-i', 'get', '/metrics', `--as=${SA}`])).stdout).toBe('no\n');
    expect((await k.run(['auth', 'can-i', 'delete', 'nodes'])).stdout).toBe('yes\n');
  });

  it('SubjectAccessReview and LocalSubjectAccessReview answer for the user named in them', async () => {
    const review = async (kind: string, ns: string | undefined, spec: unknown) => {
      const doc = { apiVersion: 'authorization.k8s.io/v1', kind, metadata: ns ? { namespace: ns } : {}, spec };
      return JSON.parse(await ok(['create', '--validate=false', '-o', 'json', '-f', '-'], JSON.stringify(doc))).status;
    };
    const attrs = { verb: 'delete', resource: 'pods', namespace: 'shop' };
    expect(await review('SubjectAccessReview', undefined, { user: SA, groups: ['system:serviceaccounts'], resourceAttributes: attrs })).toEqual({
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "coffer-pod-deleter/shop" of Role "pod-deleter" to ServiceAccount "coffer/coffer-system"',
    });
    expect(await review('SubjectAccessReview', undefined, { user: 'nobody', resourceAttributes: attrs })).toEqual({ allowed: false });
    expect((await review('LocalSubjectAccessReview', 'shop', { user: SA, resourceAttributes: { verb: 'delete', resource: 'pods' } })).allowed).toBe(true);
    expect((await review('LocalSubjectAccessReview', 'default', { user: SA, resourceAttributes: { verb: 'delete', resource: 'pods' } })).allowed).toBe(false);
  });

  it('auth can-i --list prints the rules that apply in the namespace', async () => {
    await ok(['create', 'role', 'cm-reader', '-n', 'shop', '--verb=get', '--resource=configmaps', '--resource-name=shop-config']);
    await ok(['create', 'rolebinding', 'coffer-cm-reader', '-n', 'shop', '--role=cm-reader', '--serviceaccount=coffer-system:coffer']);
    const r = await k.run(['auth', 'can-i', '--list', '-n', 'shop', `--as=${SA}`]);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').map((l) => l.trimEnd())).toEqual(CAN_I_LIST.map((l) => l.trimEnd()));
  });

  it('a forbidden get prints Kubernetes\' message', async () => {
    const r = await k.run(['get', 'secrets', '-n', 'shop', `--as=${SA}`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:coffer-system:coffer" cannot list resource "secrets" in API group "" in the namespace "shop"');
    const one = await k.run(['get', 'secret', 'db', '-n', 'shop', `--as=${SA}`]);
    expect(one.stderr.trim()).toBe('Error from server (Forbidden): secrets "db" is forbidden: User "system:serviceaccount:coffer-system:coffer" cannot get resource "secrets" in API group "" in the namespace "shop"');
    const nodes = await k.run(['get', 'nodes', `--as=${SA}`]);
    expect(nodes.stderr.trim()).toBe('Error from server (Forbidden): nodes is forbidden: User "system:serviceaccount:coffer-system:coffer" cannot list resource "nodes" in API group "" at the cluster scope');
  });

  it('impersonation is refused to a user without impersonate, allowed once granted', async () => {
    // A plain user, authenticated by a static token (kube-apiserver's --token-auth-file).
    const ops = kubectlFor(sb.userKubeconfig('ops'), bin);
    // `get --raw`: kubectl's discovery client reports a refused discovery request as "unknown", whatever the server says.
    const r = await ops.run(['get', '--raw', '/api/v1/namespaces/shop/pods', '--as=alice']);
    expect(r.stderr.trim()).toBe('Error from server (Forbidden): users "alice" is forbidden: User "ops" cannot impersonate resource "users" in API group "" at the cluster scope');
    const sa = await ops.run(['get', '--raw', '/api/v1/namespaces/shop/pods', `--as=${SA}`]);
    expect(sa.stderr.trim()).toBe('Error from server (Forbidden): serviceaccounts "coffer" is forbidden: User "ops" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "coffer-system"');
    await ok(['create', 'role', 'impersonate-coffer', '-n', 'coffer-system', '--verb=impersonate', '--resource=serviceaccounts', '--resource-name=coffer']);
    await ok(['create', 'rolebinding', 'ops-impersonate-coffer', '-n', 'coffer-system', '--role=impersonate-coffer', '--user=ops']);
    const now = await ops.run(['auth', 'can-i', 'delete', 'pods', '-n', 'shop', `--as=${SA}`]);
    expect([now.code, now.stdout]).toEqual([0, 'yes\n']);
    const group = await ops.run(['get', '--raw', '/api/v1/namespaces/shop/pods', `--as=${SA}`, '--as-group=system:masters']);
    expect(group.stderr.trim()).toBe('Error from server (Forbidden): groups "system:masters" is forbidden: User "ops" cannot impersonate resource "groups" in API group "" at the cluster scope');
  });

  it('a ServiceAccount that may create ClusterRoleBindings still cannot bind cluster-admin (escalation)', async () => {
    await ok(['create', 'clusterrole', 'crb-creator', '--verb=create', '--resource=clusterrolebindings']);
    await ok(['create', 'clusterrolebinding', 'coffer-crb-creator', '--clusterrole=crb-creator', '--serviceaccount=coffer-system:coffer']);
    const r = await k.run(['create', 'clusterrolebinding', 'take-over', '--clusterrole=cluster-admin', '--serviceaccount=coffer-system:coffer', `--as=${SA}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'clusterrolebindings.rbac.authorization.k8s.io "take-over" is forbidden: user "system:serviceaccount:coffer-system:coffer" (groups=["system:serviceaccounts" "system:serviceaccounts:coffer-system" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}',
    );
    const own = await k.run(['create', 'clusterrolebinding', 'own-crb-creator', '--clusterrole=crb-creator', '--serviceaccount=coffer-system:coffer', `--as=${SA}`]);
    expect(own.stdout.trim()).toBe('clusterrolebinding.rbac.authorization.k8s.io/own-crb-creator created');
  });

  // --validate=false: kubectl 1.27 otherwise fetches the protobuf OpenAPI v2 document, which the sandbox does not serve.
  it('malformed bindings and roles are refused by validation with field paths', async () => {
    const bad = await k.run(['create', '--validate=false', '-f', '-'], 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: bad, namespace: shop}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Foo, name: x}\n');
    expect(bad.stderr.trim()).toBe('The RoleBinding "bad" is invalid: roleRef.kind: Unsupported value: "Foo": supported values: "Role", "ClusterRole"');
    const role = await k.run(['create', '--validate=false', '-f', '-'], 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: bad, namespace: shop}\nrules:\n- apiGroups: [""]\n  resources: [pods]\n');
    expect(role.stderr.trim()).toBe('The Role "bad" is invalid: rules[0].verbs: Required value: verbs must contain at least one value');
    await ok(['create', 'rolebinding', 'fixed', '-n', 'shop', '--clusterrole=view', '--user=ann']);
    const change = await k.run(['replace', '--validate=false', '-f', '-'], 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: fixed, namespace: shop}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}\nsubjects: [{kind: User, name: ann, apiGroup: rbac.authorization.k8s.io}]\n');
    expect(change.stderr).toContain('The RoleBinding "fixed" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef');
  });

  it('a ClusterRole labelled aggregate-to-edit flows into edit and admin, not view', async () => {
    await ok(['create', 'rolebinding', 'ann-admin', '-n', 'shop', '--clusterrole=admin', '--user=ann-admin']);
    await ok(['create', 'rolebinding', 'vic-view', '-n', 'shop', '--clusterrole=view', '--user=vic']);
    const can = async (who: string) => (await k.run(['auth', 'can-i', 'update', 'resourcequotas', '-n', 'shop', `--as=${who}`])).stdout;
    expect(await can('ann-admin')).toBe('no\n');
    await ok(['create', '--validate=false', '-f', '-'], 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: quota-editor\n  labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}\nrules:\n- apiGroups: [""]\n  resources: [resourcequotas]\n  verbs: [update]\n');
    const deadline = Date.now() + 20_000;
    while ((await can('ann-admin')) !== 'yes\n' && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    expect(await can('ann-admin')).toBe('yes\n');
    expect(await can('vic')).toBe('no\n');
    const edit = JSON.parse(await ok(['get', 'clusterrole', 'edit', '-o', 'json']));
    expect(edit.rules).toContainEqual({ apiGroups: [''], resources: ['resourcequotas'], verbs: ['update'] });
  });

  it('a WebSocket upgrade (exec) is authorized like any request', async () => {
    const status = await new Promise<{ code: number; body: string }>((resolve, reject) => {
      const req = request(`${sb.url}/api/v1/namespaces/shop/pods/web/exec?command=sh`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: `Bearer ${sb.adminToken}`, 'impersonate-user': SA } });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(status.code).toBe(403);
    expect(JSON.parse(status.body).message).toBe('pods "web" is forbidden: User "system:serviceaccount:coffer-system:coffer" cannot get resource "pods/exec" in API group "" in the namespace "shop"');
  });
});

describe('enforce: false (the benchmarks\' "off")', () => {
  it('allows what RBAC refuses', async () => {
    const { ApiServer } = await import('../../../sandbox/api/server.ts');
    const get = (url: string, path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${url}${path}`, { headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    for (const [enforce, want] of [[false, 200], [true, 403]] as const) {
      const server = new ApiServer({ enforce });
      const url = await server.listen(0);
      try {
        expect([enforce, await get(url, '/api/v1/namespaces/default/secrets', { 'impersonate-user': SA })]).toEqual([enforce, want]);
      } finally {
        await server.close();
      }
    }
  });
});

describe('bad input from a non-admin', () => {
  it('a malformed Role is refused by decoding or validation (400/422), never a 500', async () => {
    const { ApiServer } = await import('../../../sandbox/api/server.ts');
    const { bootstrap } = await import('../../../sandbox/index.ts');
    const server = new ApiServer();
    bootstrap(server);
    server.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    server.ensure({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'a', namespace: 'shop' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' }, subjects: [{ kind: 'ServiceAccount', name: 'coffer', namespace: 'coffer-system' }] } as never);
    const url = await server.listen(0);
    const post = (body: unknown) =>
      new Promise<{ code: number; message: string }>((resolve, reject) => {
        const req = request(`${url}/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles`, { method: 'POST', headers: { 'content-type': 'application/json', 'impersonate-user': SA } }, (res) => {
          let b = '';
          res.on('data', (c) => (b += c));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, message: JSON.parse(b).message }));
        });
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    try {
      const role = (rules: unknown) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'r' }, rules });
      for (const rules of ['x', [{ verbs: 'get', apiGroups: [''], resources: ['pods'] }]]) expect((await post(role(rules))).code).toBe(400);
      // Go decodes a null element as an empty rule, which validation then refuses.
      expect(await post(role([null]))).toEqual({ code: 422, message: 'Role.rbac.authorization.k8s.io "r" is invalid: [rules[0].verbs: Required value: verbs must contain at least one value, rules[0].apiGroups: Required value: resource rules must supply at least one api group, rules[0].resources: Required value: resource rules must supply at least one resource]' });
      expect(await post(role([{ apiGroups: [''], resources: ['pods'] }]))).toEqual({ code: 422, message: 'Role.rbac.authorization.k8s.io "r" is invalid: rules[0].verbs: Required value: verbs must contain at least one value' });
      expect((await post(role([{ verbs: ['get'], apiGroups: [''], resources: ['nodes'] }]))).code).toBe(403);
      expect((await post(role([{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]))).code).toBe(201);
      expect((await post({ ...role([{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }]), metadata: { name: 'r2' } })).code).toBe(201);
      expect((await post({ ...role([{ verbs: ['escalate'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'] }]), metadata: { name: 'r3' } })).message).toBe(
        'roles.rbac.authorization.k8s.io "r3" is forbidden: user "system:serviceaccount:coffer-system:coffer" (groups=["system:serviceaccounts" "system:serviceaccounts:coffer-system" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["rbac.authorization.k8s.io"], Resources:["roles"], Verbs:["escalate"]}',
      );
    } finally {
      await server.close();
    }
  });
});
