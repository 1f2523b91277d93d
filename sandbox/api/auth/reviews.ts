/**
 * The authentication.k8s.io API: TokenRequest (the `serviceaccounts/token`
 * subresource), TokenReview and SelfSubjectReview. Each takes the decoded
 * request body and returns the response object or throws the ApiError the
 * real API server answers with (registry/core/serviceaccount/storage/token.go,
 * registry/authentication/{tokenreview,selfsubjectreview}).
 */
import { ApiError, badRequest, conflict, fieldInvalid, invalid, notFound } from '../errors.ts';
import { isObject, type KObject } from '../object.ts';
import { TokenInvalid, type Authenticator, type BoundObject, type ObjectLookup } from './authenticator.ts';
import type { UserInfo } from './types.ts';

type Rec = Record<string, unknown>;

const rec = (v: unknown): Rec => (isObject(v) ? v : {});

/** Kubernetes' floor for requested token lifetimes (10 minutes) and its ceiling (2^32 s). */
export const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;
const DEFAULT_EXPIRATION_SECONDS = 3600;

function userInfoJson(u: UserInfo): Rec {
  return { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: [...u.groups], ...(u.extra ? { extra: u.extra } : {}) };
}

/** POST …/namespaces/NS/serviceaccounts/NAME/token. */
export function tokenRequest(authn: Authenticator, lookup: ObjectLookup, namespace: string, name: string, body: KObject, nowIso: string): KObject {
  const sa = lookup.get('serviceaccounts', namespace, name);
  if (!sa) throw notFound('serviceaccounts', '', name);
  const spec = rec(body.spec);
  const exp = spec.expirationSeconds === undefined ? DEFAULT_EXPIRATION_SECONDS : spec.expirationSeconds;
  const errs = [];
  if (typeof exp !== 'number' || !Number.isInteger(exp)) errs.push(fieldInvalid('spec.expirationSeconds', exp, 'must be an integer'));
  else if (exp < MIN_EXPIRATION_SECONDS) errs.push(fieldInvalid('spec.expirationSeconds', exp, 'may not specify a duration less than 10 minutes'));
  else if (exp > MAX_EXPIRATION_SECONDS) errs.push(fieldInvalid('spec.expirationSeconds', exp, 'may not specify a duration larger than 2^32 seconds'));
  const audiences = spec.audiences === undefined || (Array.isArray(spec.audiences) && spec.audiences.length === 0) ? authn.apiAudiences : spec.audiences;
  if (!Array.isArray(audiences) || !audiences.every((a) => typeof a === 'string' && a !== '')) errs.push(fieldInvalid('spec.audiences', spec.audiences, 'must be a list of non-empty strings'));
  if (errs.length) throw invalid('TokenRequest', 'authentication.k8s.io', name, errs);

  let bound: BoundObject | undefined;
  const ref = spec.boundObjectRef === undefined ? undefined : rec(spec.boundObjectRef);
  if (ref) {
    const group = String(ref.apiVersion ?? 'v1').includes('/') ? String(ref.apiVersion).split('/')[0] : '';
    const kind = String(ref.kind ?? '');
    if (group !== '' || (kind !== 'Pod' && kind !== 'Secret')) throw badRequest(`cannot bind token to object of type ${group ? `${group}/` : ''}${String(ref.apiVersion ?? '').split('/').pop()}, Kind=${kind}`);
    const gr = kind === 'Pod' ? 'pods' : 'secrets';
    const refName = String(ref.name ?? '');
    const obj = lookup.get(gr, namespace, refName);
    if (!obj) throw notFound(gr, '', refName);
    if (ref.uid && ref.uid !== obj.metadata.uid) throw conflict(kind, '', refName, `the UID in the bound object reference (${String(ref.uid)}) does not match the UID in record. The object might have been deleted and then recreated`);
    if (kind === 'Pod' && rec(obj.spec).serviceAccountName !== name) throw badRequest(`cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`);
    bound = { kind, name: refName, uid: obj.metadata.uid! };
  }
  const { token, expiresAt } = authn.issue(sa, audiences as string[], exp as number, bound);
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: nowIso },
    spec: { audiences, expirationSeconds: exp, ...(bound ? { boundObjectRef: { kind: bound.kind, apiVersion: 'v1', name: bound.name, uid: bound.uid } } : {}) },
    status: { token, expirationTimestamp: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  } as unknown as KObject;
}

/** POST /apis/authentication.k8s.io/v1/tokenreviews: does this token authenticate, and as whom. */
export function tokenReview(authn: Authenticator, body: KObject, apiVersion: string): KObject {
  const spec = rec(body.spec);
  const token = spec.token;
  if (typeof token !== 'string' || token === '') throw badRequest('token is required for TokenReview in authentication');
  const asked = Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences.filter((a): a is string => typeof a === 'string') : undefined;
  let status: Rec;
  try {
    const r = authn.authenticateToken(token, asked ?? authn.apiAudiences);
    status = { authenticated: true, user: userInfoJson(r.user), audiences: r.audiences };
  } catch (e) {
    if (!(e instanceof TokenInvalid)) throw e;
    status = { user: {}, error: `[invalid bearer token, ${e.message}]` };
  }
  return { apiVersion, kind: 'TokenReview', metadata: { creationTimestamp: null }, spec: { token, ...(asked ? { audiences: asked } : {}) }, status } as unknown as KObject;
}

/** POST /apis/authentication.k8s.io/VERSION/selfsubjectreviews (`kubectl auth whoami`). */
export function selfSubjectReview(user: UserInfo, apiVersion: string, nowIso: string): KObject {
  return { apiVersion, kind: 'SelfSubjectReview', metadata: { creationTimestamp: nowIso }, status: { userInfo: userInfoJson(user) } } as unknown as KObject;
}

/** 401 exactly as kube-apiserver's unauthorized responder writes it. */
export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}
