/**
 * Who a mover runs as. Pod Security `restricted` forbids root and every added capability, so a mover cannot read any
 * file or give any owner back; it can act as the application does. A mover therefore takes the identity of the
 * workload that mounts the volume — its runAsUser, runAsGroup and fsGroup — and so reads what the application can
 * read and writes files the application owns (README "Pod Security"). An application that runs as root (or whose
 * pods give no uid) has no such identity: its movers run as the Coffer image's user, which reads what is readable by
 * others; what it cannot read fails the volume (`unreadableError`), never silently.
 */
import type { KubeObject } from '../kube/types.ts';

/** The Coffer image's user (deploy/Dockerfile `USER 65532:65532`, the distroless "nonroot" uid). */
export const MOVER_UID = 65532;

export interface MoverIdentity {
  runAsUser: number;
  runAsGroup: number;
  /** The volume's group: the kubelet gives the volume to it (OnRootMismatch), so the mover may use group-owned files. */
  fsGroup?: number;
  /** Where the uid came from, for messages. */
  source: 'workload' | 'default';
}

interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  [other: string]: unknown;
}
export interface PodSpecLike {
  securityContext?: SecurityContext;
  containers?: { securityContext?: SecurityContext; volumeMounts?: { name?: string }[] }[];
  volumes?: { name?: string; persistentVolumeClaim?: { claimName?: string } }[];
}

/**
 * The identity for a mover of the volume `claim` of this pod spec (undefined: no workload known). The first container
 * that mounts the claim decides the uid/gid (its own securityContext over the pod's), as the kubelet resolves them.
 * A mover of an `existing` volume (a backup's snapshot copy, `restore files --into-pvc`) gets the pod's fsGroup only
 * when the pod has one (a fresh fsGroup would make the kubelet rewrite the group of every file in it); a mover filling
 * a `new` volume always has one, because the new volume's root belongs to root until the kubelet gives it to the fsGroup.
 */
export function moverIdentity(spec: PodSpecLike | undefined, claim: string, volume: 'existing' | 'new'): MoverIdentity {
  const pod = spec?.securityContext ?? {};
  const mounted = spec?.volumes?.find((v) => v.persistentVolumeClaim?.claimName === claim)?.name;
  const container = spec?.containers?.find((c) => c.volumeMounts?.some((m) => m.name === mounted)) ?? spec?.containers?.[0];
  const uid = container?.securityContext?.runAsUser ?? pod.runAsUser;
  const own = uid !== undefined && uid > 0;
  const runAsUser = own ? uid : MOVER_UID;
  const gid = container?.securityContext?.runAsGroup ?? pod.runAsGroup;
  const runAsGroup = own && gid !== undefined && gid > 0 ? gid : own ? (pod.fsGroup ?? runAsUser) : MOVER_UID;
  const fsGroup = pod.fsGroup !== undefined && pod.fsGroup > 0 ? pod.fsGroup : volume === 'new' ? runAsGroup : undefined;
  return { runAsUser, runAsGroup, ...(fsGroup !== undefined ? { fsGroup } : {}), source: own ? 'workload' : 'default' };
}

/** The spec of a live, unfinished pod in `pods` that mounts `claim` (the backup's source of the identity). */
export function consumerPodSpec(pods: KubeObject[], claim: string): PodSpecLike | undefined {
  const live = pods.filter((p) => !['Succeeded', 'Failed'].includes((p.status as { phase?: string } | undefined)?.phase ?? ''));
  return live.map((p) => p.spec as PodSpecLike).find((s) => s?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === claim));
}

/**
 * The error for a backup whose mover could not read some paths (the mover's `warnings` with a permission code), or
 * undefined. A backup that silently skipped files would restore an incomplete volume.
 */
export function unreadableError(warnings: unknown, who: MoverIdentity): string | undefined {
  const denied = (Array.isArray(warnings) ? warnings : []).filter((w): w is { path: string; code: string } => !!w && typeof w === 'object' && ['EACCES', 'EPERM'].includes((w as { code?: string }).code ?? ''));
  if (!denied.length) return undefined;
  const shown = denied.slice(0, 3).map((w) => w.path).join(', ');
  const more = denied.length > 3 ? ` and ${denied.length - 3} more` : '';
  const hint = who.source === 'workload' ? 'files the workload itself cannot read are not backed up by a restricted mover' : 'the workload runs as root or names no runAsUser; give its pods a non-root runAsUser and fsGroup so the mover can act as it';
  return `the mover (uid ${who.runAsUser}, gid ${who.runAsGroup}${who.fsGroup !== undefined ? `, fsGroup ${who.fsGroup}` : ''}) could not read ${denied.length} path(s): ${shown}${more}; ${hint}`;
}
