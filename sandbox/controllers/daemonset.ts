/**
 * DaemonSet controller for a one-node cluster: exactly one pod per set on the
 * sandbox node (unless a nodeSelector excludes it), replaced when the template
 * changes (RollingUpdate) or left alone (OnDelete), with truthful status.
 */
import { Expectations } from './expectations.ts';
import { type Informer, WorkQueue } from './informer.ts';
import type { ControllerDeps } from './replicaset.ts';
import { isOwnedBy, matchesSelector, ownerRefTo, podActive, podAvailable, podFromTemplate, podReady, statusChanged, templateHash } from './workload.ts';

export class DaemonSetController {
  readonly queue: WorkQueue;
  private readonly expect: Expectations;

  constructor(
    private readonly d: ControllerDeps,
    readonly sets: Informer,
    private readonly node: { name: string; labels: Record<string, string> },
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), d.log);
    this.expect = new Expectations(d.pods);
    sets.on((_t, o) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`));
  }

  stop(): void {
    this.queue.stop();
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const ds = this.sets.get(ns, name);
    if (!ds) return this.expect.forget(key);
    const api = this.d.api;
    const hash = templateHash(ds.spec?.template);
    const selector = ds.spec?.template?.spec?.nodeSelector;
    const fits = !selector || matchesSelector({ matchLabels: selector }, this.node.labels);
    const pods = this.d.pods.list((p) => p.metadata.namespace === ns && isOwnedBy(p, ds));
    const live = pods.filter(podActive);
    if (!ds.metadata.deletionTimestamp && this.expect.satisfied(key)) {
      const dead = pods.filter((p) => p.status?.phase === 'Failed' && !p.metadata.deletionTimestamp);
      const outdated = (ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' ? live.filter((p) => p.metadata.labels?.['controller-revision-hash'] !== hash) : [];
      const surplus = fits ? live.slice(1) : live;
      for (const p of [...dead, ...outdated, ...surplus]) {
        this.expect.deleted(key, `${ns}/${p.metadata.name}`);
        await api.delete(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(p.metadata.name!)}`);
        this.d.events.record(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
      }
      const terminating = pods.some((p) => p.metadata.deletionTimestamp);
      if (fits && live.length === 0 && !terminating) {
        const pod = podFromTemplate(ds.spec.template, ns, ownerRefTo(ds, 'apps/v1', 'DaemonSet'), {
          generateName: `${name}-`,
          labels: { 'controller-revision-hash': hash, 'pod-template-generation': String(ds.metadata.generation ?? 1) },
          spec: { nodeName: this.node.name },
        });
        const created = await api.post(`/api/v1/namespaces/${ns}/pods`, pod);
        this.expect.created(key, `${ns}/${created.metadata.name}`);
        this.d.events.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
      }
    }
    const fresh = this.d.pods.list((p) => p.metadata.namespace === ns && isOwnedBy(p, ds) && podActive(p));
    const now = Date.now();
    const ready = fresh.filter(podReady).length;
    const available = fresh.filter((p) => podAvailable(p, ds.spec?.minReadySeconds ?? 0, now)).length;
    const status = {
      currentNumberScheduled: Math.min(fresh.length, fits ? 1 : 0),
      desiredNumberScheduled: fits ? 1 : 0,
      numberMisscheduled: fits ? 0 : fresh.length,
      numberReady: ready,
      numberAvailable: available,
      numberUnavailable: Math.max(0, (fits ? 1 : 0) - available),
      updatedNumberScheduled: fresh.filter((p) => p.metadata.labels?.['controller-revision-hash'] === hash).length,
      observedGeneration: ds.metadata.generation ?? 1,
    };
    if (statusChanged(ds.status, status)) await api.patch(`/apis/apps/v1/namespaces/${ns}/daemonsets/${encodeURIComponent(name)}/status`, { status });
  }
}
