/**
 * The authorization.k8s.io reviews, answered on the spot and never stored:
 * SelfSubjectAccessReview (`kubectl auth can-i`), SubjectAccessReview (a
 * server asking about someone else), LocalSubjectAccessReview (the same, in
 * one namespace) and SelfSubjectRulesReview (`kubectl auth can-i --list`).
 * Each returns the posted object with `status` filled, as the API server does.
 */
import { ApiError, badRequest, invalid, type FieldError } from '../errors.ts';
import { isObject } from '../object.ts';
import type { Attributes, Authorizer, UserInfo } from '../auth/types.ts';
import type { RulesResult } from './authorizer.ts';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (isObject(v) ? v : {});

export interface RuleResolver {
  rulesFor(user: UserInfo, namespace: string): RulesResult;
}

export interface ReviewContext {
  authorizer: Authorizer & RuleResolver;
  /** The (possibly impersonated) user making the request. */
  user: UserInfo;
  /** The namespace in the URL (LocalSubjectAccessReview). */
  namespace?: string;
}

const GROUP = 'authorization.k8s.io';

function attributesFrom(user: UserInfo, spec: Rec): Attributes {
  if (isObject(spec.resourceAttributes)) {
    const r = spec.resourceAttributes;
    return {
      user,
      verb: String(r.verb ?? ''),
      resourceRequest: true,
      namespace: String(r.namespace ?? ''),
      apiGroup: String(r.group ?? ''),
      apiVersion: String(r.version || '*'),
      resource: String(r.resource ?? ''),
      subresource: String(r.subresource ?? ''),
      name: String(r.name ?? ''),
    };
  }
  const n = rec(spec.nonResourceAttributes);
  return { user, verb: String(n.verb ?? ''), resourceRequest: false, path: String(n.path ?? '') };
}

function exactlyOne(spec: Rec): FieldError[] {
  const res = isObject(spec.resourceAttributes);
  const non = isObject(spec.nonResourceAttributes);
  if (res && non) return [{ type: 'FieldValueInvalid', field: 'spec.nonResourceAttributes', message: `Invalid value: ${JSON.stringify(spec.nonResourceAttributes)}: cannot be specified in combination with resourceAttributes` }];
  if (!res && !non) return [{ type: 'FieldValueInvalid', field: 'spec.resourceAttributes', message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified' }];
  return [];
}

function accessStatus(authorizer: Authorizer, a: Attributes): Rec {
  const d = authorizer.authorize(a);
  return { allowed: d.decision === 'allow', ...(d.decision === 'deny' ? { denied: true } : {}), ...(d.reason ? { reason: d.reason } : {}) };
}

/** Answers a review of `kind`; `body` is the posted object. Returns the status to put on it. */
export function answerReview(kind: string, body: Rec, ctx: ReviewContext): Rec {
  const spec = rec(body.spec);
  switch (kind) {
    case 'SelfSubjectAccessReview': {
      const errs = exactlyOne(spec);
      if (errs.length) throw invalid(kind, GROUP, '', errs);
      return accessStatus(ctx.authorizer, attributesFrom(ctx.user, spec));
    }
    case 'SubjectAccessReview':
    case 'LocalSubjectAccessReview': {
      const errs = exactlyOne(spec);
      const user = String(spec.user ?? '');
      const groups = Array.isArray(spec.groups) ? spec.groups.map(String) : [];
      if (!user && !groups.length) errs.push({ type: 'FieldValueInvalid', field: 'spec.user', message: `Invalid value: ${JSON.stringify(user)}: at least one of user or group must be specified` });
      if (kind === 'LocalSubjectAccessReview' && isObject(spec.nonResourceAttributes)) errs.push({ type: 'FieldValueInvalid', field: 'spec.nonResourceAttributes', message: `Invalid value: ${JSON.stringify(spec.nonResourceAttributes)}: disallowed on this kind of request` });
      if (errs.length) throw invalid(kind, GROUP, '', errs);
      const subject: UserInfo = { username: user, groups, ...(spec.uid ? { uid: String(spec.uid) } : {}), ...(isObject(spec.extra) ? { extra: spec.extra as Record<string, string[]> } : {}) };
      const a = attributesFrom(subject, spec);
      if (kind === 'LocalSubjectAccessReview') {
        const ns = ctx.namespace ?? '';
        if (!ns) throw badRequest('namespace is required on this type: ');
        if (a.namespace && a.namespace !== ns) throw badRequest(`spec.resourceAttributes.namespace must match namespace: ${ns}`);
        a.namespace = ns;
      }
      return accessStatus(ctx.authorizer, a);
    }
    case 'SelfSubjectRulesReview': {
      const ns = String(spec.namespace ?? '');
      if (!ns) throw badRequest('no namespace on request');
      const r = ctx.authorizer.rulesFor(ctx.user, ns);
      const resourceRules = r.resourceRules.map((x) => ({ verbs: x.verbs, ...(x.apiGroups?.length ? { apiGroups: x.apiGroups } : {}), ...(x.resources?.length ? { resources: x.resources } : {}), ...(x.resourceNames?.length ? { resourceNames: x.resourceNames } : {}) }));
      const nonResourceRules = r.nonResourceRules.map((x) => ({ verbs: x.verbs, nonResourceURLs: x.nonResourceURLs }));
      return { resourceRules, nonResourceRules, incomplete: r.incomplete, ...(r.evaluationError ? { evaluationError: r.evaluationError } : {}) };
    }
    default:
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
}
