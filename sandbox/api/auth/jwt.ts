/**
 * Compact JWS (RFC 7515) signing and verification with node:crypto, ES256 only:
 * the sandbox signs its own ServiceAccount tokens and accepts nothing else, so
 * there is no algorithm negotiation to get wrong (`alg` must be exactly ES256,
 * `none` and HMAC are refused before any key is touched).
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto';

export type JwtClaims = Record<string, unknown> & {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  nbf?: number;
  jti?: string;
};

/** Why a token was refused; stable codes for callers and tests. */
export type JwtFailure = 'malformed' | 'algorithm' | 'key' | 'signature' | 'expired' | 'not-yet-valid' | 'issuer' | 'audience';

export class JwtError extends Error {
  constructor(
    readonly code: JwtFailure,
    message: string,
  ) {
    super(message);
    this.name = 'JwtError';
  }
}

const ALG = 'ES256';
/** Tokens are at most a few KiB; a huge header is refused before any decoding work. */
const MAX_TOKEN = 16 * 1024;

/** Kubernetes' key id: base64url(sha256(DER SubjectPublicKeyInfo)), so verifiers can pick the key. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url');
}

export function signJwt(claims: JwtClaims, privateKey: KeyObject, kid: string): string {
  const header = Buffer.from(JSON.stringify({ alg: ALG, kid })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = `${header}.${payload}`;
  const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function part(s: string, what: string): Record<string, unknown> {
  if (!B64URL.test(s)) throw new JwtError('malformed', `${what} is not base64url`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw new JwtError('malformed', `${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JwtError('malformed', `${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** Splits and decodes a token without trusting it (the header tells which key, the claims whose token). */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: JwtClaims; input: string; signature: Buffer } {
  if (token.length > MAX_TOKEN) throw new JwtError('malformed', 'token is too long');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('malformed', 'not a compact JWS (three dot-separated parts)');
  const [h, p, s] = parts as [string, string, string];
  const header = part(h, 'header');
  const claims = part(p, 'payload') as JwtClaims;
  if (!B64URL.test(s) || s.length === 0) throw new JwtError('malformed', 'signature is not base64url');
  return { header, claims, input: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
}

export interface VerifyOptions {
  /** Public keys by key id; a token without `kid` is tried against each. */
  keys: ReadonlyMap<string, KeyObject>;
  issuer: string;
  /** Accepted audiences: the token must name at least one. */
  audiences: readonly string[];
  /** Seconds since epoch. */
  now: number;
  /** Clock skew tolerated on exp/nbf/iat, as Kubernetes' validator allows (60 s). */
  leeway?: number;
}

/** Checks the signature only (the costly part, which callers may cache); returns the untrusted-until-now claims. */
export function verifySignature(token: string, keys: ReadonlyMap<string, KeyObject>): JwtClaims {
  const { header, claims, input, signature } = decodeJwt(token);
  if (header.alg !== ALG) throw new JwtError('algorithm', `unexpected signing algorithm ${JSON.stringify(header.alg)}`);
  const candidates = typeof header.kid === 'string' ? [keys.get(header.kid)].filter((k): k is KeyObject => !!k) : [...keys.values()];
  if (candidates.length === 0) throw new JwtError('key', 'token was signed by an unknown key');
  if (signature.length !== 64 || !candidates.some((k) => verify('sha256', Buffer.from(input), { key: k, dsaEncoding: 'ieee-p1363' }, signature)))
    throw new JwtError('signature', 'invalid signature');
  return claims;
}

/** Checks issuer, time window and audience of verified claims; returns the audiences both sides share. */
export function checkClaims(claims: JwtClaims, opts: Omit<VerifyOptions, 'keys'>): string[] {
  if (claims.iss !== opts.issuer) throw new JwtError('issuer', `token issuer ${JSON.stringify(claims.iss)} is not ${JSON.stringify(opts.issuer)}`);
  const leeway = opts.leeway ?? 60;
  if (typeof claims.exp !== 'number') throw new JwtError('malformed', 'token has no exp claim');
  if (opts.now > claims.exp + leeway) throw new JwtError('expired', 'token has expired');
  if (typeof claims.nbf === 'number' && opts.now + leeway < claims.nbf) throw new JwtError('not-yet-valid', 'token is not valid yet');
  if (typeof claims.iat === 'number' && opts.now + leeway < claims.iat) throw new JwtError('not-yet-valid', 'token was issued in the future');
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((a): a is string => typeof a === 'string') : [];
  const shared = aud.filter((a) => opts.audiences.includes(a));
  if (shared.length === 0) throw new JwtError('audience', 'token audiences are not accepted');
  return shared;
}

/** Signature, then claims. */
export function verifyJwt(token: string, opts: VerifyOptions): { claims: JwtClaims; audiences: string[] } {
  const claims = verifySignature(token, opts.keys);
  return { claims, audiences: checkClaims(claims, opts) };
}
