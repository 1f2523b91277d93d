/**
 * The disruption controller's status half (mirrors kube-controller-manager
 * pkg/controller/disruption/disruption.go): for every PodDisruptionBudget,
 * the pods it selects, how many must stay healthy (minAvailable, or the
 * owners' scale minus maxUnavailable; percentages rounded up), how many are
 * (Ready, not being deleted, not just evicted), and so how many disruptions
 * the eviction subresource may still allow.
 */
import type { KubeObject } from './client.ts';
import { type Informer, WorkQueue, keyOf } from './informer.ts';
import type { ControllerDeps } from './replicaset.ts';
import { controllerRef, matchesSelector, nowIso, podReady, setCondition, statusChanged } from './workload.ts';

/** An eviction not seen through to deletion within this long no longer counts (DeletionTimeout). */
const DISRUPTED_POD_TIMEOUT_MS = 2 * 60 * 1000;

/** intstr: an int, or "N%" of `total` rounded up. */
export function scaledValue(v: number | string, total: number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (m) return Math.ceil((Number(m[1]) * total) / 100);
  return Number.isInteger(Number(v)) ? Number(v) : 0;
}

export interface BudgetInput {
  spec: { minAvailable?: number | string; maxUnavailable?: number | string };
  /** Pods the budget selects. */
  pods: KubeObject[];
  /** Sum of the owning controllers' desired replicas (for maxUnavailable and percentages). */
  expectedFromOwners: number;
  disruptedPods: Record<string, string>;
  now: number;
}

/** Pure: the status numbers and the still-pending disrupted pods. */
export function budgetStatus(b: BudgetInput): { expectedPods: number; desiredHealthy: number; currentHealthy: number; disruptionsAllowed: number; disruptedPods: Record<string, string> } {
  const pending: Record<string, string> = {};
  for (const [name, at] of Object.entries(b.disruptedPods)) {
    const pod = b.pods.find((p) => p.metadata.name === name);
    if (pod && !pod.metadata.deletionTimestamp && Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS > b.now) pending[name] = at;
  }
  const healthy = b.pods.filter((p) => podReady(p) && !p.metadata.deletionTimestamp && !(p.metadata.name! in pending)).length;
  let expected: number;
  let desired: number;
  if (b.spec.maxUnavailable !== undefined) {
    expected = b.expectedFromOwners;
    desired = Math.max(0, expected - scaledValue(b.spec.maxUnavailable, expected));
  } else if (typeof b.spec.minAvailable === 'string' && b.spec.minAvailable.endsWith('%')) {
    expected = b.expectedFromOwners;
    desired = scaledValue(b.spec.minAvailable, expected);
  } else {
    expected = b.pods.length;
    desired = scaledValue(b.spec.minAvailable ?? 1, expected);
  }
  return { expectedPods: expected, desiredHealthy: desired, currentHealthy: healthy, disruptionsAllowed: Math.max(0, healthy - desired), disruptedPods: pending };
}

export class DisruptionController {
  readonly queue: WorkQueue;

  constructor(
    private readonly d: ControllerDeps,
    private readonly pdbs: Informer,
    private readonly owners: { replicasets: Informer; statefulsets: Informer },
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), d.log);
    pdbs.on((_t, o) => this.queue.add(keyOf(o)));
    d.pods.on((_t, pod) => {
      for (const b of pdbs.list((b) => b.metadata.namespace === pod.metadata.namespace)) this.queue.add(keyOf(b));
    });
  }

  stop(): void {
    this.queue.stop();
  }

  /** Desired replicas of the controllers owning the pods (a ReplicaSet of a Deployment answers for itself; other owners count their pods). */
  private expectedFromOwners(pods: KubeObject[]): number {
    const seen = new Map<string, number>();
    for (const p of pods) {
      const ref = controllerRef(p);
      if (!ref) {
        seen.set(`pod/${p.metadata.uid}`, 1);
        continue;
      }
      const inf = ref.kind === 'ReplicaSet' ? this.owners.replicasets : ref.kind === 'StatefulSet' ? this.owners.statefulsets : undefined;
      const owner = inf?.get(p.metadata.namespace, ref.name);
      seen.set(ref.uid, owner?.metadata.uid === ref.uid ? Number(owner.spec?.replicas ?? 1) : (seen.get(ref.uid) ?? 0) + 1);
    }
    return [...seen.values()].reduce((a, b) => a + b, 0);
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const pdb = this.pdbs.get(ns, name);
    if (!pdb || pdb.metadata.deletionTimestamp) return;
    const pods = pdb.spec?.selector ? this.d.pods.list((p) => p.metadata.namespace === ns && matchesSelector(pdb.spec.selector, p.metadata.labels)) : [];
    const now = Date.now();
    const s = budgetStatus({ spec: pdb.spec ?? {}, pods, expectedFromOwners: this.expectedFromOwners(pods), disruptedPods: pdb.status?.disruptedPods ?? {}, now });
    const allowed = s.disruptionsAllowed > 0;
    const conditions = setCondition(pdb.status?.conditions, { type: 'DisruptionAllowed', status: allowed ? 'True' : 'False', reason: allowed ? 'SufficientPods' : 'InsufficientPods', message: '' }, nowIso()).map((c) => (c.type === 'DisruptionAllowed' ? { ...c, observedGeneration: pdb.metadata.generation ?? 1 } : c));
    const pending = Object.keys(s.disruptedPods).length ? s.disruptedPods : undefined;
    const status = { observedGeneration: pdb.metadata.generation ?? 1, expectedPods: s.expectedPods, desiredHealthy: s.desiredHealthy, currentHealthy: s.currentHealthy, disruptionsAllowed: s.disruptionsAllowed, disruptedPods: pending, conditions };
    if (statusChanged(pdb.status, status)) {
      // A merge patch merges maps: entries that are done are removed with explicit nulls.
      const dropped = Object.fromEntries(Object.keys(pdb.status?.disruptedPods ?? {}).map((k) => [k, null]));
      const disruptedPods = pending ? { ...dropped, ...pending } : null;
      await this.d.api.patch(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${encodeURIComponent(name)}/status`, { metadata: { resourceVersion: pdb.metadata.resourceVersion }, status: { ...status, disruptedPods } }).catch((e) => {
        if ((e as { statusCode?: number }).statusCode !== 409) throw e;
      });
    }
    // Evictions not confirmed by a deletion expire: look again then.
    if (Object.keys(s.disruptedPods).length) this.queue.addAfter(key, DISRUPTED_POD_TIMEOUT_MS);
  }
}
