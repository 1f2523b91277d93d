/**
 * The objects a fresh cluster has before anyone writes: the system namespaces,
 * the `kubernetes` Service, and the CSI snapshot CRDs (in a real cluster they
 * come from the external-snapshotter install; here the API server ships them).
 */
import type { KObject } from './object.ts';

const preserve = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

function snapshotCrd(plural: string, kind: string, scope: 'Namespaced' | 'Cluster', shortNames: string[], extra: Record<string, unknown>, columns: unknown[], status = true): KObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.snapshot.storage.k8s.io`, annotations: { 'api-approved.kubernetes.io': 'https://github.com/kubernetes-csi/external-snapshotter/pull/814' } },
    spec: {
      group: 'snapshot.storage.k8s.io',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, shortNames },
      scope,
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          ...(status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: columns,
          schema: { openAPIV3Schema: { type: 'object', properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, ...extra } } },
        },
      ],
    },
  };
}

export const SNAPSHOT_CRDS: KObject[] = [
  snapshotCrd(
    'volumesnapshots',
    'VolumeSnapshot',
    'Namespaced',
    ['vs'],
    {
      spec: {
        type: 'object',
        required: ['source'],
        properties: {
          source: { type: 'object', properties: { persistentVolumeClaimName: { type: 'string' }, volumeSnapshotContentName: { type: 'string' } } },
          volumeSnapshotClassName: { type: 'string' },
        },
      },
      status: preserve,
    },
    [
      { name: 'ReadyToUse', type: 'boolean', jsonPath: '.status.readyToUse', description: 'Indicates if the snapshot is ready to be used to restore a volume.' },
      { name: 'SourcePVC', type: 'string', jsonPath: '.spec.source.persistentVolumeClaimName' },
      { name: 'SourceSnapshotContent', type: 'string', jsonPath: '.spec.source.volumeSnapshotContentName' },
      { name: 'RestoreSize', type: 'string', jsonPath: '.status.restoreSize' },
      { name: 'SnapshotClass', type: 'string', jsonPath: '.spec.volumeSnapshotClassName' },
      { name: 'SnapshotContent', type: 'string', jsonPath: '.status.boundVolumeSnapshotContentName' },
      { name: 'CreationTime', type: 'date', jsonPath: '.status.creationTime' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  ),
  snapshotCrd(
    'volumesnapshotcontents',
    'VolumeSnapshotContent',
    'Cluster',
    ['vsc', 'vscs'],
    {
      spec: {
        type: 'object',
        required: ['deletionPolicy', 'driver', 'source', 'volumeSnapshotRef'],
        properties: {
          deletionPolicy: { type: 'string', enum: ['Delete', 'Retain'] },
          driver: { type: 'string' },
          source: { type: 'object', properties: { snapshotHandle: { type: 'string' }, volumeHandle: { type: 'string' } } },
          sourceVolumeMode: { type: 'string' },
          volumeSnapshotClassName: { type: 'string' },
          volumeSnapshotRef: preserve,
        },
      },
      status: preserve,
    },
    [
      { name: 'ReadyToUse', type: 'boolean', jsonPath: '.status.readyToUse' },
      { name: 'RestoreSize', type: 'integer', jsonPath: '.status.restoreSize' },
      { name: 'DeletionPolicy', type: 'string', jsonPath: '.spec.deletionPolicy' },
      { name: 'Driver', type: 'string', jsonPath: '.spec.driver' },
      { name: 'VolumeSnapshotClass', type: 'string', jsonPath: '.spec.volumeSnapshotClassName' },
      { name: 'VolumeSnapshot', type: 'string', jsonPath: '.spec.volumeSnapshotRef.name' },
      { name: 'VolumeSnapshotNamespace', type: 'string', jsonPath: '.spec.volumeSnapshotRef.namespace' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  ),
  snapshotCrd(
    'volumesnapshotclasses',
    'VolumeSnapshotClass',
    'Cluster',
    ['vsclass', 'vsclasses'],
    { driver: { type: 'string' }, deletionPolicy: { type: 'string', enum: ['Delete', 'Retain'] }, parameters: { type: 'object', additionalProperties: { type: 'string' } } },
    [
      { name: 'Driver', type: 'string', jsonPath: '.driver' },
      { name: 'DeletionPolicy', type: 'string', jsonPath: '.deletionPolicy' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
    false,
  ),
];

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
