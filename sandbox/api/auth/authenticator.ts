/**
 * Who is calling: the bearer token of a request resolved the way
 * kube-apiserver's authenticator chain does it — the admin's static token,
 * then ServiceAccount JWTs (signature, issuer, expiry, audience, and the
 * ServiceAccount and bound object still existing with the same uid), else
 * 401; no credentials at all is `system:anonymous`. It also issues the
 * tokens (TokenRequest), so signing and checking share one key and issuer.
 */
import type { IncomingMessage } from 'node:http';
import { createHash, randomUUID, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { KObject } from '../object.ts';
import { checkClaims, JwtError, keyId, signJwt, verifySignature, type JwtClaims } from './jwt.ts';
import { SANDBOX_ADMIN } from './context.ts';
import type { UserInfo } from './types.ts';

/** The issuer (and default audience) kubeadm clusters use. */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export const ANONYMOUS: UserInfo = Object.freeze({ username: 'system:anonymous', groups: ['system:unauthenticated'] }) as UserInfo;

/** What the verifier reads back: a narrow view of the object store. */
export interface ObjectLookup {
  get(gr: string, ns: string | undefined, name: string): KObject | undefined;
}

/** A token that does not authenticate; `message` is what TokenReview's status.error says. */
export class TokenInvalid extends Error {
  readonly code = 'E_TOKEN_INVALID';
}

export interface TokenResult {
  user: UserInfo;
  /** Audiences of the token that the caller accepts (TokenReview status.audiences). */
  audiences: string[];
}

export interface BoundObject {
  kind: 'Pod' | 'Secret';
  name: string;
  uid: string;
}

export interface AuthnOptions {
  lookup: ObjectLookup;
  signingKey: KeyObject;
  publicKey: KeyObject;
  adminToken: string;
  issuer?: string;
  /** Milliseconds since epoch (injectable for tests). */
  now?: () => number;
}

const SA_PREFIX = 'system:serviceaccount:';
/** Issuer of the long-lived tokens the tokens controller writes into `kubernetes.io/service-account-token` Secrets. */
export const LEGACY_ISSUER = 'kubernetes/serviceaccount';
const LEGACY = {
  namespace: 'kubernetes.io/serviceaccount/namespace',
  secret: 'kubernetes.io/serviceaccount/secret.name',
  name: 'kubernetes.io/serviceaccount/service-account.name',
  uid: 'kubernetes.io/serviceaccount/service-account.uid',
} as const;
/** Verified signatures remembered (Kubernetes caches token authentication too); bounded. */
const CACHE_MAX = 4096;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function serviceAccountUser(namespace: string, name: string, uid?: string, extra?: Record<string, string[]>): UserInfo {
  return {
    username: `${SA_PREFIX}${namespace}:${name}`,
    ...(uid ? { uid } : {}),
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
    ...(extra && Object.keys(extra).length ? { extra } : {}),
  };
}

export class Authenticator {
  readonly issuer: string;
  /** The API server's own audiences: a token must name one of them to authenticate a request. */
  readonly apiAudiences: string[];
  private readonly lookup: ObjectLookup;
  private readonly signingKey: KeyObject;
  private readonly kid: string;
  private readonly keys: Map<string, KeyObject>;
  private readonly admin: Buffer;
  private readonly now: () => number;
  /** Token → user: kube-apiserver's `--token-auth-file` users (a map lookup, as kube's static token authenticator does). */
  private readonly staticTokens = new Map<string, UserInfo>();
  /** Token → verified claims and the user they name (which depends on the claims only; the live checks run every time). */
  private readonly verified = new Map<string, { claims: JwtClaims; user?: UserInfo }>();

  constructor(o: AuthnOptions) {
    this.lookup = o.lookup;
    this.signingKey = o.signingKey;
    this.kid = keyId(o.publicKey);
    this.keys = new Map([[this.kid, o.publicKey]]);
    this.admin = Buffer.from(o.adminToken);
    this.issuer = o.issuer ?? DEFAULT_ISSUER;
    this.apiAudiences = [this.issuer];
    this.now = o.now ?? Date.now;
  }

  /**
   * The request's user: `undefined` when it carries credentials that do not
   * authenticate (the caller answers 401), anonymous when it carries none.
   */
  authenticateRequest(req: IncomingMessage): UserInfo | undefined {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) return ANONYMOUS;
    try {
      return this.authenticateToken(token).user;
    } catch (e) {
      if (e instanceof TokenInvalid) return undefined;
      throw e;
    }
  }

  /**
   * Adds a static bearer token for a plain user, as kube-apiserver's
   * `--token-auth-file` does; the user is in `system:authenticated` besides
   * `groups`. How tests and laptops get non-ServiceAccount identities.
   */
  addStaticToken(token: string, username: string, groups: readonly string[] = []): UserInfo {
    const user: UserInfo = { username, groups: [...groups.filter((g) => g !== 'system:authenticated'), 'system:authenticated'] };
    this.staticTokens.set(token, user);
    return user;
  }

  /** Resolves a bearer token for `audiences` (default: the API server's); throws TokenInvalid. */
  authenticateToken(token: string, audiences: readonly string[] = this.apiAudiences): TokenResult {
    // Constant-time for candidates of the admin token's length (the length itself is no secret: it is fixed).
    if (Buffer.byteLength(token) === this.admin.length && timingSafeEqual(Buffer.from(token), this.admin)) return { user: SANDBOX_ADMIN, audiences: [...audiences] };
    const fixed = this.staticTokens.get(token);
    if (fixed) return { user: fixed, audiences: [...audiences] };
    let entry = this.verified.get(token);
    try {
      if (!entry) {
        entry = { claims: verifySignature(token, this.keys) };
        if (this.verified.size >= CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
        this.verified.set(token, entry);
      }
      const claims = entry.claims;
      if (claims.iss === LEGACY_ISSUER) return { user: this.legacyClaims(token, claims), audiences: [...audiences] };
      const shared = checkClaims(claims, { issuer: this.issuer, audiences, now: Math.floor(this.now() / 1000) });
      return { user: this.serviceAccountClaims(entry), audiences: shared };
    } catch (e) {
      if (e instanceof JwtError) {
        if (e.code === 'expired') this.verified.delete(token);
        throw new TokenInvalid(e.message);
      }
      throw e;
    }
  }

  /** The ServiceAccount a verified token names, checked against the live objects (deleted or recreated → invalid). */
  private serviceAccountClaims(entry: { claims: JwtClaims; user?: UserInfo }): UserInfo {
    const c = entry.claims;
    const k = c['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown; uid?: unknown }; pod?: { name?: unknown; uid?: unknown }; secret?: { name?: unknown; uid?: unknown } } | undefined;
    const ns = k?.namespace;
    const sa = k?.serviceaccount;
    if (typeof ns !== 'string' || typeof sa?.name !== 'string' || typeof sa.uid !== 'string' || c.sub !== `${SA_PREFIX}${ns}:${sa.name}`) throw new TokenInvalid('token lacks the kubernetes.io ServiceAccount claims');
    const live = this.lookup.get('serviceaccounts', ns, sa.name);
    if (!live || live.metadata.deletionTimestamp) throw new TokenInvalid(`serviceaccounts "${sa.name}" not found`);
    if (live.metadata.uid !== sa.uid) throw new TokenInvalid(`service account UID (${sa.uid}) does not match claim (${live.metadata.uid})`);
    for (const [gr, ref] of [['pods', k!.pod], ['secrets', k!.secret]] as const) {
      if (!ref) continue;
      const name = String(ref.name);
      const obj = this.lookup.get(gr, ns, name);
      if (!obj || (obj.metadata.deletionTimestamp && Date.parse(obj.metadata.deletionTimestamp) <= this.now())) throw new TokenInvalid(`${gr} "${name}" not found`);
      if (obj.metadata.uid !== ref.uid) throw new TokenInvalid(`${gr} UID (${String(ref.uid)}) does not match claim (${obj.metadata.uid})`);
    }
    if (entry.user) return entry.user;
    const extra: Record<string, string[]> = {};
    if (k!.pod) {
      extra['authentication.kubernetes.io/pod-name'] = [String(k!.pod.name)];
      extra['authentication.kubernetes.io/pod-uid'] = [String(k!.pod.uid)];
    }
    if (typeof c.jti === 'string') extra['authentication.kubernetes.io/credential-id'] = [`JTI=${c.jti}`];
    return (entry.user = serviceAccountUser(ns, sa.name, sa.uid, extra));
  }

  /**
   * A Secret-held token (no expiry, no audience): valid while its Secret still
   * holds exactly this token and the ServiceAccount has the same uid.
   */
  private legacyClaims(token: string, c: JwtClaims): UserInfo {
    const [ns, secretName, name, uid] = [c[LEGACY.namespace], c[LEGACY.secret], c[LEGACY.name], c[LEGACY.uid]];
    if (typeof ns !== 'string' || typeof secretName !== 'string' || typeof name !== 'string' || typeof uid !== 'string' || c.sub !== `${SA_PREFIX}${ns}:${name}`) throw new TokenInvalid('token lacks the legacy ServiceAccount claims');
    const secret = this.lookup.get('secrets', ns, secretName);
    const held = typeof secret?.data === 'object' && secret.data !== null ? (secret.data as Record<string, unknown>).token : undefined;
    if (!secret || secret.metadata.deletionTimestamp || typeof held !== 'string' || !timingSafeEqual(sha256(Buffer.from(held, 'base64').toString('utf8')), sha256(token))) throw new TokenInvalid(`secrets "${secretName}" no longer holds this token`);
    const sa = this.lookup.get('serviceaccounts', ns, name);
    if (!sa || sa.metadata.deletionTimestamp) throw new TokenInvalid(`serviceaccounts "${name}" not found`);
    if (sa.metadata.uid !== uid) throw new TokenInvalid(`service account UID (${uid}) does not match claim (${sa.metadata.uid})`);
    return serviceAccountUser(ns, name, uid);
  }

  /** The long-lived token the tokens controller puts into a `kubernetes.io/service-account-token` Secret. */
  issueLegacy(sa: KObject, secretName: string): string {
    const ns = sa.metadata.namespace!;
    return signJwt(
      { iss: LEGACY_ISSUER, [LEGACY.namespace]: ns, [LEGACY.secret]: secretName, [LEGACY.name]: sa.metadata.name, [LEGACY.uid]: sa.metadata.uid, sub: `${SA_PREFIX}${ns}:${sa.metadata.name}` },
      this.signingKey,
      this.kid,
    );
  }

  /** Signs a token for a ServiceAccount object (TokenRequest); validation of the request is the caller's. */
  issue(sa: KObject, audiences: string[], expirationSeconds: number, bound?: BoundObject): { token: string; expiresAt: number } {
    const now = Math.floor(this.now() / 1000);
    const ns = sa.metadata.namespace!;
    const claims: JwtClaims = {
      aud: audiences,
      exp: now + expirationSeconds,
      iat: now,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace: ns,
        ...(bound ? { [bound.kind === 'Pod' ? 'pod' : 'secret']: { name: bound.name, uid: bound.uid } } : {}),
        serviceaccount: { name: sa.metadata.name, uid: sa.metadata.uid },
      },
      nbf: now,
      sub: `${SA_PREFIX}${ns}:${sa.metadata.name}`,
    };
    return { token: signJwt(claims, this.signingKey, this.kid), expiresAt: (now + expirationSeconds) * 1000 };
  }
}

/** `Authorization: Bearer X` as kube-apiserver reads it: other schemes and an empty token count as no credentials. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^\s*(\S+)\s+(.*)$/.exec(header);
  if (!m || m[1]!.toLowerCase() !== 'bearer') return undefined;
  const token = m[2]!.trim();
  return token ? token : undefined;
}
