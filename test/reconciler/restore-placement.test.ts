/**
 * Restore movers run where the restored workload can use the volume they fill: the node constraints come from the
 * pod template that mounts the claim (cases: Kubernetes "Assigning Pods to Nodes" — nodeSelector, node affinity,
 * tolerations; StatefulSet claim names `<template>-<set>-<ordinal>` from the StatefulSet docs).
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { placementForClaim } from '../../reconciler/restore/placement.ts';
import { restoreMoverObjects } from '../../reconciler/restore/volume.ts';

const affinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['zone-b'] }] }] } };
const tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }];
const sts = (ns: string, spec: Record<string, unknown>): KubeObject =>
  ({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: ns }, spec: { volumeClaimTemplates: [{ metadata: { name: 'data' } }], template: { spec: { containers: [], ...spec } } } }) as KubeObject;
const deploy = (spec: Record<string, unknown>): KubeObject =>
  ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { template: { spec: { containers: [], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'uploads' } }], ...spec } } } }) as KubeObject;

describe('placementForClaim', () => {
  it.each([
    ['a StatefulSet claim takes the set\'s nodeSelector', 'data-db-0', [sts('shop', { nodeSelector: { 'kubernetes.io/hostname': 'n2' } })], { nodeSelector: { 'kubernetes.io/hostname': 'n2' } }],
    ['node affinity and tolerations come along; pod affinity does not', 'data-db-1', [sts('shop', { affinity: { nodeAffinity: affinity, podAffinity: { x: 1 } }, tolerations })], { affinity: { nodeAffinity: affinity }, tolerations }],
    ['a Deployment mounting the claim by name', 'uploads', [deploy({ nodeSelector: { disk: 'ssd' } })], { nodeSelector: { disk: 'ssd' } }],
    ['a template without constraints gives none', 'data-db-0', [sts('shop', {})], undefined],
    ['another namespace does not count', 'data-db-0', [sts('other', { nodeSelector: { a: 'b' } })], undefined],
    ['a claim no template mounts', 'data-cache-0', [sts('shop', { nodeSelector: { a: 'b' } })], undefined],
    ['an ordinal must be a number', 'data-db-x', [sts('shop', { nodeSelector: { a: 'b' } })], undefined],
  ])('%s', (_name, claim, objects, want) => {
    expect(placementForClaim('shop', claim, objects)).toEqual(want);
  });

  it('goes into the restore mover pod spec', () => {
    const { job } = restoreMoverObjects({ namespace: 'shop', pvc: 'data-db-0', snapshotId: 'abc', repository: { url: 's3://b', password: 'p' }, runId: 'r-123456', placement: { nodeSelector: { 'kubernetes.io/hostname': 'n2' }, tolerations } });
    const spec = (job as any).spec.template.spec;
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'n2' });
    expect(spec.tolerations).toEqual(tolerations);
    expect(spec.restartPolicy).toBe('Never');
  });
});
