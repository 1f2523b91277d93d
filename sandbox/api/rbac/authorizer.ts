/**
 * The sandbox's authorizer chain, as kube-apiserver builds it for
 * `--authorization-mode=RBAC`: members of system:masters are allowed first
 * (the privileged-group authorizer), then RBAC, which allows at the first
 * matching rule and otherwise has no opinion (a refusal, since nothing else
 * follows). RBAC's reason for "no" is empty unless a binding names a missing
 * role, which is what the 403 message then carries.
 */
import type { Attributes, Authorizer, Decision, UserInfo } from '../auth/types.ts';
import type { RbacLister } from './lister.ts';
import { ruleAllows } from './matchers.ts';
import { aggregateErrors, rulesFor, visitRulesFor } from './resolver.ts';
import { SYSTEM_MASTERS, type PolicyRule } from './types.ts';

export interface RulesResult {
  resourceRules: PolicyRule[];
  nonResourceRules: PolicyRule[];
  incomplete: boolean;
  evaluationError?: string;
}

/** Members of system:masters are allowed whatever they ask (kube-apiserver's privileged-group authorizer). */
export function isPrivileged(user: UserInfo): boolean {
  return user.groups.includes(SYSTEM_MASTERS);
}

export class RbacAuthorizer implements Authorizer {
  constructor(private readonly lister: RbacLister) {}

  authorize(a: Attributes): Decision {
    if (isPrivileged(a.user)) return { decision: 'allow', reason: '' };
    let reason = '';
    const errors: string[] = [];
    visitRulesFor(this.lister, a.user, a.namespace ?? '', (source, rule, err) => {
      if (rule && source && ruleAllows(a, rule)) {
        reason = `RBAC: allowed by ${source()}`;
        return false;
      }
      if (err) errors.push(err);
      return true;
    });
    if (reason) return { decision: 'allow', reason };
    return { decision: 'no-opinion', reason: errors.length ? `RBAC: ${aggregateErrors(errors)}` : '' };
  }

  /** What SelfSubjectRulesReview reports: the user's rules in a namespace, split by kind. */
  rulesFor(user: UserInfo, namespace: string): RulesResult {
    const { rules, errors } = rulesFor(this.lister, user, namespace);
    const out: RulesResult = {
      resourceRules: rules.filter((r) => (r.resources ?? []).length > 0),
      nonResourceRules: rules.filter((r) => (r.nonResourceURLs ?? []).length > 0),
      incomplete: false,
    };
    if (errors.length) out.evaluationError = aggregateErrors(errors);
    return out;
  }
}

/** `--authorization-mode=AlwaysAllow`: what the sandbox did before RBAC, kept for benchmarks (on vs off). */
export const ALWAYS_ALLOW: Authorizer & { rulesFor(user: UserInfo, namespace: string): RulesResult } = {
  authorize: () => ({ decision: 'allow', reason: '' }),
  rulesFor: () => ({ resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }], incomplete: false }),
};
