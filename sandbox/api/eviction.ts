/**
 * The `pods/eviction` subresource's decision (mirrors kube-apiserver
 * pkg/registry/core/pod/storage/eviction.go): a pod that is not running yet,
 * finished or already terminating is deleted outright; otherwise the one
 * PodDisruptionBudget that selects it must allow a disruption, and the
 * eviction spends it (disruptionsAllowed−1, the pod recorded in
 * `status.disruptedPods` for the disruption controller). A refusal is 429
 * TooManyRequests with the real message and cause, which `kubectl drain`
 * prints and retries.
 */
import type { KObject } from './object.ts';
import { ApiError, badRequest } from './errors.ts';
import { matchRequirements, requirementsFromObject } from './selectors.ts';

export const VIOLATES_BUDGET = "Cannot evict pod as it would violate the pod's disruption budget.";

export type EvictionDecision = { delete: true; pdbStatus?: { name: string; status: Record<string, any> } };

function tooManyRequests(cause: string, retryAfterSeconds: number): ApiError {
  return new ApiError(429, 'TooManyRequests', VIOLATES_BUDGET, { causes: [{ reason: 'DisruptionBudget', message: cause }], ...(retryAfterSeconds ? { retryAfterSeconds } : {}) });
}

function ready(pod: KObject): boolean {
  return ((pod as any).status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

/** Checks the Eviction body against the URL, as the real handler does before anything else. */
export function checkEvictionBody(body: Record<string, any>, podName: string): void {
  const name = body?.metadata?.name;
  if (name !== undefined && name !== podName) throw badRequest('name in URL does not match name in Eviction object');
}

/** Decides an eviction of `pod` given the PodDisruptionBudgets of its namespace; throws the refusal. */
export function decideEviction(pod: KObject, pdbs: KObject[], now: Date): EvictionDecision {
  const p = pod as any;
  const phase = p.status?.phase;
  if (pod.metadata.deletionTimestamp || phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending') return { delete: true };
  const labels = pod.metadata.labels ?? {};
  // A policy/v1 PDB with an empty selector selects every pod of its namespace; a missing one selects none.
  const matching = pdbs.filter((b: any) => b.spec?.selector && matchRequirements(requirementsFromObject(b.spec.selector))(labels));
  if (matching.length === 0) return { delete: true };
  if (matching.length > 1) throw new ApiError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
  const pdb = matching[0] as any;
  const st = pdb.status ?? {};
  const name = pdb.metadata.name;
  if (!ready(pod)) {
    const policy = pdb.spec?.unhealthyPodEvictionPolicy ?? 'IfHealthyBudget';
    if (policy === 'AlwaysAllow' || ((st.currentHealthy ?? 0) >= (st.desiredHealthy ?? 0) && (st.desiredHealthy ?? 0) > 0)) return { delete: true };
  }
  if ((st.observedGeneration ?? 0) < (pdb.metadata.generation ?? 1)) throw tooManyRequests(`The disruption budget ${name} is still being processed by the server.`, 10);
  if ((st.disruptionsAllowed ?? 0) < 0) throw new ApiError(403, 'Forbidden', `poddisruptionbudget.policy "${name}" is forbidden: pdb disruptions allowed is negative`);
  if ((st.disruptionsAllowed ?? 0) === 0) throw tooManyRequests(`The disruption budget ${name} needs ${st.desiredHealthy ?? 0} healthy pods and has ${st.currentHealthy ?? 0} currently`, 0);
  const allowed = st.disruptionsAllowed - 1;
  const status = { ...st, disruptionsAllowed: allowed, disruptedPods: { ...(st.disruptedPods ?? {}), [pod.metadata.name!]: now.toISOString().replace(/\.\d+Z$/, 'Z') } };
  if (allowed === 0) {
    const conds = (st.conditions ?? []).filter((c: any) => c.type !== 'DisruptionAllowed');
    const prev = (st.conditions ?? []).find((c: any) => c.type === 'DisruptionAllowed');
    status.conditions = [...conds, { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '', observedGeneration: pdb.metadata.generation ?? 1, lastTransitionTime: prev?.status === 'False' ? prev.lastTransitionTime : status.disruptedPods[pod.metadata.name!] }];
  }
  return { delete: true, pdbStatus: { name, status } };
}
