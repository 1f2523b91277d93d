/**
 * coffer doctor on this machine (PATH decides which tools exist: real binaries, no fakes) and against a real sandbox
 * API server over HTTP; the RBAC matcher by table (cases from the Kubernetes RBAC docs), checked against the
 * ClusterRoles Coffer ships in deploy/base/rbac.yaml; and the demo and `sandbox up` failing at once without bubblewrap.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { allowedBy, COFFER_NEEDS, type ResourceRule } from '../../cli/doctor/rbac.ts';
import { checkDatabases, checkNode } from '../../cli/doctor/local.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { cleanup, makePolicyRepo, tempDir } from '../reconciler/git-helpers.ts';
import { runCoffer } from '../cli-capture.ts';

const coffer = (env: NodeJS.ProcessEnv, ...argv: string[]) => runCoffer(argv, { env, cwd: tmpdir() });

/** A PATH holding only node's own folder: no bwrap, no git. */
const bare = { PATH: dirname(process.execPath) === '/usr/bin' ? mkdtempSync(join(tmpdir(), 'coffer-empty-path-')) : dirname(process.execPath) };

describe('RBAC needs', () => {
  it.each([
    ['exact rule', [{ verbs: ['create'], apiGroups: ['batch'], resources: ['jobs'] }], { verb: 'create', group: 'batch', resource: 'jobs' }, true],
    ['wildcard verbs', [{ verbs: ['*'], apiGroups: ['batch'], resources: ['jobs'] }], { verb: 'create', group: 'batch', resource: 'jobs' }, true],
    ['other group', [{ verbs: ['create'], apiGroups: ['apps'], resources: ['jobs'] }], { verb: 'create', group: 'batch', resource: 'jobs' }, false],
    ['pods does not cover pods/exec', [{ verbs: ['create'], apiGroups: [''], resources: ['pods'] }], { verb: 'create', group: '', resource: 'pods/exec' }, false],
    ['resourceNames limit the rule', [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['one'] }], { verb: 'get', group: '', resource: 'secrets' }, false],
    ['list */* needs wildcards', [{ verbs: ['list'], apiGroups: ['', 'apps'], resources: ['*'] }], { verb: 'list', group: '*', resource: '*' }, false],
    ['cluster-admin', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], { verb: 'list', group: '*', resource: '*' }, true],
  ] as Array<[string, ResourceRule[], { verb: string; group: string; resource: string }, boolean]>)('%s', (_, rules, need, ok) => expect(allowedBy(rules, need)).toBe(ok));

  it('the roles in deploy/base/rbac.yaml grant everything doctor asks for, and doctor asks for nothing they do not grant', () => {
    const docs = YAML.parseAllDocuments(readFileSync(new URL('../../deploy/base/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as { kind: string; rules?: ResourceRule[] });
    const rules = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => d.rules ?? []);
    expect(COFFER_NEEDS.filter((n) => !allowedBy(rules, n))).toEqual([]);
  });

  // The README's apt-get line: a missing server names its package once (mariadbd and the mariadb client both come with mariadb-server).
  it.each([
    ['all installed', [], true, undefined],
    ['no MariaDB', ['mariadbd', 'mariadb'], false, 'sudo apt-get install mariadb-server'],
    ['no PostgreSQL 15, no redis-cli', ['/usr/lib/postgresql/15/bin/postgres', '/usr/lib/postgresql/15/bin/psql', 'redis-cli'], false, 'sudo apt-get install postgresql-15 redis-tools'],
  ] as const)('database servers: %s', (_, absent, ok, fix) => {
    const f = checkDatabases((b) => !(absent as readonly string[]).includes(b));
    expect([f.ok, f.fix, f.optional ?? false]).toEqual([ok, fix, !ok]);
  });

  it.each([['v18.19.0', false], ['v20.0.0', false], ['v20.19.0', true], ['v22.1.0', true], ['v24.1.0', true]])('node %s supported: %s', (v, ok) => expect(checkNode(v).ok).toBe(ok));
});

describe('without bubblewrap and git', () => {
  it('doctor --local prints one line per problem with its fix and exits 1', async () => {
    const r = await coffer(bare, 'doctor', '--local');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^ok {4}node {9}Node\.js v\d+/m);
    expect(r.out).toMatch(/^FAIL {2}bwrap {8}bubblewrap \(bwrap\) is not installed: .* — fix: sudo apt-get install bubblewrap/m);
    expect(r.out).toMatch(/^FAIL {2}git {10}.* — fix: sudo apt-get install git$/m);
    expect(r.out).toMatch(/^FAIL {2}sqlite3 {6}.* — fix: sudo apt-get install sqlite3$/m); // the demo's app runs it
    expect(r.out).toMatch(/^warn {2}restic /m); // optional tools warn, they do not fail
    expect(r.out).toMatch(/\n3 problem\(s\) to fix\.\n$/);
    const j = JSON.parse((await coffer(bare, 'doctor', '--local', '-o', 'json')).out) as { ready: boolean; findings: Array<{ check: string; ok: boolean }> };
    expect(j.ready).toBe(false);
    expect(j.findings.filter((f) => !f.ok).map((f) => f.check)).toEqual(expect.arrayContaining(['bwrap', 'git']));
  });

  it('the demo and sandbox up stop before starting anything, naming the fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-demo-nobwrap-'));
    try {
      const demo = await coffer(bare, 'demo', '--dir', dir);
      expect(demo.code).toBe(1);
      expect(demo.err).toMatch(/^error: the demo runs Pods in a sandbox cluster and bubblewrap \(bwrap\) is not installed.*\n {2}fix: sudo apt-get install bubblewrap/);
      expect(demo.out).toBe('');
      const up = await coffer(bare, 'sandbox', 'up', '--dir', join(dir, 'sb'));
      expect(up.code).toBe(1);
      expect(up.err).toMatch(/^error: the sandbox runs Pods with bubblewrap \(bwrap\) is not installed.*\n {2}fix: sudo apt-get install bubblewrap/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('against a sandbox API server', () => {
  let sb: Sandbox;
  let dir: string;
  let repo: string;
  beforeAll(async () => {
    sb = await startSandbox({ controllers: false });
    dir = tempDir('doctor');
    repo = makePolicyRepo(join(dir, 'policies'), demoPolicyRepo(join(dir, 'repository'), readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
  }, 60_000);
  afterAll(async () => {
    await sb?.stop();
    cleanup(dir);
  });

  it('reports version, clock, snapshot classes, and a profile whose key Secret is missing, with the fix', async () => {
    const env = { ...process.env, KUBECONFIG: sb.kubeconfigPath };
    const r = await coffer(env, 'doctor', '--source', repo);
    expect(r.out).toMatch(/^ok {4}cluster {6}https?:\/\/127\.0\.0\.1:\d+ answers, Kubernetes v1\.\d+/m);
    expect(r.out).toMatch(/^ok {4}clock {8}within \d+ s of the API server$/m);
    expect(r.out).toMatch(/^(ok|warn|FAIL) +permissions /m);
    expect(r.out).toMatch(/^(ok|warn) +snapshots /m);
    expect(r.out).toMatch(/^FAIL {2}profile\/local {1}file:\/\/.*secret "coffer-system\/coffer-repository-key".* — fix: create the Secret the profile names/m);
    expect(r.code).toBe(1);
  }, 60_000);

  it('a reachable profile with its key is ok, and nothing is created', async () => {
    const env = { ...process.env, KUBECONFIG: sb.kubeconfigPath };
    const { KubeClient } = await import('../../reconciler/kube/client.ts');
    const client = new KubeClient(sb.kubeConfig);
    await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } }).catch(() => undefined);
    await client.create('v1', 'secrets', 'coffer-system', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'coffer-repository-key', namespace: 'coffer-system' }, data: { passphrase: Buffer.from('doctor-test-key').toString('base64') } } as never);
    const r = await coffer(env, 'doctor', '--source', repo);
    expect(r.out).toMatch(/^ok {4}profile\/local {1}file:\/\/.*: reachable, no repository yet \(the first backup creates it\)$/m);
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dir, 'repository', 'config'))).toBe(false);
  }, 60_000);
});

/**
 * The in-cluster API check: Service coffer in coffer-system reached through the API server's service proxy (the
 * sandbox implements it as kube-apiserver does: the Service's Endpoints, then the first address at the named port),
 * in front of a real `coffer run --listen` server (startServing) on loopback.
 */
describe('doctor checks the coffer API Service', () => {
  let sb: Sandbox;
  let dir: string;
  let repo: string;
  let serving: import('../../reconciler/server/index.ts').Serving;
  let env: NodeJS.ProcessEnv;
  let client: import('../../reconciler/kube/client.ts').KubeClient;
  const apiLine = (out: string) => out.split('\n').find((l) => /^\S+ +api /.test(l));
  beforeAll(async () => {
    sb = await startSandbox({ controllers: false });
    env = { ...process.env, KUBECONFIG: sb.kubeconfigPath };
    dir = tempDir('doctor-api');
    repo = makePolicyRepo(join(dir, 'policies'), demoPolicyRepo(join(dir, 'repository'), readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
    const { KubeClient } = await import('../../reconciler/kube/client.ts');
    client = new KubeClient(sb.kubeConfig);
    await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'coffer-system' } });
    const { startServing } = await import('../../reconciler/server/index.ts');
    const { openSource } = await import('../../reconciler/git/source.ts');
    serving = await startServing({ listen: '127.0.0.1:0', source: await openSource({ source: repo, env: {} }), client, kubeConfig: sb.kubeConfig, leaseNamespace: 'coffer-system', identity: 'doctor', env: {}, log: () => {} });
  }, 60_000);
  afterAll(async () => {
    await serving?.close();
    await sb?.stop();
    cleanup(dir);
  });

  it('no Service: a warning that the controller is not installed (the CLI works without it)', async () => {
    const r = await coffer(env, 'doctor', '--source', repo);
    expect(apiLine(r.out)).toBe('warn  api          Service coffer-system/coffer not found: the in-cluster controller and its API are not installed (the CLI works without them) — fix: kubectl apply -k deploy/overlays/production, or pass --api-service NAME if it is called otherwise');
  }, 60_000);

  it('a Service without endpoints: FAIL naming the Service and the API server\'s reason', async () => {
    await client.create('v1', 'services', 'coffer-system', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'coffer', namespace: 'coffer-system' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
    const r = await coffer(env, 'doctor', '--source', repo);
    expect(apiLine(r.out)).toMatch(/^FAIL {2}api {10}Service coffer-system\/coffer does not answer \/healthz: GET .*\/services\/coffer\/proxy\/healthz: no endpoints available for service "coffer" — fix: kubectl -n coffer-system get deployment,pods,endpoints coffer; /);
    expect(r.code).toBe(1);
  }, 60_000);

  it('answering: ok with its status and conditions; a False condition is a problem quoting it', async () => {
    const port = Number(new URL(serving.url).port);
    await client.create('v1', 'endpoints', 'coffer-system', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'coffer', namespace: 'coffer-system' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'http', port }] }] } as never);
    const ok = await coffer(env, 'doctor', '--source', repo, '-o', 'json');
    const api = (JSON.parse(ok.out) as { findings: { check: string; ok: boolean; detail: string }[] }).findings.find((f) => f.check === 'api');
    expect(api).toEqual({ check: 'api', ok: true, detail: 'Service coffer-system/coffer answers /healthz: starting; conditions SourceReady=Unknown, PolicyValid=Unknown, WebhooksVerified=Unknown' });
    // A delivery the server must refuse (no webhook secret configured) turns WebhooksVerified False.
    expect((await fetch(`${serving.url}/hooks/generic`, { method: 'POST', body: '{}' })).status).toBe(401);
    const bad = await coffer(env, 'doctor', '--source', repo);
    expect(apiLine(bad.out)).toMatch(/^FAIL {2}api {10}Service coffer-system\/coffer answers \/healthz but is starting: WebhooksVerified=False \(NoWebhookSecret: a generic delivery from \S+ was refused: no webhook secret is configured .*\) — fix: kubectl -n coffer-system describe deployment coffer/);
    expect(bad.code).toBe(1);
  }, 60_000);
});
