/**
 * Deployment controller: one ReplicaSet per pod template (named by the
 * template hash), rolling updates bounded by maxSurge/maxUnavailable (or
 * Recreate), revision history, and the status and conditions (Available,
 * Progressing) that `kubectl rollout status` and `kubectl wait` read.
 */
import type { KubeObject } from './client.ts';
import { isConflict } from './client.ts';
import { type Informer, WorkQueue } from './informer.ts';
import type { ControllerDeps } from './replicaset.ts';
import { isOwnedBy, nowIso, ownerRefTo, setCondition, statusChanged, templateHash } from './workload.ts';

const REVISION = 'deployment.kubernetes.io/revision';

/** maxSurge / maxUnavailable as counts: percentages round up for surge, down for unavailable. */
export function rollingBounds(d: KubeObject): { maxSurge: number; maxUnavailable: number } {
  const desired = d.spec?.replicas ?? 1;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const resolve = (v: unknown, dflt: string, up: boolean) => {
    const s = v === undefined || v === null ? dflt : v;
    if (typeof s === 'number') return s;
    const m = /^(\d+)%$/.exec(String(s));
    if (!m) return Number(s) || 0;
    const x = (Number(m[1]) * desired) / 100;
    return up ? Math.ceil(x) : Math.floor(x);
  };
  const maxSurge = resolve(ru.maxSurge, '25%', true);
  let maxUnavailable = resolve(ru.maxUnavailable, '25%', false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/** Drops nulls and empty objects/arrays so `creationTimestamp: null` (what kubectl writes on rollout undo) compares equal to absent. */
function pruneEmpty(v: any): any {
  if (Array.isArray(v)) {
    const a = v.map(pruneEmpty).filter((x) => x !== undefined);
    return a.length ? a : undefined;
  }
  if (v && typeof v === 'object') {
    const entries = Object.keys(v)
      .sort()
      .map((k) => [k, pruneEmpty(v[k])] as const)
      .filter(([, x]) => x !== undefined);
    return entries.length ? Object.fromEntries(entries) : undefined;
  }
  return v === null ? undefined : v;
}

/** The template as a comparable value: pod-template-hash removed, empties pruned, keys ordered. */
export function templateKey(t: any): string {
  const c = structuredClone(t ?? {});
  if (c.metadata?.labels) delete c.metadata.labels['pod-template-hash'];
  return JSON.stringify(pruneEmpty(c) ?? {});
}

export class DeploymentController {
  readonly queue: WorkQueue;

  constructor(
    private readonly d: ControllerDeps,
    readonly deployments: Informer,
    private readonly sets: Informer,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), d.log);
    deployments.on((_t, o) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`));
  }

  stop(): void {
    this.queue.stop();
  }

  private rsPath(ns: string, name?: string, sub?: string) {
    return `/apis/apps/v1/namespaces/${ns}/replicasets${name ? `/${encodeURIComponent(name)}` : ''}${sub ? `/${sub}` : ''}`;
  }

  private async scale(rs: KubeObject, replicas: number, dep: KubeObject): Promise<void> {
    if ((rs.spec?.replicas ?? 1) === replicas) return;
    const old = rs.spec?.replicas ?? 1;
    await this.d.api.patch(this.rsPath(rs.metadata.namespace!, rs.metadata.name), {
      metadata: { annotations: { 'deployment.kubernetes.io/desired-replicas': String(dep.spec?.replicas ?? 1), 'deployment.kubernetes.io/max-replicas': String((dep.spec?.replicas ?? 1) + rollingBounds(dep).maxSurge) } },
      spec: { replicas },
    });
    this.d.events.record(dep, 'Normal', 'ScalingReplicaSet', `Scaled ${replicas > old ? 'up' : 'down'} replica set ${rs.metadata.name} from ${old} to ${replicas}`);
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const dep = this.deployments.get(ns, name);
    if (!dep || dep.metadata.deletionTimestamp) return;
    const api = this.d.api;
    const desired = dep.spec?.replicas ?? 1;
    const owned = this.sets.list((rs) => rs.metadata.namespace === ns && isOwnedBy(rs, dep));
    const want = templateKey(dep.spec?.template);
    let newRS = owned.find((rs) => templateKey(rs.spec?.template) === want);
    const olds = owned.filter((rs) => rs !== newRS);
    const maxRevision = Math.max(0, ...owned.map((rs) => Number(rs.metadata.annotations?.[REVISION] ?? 0)));
    const recreate = dep.spec?.strategy?.type === 'Recreate';
    const { maxSurge, maxUnavailable } = rollingBounds(dep);

    if (!newRS) {
      const collision = dep.status?.collisionCount ?? 0;
      const hash = templateHash(dep.spec?.template, collision);
      const template = structuredClone(dep.spec?.template ?? {});
      template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash } };
      const selector = structuredClone(dep.spec?.selector ?? {});
      selector.matchLabels = { ...(selector.matchLabels ?? {}), 'pod-template-hash': hash };
      const oldTotal = olds.reduce((s, rs) => s + (rs.spec?.replicas ?? 0), 0);
      const initial = recreate ? 0 : olds.length === 0 ? desired : Math.max(0, Math.min(desired, desired + maxSurge - oldTotal));
      const rs: KubeObject = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-${hash}`,
          namespace: ns,
          labels: { ...(dep.spec?.template?.metadata?.labels ?? {}), 'pod-template-hash': hash },
          annotations: { [REVISION]: String(maxRevision + 1), 'deployment.kubernetes.io/desired-replicas': String(desired), 'deployment.kubernetes.io/max-replicas': String(desired + maxSurge) },
          ownerReferences: [ownerRefTo(dep, 'apps/v1', 'Deployment')],
        },
        spec: { replicas: dep.spec?.paused ? 0 : initial, minReadySeconds: dep.spec?.minReadySeconds ?? 0, selector, template },
      };
      try {
        newRS = await api.post(this.rsPath(ns), rs);
        this.d.events.record(dep, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rs.metadata.name} from 0 to ${rs.spec.replicas}`);
      } catch (e) {
        if (!isConflict(e)) throw e;
        // Same name, different template: a hash collision. Bump collisionCount and retry.
        await api.patch(`/apis/apps/v1/namespaces/${ns}/deployments/${encodeURIComponent(name)}/status`, { status: { collisionCount: collision + 1 } });
        return;
      }
    } else if (Number(newRS.metadata.annotations?.[REVISION] ?? 0) < maxRevision) {
      // Rolled back to an older template: it becomes the newest revision.
      await api.patch(this.rsPath(ns, newRS.metadata.name), { metadata: { annotations: { [REVISION]: String(maxRevision + 1) } } });
    }
    if (dep.metadata.annotations?.[REVISION] !== newRS!.metadata.annotations?.[REVISION] && newRS!.metadata.annotations?.[REVISION]) {
      await api.patch(`/apis/apps/v1/namespaces/${ns}/deployments/${encodeURIComponent(name)}`, { metadata: { annotations: { [REVISION]: newRS!.metadata.annotations[REVISION] } } });
    }

    if (!dep.spec?.paused) {
      if (recreate) {
        for (const rs of olds) await this.scale(rs, 0, dep);
        const oldPods = this.d.pods.list((p) => p.metadata.namespace === ns && olds.some((rs) => isOwnedBy(p, rs)));
        if (oldPods.length === 0) await this.scale(newRS!, desired, dep);
      } else if (olds.every((rs) => (rs.spec?.replicas ?? 0) === 0)) {
        await this.scale(newRS!, desired, dep);
      } else {
        const totalSpec = owned.reduce((s, rs) => s + (rs.spec?.replicas ?? 0), 0);
        const newSpec = newRS!.spec?.replicas ?? 0;
        const surgeRoom = Math.max(0, desired + maxSurge - totalSpec);
        await this.scale(newRS!, Math.min(desired, newSpec + surgeRoom), dep);
        // Old pods: unavailable ones go freely; available ones only while enough stay available.
        const available = owned.reduce((s, rs) => s + (rs.status?.availableReplicas ?? 0), 0);
        let budget = Math.max(0, available - (desired - maxUnavailable));
        for (const rs of [...olds].sort((a, b) => Number(a.metadata.annotations?.[REVISION] ?? 0) - Number(b.metadata.annotations?.[REVISION] ?? 0))) {
          const spec = rs.spec?.replicas ?? 0;
          if (spec === 0) continue;
          const unavailable = Math.max(0, spec - (rs.status?.availableReplicas ?? 0));
          const fromBudget = Math.min(budget, spec - unavailable);
          budget -= fromBudget;
          await this.scale(rs, spec - unavailable - fromBudget, dep);
        }
      }
      // Revision history: keep the newest `revisionHistoryLimit` empty old sets.
      const limit = dep.spec?.revisionHistoryLimit ?? 10;
      const empty = olds
        .filter((rs) => (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0)
        .sort((a, b) => Number(a.metadata.annotations?.[REVISION] ?? 0) - Number(b.metadata.annotations?.[REVISION] ?? 0));
      for (const rs of empty.slice(0, Math.max(0, empty.length - limit))) await api.delete(this.rsPath(ns, rs.metadata.name));
    }

    // Status from the sets' own status.
    const fresh = this.sets.list((rs) => rs.metadata.namespace === ns && isOwnedBy(rs, dep));
    const nrs = fresh.find((rs) => rs.metadata.name === newRS!.metadata.name) ?? newRS!;
    const sum = (f: (rs: KubeObject) => number) => fresh.reduce((s, rs) => s + f(rs), 0);
    const replicas = sum((rs) => rs.status?.replicas ?? 0);
    const updated = nrs.status?.replicas ?? 0;
    const ready = sum((rs) => rs.status?.readyReplicas ?? 0);
    const available = sum((rs) => rs.status?.availableReplicas ?? 0);
    const now = nowIso();
    const minAvailable = desired - maxUnavailable;
    let conds = setCondition(
      dep.status?.conditions,
      available >= minAvailable || desired === 0
        ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
        : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
      now,
    );
    const complete = updated === desired && replicas === desired && (nrs.status?.availableReplicas ?? 0) === desired && (nrs.status?.observedGeneration ?? 0) >= (nrs.metadata.generation ?? 1);
    // progressDeadlineSeconds: no change in the rollout's counts for that long means it is stuck.
    const prevProgress = (dep.status?.conditions ?? []).find((x: any) => x.type === 'Progressing');
    const moved = !prevProgress || prevProgress.message?.includes(`"${nrs.metadata.name}"`) !== true || dep.status?.updatedReplicas !== updated || dep.status?.availableReplicas !== available || dep.status?.readyReplicas !== ready;
    const deadlineSecs = dep.spec?.progressDeadlineSeconds ?? 600;
    const lastProgress = moved ? Date.now() : Date.parse(prevProgress?.lastUpdateTime ?? now);
    const stuck = !complete && !dep.spec?.paused && (prevProgress?.reason === 'ProgressDeadlineExceeded' ? !moved : Date.now() - lastProgress > deadlineSecs * 1000);
    conds = setCondition(
      conds,
      dep.spec?.paused
        ? { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' }
        : complete
          ? { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${nrs.metadata.name}" has successfully progressed.` }
          : stuck
            ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${nrs.metadata.name}" has timed out progressing.` }
            : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${nrs.metadata.name}" is progressing.` },
      now,
    );
    for (const c of conds) {
      if (c.type === 'Progressing' && moved) c.lastUpdateTime = now;
      c.lastUpdateTime ??= now;
    }
    if (!complete && !stuck && !dep.spec?.paused) this.queue.addAfter(key, Math.max(0, lastProgress + deadlineSecs * 1000 - Date.now()) + 100);
    const status: Record<string, unknown> = {
      observedGeneration: dep.metadata.generation ?? 1,
      replicas,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, desired - available),
      conditions: conds,
    };
    if (dep.status?.collisionCount) status.collisionCount = dep.status.collisionCount;
    if (statusChanged(dep.status, status)) await api.patch(`/apis/apps/v1/namespaces/${ns}/deployments/${encodeURIComponent(name)}/status`, { status });
  }
}
