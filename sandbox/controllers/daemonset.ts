/**
 * DaemonSet controller: one pod per node the set's pod fits on (its
 * nodeSelector, required node affinity and taints — a cordoned node still
 * counts, as DaemonSet pods tolerate `unschedulable`). As the real controller
 * does since 1.12, a pod is created with required node affinity on its node's
 * `metadata.name` and the DaemonSet tolerations, and the scheduler binds it.
 * Pods are replaced when the template changes (RollingUpdate) or left alone
 * (OnDelete); status counts nodes the way the real controller does.
 */
import type { KubeObject } from './client.ts';
import { Expectations } from './expectations.ts';
import { type Informer, WorkQueue, keyOf } from './informer.ts';
import type { ControllerDeps } from './replicaset.ts';
import { nodeAffinityFilter } from './scheduler/nodeaffinity.ts';
import { taintTolerationFilter } from './scheduler/tainttoleration.ts';
import type { Toleration } from './scheduler/types.ts';
import { isOwnedBy, ownerRefTo, podActive, podAvailable, podFromTemplate, podReady, statusChanged, templateHash } from './workload.ts';

/** What util.AddOrUpdateDaemonPodTolerations adds to every DaemonSet pod. */
export const DAEMON_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

/** The daemon pod's spec for one node: the template's, plus tolerations and `metadata.name` affinity replacing required terms. */
export function daemonPodSpec(template: any, nodeName: string): any {
  const spec = structuredClone(template?.spec ?? {});
  const tolerations: Toleration[] = [...(spec.tolerations ?? [])];
  for (const t of DAEMON_TOLERATIONS) if (!tolerations.some((x) => x.key === t.key && x.effect === t.effect)) tolerations.push(t);
  spec.tolerations = tolerations;
  const nodeAffinity = { ...(spec.affinity?.nodeAffinity ?? {}), requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }] } };
  spec.affinity = { ...(spec.affinity ?? {}), nodeAffinity };
  return spec;
}

/** nodeShouldRunDaemonPod: the template with the daemon tolerations fits the node's labels and taints. */
export function shouldRunOn(template: any, node: KubeObject): boolean {
  const pod: KubeObject = { metadata: {}, spec: { ...(template?.spec ?? {}), tolerations: [...(template?.spec?.tolerations ?? []), ...DAEMON_TOLERATIONS] } };
  return !nodeAffinityFilter(pod, node) && !taintTolerationFilter(pod, node);
}

/** The node a daemon pod is for: where it runs, else the node its affinity names. */
export function daemonPodNode(pod: KubeObject): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms[0]?.matchFields?.find((f: any) => f.key === 'metadata.name' && f.operator === 'In')?.values?.[0];
}

export class DaemonSetController {
  readonly queue: WorkQueue;
  private readonly expect: Expectations;

  constructor(
    private readonly d: ControllerDeps,
    readonly sets: Informer,
    private readonly nodes: Informer,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), d.log);
    this.expect = new Expectations(d.pods);
    sets.on((_t, o) => this.queue.add(keyOf(o)));
    nodes.on(() => {
      for (const ds of sets.list()) this.queue.add(keyOf(ds));
    });
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
    const nodes = this.nodes.list((n) => !n.metadata.deletionTimestamp);
    const wanted = new Set(nodes.filter((n) => shouldRunOn(ds.spec?.template, n)).map((n) => n.metadata.name!));
    const pods = this.d.pods.list((p) => p.metadata.namespace === ns && isOwnedBy(p, ds));
    const byNode = (list: KubeObject[]) => {
      const m = new Map<string, KubeObject[]>();
      for (const p of list) {
        const n = daemonPodNode(p) ?? '';
        m.set(n, [...(m.get(n) ?? []), p]);
      }
      return m;
    };
    if (!ds.metadata.deletionTimestamp && this.expect.satisfied(key)) {
      const rolling = (ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
      const doomed: KubeObject[] = pods.filter((p) => p.status?.phase === 'Failed' && !p.metadata.deletionTimestamp);
      const creates: string[] = [];
      const all = byNode(pods);
      for (const [node, list] of byNode(pods.filter(podActive))) {
        if (!wanted.has(node)) doomed.push(...list);
        else doomed.push(...list.slice(1), ...(rolling ? list.slice(0, 1).filter((p) => p.metadata.labels?.['controller-revision-hash'] !== hash) : []));
      }
      for (const node of wanted) {
        const list = all.get(node) ?? [];
        if (!list.some(podActive) && !list.some((p) => p.metadata.deletionTimestamp)) creates.push(node);
      }
      for (const p of doomed) {
        this.expect.deleted(key, `${ns}/${p.metadata.name}`);
        await api.delete(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(p.metadata.name!)}`);
        this.d.events.record(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
      }
      for (const node of creates) {
        const pod = podFromTemplate(ds.spec.template, ns, ownerRefTo(ds, 'apps/v1', 'DaemonSet'), {
          generateName: `${name}-`,
          labels: { 'controller-revision-hash': hash, 'pod-template-generation': String(ds.metadata.generation ?? 1) },
        });
        pod.spec = daemonPodSpec(ds.spec.template, node);
        const created = await api.post(`/api/v1/namespaces/${ns}/pods`, pod);
        this.expect.created(key, `${ns}/${created.metadata.name}`);
        this.d.events.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
      }
    }
    const fresh = this.d.pods.list((p) => p.metadata.namespace === ns && isOwnedBy(p, ds) && podActive(p));
    const now = Date.now();
    const onWanted = fresh.filter((p) => wanted.has(daemonPodNode(p) ?? ''));
    const scheduled = new Set(onWanted.filter((p) => p.spec?.nodeName).map((p) => p.spec.nodeName));
    const available = onWanted.filter((p) => podAvailable(p, ds.spec?.minReadySeconds ?? 0, now)).length;
    const status = {
      currentNumberScheduled: scheduled.size,
      desiredNumberScheduled: wanted.size,
      numberMisscheduled: new Set(fresh.filter((p) => p.spec?.nodeName && !wanted.has(p.spec.nodeName)).map((p) => p.spec.nodeName)).size,
      numberReady: onWanted.filter(podReady).length,
      numberAvailable: available,
      numberUnavailable: Math.max(0, wanted.size - available),
      updatedNumberScheduled: onWanted.filter((p) => p.metadata.labels?.['controller-revision-hash'] === hash).length,
      observedGeneration: ds.metadata.generation ?? 1,
    };
    if (statusChanged(ds.status, status)) await api.patch(`/apis/apps/v1/namespaces/${ns}/daemonsets/${encodeURIComponent(name)}/status`, { status });
  }
}
