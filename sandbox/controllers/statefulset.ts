/**
 * StatefulSet controller: pods `<set>-<ordinal>` with stable hostnames, a
 * PVC per volumeClaimTemplate and ordinal (`<template>-<set>-<ordinal>`, kept
 * across pod restarts), OrderedReady or Parallel management, rolling updates
 * from the highest ordinal down (respecting `partition`), and truthful status.
 */
import { isConflict, type KubeObject } from './client.ts';
import { Expectations } from './expectations.ts';
import { type Informer, WorkQueue } from './informer.ts';
import type { ControllerDeps } from './replicaset.ts';
import { isOwnedBy, ownerRefTo, podActive, podAvailable, podFromTemplate, podReady, statusChanged, templateHash } from './workload.ts';

export function ordinalOf(setName: string, podName: string): number | undefined {
  if (!podName.startsWith(`${setName}-`)) return undefined;
  const s = podName.slice(setName.length + 1);
  return /^(0|[1-9]\d*)$/.test(s) ? Number(s) : undefined;
}

export function claimName(template: string, setName: string, ordinal: number): string {
  return `${template}-${setName}-${ordinal}`;
}

export class StatefulSetController {
  readonly queue: WorkQueue;
  private readonly expect: Expectations;

  constructor(
    private readonly d: ControllerDeps,
    readonly sets: Informer,
    private readonly pvcs: Informer,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), d.log);
    this.expect = new Expectations(d.pods);
    sets.on((_t, o) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`));
  }

  stop(): void {
    this.queue.stop();
  }

  private revision(set: KubeObject): string {
    return `${set.metadata.name}-${templateHash(set.spec?.template).slice(0, 10)}`;
  }

  private async ensureClaims(set: KubeObject, ordinal: number): Promise<void> {
    const ns = set.metadata.namespace!;
    const retainOnDelete = (set.spec?.persistentVolumeClaimRetentionPolicy?.whenDeleted ?? 'Retain') === 'Retain';
    for (const t of set.spec?.volumeClaimTemplates ?? []) {
      const name = claimName(t.metadata.name, set.metadata.name!, ordinal);
      if (this.pvcs.get(ns, name)) continue;
      const pvc: KubeObject = {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name,
          namespace: ns,
          labels: { ...(t.metadata?.labels ?? {}), ...(set.spec?.selector?.matchLabels ?? {}) },
          ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
          ...(retainOnDelete ? {} : { ownerReferences: [{ ...ownerRefTo(set, 'apps/v1', 'StatefulSet'), controller: true }] }),
        },
        spec: structuredClone(t.spec ?? {}),
      };
      try {
        await this.d.api.post(`/api/v1/namespaces/${ns}/persistentvolumeclaims`, pvc);
        this.d.events.record(set, 'Normal', 'SuccessfulCreate', `create Claim ${name} Pod ${set.metadata.name}-${ordinal} in StatefulSet ${set.metadata.name} success`);
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
  }

  private newPod(set: KubeObject, ordinal: number, revision: string): KubeObject {
    const setName = set.metadata.name!;
    const podName = `${setName}-${ordinal}`;
    const pod = podFromTemplate(set.spec.template, set.metadata.namespace!, ownerRefTo(set, 'apps/v1', 'StatefulSet'), {
      name: podName,
      labels: { 'controller-revision-hash': revision, 'statefulset.kubernetes.io/pod-name': podName, 'apps.kubernetes.io/pod-index': String(ordinal) },
      spec: { hostname: podName, ...(set.spec?.serviceName ? { subdomain: set.spec.serviceName } : {}) },
    });
    const claimVolumes = (set.spec?.volumeClaimTemplates ?? []).map((t: any) => ({ name: t.metadata.name, persistentVolumeClaim: { claimName: claimName(t.metadata.name, setName, ordinal) } }));
    const names = new Set(claimVolumes.map((v: any) => v.name));
    pod.spec.volumes = [...(pod.spec.volumes ?? []).filter((v: any) => !names.has(v.name)), ...claimVolumes];
    return pod;
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const set = this.sets.get(ns, name);
    if (!set) return this.expect.forget(key);
    const api = this.d.api;
    const replicas = set.spec?.replicas ?? 1;
    const parallel = set.spec?.podManagementPolicy === 'Parallel';
    const updateRevision = this.revision(set);
    const pods = this.d.pods.list((p) => p.metadata.namespace === ns && isOwnedBy(p, set));
    const byOrdinal = new Map<number, KubeObject>();
    for (const p of pods) {
      const o = ordinalOf(name, p.metadata.name!);
      if (o !== undefined) byOrdinal.set(o, p);
    }
    const podPath = (n: string) => `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(n)}`;

    if (!set.metadata.deletionTimestamp && this.expect.satisfied(key)) {
      let blocked = false;
      // Create / replace pods for ordinals [0, replicas).
      for (let i = 0; i < replicas && !blocked; i++) {
        const pod = byOrdinal.get(i);
        if (!pod) {
          await this.ensureClaims(set, i);
          const created = await api.post(`/api/v1/namespaces/${ns}/pods`, this.newPod(set, i, updateRevision)).catch((e) => {
            if (isConflict(e)) return undefined;
            throw e;
          });
          if (created) {
            this.expect.created(key, `${ns}/${created.metadata.name}`);
            this.d.events.record(set, 'Normal', 'SuccessfulCreate', `create Pod ${created.metadata.name} in StatefulSet ${name} successful`);
          }
          if (!parallel) blocked = true;
          continue;
        }
        if (pod.metadata.deletionTimestamp) {
          if (!parallel) blocked = true;
          continue;
        }
        if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') {
          // A dead stateful pod is recreated under the same name.
          this.expect.deleted(key, `${ns}/${pod.metadata.name}`);
          await api.delete(podPath(pod.metadata.name!), { gracePeriodSeconds: 0 });
          this.d.events.record(set, 'Warning', 'RecreatingFailedPod', `StatefulSet ${ns}/${name} is recreating failed Pod ${pod.metadata.name}`);
          if (!parallel) blocked = true;
          continue;
        }
        if (!parallel && !(pod.status?.phase === 'Running' && podReady(pod))) blocked = true;
      }
      // Scale down: highest ordinal first, one at a time unless Parallel.
      const surplus = [...byOrdinal.entries()].filter(([o]) => o >= replicas).sort(([a], [b]) => b - a);
      if (!blocked && surplus.length > 0) {
        const terminating = surplus.some(([, p]) => p.metadata.deletionTimestamp);
        const victims = parallel ? surplus.filter(([, p]) => !p.metadata.deletionTimestamp) : terminating ? [] : surplus.slice(0, 1);
        for (const [, p] of victims) {
          this.expect.deleted(key, `${ns}/${p.metadata.name}`);
          await api.delete(podPath(p.metadata.name!));
          this.d.events.record(set, 'Normal', 'SuccessfulDelete', `delete Pod ${p.metadata.name} in StatefulSet ${name} successful`);
        }
        blocked = victims.length > 0 || terminating;
      }
      // Rolling update: when everything is up, replace the highest outdated pod at or above the partition.
      const strategy = set.spec?.updateStrategy?.type ?? 'RollingUpdate';
      if (!blocked && strategy === 'RollingUpdate') {
        const partition = set.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
        const healthy = [...Array(replicas).keys()].every((i) => {
          const p = byOrdinal.get(i);
          return p && !p.metadata.deletionTimestamp && podReady(p);
        });
        if (healthy) {
          for (let i = replicas - 1; i >= partition; i--) {
            const p = byOrdinal.get(i)!;
            if (p.metadata.labels?.['controller-revision-hash'] !== updateRevision) {
              this.expect.deleted(key, `${ns}/${p.metadata.name}`);
              await api.delete(podPath(p.metadata.name!));
              this.d.events.record(set, 'Normal', 'SuccessfulDelete', `delete Pod ${p.metadata.name} in StatefulSet ${name} successful`);
              break;
            }
          }
        }
      }
    }

    const fresh = this.d.pods.list((p) => p.metadata.namespace === ns && isOwnedBy(p, set));
    const live = fresh.filter(podActive);
    const now = Date.now();
    const updated = live.filter((p) => p.metadata.labels?.['controller-revision-hash'] === updateRevision).length;
    const prevCurrent = set.status?.currentRevision;
    const currentRevision = updated === replicas && live.length === replicas ? updateRevision : (prevCurrent ?? updateRevision);
    const current = live.filter((p) => p.metadata.labels?.['controller-revision-hash'] === currentRevision).length;
    const status: Record<string, unknown> = {
      observedGeneration: set.metadata.generation ?? 1,
      replicas: fresh.filter((p) => !p.metadata.deletionTimestamp).length,
      readyReplicas: live.filter(podReady).length,
      currentReplicas: current,
      updatedReplicas: updated,
      availableReplicas: live.filter((p) => podAvailable(p, set.spec?.minReadySeconds ?? 0, now)).length,
      currentRevision,
      updateRevision,
      collisionCount: set.status?.collisionCount ?? 0,
    };
    if (statusChanged(set.status, status)) await api.patch(`/apis/apps/v1/namespaces/${ns}/statefulsets/${encodeURIComponent(name)}/status`, { status });
  }
}
