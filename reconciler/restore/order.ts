/**
 * Restore order, as Velero and K10 do it: what others depend on first, so nothing is created before what it refers
 * to. PVCs come before workloads because their data is restored before any pod mounts them.
 */
export const RESTORE_STAGES = ['crds', 'namespaces', 'rbac', 'config', 'volumes', 'services', 'workloads', 'other', 'custom'] as const;
export type RestoreStage = (typeof RESTORE_STAGES)[number];

/** API groups Kubernetes itself serves; anything else is a custom resource (restored last, after its CRD and controllers' inputs). */
const BUILTIN_GROUPS = new Set([
  '', 'apps', 'batch', 'autoscaling', 'policy', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'storage.k8s.io', 'scheduling.k8s.io',
  'coordination.k8s.io', 'discovery.k8s.io', 'events.k8s.io', 'node.k8s.io', 'apiextensions.k8s.io', 'admissionregistration.k8s.io',
  'certificates.k8s.io', 'flowcontrol.apiserver.k8s.io', 'snapshot.storage.k8s.io', 'metrics.k8s.io', 'gateway.networking.k8s.io',
]);

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'CronJob', 'Pod']);

export function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
}

/** The stage an object of this apiVersion/kind is restored in. */
export function stageOf(apiVersion: string, kind: string): RestoreStage {
  const group = groupOf(apiVersion);
  if (group === 'apiextensions.k8s.io' && kind === 'CustomResourceDefinition') return 'crds';
  if (group === '' && kind === 'Namespace') return 'namespaces';
  if ((group === '' && kind === 'ServiceAccount') || group === 'rbac.authorization.k8s.io') return 'rbac';
  if (group === '' && ['Secret', 'ConfigMap', 'LimitRange', 'ResourceQuota'].includes(kind)) return 'config';
  if ((group === '' && (kind === 'PersistentVolumeClaim' || kind === 'PersistentVolume')) || (group === 'storage.k8s.io' && kind === 'StorageClass')) return 'volumes';
  if (group === '' && kind === 'Service') return 'services';
  if (['', 'apps', 'batch'].includes(group) && WORKLOAD_KINDS.has(kind)) return 'workloads';
  if (BUILTIN_GROUPS.has(group)) return 'other';
  return 'custom';
}

export function stageRank(stage: RestoreStage): number {
  return RESTORE_STAGES.indexOf(stage);
}
