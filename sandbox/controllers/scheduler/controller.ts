/**
 * The sandbox's kube-scheduler: every pod without `spec.nodeName` (and with
 * the default schedulerName) goes through one scheduling cycle at a time —
 * `schedule()` picks a node or explains why none fits. A fit is bound through
 * the `pods/binding` subresource after the pod's freshly provisioned
 * ReadWriteOnce volumes are pinned to that node (what a local provisioner's
 * WaitForFirstConsumer gives: PV `spec.nodeAffinity` + the PVC's
 * `volume.kubernetes.io/selected-node`). A misfit gets PodScheduled=False
 * (Unschedulable) and a FailedScheduling event, and is retried whenever
 * nodes, volumes, claims or placed pods change. It also plays the ephemeral
 * volume controller: a pod's generic ephemeral claims are created first.
 */
import { ApiError, type ApiClient, type KubeObject } from '../client.ts';
import type { EventRecorder } from '../events.ts';
import { type Informer, WorkQueue, keyOf } from '../informer.ts';
import { DRIVER, claimClass } from '../storage.ts';
import { schedule } from './schedule.ts';
import type { ClusterView } from './types.ts';
import { hostnameAffinity } from './nodeaffinity.ts';
import { podClaims, SELECTED_NODE } from './volumes.ts';

export interface SchedulerOptions {
  api: ApiClient;
  pods: Informer;
  nodes: Informer;
  pvcs: Informer;
  pvs: Informer;
  classes: Informer;
  events: EventRecorder;
  log: (line: string) => void;
}

function finished(p: KubeObject): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

function wantsScheduling(p: KubeObject): boolean {
  return !p.spec?.nodeName && !p.metadata.deletionTimestamp && (p.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler';
}

/** A volume our provisioner made for one node's use, not yet tied to a node. */
function pinnable(pv: KubeObject): boolean {
  const modes: string[] = pv.spec?.accessModes ?? [];
  return pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] === DRIVER && !pv.spec?.nodeAffinity && modes.some((m) => m === 'ReadWriteOnce' || m === 'ReadWriteOncePod') && !modes.includes('ReadWriteMany');
}

export class SchedulerController {
  private readonly queue: WorkQueue;
  /** One scheduling cycle at a time, as kube-scheduler does, so two pods never take the same decision on stale state. */
  private cycle: Promise<void> = Promise.resolve();
  /** Bound or pinned by us but not yet seen in the informers. */
  private readonly assumedPods = new Map<string, KubeObject>();
  private readonly assumedPins = new Map<string, string>();
  private readonly lastMessage = new Map<string, string>();
  private readonly resync: NodeJS.Timeout;

  constructor(private readonly o: SchedulerOptions) {
    this.queue = new WorkQueue((k) => this.enqueueCycle(k), o.log);
    o.pods.on((type, pod, old) => {
      if (pod.spec?.nodeName || type === 'DELETED') {
        this.assumedPods.delete(pod.metadata.uid!);
        this.lastMessage.delete(pod.metadata.uid!);
      }
      if (type !== 'DELETED' && wantsScheduling(pod)) {
        // Our own PodScheduled=False write comes back as a status-only change: no new cycle for that.
        if (!old || JSON.stringify(old.spec) !== JSON.stringify(pod.spec) || old.metadata.deletionTimestamp !== pod.metadata.deletionTimestamp) this.queue.add(keyOf(pod));
      }
      // A pod that leaves a node (or finishes) may free a ReadWriteOncePod claim.
      else if (type === 'DELETED' || finished(pod)) this.retryPending();
    });
    o.nodes.on(() => this.retryPending());
    o.pvs.on((_t, pv) => {
      if (pv.spec?.nodeAffinity) this.assumedPins.delete(pv.metadata.name!);
      this.retryPending();
    });
    o.pvcs.on(() => this.retryPending());
    // The real scheduler also flushes unschedulable pods periodically (podMaxInUnschedulablePodsDuration).
    this.resync = setInterval(() => this.retryPending(), 30_000);
    this.resync.unref();
  }

  stop(): void {
    clearInterval(this.resync);
    this.queue.stop();
  }

  private retryPending(): void {
    for (const p of this.o.pods.list(wantsScheduling)) this.queue.add(keyOf(p));
  }

  private enqueueCycle(key: string): Promise<void> {
    const run = this.cycle.then(() => this.scheduleOne(key));
    this.cycle = run.catch(() => {});
    return run;
  }

  private view(): ClusterView {
    const o = this.o;
    return {
      pvc: (ns, name) => o.pvcs.get(ns, name),
      delayedBinding: (pvc) => claimClass(pvc, o.classes.list())?.volumeBindingMode === 'WaitForFirstConsumer',
      pv: (name) => {
        const pv = o.pvs.get(undefined, name);
        const pin = this.assumedPins.get(name);
        return pv && pin && !pv.spec?.nodeAffinity ? { ...pv, spec: { ...pv.spec, nodeAffinity: hostnameAffinity(pin) } } : pv;
      },
      placedPods: () => {
        const placed = o.pods.list((p) => !!p.spec?.nodeName && !finished(p));
        for (const a of this.assumedPods.values()) if (!placed.some((p) => p.metadata.uid === a.metadata.uid)) placed.push(a);
        return placed;
      },
    };
  }

  private async scheduleOne(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const pod = this.o.pods.get(ns, name);
    if (!pod || !wantsScheduling(pod) || this.assumedPods.has(pod.metadata.uid!)) return;
    await this.ensureEphemeralClaims(pod);
    const nodes = this.o.nodes.list((n) => !n.metadata.deletionTimestamp);
    const decision = schedule(pod, nodes, this.view());
    if (decision.node === undefined) return this.unschedulable(pod, decision.message);
    const node = this.o.nodes.get(undefined, decision.node)!;
    await this.pinVolumes(pod, node);
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace: ns, uid: pod.metadata.uid }, target: { apiVersion: 'v1', kind: 'Node', name: decision.node } };
    const uid = pod.metadata.uid!;
    this.assumedPods.set(uid, { ...pod, spec: { ...pod.spec, nodeName: decision.node } });
    try {
      await this.o.api.post(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}/binding`, binding);
    } catch (e) {
      this.assumedPods.delete(uid);
      // Gone, or bound by someone else meanwhile: nothing left to do for this pod.
      if (e instanceof ApiError && (e.statusCode === 404 || e.statusCode === 409)) return;
      throw e;
    }
    if (this.o.pods.get(ns, name)?.spec?.nodeName) this.assumedPods.delete(uid);
    this.o.events.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to ${decision.node}`);
  }

  private async unschedulable(pod: KubeObject, message: string): Promise<void> {
    const uid = pod.metadata.uid!;
    const cond = (pod.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled');
    this.o.events.record(pod, 'Warning', 'FailedScheduling', message);
    if (this.lastMessage.get(uid) === message && cond?.message === message) return;
    this.lastMessage.set(uid, message);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const podScheduled = { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: cond?.status === 'False' ? cond.lastTransitionTime : now };
    const conditions = [...(pod.status?.conditions ?? []).filter((c: any) => c.type !== 'PodScheduled'), podScheduled];
    try {
      await this.o.api.patch(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${encodeURIComponent(pod.metadata.name!)}/status`, { metadata: { uid }, status: { phase: 'Pending', conditions } });
    } catch (e) {
      if (!(e instanceof ApiError && (e.statusCode === 404 || e.statusCode === 409))) throw e;
    }
  }

  /**
   * The first pod to use a fresh ReadWriteOnce volume decides its node, for good; a
   * WaitForFirstConsumer claim learns the node its volume must be provisioned on.
   */
  private async pinVolumes(pod: KubeObject, node: KubeObject): Promise<void> {
    const ns = pod.metadata.namespace!;
    const nodeName = node.metadata.name!;
    for (const c of podClaims(pod)) {
      const pvc = this.o.pvcs.get(ns, c.name);
      if (pvc && !pvc.spec?.volumeName && !pvc.metadata.annotations?.[SELECTED_NODE]) {
        await this.o.api.patch(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${encodeURIComponent(c.name)}`, { metadata: { annotations: { [SELECTED_NODE]: nodeName } } });
        continue;
      }
      const pv = pvc?.spec?.volumeName ? this.o.pvs.get(undefined, pvc.spec.volumeName) : undefined;
      if (!pvc || !pv || !pinnable(pv) || this.assumedPins.has(pv.metadata.name!)) continue;
      await this.o.api.patch(`/api/v1/persistentvolumes/${encodeURIComponent(pv.metadata.name!)}`, { spec: { nodeAffinity: hostnameAffinity(node.metadata.labels?.['kubernetes.io/hostname'] ?? nodeName) } });
      if (!this.o.pvs.get(undefined, pv.metadata.name!)?.spec?.nodeAffinity) this.assumedPins.set(pv.metadata.name!, nodeName);
      await this.o.api.patch(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${encodeURIComponent(c.name)}`, { metadata: { annotations: { [SELECTED_NODE]: nodeName } } });
    }
  }

  /** Generic ephemeral volumes: the claim `<pod>-<volume>`, owned by the pod (the ephemeral volume controller's job). */
  private async ensureEphemeralClaims(pod: KubeObject): Promise<void> {
    const ns = pod.metadata.namespace!;
    for (const v of pod.spec?.volumes ?? []) {
      const tmpl = v.ephemeral?.volumeClaimTemplate;
      const name = `${pod.metadata.name}-${v.name}`;
      if (!tmpl || this.o.pvcs.get(ns, name)) continue;
      const claim = {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name,
          namespace: ns,
          labels: tmpl.metadata?.labels,
          annotations: tmpl.metadata?.annotations,
          ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name!, uid: pod.metadata.uid!, controller: true, blockOwnerDeletion: true }],
        },
        spec: tmpl.spec,
      };
      await this.o.api.post(`/api/v1/namespaces/${ns}/persistentvolumeclaims`, claim).catch((e) => {
        if (!(e instanceof ApiError && e.statusCode === 409)) throw e;
      });
    }
  }
}
