/**
 * Pod Security Admission decisions, pure: the caller passes the namespace's
 * labels (and, for a namespace write, its pods) and applies the decision.
 *
 * - Pods: `enforce` refuses (403 `violates PodSecurity "level:version": …`),
 *   `warn` adds `would violate PodSecurity …` warnings, `audit` an annotation.
 *   Updates are evaluated only when an image changed, as the real admission does.
 * - Workloads (pod templates): never refused; warn and audit only.
 * - Namespaces: invalid labels are refused (422); tightening `enforce` warns
 *   about the existing pods that would violate it.
 */
import type { FieldError } from '../errors.ts';
import { DEFAULT_CHECKS } from './checks/index.ts';
import { aggregate, forbiddenDetail, forbiddenReason, newEvaluator, type AggregateResult, type Evaluator } from './registry.ts';
import { compareLevels, levelVersionString, policyFromLabels, sameLevelVersion, type Policy } from './policy.ts';
import type { LevelVersion, PodMeta, PodSpec } from './types.ts';

export interface PodLike {
  metadata?: PodMeta & { ownerReferences?: Array<{ uid?: string; controller?: boolean }> };
  spec?: PodSpec;
}

export interface Decision {
  allowed: boolean;
  /** Set when refused: `violates PodSecurity "restricted:latest": …` (the caller wraps it as `pods "x" is forbidden: …`). */
  reason?: string;
  warnings: string[];
  /** `pod-security.kubernetes.io/audit-violations`, `…/enforce-policy`, `…/error` (for an audit log). */
  auditAnnotations: Record<string, string>;
}

/** Resources whose objects embed a pod template (DefaultPodSpecExtractor), by `resource.group`. */
export const POD_TEMPLATE_RESOURCES: Record<string, (o: Record<string, any>) => PodLike | undefined> = {
  replicationcontrollers: (o) => o.spec?.template,
  podtemplates: (o) => o.template,
  'replicasets.apps': (o) => o.spec?.template,
  'deployments.apps': (o) => o.spec?.template,
  'statefulsets.apps': (o) => o.spec?.template,
  'daemonsets.apps': (o) => o.spec?.template,
  'jobs.batch': (o) => o.spec?.template,
  'cronjobs.batch': (o) => o.spec?.jobTemplate?.spec?.template,
};

/** How many existing pods a namespace label change evaluates at most (the real default). */
const MAX_PODS_TO_CHECK = 3000;

export class PodSecurity {
  constructor(readonly evaluator: Evaluator = newEvaluator(DEFAULT_CHECKS)) {}

  private evaluate(lv: LevelVersion, pod: PodLike): AggregateResult {
    return aggregate(this.evaluator.evaluatePod(lv, pod.metadata ?? {}, pod.spec ?? {}));
  }

  /** A Pod create, or an update (`old` set: only image changes are evaluated). */
  pod(nsLabels: Record<string, string> | undefined, pod: PodLike, old?: PodLike): Decision {
    if (old && !imagesChanged(pod.spec ?? {}, old.spec ?? {})) return allow();
    return this.evaluatePod(nsLabels, pod, true);
  }

  /** A workload carrying a pod template: warnings and audit only. */
  template(nsLabels: Record<string, string> | undefined, template: PodLike | undefined): Decision {
    if (!template) return allow();
    return this.evaluatePod(nsLabels, template, false);
  }

  private evaluatePod(nsLabels: Record<string, string> | undefined, pod: PodLike, enforce: boolean): Decision {
    const { policy, errors } = policyFromLabels(nsLabels);
    const fullyPrivileged = (enforce ? policy.enforce.level === 'privileged' : true) && policy.warn.level === 'privileged' && policy.audit.level === 'privileged';
    if (!errors.length && fullyPrivileged) return allow();
    const d = allow();
    if (errors.length) d.auditAnnotations.error = `Failed to parse policy: ${errorsText(errors)}`;
    const cache = new Map<string, AggregateResult>();
    const result = (lv: LevelVersion) => {
      const key = levelVersionString(lv);
      let r = cache.get(key);
      if (!r) cache.set(key, (r = this.evaluate(lv, pod)));
      return r;
    };
    if (enforce) {
      d.auditAnnotations['enforce-policy'] = levelVersionString(policy.enforce);
      const r = result(policy.enforce);
      if (!r.allowed) {
        d.allowed = false;
        d.reason = `violates PodSecurity ${JSON.stringify(levelVersionString(policy.enforce))}: ${forbiddenDetail(r)}`;
      }
    }
    const audit = result(policy.audit);
    if (!audit.allowed) d.auditAnnotations['audit-violations'] = wouldViolate(policy.audit, audit);
    if (d.allowed) {
      const warn = result(policy.warn);
      if (!warn.allowed) d.warnings.push(wouldViolate(policy.warn, warn));
    }
    return d;
  }

  /**
   * A Namespace create or update. `errors` refuse the write (422); `warnings`
   * list existing pods that violate a newly tightened enforce level.
   */
  namespace(labels: Record<string, string> | undefined, oldLabels: Record<string, string> | undefined, creating: boolean, name: string, pods: () => PodLike[]): { errors: FieldError[]; warnings: string[] } {
    const next = policyFromLabels(labels);
    if (creating) return { errors: next.errors, warnings: [] };
    const prev = policyFromLabels(oldLabels);
    if (next.errors.length && (!prev.errors.length || JSON.stringify(next.errors) !== JSON.stringify(prev.errors))) return { errors: next.errors, warnings: [] };
    if (!tightened(next.policy, prev.policy)) return { errors: [], warnings: [] };
    return { errors: [], warnings: this.existingPodWarnings(name, next.policy.enforce, pods()) };
  }

  private existingPodWarnings(namespace: string, enforce: LevelVersion, all: PodLike[]): string[] {
    // One pod per controller first, so a big Deployment does not hide other violations.
    const first: PodLike[] = [];
    const rest: PodLike[] = [];
    const seen = new Set<string>();
    for (const p of all) {
      const owner = p.metadata?.ownerReferences?.find((o) => o.controller)?.uid;
      if (owner && seen.has(owner)) rest.push(p);
      else {
        if (owner) seen.add(owner);
        first.push(p);
      }
    }
    const pods = [...first, ...rest].slice(0, MAX_PODS_TO_CHECK);
    const order: string[] = [];
    const byReason = new Map<string, { podName: string; count: number }>();
    for (const p of pods) {
      const r = this.evaluate(enforce, p);
      if (r.allowed) continue;
      const reason = forbiddenReason(r);
      const name = p.metadata?.name ?? '';
      const c = byReason.get(reason);
      if (!c) {
        order.push(reason);
        byReason.set(reason, { podName: name, count: 1 });
      } else {
        c.count++;
        if (name < c.podName) c.podName = name;
      }
    }
    const warnings: string[] = [];
    if (pods.length < all.length) warnings.push(`new PodSecurity enforce level only checked against the first ${pods.length} of ${all.length} existing pods`);
    if (order.length) warnings.push(`existing pods in namespace ${JSON.stringify(namespace)} violate the new PodSecurity enforce level ${JSON.stringify(levelVersionString(enforce))}`);
    const decorated = order.map((reason) => {
      const c = byReason.get(reason)!;
      if (c.count === 1) return `${c.podName}: ${reason}`;
      if (c.count === 2) return `${c.podName} (and 1 other pod): ${reason}`;
      return `${c.podName} (and ${c.count - 1} other pods): ${reason}`;
    });
    return [...warnings, ...decorated.sort()];
  }
}

/** Whether a label change can newly refuse existing pods: a stricter level, or the same level at another version. */
function tightened(next: Policy, prev: Policy): boolean {
  if (sameLevelVersion(next.enforce, prev.enforce)) return false;
  if (next.enforce.level === 'privileged') return false;
  if (next.enforce.version.minor === prev.enforce.version.minor && compareLevels(next.enforce.level, prev.enforce.level) < 1) return false;
  return true;
}

function imagesChanged(a: PodSpec, b: PodSpec): boolean {
  const ca = a.containers ?? [];
  const cb = b.containers ?? [];
  const ia = a.initContainers ?? [];
  const ib = b.initContainers ?? [];
  if (ca.length !== cb.length || ia.length !== ib.length) return true;
  if (ca.some((c, i) => c.image !== cb[i]!.image) || ia.some((c, i) => c.image !== ib[i]!.image)) return true;
  const oldEphemeral = new Map((b.ephemeralContainers ?? []).map((c) => [c.name, c]));
  return (a.ephemeralContainers ?? []).some((c) => oldEphemeral.get(c.name)?.image !== c.image);
}

function wouldViolate(lv: LevelVersion, r: AggregateResult): string {
  return `would violate PodSecurity ${JSON.stringify(levelVersionString(lv))}: ${forbiddenDetail(r)}`;
}

function allow(): Decision {
  return { allowed: true, warnings: [], auditAnnotations: {} };
}

function errorsText(errors: FieldError[]): string {
  const parts = errors.map((e) => `${e.field}: ${e.message}`);
  return parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
}
