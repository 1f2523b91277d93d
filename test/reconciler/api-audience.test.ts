/**
 * `coffer run --api-audience`: for clusters whose tokens for Coffer carry an audience of their own. The audiences go
 * into the TokenReview's spec.audiences and the answer's status.audiences must name one of them (TokenReview API
 * reference: "A client of the TokenReview API that sets the spec.audiences field should validate that a compatible
 * audience identifier is returned in the status.audiences field"). Against the sandbox's TokenReview with tokens minted
 * by `kubectl create token --audience`; the status check itself as a pure table (the sandbox is audience-aware, so the
 * non-aware answer it guards against comes from the API reference text).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import { audienceError, startServing, type Serving } from '../../reconciler/server/index.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { capture } from '../cli-capture.ts';
import { startCofferRun, type CofferRun } from './coffer-run-fixture.ts';
import { cleanup, makePolicyRepo, tempDir } from './git-helpers.ts';

describe('audienceError: the TokenReview status.audiences check', () => {
  const cases = [
    { name: 'no audience asked: the API server default, any authenticated answer holds', asked: [], status: { authenticated: true }, ok: true },
    { name: 'asked one, the answer names it', asked: ['coffer'], status: { authenticated: true, audiences: ['coffer'] }, ok: true },
    { name: 'asked two, the answer names one (the intersection)', asked: ['coffer', 'https://coffer.example'], status: { authenticated: true, audiences: ['https://coffer.example'] }, ok: true },
    { name: 'authenticated with no status.audiences: valid for the API server only (not audience-aware)', asked: ['coffer'], status: { authenticated: true }, error: 'the cluster\'s TokenReview named no audience in its answer: the token is valid for the Kubernetes API server only, not for this API (--api-audience coffer)' },
    { name: 'authenticated for another audience', asked: ['coffer'], status: { authenticated: true, audiences: ['vault'] }, error: 'the token is meant for "vault", not for this API (--api-audience coffer)' },
    { name: 'not authenticated: the cluster\'s own error stands', asked: ['coffer'], status: { authenticated: false }, ok: true },
  ];
  it.each(cases)('$name', (c) => {
    expect(audienceError(c.asked, c.status)).toBe(c.ok ? undefined : c.error);
  });
});

const run = promisify(execFile);
const AUD = 'https://coffer.example.com/api';
let sb: Sandbox;
let work: string;
let repoDir: string;
let withAudience: CofferRun;
let plain: Serving;
const tokens: Record<'api' | 'coffer' | 'both', string> = { api: '', coffer: '', both: '' };

/** A token of ServiceAccount shop/reporter minted by kubectl, with `--audience` flags as given. */
const mint = async (...audiences: string[]) => (await run('kubectl', ['create', 'token', 'reporter', '-n', 'shop', ...audiences.flatMap((a) => ['--audience', a])], { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath } })).stdout.trim();
const whoami = async (url: string, token: string) => {
  const r = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: (await r.json()) as { name?: string; error?: string } };
};

beforeAll(async () => {
  work = tempDir('api-audience');
  sb = await startSandbox({ dir: join(work, 'sandbox') });
  const client = new KubeClient(sb.kubeConfig);
  for (const name of ['shop', 'coffer-system']) await client.create('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await client.create('v1', 'serviceaccounts', 'shop', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reporter', namespace: 'shop' } });
  [tokens.api, tokens.coffer, tokens.both] = await Promise.all([mint(), mint(AUD), mint('vault', AUD)]);
  fs.mkdirSync(join(work, 'repository'));
  repoDir = makePolicyRepo(join(work, 'policy-repo'), demoPolicyRepo(join(work, 'repository'), fs.readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8')));
  // The whole command, flags included; the sandbox's admin kubeconfig is Coffer's identity asking the reviews.
  withAudience = await startCofferRun(['--listen', '127.0.0.1:0', '--api-audience', AUD, '--source', repoDir, '--interval', '1h'], { cwd: work, env: { ...process.env, KUBECONFIG: sb.kubeconfigPath } });
  plain = await startServing({ listen: '127.0.0.1:0', source: await openSource({ source: repoDir, env: {} }), client, kubeConfig: sb.kubeConfig, leaseNamespace: 'coffer-system', identity: 'plain', env: {}, log: () => {} });
}, 180_000);

afterAll(async () => {
  await withAudience?.stop();
  await plain?.close();
  await sb?.stop();
  if (work) cleanup(work);
}, 120_000);

describe('coffer run --api-audience against the sandbox TokenReview', () => {
  // The sandbox accepts a token minted for AUD only when the review asks for AUD: these pass only if spec.audiences went out.
  it('accepts a token minted for the audience (alone or among others)', async () => {
    for (const t of [tokens.coffer, tokens.both]) expect(await whoami(withAudience.url, t)).toMatchObject({ status: 200, body: { name: 'system:serviceaccount:shop:reporter' } });
  });

  it('refuses a token meant for the API server only: 401 with the cluster\'s reason', async () => {
    const r = await whoami(withAudience.url, tokens.api);
    expect(r.status).toBe(401);
    expect(r.body.error).toMatch(/^invalid bearer token: .*audience/);
  });

  it('without --api-audience it is the other way round: the API server audience only', async () => {
    expect((await whoami(plain.url, tokens.api)).status).toBe(200);
    expect((await whoami(plain.url, tokens.coffer)).status).toBe(401);
  });

  it('bad flags: an empty audience, no --listen, or Kubernetes identities turned off', async () => {
    for (const [argv, message] of [
      [['--api-audience', ' ', '--listen', '127.0.0.1:0'], 'error: --api-audience: expected a non-empty audience, e.g. --api-audience coffer\n'],
      [['--api-audience', AUD], 'error: --api-audience needs --listen (it applies to the API server)\n'],
      [['--api-audience', AUD, '--listen', '127.0.0.1:0', '--api-auth', 'tokens', '--api-tokens-file', join(work, 'tokens.csv')], 'error: --api-audience applies to Kubernetes tokens, but --api-auth leaves out kubernetes\n'],
    ] as const) {
      const c = capture(work, {});
      expect(await main(['run', ...argv], c.io)).toBe(1);
      expect(c.err()).toBe(message);
    }
  });
});
