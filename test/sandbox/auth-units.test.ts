/**
 * Pure pieces of sandbox authentication, as tables: the JWT signer/verifier
 * (RFC 7515/7519 rules and the claim checks of Kubernetes' ServiceAccount
 * token validator), the authenticator against a store, request attributes
 * (apiserver's RequestInfoFactory), the audit ring, ServiceAccount admission,
 * and the kubelet's token refresh and atomic writer.
 */
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkClaims, decodeJwt, JwtError, keyId, signJwt, verifyJwt, type JwtClaims } from '../../sandbox/api/auth/jwt.ts';
import { ANONYMOUS, Authenticator, bearerToken, TokenInvalid } from '../../sandbox/api/auth/authenticator.ts';
import { requestAttributes } from '../../sandbox/api/rbac/requestinfo.ts';
import { AuditLog } from '../../sandbox/api/auth/audit.ts';
import { admitServiceAccount, publishRootCa, TOKEN_MOUNT_PATH, tokenSecretUpdate } from '../../sandbox/api/auth/serviceaccount-admission.ts';
import { SANDBOX_ADMIN } from '../../sandbox/api/auth/context.ts';
import { ProjectedTokens, refreshAt, writeAtomic } from '../../sandbox/runtime/sa-token.ts';
import { loadCredentials } from '../../sandbox/api/auth/pki.ts';
import { X509Certificate } from 'node:crypto';
import type { KObject } from '../../sandbox/api/object.ts';
import type { IncomingMessage } from 'node:http';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const key = ec();
const other = ec();
const kid = keyId(key.publicKey);
const keys = new Map<string, KeyObject>([[kid, key.publicKey]]);
const ISS = 'https://kubernetes.default.svc.cluster.local';
const NOW = 1_800_000_000;
const base: JwtClaims = { iss: ISS, aud: [ISS], iat: NOW - 10, nbf: NOW - 10, exp: NOW + 600, sub: 'system:serviceaccount:a:b' };
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('JWT verification (RFC 7515 compact JWS, RFC 7519 claims; Kubernetes allows 60 s of skew)', () => {
  const good = signJwt(base, key.privateKey, kid);
  const [h, p, s] = good.split('.');
  const cases: { name: string; token: string; audiences?: string[]; now?: number; code?: JwtError['code'] }[] = [
    { name: 'a token it signed verifies', token: good },
    { name: 'exp within the 60 s leeway still verifies', token: good, now: NOW + 650 },
    { name: 'expired past the leeway', token: good, now: NOW + 661, code: 'expired' },
    { name: 'nbf in the future', token: signJwt({ ...base, nbf: NOW + 120, iat: NOW }, key.privateKey, kid), code: 'not-yet-valid' },
    { name: 'iat in the future', token: signJwt({ ...base, iat: NOW + 120, nbf: undefined }, key.privateKey, kid), code: 'not-yet-valid' },
    { name: 'no exp claim', token: signJwt({ ...base, exp: undefined }, key.privateKey, kid), code: 'malformed' },
    { name: 'wrong audience', token: good, audiences: ['vault'], code: 'audience' },
    { name: 'audience given as a single string', token: signJwt({ ...base, aud: ISS }, key.privateKey, kid) },
    { name: 'other issuer', token: signJwt({ ...base, iss: 'https://evil' }, key.privateKey, kid), code: 'issuer' },
    { name: 'signed by a foreign key under our kid', token: signJwt(base, other.privateKey, kid), code: 'signature' },
    { name: 'signed by a foreign key with its own kid', token: signJwt(base, other.privateKey, keyId(other.publicKey)), code: 'key' },
    { name: 'payload swapped after signing', token: `${h}.${b64({ ...base, sub: 'system:serviceaccount:kube-system:admin' })}.${s}`, code: 'signature' },
    { name: 'alg none (RFC 7518 §3.6) is refused', token: `${b64({ alg: 'none' })}.${p}.`, code: 'malformed' },
    { name: 'alg none with a signature part', token: `${b64({ alg: 'none' })}.${p}.${s}`, code: 'algorithm' },
    { name: 'HS256 is refused (no key confusion)', token: `${b64({ alg: 'HS256', kid })}.${p}.${s}`, code: 'algorithm' },
    { name: 'two parts', token: `${h}.${p}`, code: 'malformed' },
    { name: 'four parts', token: `${good}.x`, code: 'malformed' },
    { name: 'garbage', token: 'garbage', code: 'malformed' },
    { name: 'header not JSON', token: `bm90IGpzb24.${p}.${s}`, code: 'malformed' },
    { name: 'header a JSON array', token: `${b64([1])}.${p}.${s}`, code: 'malformed' },
    { name: 'non-base64url characters', token: `${h}.${p}+/.${s}`, code: 'malformed' },
    { name: 'truncated signature', token: `${h}.${p}.${s!.slice(0, 20)}`, code: 'signature' },
    { name: 'oversized token', token: `${h}.${'A'.repeat(20_000)}.${s}`, code: 'malformed' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => verifyJwt(c.token, { keys, issuer: ISS, audiences: c.audiences ?? [ISS], now: c.now ?? NOW });
      if (!c.code) expect(run().audiences).toEqual([ISS]);
      else {
        let err: unknown;
        try {
          run();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(JwtError);
        expect((err as JwtError).code).toBe(c.code);
      }
    });
  }

  it('signs ES256 with the kid and the claims it was given', () => {
    const { header, claims } = decodeJwt(good);
    expect(header).toEqual({ alg: 'ES256', kid });
    expect(claims).toEqual(base);
    expect(checkClaims(claims, { issuer: ISS, audiences: ['x', ISS], now: NOW })).toEqual([ISS]);
  });
});

describe('bearerToken (apiserver bearertoken authenticator)', () => {
  const cases: [string | undefined, string | undefined][] = [
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['Bearer   abc  ', 'abc'],
    ['Bearer ', undefined],
    ['Basic dXNlcjpwdw==', undefined],
    ['abc', undefined],
    [undefined, undefined],
  ];
  for (const [header, want] of cases) it(`${JSON.stringify(header)} → ${JSON.stringify(want)}`, () => expect(bearerToken(header)).toBe(want));
});

describe('Authenticator: ServiceAccount tokens are checked against the live objects', () => {
  const objects = new Map<string, KObject>();
  const put = (gr: string, ns: string, name: string, uid: string, extra: Partial<KObject> = {}) => objects.set(`${gr}/${ns}/${name}`, { apiVersion: 'v1', kind: 'X', metadata: { name, namespace: ns, uid }, ...extra } as KObject);
  let now = NOW * 1000;
  const authn = new Authenticator({ lookup: { get: (gr, ns, name) => objects.get(`${gr}/${ns}/${name}`) }, signingKey: key.privateKey, publicKey: key.publicKey, adminToken: 'admin-secret', now: () => now });
  put('serviceaccounts', 'shop', 'app', 'sa-1');
  put('pods', 'shop', 'web', 'pod-1', { spec: { serviceAccountName: 'app' } });
  const sa = objects.get('serviceaccounts/shop/app')!;
  const req = (authorization?: string) => ({ headers: authorization ? { authorization } : {} }) as IncomingMessage;

  it('maps the admin token to the cluster-admin identity, and no token to anonymous', () => {
    expect(authn.authenticateRequest(req('Bearer admin-secret'))).toBe(SANDBOX_ADMIN);
    expect(authn.authenticateRequest(req())).toBe(ANONYMOUS);
    expect(authn.authenticateRequest(req('Bearer admin-secreT'))).toBeUndefined();
  });

  it('maps static tokens (--token-auth-file) to their users in system:authenticated', () => {
    authn.addStaticToken('alice-token', 'alice', ['dev', 'system:authenticated']);
    expect(authn.authenticateRequest(req('Bearer alice-token'))).toEqual({ username: 'alice', groups: ['dev', 'system:authenticated'] });
    expect(authn.authenticateRequest(req('Bearer alice-token2'))).toBeUndefined();
  });

  it('resolves a bound token to the ServiceAccount user with the pod in extra', () => {
    const { token } = authn.issue(sa, [ISS], 3600, { kind: 'Pod', name: 'web', uid: 'pod-1' });
    const u = authn.authenticateToken(token).user;
    expect(u.username).toBe('system:serviceaccount:shop:app');
    expect(u.uid).toBe('sa-1');
    expect(u.groups).toEqual(['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated']);
    expect(u.extra?.['authentication.kubernetes.io/pod-name']).toEqual(['web']);
    expect(u.extra?.['authentication.kubernetes.io/credential-id']?.[0]).toMatch(/^JTI=/);
  });

  const invalid: { name: string; token: () => string; change?: () => void; audiences?: string[] }[] = [
    { name: 'a token for another audience', token: () => authn.issue(sa, ['vault'], 3600).token },
    { name: 'an expired token (cached signature or not)', token: () => authn.issue(sa, [ISS], 600).token, change: () => (now += 661_000) },
    { name: 'the ServiceAccount deleted', token: () => authn.issue(sa, [ISS], 3600).token, change: () => objects.delete('serviceaccounts/shop/app') },
    { name: 'the ServiceAccount recreated (new uid)', token: () => authn.issue(sa, [ISS], 3600).token, change: () => put('serviceaccounts', 'shop', 'app', 'sa-2') },
    { name: 'the bound pod deleted', token: () => authn.issue(sa, [ISS], 3600, { kind: 'Pod', name: 'web', uid: 'pod-1' }).token, change: () => objects.delete('pods/shop/web') },
    { name: 'the bound secret recreated', token: () => (put('secrets', 'shop', 's', 'sec-1'), authn.issue(sa, [ISS], 3600, { kind: 'Secret', name: 's', uid: 'sec-1' }).token), change: () => put('secrets', 'shop', 's', 'sec-2') },
    { name: 'a token signed by another key', token: () => signJwt({ ...base, iat: now / 1000, nbf: now / 1000, exp: now / 1000 + 600 }, other.privateKey, kid) },
    { name: 'a valid signature without kubernetes.io claims', token: () => signJwt({ ...base, iat: now / 1000, nbf: now / 1000, exp: now / 1000 + 600 }, key.privateKey, kid) },
  ];
  for (const c of invalid) {
    it(`refuses ${c.name}`, () => {
      const saved = new Map(objects);
      const t0 = now;
      try {
        const token = c.token();
        authn.authenticateToken(token, c.audiences); // a valid use first: warms the signature cache
      } catch {
        /* the token may be invalid from the start (audience, foreign key) */
      }
      const token = c.token();
      c.change?.();
      expect(() => authn.authenticateToken(token, c.audiences)).toThrow(TokenInvalid);
      expect(authn.authenticateRequest(req(`Bearer ${token}`))).toBeUndefined();
      objects.clear();
      for (const [k, v] of saved) objects.set(k, v);
      now = t0;
    });
  }
});

describe('legacy Secret-held tokens (pkg/serviceaccount/legacy.go; tokens controller)', () => {
  const objects = new Map<string, KObject>();
  const authn = new Authenticator({ lookup: { get: (gr, ns, name) => objects.get(`${gr}/${ns}/${name}`) }, signingKey: key.privateKey, publicKey: key.publicKey, adminToken: 'x' });
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci', namespace: 'a', uid: 'sa-9' } } as KObject;
  const secret = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token', metadata: { name: 'ci-token', namespace: 'a', annotations: { 'kubernetes.io/service-account.name': 'ci' } } } as unknown as KObject;

  it('fills the Secret, and the token authenticates while the Secret holds it', () => {
    const filled = tokenSecretUpdate(secret, sa, 'PEM', (s) => authn.issueLegacy(s, 'ci-token')) as KObject & { data: Record<string, string> };
    expect(filled.metadata.annotations?.['kubernetes.io/service-account.uid']).toBe('sa-9');
    expect(Buffer.from(filled.data.namespace!, 'base64').toString()).toBe('a');
    expect(tokenSecretUpdate(filled, sa, 'PEM', () => 'unused')).toBeUndefined();
    objects.set('serviceaccounts/a/ci', sa);
    objects.set('secrets/a/ci-token', filled);
    const token = Buffer.from(filled.data.token!, 'base64').toString();
    expect(authn.authenticateToken(token).user).toEqual({ username: 'system:serviceaccount:a:ci', uid: 'sa-9', groups: ['system:serviceaccounts', 'system:serviceaccounts:a', 'system:authenticated'] });
    objects.set('secrets/a/ci-token', { ...filled, data: { ...filled.data, token: Buffer.from('other').toString('base64') } } as KObject);
    expect(() => authn.authenticateToken(token)).toThrow(TokenInvalid);
    objects.set('secrets/a/ci-token', filled);
    objects.set('serviceaccounts/a/ci', { ...sa, metadata: { ...sa.metadata, uid: 'sa-10' } });
    expect(() => authn.authenticateToken(token)).toThrow(TokenInvalid);
  });
  it('deletes the Secret when its ServiceAccount is missing or was recreated; ignores other Secrets', () => {
    expect(tokenSecretUpdate(secret, undefined, 'PEM', () => 't')).toBe('delete');
    const bound = { ...secret, metadata: { ...secret.metadata, annotations: { ...secret.metadata.annotations, 'kubernetes.io/service-account.uid': 'old' } } } as KObject;
    expect(tokenSecretUpdate(bound, sa, 'PEM', () => 't')).toBe('delete');
    expect(tokenSecretUpdate({ ...secret, type: 'Opaque' } as KObject, undefined, 'PEM', () => 't')).toBeUndefined();
  });
});

describe('requestAttributes (apiserver RequestInfoFactory)', () => {
  const u = ANONYMOUS;
  const cases: [string, string, Record<string, unknown>][] = [
    ['GET', '/healthz', { verb: 'get', resourceRequest: false, path: '/healthz' }],
    ['GET', '/apis/apps', { verb: 'get', resourceRequest: false, path: '/apis/apps' }],
    ['GET', '/api/v1/pods', { verb: 'list', resource: 'pods', apiGroup: '' }],
    ['GET', '/api/v1/pods?watch=true', { verb: 'watch', resource: 'pods' }],
    ['GET', '/api/v1/watch/namespaces/a/pods', { verb: 'watch', resource: 'pods', namespace: 'a' }],
    ['GET', '/api/v1/namespaces/a/pods/p/log', { verb: 'get', resource: 'pods', subresource: 'log', namespace: 'a', name: 'p' }],
    ['POST', '/api/v1/namespaces/a/serviceaccounts/default/token', { verb: 'create', resource: 'serviceaccounts', subresource: 'token', name: 'default', namespace: 'a' }],
    ['DELETE', '/apis/apps/v1/namespaces/a/deployments', { verb: 'deletecollection', resource: 'deployments', apiGroup: 'apps' }],
    ['PATCH', '/apis/apps/v1/namespaces/a/deployments/d/scale', { verb: 'patch', subresource: 'scale' }],
    ['GET', '/api/v1/namespaces/a', { verb: 'get', resource: 'namespaces', name: 'a', namespace: 'a' }],
    ['PUT', '/api/v1/namespaces/a/finalize', { verb: 'update', resource: 'namespaces', name: 'a', subresource: 'finalize' }],
    ['GET', '/api/v1/namespaces/a/../b/pods', { verb: 'list', resource: 'pods', namespace: 'b' }],
    ['GET', '/api/v1/namespaces/a/%2e%2e/b/secrets/s', { verb: 'get', resource: 'secrets', namespace: 'b', name: 's' }],
    ['GET', 'http://h/api/v1/namespaces/a/pods?watch=1', { verb: 'watch', resource: 'pods', namespace: 'a' }],
    ['POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { verb: 'create', apiGroup: 'authentication.k8s.io', resource: 'selfsubjectreviews' }],
  ];
  for (const [m, url, want] of cases) it(`${m} ${url}`, () => expect(requestAttributes(m, url, u)).toMatchObject({ user: u, ...want }));
});

describe('AuditLog', () => {
  it('keeps the newest entries in order and counts what it dropped', () => {
    const log = new AuditLog(3);
    for (let i = 0; i < 5; i++) log.record(requestAttributes('GET', `/api/v1/namespaces/n${i}/pods`, ANONYMOUS), 200 + i, 0);
    expect(log.events().map((e) => [e.namespace, e.code])).toEqual([['n2', 202], ['n3', 203], ['n4', 204]]);
    expect(log.dropped).toBe(2);
    expect(() => new AuditLog(0)).toThrow(RangeError);
  });
});

describe('ServiceAccount admission (plugin/pkg/admission/serviceaccount)', () => {
  const sa = (automount?: boolean) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'a' }, ...(automount === undefined ? {} : { automountServiceAccountToken: automount }) }) as KObject;
  const pod = (spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, spec: { containers: [{ name: 'c' }], initContainers: [{ name: 'i' }], ...spec } }) as KObject;
  const mounts = (p: KObject, key = 'containers') => ((p.spec as any)[key][0].volumeMounts ?? []) as any[];

  it('adds kube-api-access-xxxxx and mounts it read-only in every container', () => {
    const p = pod();
    expect(admitServiceAccount(p, sa(), () => 'abcde')).toBeUndefined();
    const v = (p.spec as any).volumes[0];
    expect(v.name).toBe('kube-api-access-abcde');
    expect(v.projected.sources.map((s: object) => Object.keys(s)[0])).toEqual(['serviceAccountToken', 'configMap', 'downwardAPI']);
    expect(v.projected.sources[0].serviceAccountToken).toEqual({ expirationSeconds: 3607, path: 'token' });
    for (const k of ['containers', 'initContainers']) expect(mounts(p, k)).toEqual([{ name: 'kube-api-access-abcde', readOnly: true, mountPath: TOKEN_MOUNT_PATH }]);
  });
  const none: [string, KObject, KObject][] = [
    ['pod automountServiceAccountToken: false', pod({ automountServiceAccountToken: false }), sa()],
    ['ServiceAccount automountServiceAccountToken: false', pod(), sa(false)],
  ];
  for (const [name, p, s] of none)
    it(`mounts nothing with ${name}`, () => {
      admitServiceAccount(p, s, () => 'abcde');
      expect((p.spec as any).volumes).toBeUndefined();
    });
  it('the pod setting true wins over the ServiceAccount setting false', () => {
    const p = pod({ automountServiceAccountToken: true });
    admitServiceAccount(p, sa(false), () => 'abcde');
    expect((p.spec as any).volumes).toHaveLength(1);
  });
  it('leaves containers that mount something at the token path alone, and keeps an existing kube-api-access volume', () => {
    const p = pod({ volumes: [{ name: 'kube-api-access-zzzzz', projected: { sources: [] } }], containers: [{ name: 'c', volumeMounts: [{ name: 'own', mountPath: TOKEN_MOUNT_PATH }] }] });
    admitServiceAccount(p, sa(), () => 'abcde');
    expect(mounts(p)).toEqual([{ name: 'own', mountPath: TOKEN_MOUNT_PATH }]);
    expect(mounts(p, 'initContainers')[0].name).toBe('kube-api-access-zzzzz');
    expect((p.spec as any).volumes).toHaveLength(1);
  });
  it('refuses a pod whose ServiceAccount does not exist, with the real message', () => {
    const err = admitServiceAccount(pod({ serviceAccountName: 'ghost' }), undefined, () => 'abcde');
    expect(err?.code).toBe(403);
    expect(err?.message).toBe('pods "p" is forbidden: error looking up service account a/ghost: serviceaccount "ghost" not found');
  });
  it('publishes kube-root-ca.crt and repairs an edited one', () => {
    const cm = publishRootCa('a', 'PEM', undefined)!;
    expect(cm.metadata).toMatchObject({ name: 'kube-root-ca.crt', namespace: 'a' });
    expect((cm as any).data).toEqual({ 'ca.crt': 'PEM' });
    expect(publishRootCa('a', 'PEM', cm)).toBeUndefined();
    expect((publishRootCa('a', 'PEM', { ...cm, data: { 'ca.crt': 'x' } } as KObject) as any).data['ca.crt']).toBe('PEM');
  });
});

describe('credentials per state directory (DIR/pki)', () => {
  it('issues a serving certificate the CA verifies, keeps everything across loads, renews a certificate near expiry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pki-'));
    try {
      const a = await loadCredentials(dir);
      const ca = new X509Certificate(a.caPem);
      const cert = new X509Certificate(a.serverCertPem);
      expect(ca.ca).toBe(true);
      expect(cert.checkIssued(ca)).toBe(true);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
      expect(cert.checkHost('kubernetes.default.svc')).toBe('kubernetes.default.svc');
      expect(cert.checkHost('example.com')).toBeUndefined();
      expect(a.adminToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const b = await loadCredentials(dir);
      expect([b.caPem, b.serverCertPem, b.adminToken, keyId(b.saPublicKey)]).toEqual([a.caPem, a.serverCertPem, a.adminToken, keyId(a.saPublicKey)]);
      const later = await loadCredentials(dir, new Date(Date.now() + 340 * 86_400_000));
      expect(later.caPem).toBe(a.caPem);
      expect(later.serverCertPem).not.toBe(a.serverCertPem);
      expect(new X509Certificate(later.serverCertPem).checkIssued(ca)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('projected token refresh (kubelet token manager)', () => {
  const cases: [string, number, number, number][] = [
    ['3607 s token: refreshed at 80%', 0, 3607_000, 2885_600],
    ['10 min token', 1000, 601_000, 481_000],
    ['1 year token: refreshed after 24 h', 0, 365 * 86_400_000, 86_400_000],
  ];
  for (const [name, iat, exp, want] of cases) it(name, () => expect(refreshAt(iat, exp)).toBe(want));

  it('rewrites the volume in place through ..data, so a bind mount of the directory sees the new token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-token-'));
    try {
      const objects = new Map<string, KObject>([['serviceaccounts/a/default', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'a', uid: 'u1' } } as KObject]]);
      let now = NOW * 1000;
      const authn = new Authenticator({ lookup: { get: (gr, ns, name) => objects.get(`${gr}/${ns}/${name}`) }, signingKey: key.privateKey, publicKey: createPublicKey(key.privateKey), adminToken: 'x', now: () => now });
      // The API is the real TokenRequest answer of the authenticator (what the server's handler returns).
      const api = {
        post: async (_path: string, body: any) => {
          const { token, expiresAt } = authn.issue(objects.get('serviceaccounts/a/default')!, body.spec.audiences.length ? body.spec.audiences : [ISS], body.spec.expirationSeconds);
          return { status: { token, expirationTimestamp: new Date(expiresAt).toISOString() } };
        },
      };
      const timers: { ms: number; fn: () => void }[] = [];
      const tokens = new ProjectedTokens(api, { now: () => now, schedule: (ms, fn) => (timers.push({ ms, fn }), { cancel: () => {} }) });
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a', uid: 'pu' }, spec: {} } as KObject;
      const render = async () => [await tokens.token(pod, { path: 'token', expirationSeconds: 3607 }, 0o644), { path: 'namespace', data: Buffer.from('a'), mode: 0o644 }];
      await tokens.keep(dir, await render(), render);
      const first = readFileSync(join(dir, 'token'), 'utf8');
      expect(readlinkSync(join(dir, 'token'))).toBe('..data/token');
      expect(readFileSync(join(dir, 'namespace'), 'utf8')).toBe('a');
      expect(timers).toHaveLength(1);
      expect(timers[0]!.ms).toBe(2885_600);
      now += timers[0]!.ms;
      timers[0]!.fn();
      // The refresh is asynchronous (a TokenRequest, then the atomic write): wait for the new token, not for a time.
      let second = first;
      for (let i = 0; i < 1000 && second === first; i++) {
        await new Promise((r) => setTimeout(r, 10));
        second = readFileSync(join(dir, 'token'), 'utf8');
      }
      expect(second).not.toBe(first);
      // The old generation is removed after the ..data switch: wait for that too.
      for (let i = 0; i < 1000 && readdirSync(dir).filter((e) => e.startsWith('..2')).length > 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(authn.authenticateToken(second).user.username).toBe('system:serviceaccount:a:default');
      // One generation directory, the ..data link and the two names.
      expect(readdirSync(dir).filter((e) => e.startsWith('..2')).length).toBe(1);
      expect(timers).toHaveLength(2);
      tokens.stop();
      // A fresh atomic write over a plain-file layout (a directory from before) replaces the files with links.
      await writeAtomic(dir, [{ path: 'token', data: Buffer.from('t'), mode: 0o600 }]);
      expect(readdirSync(dir).filter((e) => !e.startsWith('..'))).toEqual(['token']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
