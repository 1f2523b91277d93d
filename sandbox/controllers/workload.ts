/**
 * Helpers every workload controller shares: label selectors, controller
 * references, pod readiness/availability and stamping pods from a template.
 */
import { createHash } from 'node:crypto';
import type { KubeObject, OwnerReference } from './client.ts';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

/** metav1.LabelSelector semantics; an empty selector matches everything, a missing one nothing. */
export function matchesSelector(sel: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!sel) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(l[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(l[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export function controllerRef(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller);
}

export function ownerRefTo(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

export function isOwnedBy(obj: KubeObject, owner: KubeObject): boolean {
  return controllerRef(obj)?.uid === owner.metadata.uid;
}

export function podReady(pod: KubeObject): boolean {
  return pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Ready for at least minReadySeconds (now given as ms epoch). */
export function podAvailable(pod: KubeObject, minReadySeconds: number, now: number): boolean {
  const c = pod.status?.conditions?.find((x: any) => x.type === 'Ready' && x.status === 'True');
  if (!c) return false;
  if (!minReadySeconds) return true;
  return Date.parse(c.lastTransitionTime) + minReadySeconds * 1000 <= now;
}

export function podActive(pod: KubeObject): boolean {
  return pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed' && !pod.metadata.deletionTimestamp;
}

/** Stable hash of a pod template, Kubernetes-style (short, [a-z0-9]) for pod-template-hash and revisions. */
export function templateHash(template: unknown, collisionCount = 0): string {
  const h = createHash('sha256').update(JSON.stringify(canonical(template))).update(String(collisionCount)).digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let out = '';
  for (let i = 0; i < 10; i++) out += alphabet[h[i]! % alphabet.length];
  return out;
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, canonical((v as any)[k])]));
  return v;
}

/** A pod from a template: labels, annotations, spec, owner; the controller names it. */
export function podFromTemplate(template: any, namespace: string, owner: OwnerReference, extra: { name?: string; generateName?: string; labels?: Record<string, string>; spec?: Record<string, unknown> }): KubeObject {
  const md = template?.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(extra.name ? { name: extra.name } : { generateName: extra.generateName }),
      namespace,
      labels: { ...(md.labels ?? {}), ...(extra.labels ?? {}) },
      ...(md.annotations ? { annotations: { ...md.annotations } } : {}),
      ownerReferences: [owner],
    },
    spec: { ...structuredClone(template?.spec ?? {}), ...(extra.spec ?? {}) },
  };
}

export function nowIso(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** A condition list with `cond` set, keeping lastTransitionTime when the status did not change. */
export function setCondition(conds: any[] | undefined, cond: { type: string; status: string; reason?: string; message?: string }, now = nowIso()): any[] {
  const list = [...(conds ?? [])];
  const i = list.findIndex((c) => c.type === cond.type);
  const old = i >= 0 ? list[i] : undefined;
  const next = {
    ...cond,
    lastTransitionTime: old && old.status === cond.status ? old.lastTransitionTime : now,
    ...(old && 'lastUpdateTime' in old ? { lastUpdateTime: old.status === cond.status && old.reason === cond.reason ? old.lastUpdateTime : now } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Shallow equality of status fields, so controllers only write real changes. */
export function statusChanged(current: any, next: Record<string, unknown>): boolean {
  return Object.entries(next).some(([k, v]) => JSON.stringify(current?.[k]) !== JSON.stringify(v));
}
