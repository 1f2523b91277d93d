/**
 * ReplicaSet controller: keeps `spec.replicas` active pods stamped from the
 * template, deletes surplus pods least-ready and newest first, and reports
 * replicas / ready / available / observedGeneration truthfully.
 */
import { failureText, type ApiClient, type KubeObject } from './client.ts';
import { CreateBackoff } from './backoff.ts';
import type { EventRecorder } from './events.ts';
import { Expectations } from './expectations.ts';
import { type Informer, WorkQueue } from './informer.ts';
import { isOwnedBy, matchesSelector, nowIso, ownerRefTo, podActive, podAvailable, podFromTemplate, podReady, setCondition, statusChanged } from './workload.ts';

export interface ControllerDeps {
  api: ApiClient;
  pods: Informer;
  events: EventRecorder;
  log: (line: string) => void;
}

/** Ranks pods for deletion: unscheduled, pending, not ready, then younger first (as the real controller does). */
export function deletionOrder(pods: KubeObject[]): KubeObject[] {
  const rank = (p: KubeObject) => (!p.spec?.nodeName ? 0 : p.status?.phase === 'Pending' ? 1 : !podReady(p) ? 2 : 3);
  return [...pods].sort((a, b) => rank(a) - rank(b) || (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') || (b.metadata.name ?? '').localeCompare(a.metadata.name ?? ''));
}

export class ReplicaSetController {
  readonly queue: WorkQueue;
  private readonly expect: Expectations;
  private readonly backoff = new CreateBackoff();

  constructor(
    private readonly d: ControllerDeps,
    readonly sets: Informer,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), d.log);
    this.expect = new Expectations(d.pods);
    sets.on((_t, rs) => this.queue.add(`${rs.metadata.namespace}/${rs.metadata.name}`));
  }

  stop(): void {
    this.queue.stop();
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const rs = this.sets.get(ns, name);
    if (!rs) return this.expect.forget(key);
    const api = this.d.api;
    const owned = this.d.pods.list((p) => p.metadata.namespace === ns && isOwnedBy(p, rs));
    const active = owned.filter(podActive);
    const desired = rs.spec?.replicas ?? 1;
    let failure: string | undefined;
    const wait = this.backoff.wait(key);
    if (!rs.metadata.deletionTimestamp && this.expect.satisfied(key)) {
      const diff = desired - active.length;
      if (diff > 0 && wait > 0) {
        failure = rs.status?.conditions?.find((c: any) => c.type === 'ReplicaFailure')?.message;
        this.queue.addAfter(key, wait);
      } else if (diff > 0) {
        const owner = ownerRefTo(rs, 'apps/v1', 'ReplicaSet');
        for (let i = 0; i < Math.min(diff, 500); i++) {
          const pod = podFromTemplate(rs.spec.template, ns, owner, { generateName: `${name}-` });
          try {
            const created = await api.post(`/api/v1/namespaces/${ns}/pods`, pod);
            this.expect.created(key, `${ns}/${created.metadata.name}`);
            this.d.events.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
            this.backoff.succeeded(key);
          } catch (e) {
            failure = failureText(e);
            this.d.events.record(rs, 'Warning', 'FailedCreate', `Error creating: ${failure}`);
            this.queue.addAfter(key, this.backoff.failed(key));
            break;
          }
        }
      } else if (diff < 0) {
        for (const pod of deletionOrder(active).slice(0, -diff)) {
          this.expect.deleted(key, `${ns}/${pod.metadata.name}`);
          await api.delete(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(pod.metadata.name!)}`);
          this.d.events.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
        }
      }
    }
    const now = Date.now();
    const minReady = rs.spec?.minReadySeconds ?? 0;
    const status: Record<string, unknown> = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) => matchesSelector({ matchLabels: rs.spec?.template?.metadata?.labels }, p.metadata.labels)).length,
      readyReplicas: active.filter(podReady).length,
      availableReplicas: active.filter((p) => podAvailable(p, minReady, now)).length,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    if (failure) status.conditions = setCondition(rs.status?.conditions, { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: failure }, nowIso());
    else if (rs.status?.conditions?.length) status.conditions = rs.status.conditions.filter((c: any) => c.type !== 'ReplicaFailure');
    if (statusChanged(rs.status, status)) {
      await api.patch(`/apis/apps/v1/namespaces/${ns}/replicasets/${encodeURIComponent(name)}/status`, { status });
    }
    // Availability after minReadySeconds needs a later look.
    if (minReady > 0 && (status.readyReplicas as number) > (status.availableReplicas as number)) this.queue.addAfter(key, 1000);
  }
}
