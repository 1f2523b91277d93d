/**
 * Bad input to a running `coffer run --listen` becomes a condition in /healthz and a Kubernetes Event on Coffer's
 * Deployment, never an exit: a Git server that wants a token while the `coffer-git` Secret is missing (the pod starts
 * without COFFER_GIT_TOKEN, deploy/ marks it optional), a webhook delivery signed with another secret, and a policy
 * naming a profile that does not exist. The Deployment is a real one in the sandbox; each in-process `coffer run` is
 * told it runs in that Deployment's pod through POD_NAME/POD_NAMESPACE, as the downward API tells the deployed one.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { main } from '../../cli/main.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { conditionsOfReconcileError, type Condition } from '../../reconciler/server/conditions.ts';
import { CompileFailed } from '../../compiler/index.ts';
import { GitSourceError } from '../../reconciler/git/errors.ts';
import { findInvolvedObject } from '../../reconciler/kube/events.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { capture } from '../cli-capture.ts';
import { startCofferRun } from './coffer-run-fixture.ts';
import { cleanup, gitCli, makePolicyRepo, startGitHttp, tempDir, type GitHttpServer } from './git-helpers.ts';
import { waitFor } from './sample-app-fixture.ts';

const NS = 'coffer-system';
const SECRET = 'the-right-webhook-secret-0123';
let sb: Sandbox;
let client: KubeClient;
let work: string;
let git: GitHttpServer;
let pod: string;
let deploymentUid: string;

const blueprint = () => fs.readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8');

beforeAll(async () => {
  work = tempDir('server-conditions');
  sb = await startSandbox({ dir: join(work, 'sandbox') });
  client = new KubeClient(sb.kubeConfig);
  await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  // Coffer's Deployment, as far as Events need it: a pod controlled by a ReplicaSet controlled by it.
  const dep = await client.create('apps/v1', 'deployments', NS, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'coffer', namespace: NS },
    spec: { replicas: 1, selector: { matchLabels: { app: 'coffer' } }, template: { metadata: { labels: { app: 'coffer' } }, spec: { containers: [{ name: 'coffer', image: 'busybox:1.36', command: ['sleep', '3600'] }] } } },
  } as KubeObject);
  deploymentUid = dep.metadata.uid!;
  await waitFor('the Deployment\'s pod', async () => (pod = (await client.list('v1', 'pods', NS, { labelSelector: 'app=coffer' }))[0]?.metadata.name ?? '') !== '', 60_000);
  const files = demoPolicyRepo(join(work, 'repository'), blueprint());
  makePolicyRepo(join(work, 'repos', 'policies.git'), files, { bare: true });
  git = await startGitHttp(join(work, 'repos'), { token: 'git-token-0123456789abcdef' });
}, 240_000);

afterAll(async () => {
  await sb?.stop();
  await git?.close();
  if (work) cleanup(work);
}, 120_000);

/** An in-process `coffer run --listen` in the Deployment's pod (as far as POD_NAME/POD_NAMESPACE tell). */
async function coffer(source: string) {
  const secretFile = join(work, 'webhook-secret');
  fs.writeFileSync(secretFile, SECRET);
  const run = await startCofferRun(['--source', source, '--kubeconfig', sb.kubeconfigPath, '--listen', '127.0.0.1:0', '--webhook-secret-file', secretFile, '--interval', '1h', '-o', 'json'], { cwd: work, env: { POD_NAME: pod, POD_NAMESPACE: NS, COFFER_CACHE_DIR: join(work, 'cache') } });
  const healthz = async () => {
    const r = await fetch(`${run.url}/healthz`);
    expect(r.status).toBe(200);
    return (await r.json()) as { status: string; conditions: Condition[] };
  };
  return { ...run, healthz, condition: async (type: string) => (await healthz()).conditions.find((x) => x.type === type)! };
}

/** Coffer's Events on its Deployment with this reason. */
async function events(reason: string): Promise<Array<Record<string, any>>> {
  return (await client.list('v1', 'events', NS)).filter((e: any) => e.involvedObject?.kind === 'Deployment' && e.involvedObject.name === 'coffer' && e.reason === reason) as Array<Record<string, any>>;
}

describe('conditionsOfReconcileError', () => {
  const cases: Array<[string, unknown, NodeJS.ProcessEnv, Array<[string, boolean, string]>]> = [
    ['Git asks for credentials, no token configured', new GitSourceError('E_GIT_AUTH', 'x: authentication required'), {}, [['SourceReady', false, 'GitTokenMissing']]],
    ['Git refuses the token', new GitSourceError('E_GIT_AUTH', 'x: rejected'), { COFFER_GIT_TOKEN: 't' }, [['SourceReady', false, 'GitAuthFailed']]],
    ['Git server down', new GitSourceError('E_GIT_UNREACHABLE', 'x: ECONNREFUSED'), {}, [['SourceReady', false, 'GitUnreachable']]],
    ['branch missing', new GitSourceError('E_GIT_REF_NOT_FOUND', 'x: no branch'), {}, [['SourceReady', false, 'GitFetchFailed']]],
    ['commit does not compile', new CompileFailed([{ code: 'E_REF', severity: 'error', message: 'profile "nope" not found', file: 'policies/p.yaml', line: 9, column: 12, path: 'spec.profile' }]), {}, [['SourceReady', true, 'Fetched'], ['PolicyValid', false, 'CompileFailed']]],
    ['anything else says nothing about these conditions', new Error('boom'), {}, []],
  ];
  it.each(cases)('%s', (_, e, env, want) => expect(conditionsOfReconcileError(e, env).map((u) => [u.type, u.status, u.reason])).toEqual(want));
});

describe('findInvolvedObject', () => {
  it('is the Deployment for its pod, the Pod itself when nothing controls it, nothing outside a pod', async () => {
    expect(await findInvolvedObject(client, { POD_NAME: pod, POD_NAMESPACE: NS })).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'coffer', namespace: NS, uid: deploymentUid });
    const loose = await client.create('v1', 'pods', NS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'coffer-loose', namespace: NS }, spec: { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'] }] } } as KubeObject);
    expect(await findInvolvedObject(client, { POD_NAME: 'coffer-loose', POD_NAMESPACE: NS })).toEqual({ apiVersion: 'v1', kind: 'Pod', name: 'coffer-loose', namespace: NS, uid: loose.metadata.uid });
    await client.delete('v1', 'pods', NS, 'coffer-loose');
    expect(await findInvolvedObject(client, { POD_NAMESPACE: NS })).toBeUndefined();
  });
});

describe('coffer run --api-auth', () => {
  it.each([
    [['--api-auth', 'ldap'], '--api-auth "ldap": "ldap" is not one of tokens, kubernetes'],
    [['--api-auth', 'tokens'], '--api-auth tokens needs --api-tokens-file FILE'],
    [['--api-auth', 'kubernetes', '--api-tokens-file', 'tokens.csv'], '--api-tokens-file is given but --api-auth leaves out tokens'],
  ])('%j is refused before anything starts', async (flags, message) => {
    const c = capture(work, {});
    expect(await main(['run', '--listen', '127.0.0.1:0', ...flags], c.io)).not.toBe(0);
    expect(c.err()).toContain(message);
  });
});

describe('bad input as conditions and Events, never an exit', () => {
  it('a missing Git token Secret: SourceReady False GitTokenMissing, a Warning Event on the Deployment, still running; a wrong webhook secret likewise', async () => {
    const run = await coffer(git.url('policies.git'));
    try {
      await waitFor('SourceReady False', async () => (await run.condition('SourceReady')).status === 'False', 60_000);
      const c = await run.condition('SourceReady');
      expect(c.reason).toBe('GitTokenMissing');
      expect(c.message).toContain('authentication required; set COFFER_GIT_TOKEN');
      expect(c.message).toContain('Secret coffer-git');
      expect((await run.healthz()).status).toBe('degraded');
      await waitFor('the GitTokenMissing Event', async () => (await events('GitTokenMissing')).length > 0, 30_000);
      const [ev] = await events('GitTokenMissing');
      expect(ev).toMatchObject({ type: 'Warning', involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: NS, name: 'coffer', uid: deploymentUid }, source: { component: 'coffer' }, message: c.message });
      expect(run.running()).toBe(true);
      // Where an operator looks: kubectl's describe lists the Deployment's Events.
      const { stdout } = await promisify(execFile)('kubectl', ['-n', NS, 'describe', 'deployment', 'coffer'], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath } });
      expect(stdout).toMatch(/Warning\s+GitTokenMissing\s+.*authentication required/);

      // A delivery signed with another secret: 401 to the sender, a condition and an Event for the operator.
      const body = JSON.stringify({ ref: 'refs/heads/main' });
      const ts = String(Math.floor(Date.now() / 1000));
      const sign = (secret: string) => ({ 'content-type': 'application/json', 'x-coffer-timestamp': ts, 'x-coffer-signature': `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}` });
      expect((await fetch(`${run.url}/hooks/generic`, { method: 'POST', headers: sign('an-old-webhook-secret-0123'), body })).status).toBe(401);
      const w = await run.condition('WebhooksVerified');
      expect([w.status, w.reason]).toEqual(['False', 'BadSignature']);
      expect(w.message).toMatch(/^a generic delivery from 127\.0\.0\.1 was refused: its signature does not match the webhook secret/);
      await waitFor('the BadSignature Event', async () => (await events('BadSignature')).length > 0, 30_000);
      // A second bad delivery is counted on the same Event, not a new one.
      expect((await fetch(`${run.url}/hooks/generic`, { method: 'POST', headers: sign('an-old-webhook-secret-0123'), body })).status).toBe(401);
      await waitFor('the BadSignature Event counted twice', async () => (await events('BadSignature'))[0]?.count === 2, 30_000);
      expect(await events('BadSignature')).toHaveLength(1);
      // The right secret turns it true again (the delivery itself is then processed as usual).
      expect((await fetch(`${run.url}/hooks/generic`, { method: 'POST', headers: sign(SECRET), body })).status).toBeLessThan(300);
      expect((await run.condition('WebhooksVerified')).status).toBe('True');
      await waitFor('the recovery Event', async () => (await events('SignatureVerified'))[0]?.type === 'Normal', 30_000);
      expect(run.running()).toBe(true);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 180_000);

  it('a policy naming a missing profile: PolicyValid False CompileFailed naming file:line:col, an Event, still running; fixed by the next commit', async () => {
    const files = demoPolicyRepo(join(work, 'repository'), blueprint());
    files['policies/shop.yaml'] = files['policies/shop.yaml']!.replace(/profile: \S+/, 'profile: no-such-profile');
    expect(files['policies/shop.yaml']).toContain('profile: no-such-profile');
    const repo = makePolicyRepo(join(work, 'local-policies'), files);
    const run = await coffer(repo);
    try {
      await waitFor('PolicyValid False', async () => (await run.condition('PolicyValid')).status === 'False', 60_000);
      const c = await run.condition('PolicyValid');
      expect(c.reason).toBe('CompileFailed');
      expect(c.message).toMatch(/^the policy commit does not compile: policies\/shop\.yaml:\d+:\d+: .*no-such-profile/);
      expect((await run.condition('SourceReady')).status).toBe('True');
      await waitFor('the CompileFailed Event', async () => (await events('CompileFailed')).length > 0, 30_000);
      expect((await events('CompileFailed'))[0]!.message).toBe(c.message);
      expect(run.running()).toBe(true);

      // The fix is a commit; a signed webhook makes it reconcile now.
      fs.writeFileSync(join(repo, 'policies/shop.yaml'), demoPolicyRepo(join(work, 'repository'), blueprint())['policies/shop.yaml']!);
      gitCli(repo, 'commit', '-qam', 'fix the profile');
      const body = '{}';
      const ts = String(Math.floor(Date.now() / 1000));
      await fetch(`${run.url}/hooks/generic`, { method: 'POST', headers: { 'x-coffer-timestamp': ts, 'x-coffer-signature': `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}` }, body });
      await waitFor('PolicyValid True', async () => (await run.condition('PolicyValid')).status === 'True', 60_000);
      await waitFor('the Compiled Event', async () => (await events('Compiled')).length > 0, 30_000);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 180_000);
});
