/**
 * The scheduler's pure parts, case by case against the real kube-scheduler:
 * each table names the source file (kubernetes/kubernetes,
 * pkg/scheduler/framework/…) whose behaviour or text the case mirrors.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../sandbox/controllers/client.ts';
import { daemonPodNode, daemonPodSpec, shouldRunOn } from '../../sandbox/controllers/daemonset.ts';
import { budgetStatus, scaledValue } from '../../sandbox/controllers/disruption.ts';
import { fitErrorMessage } from '../../sandbox/controllers/scheduler/message.ts';
import { nodeAffinityFilter, preferredAffinityScore, requirementMatches, termMatches } from '../../sandbox/controllers/scheduler/nodeaffinity.ts';
import { nodeUnschedulableFilter } from '../../sandbox/controllers/scheduler/nodeunschedulable.ts';
import { schedule } from '../../sandbox/controllers/scheduler/schedule.ts';
import { intolerablePreferNoSchedule, taintTolerationFilter, tolerates } from '../../sandbox/controllers/scheduler/tainttoleration.ts';
import type { ClusterView } from '../../sandbox/controllers/scheduler/types.ts';
import { readWriteOncePodFilter, volumeBindingFilter, volumePreFilter } from '../../sandbox/controllers/scheduler/volumes.ts';
import { checkEvictionBody, decideEviction } from '../../sandbox/api/eviction.ts';
import { sandboxNodeNames, nodeLabels, resolveNodeCount, validateNodeCount } from '../../sandbox/controllers/node.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const node = (name: string, labels: Record<string, string> = {}, spec: Record<string, unknown> = {}): KubeObject => ({ metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } }, spec });
const pod = (spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): KubeObject => ({ metadata: { name: 'p', namespace: 'ns', uid: 'uid-p', ...meta }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } });
const view = (o: { pvcs?: KubeObject[]; pvs?: KubeObject[]; placed?: KubeObject[] } = {}): ClusterView => ({
  pvc: (ns, name) => o.pvcs?.find((c) => c.metadata.namespace === ns && c.metadata.name === name),
  pv: (name) => o.pvs?.find((v) => v.metadata.name === name),
  placedPods: () => o.placed ?? [],
  delayedBinding: (pvc) => pvc.spec?.storageClassName === 'wffc',
});
const required = (...terms: unknown[]) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });

describe('node affinity (plugins/nodeaffinity/node_affinity.go; component-helpers nodeaffinity)', () => {
  const n = node('n1', { disktype: 'ssd', gen: '5', zone: 'a' });
  it.each([
    ['In matches a listed value', { key: 'disktype', operator: 'In', values: ['ssd', 'nvme'] }, true],
    ['In with a missing label', { key: 'gpu', operator: 'In', values: ['yes'] }, false],
    ['NotIn with a listed value', { key: 'disktype', operator: 'NotIn', values: ['ssd'] }, false],
    ['NotIn with a missing label matches', { key: 'gpu', operator: 'NotIn', values: ['yes'] }, true],
    ['Exists', { key: 'zone', operator: 'Exists' }, true],
    ['DoesNotExist', { key: 'zone', operator: 'DoesNotExist' }, false],
    ['Gt compares integers', { key: 'gen', operator: 'Gt', values: ['4'] }, true],
    ['Gt is strict', { key: 'gen', operator: 'Gt', values: ['5'] }, false],
    ['Lt compares integers', { key: 'gen', operator: 'Lt', values: ['10'] }, true],
    ['Gt on a non-integer label never matches', { key: 'disktype', operator: 'Gt', values: ['1'] }, false],
    ['Gt needs exactly one value', { key: 'gen', operator: 'Gt', values: ['1', '2'] }, false],
  ] as const)('%s', (_name, req, want) => {
    expect(requirementMatches(req as any, n.metadata.labels!)).toBe(want);
  });

  it.each([
    ['an empty term matches no node', {}, false],
    ['requirements of one term are ANDed', { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['ssd'] }, { key: 'zone', operator: 'In', values: ['b'] }] }, false],
    ['matchFields metadata.name In', { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }, true],
    ['matchFields metadata.name NotIn', { matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n1'] }] }, false],
    ['matchFields on another field never matches', { matchFields: [{ key: 'metadata.uid', operator: 'In', values: ['x'] }] }, false],
  ] as const)('%s', (_name, term, want) => {
    expect(termMatches(term as any, n)).toBe(want);
  });

  it.each([
    ['no selector, no affinity fits', pod(), undefined],
    ['nodeSelector must match every label', pod({ nodeSelector: { disktype: 'ssd', zone: 'b' } }), "node(s) didn't match Pod's node affinity/selector"],
    ['terms are ORed', pod(required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] })), undefined],
    ['nodeSelector and affinity must both match', pod({ nodeSelector: { disktype: 'hdd' }, ...required({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }) }), "node(s) didn't match Pod's node affinity/selector"],
  ])('%s', (_name, p, want) => {
    expect(nodeAffinityFilter(p, n)?.reason).toBe(want);
  });

  it('adds the weights of matching preferred terms', () => {
    const p = pod({ affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [
      { weight: 10, preference: { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['ssd'] }] } },
      { weight: 5, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z'] }] } },
      { weight: 7, preference: {} },
    ] } } });
    expect(preferredAffinityScore(p, n)).toBe(10);
  });
});

describe('taints and tolerations (plugins/tainttoleration/taint_toleration.go; core/v1 ToleratesTaint)', () => {
  const taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  it.each([
    ['Equal with the same value', { key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }, true],
    ['operator defaults to Equal', { key: 'dedicated', value: 'gpu' }, true],
    ['Equal with another value', { key: 'dedicated', operator: 'Equal', value: 'cpu' }, false],
    ['Exists ignores the value', { key: 'dedicated', operator: 'Exists' }, true],
    ['empty key with Exists tolerates everything', { operator: 'Exists' }, true],
    ['empty key without Exists tolerates nothing', { value: 'gpu' }, false],
    ['a different effect does not tolerate', { key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }, false],
  ] as const)('%s', (_name, tol, want) => {
    expect(tolerates(tol as any, taint)).toBe(want);
  });

  it.each([
    ['an untolerated NoSchedule taint rejects with its key and value', node('n', {}, { taints: [taint] }), pod(), 'node(s) had untolerated taint {dedicated: gpu}'],
    ['an empty value prints as nothing', node('n', {}, { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }), pod(), 'node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }'],
    ['NoExecute rejects too', node('n', {}, { taints: [{ key: 'k', value: 'v', effect: 'NoExecute' }] }), pod(), 'node(s) had untolerated taint {k: v}'],
    ['PreferNoSchedule never rejects', node('n', {}, { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] }), pod(), undefined],
    ['a tolerated taint passes', node('n', {}, { taints: [taint] }), pod({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] }), undefined],
  ])('%s', (_name, n, p, want) => {
    expect(taintTolerationFilter(p, n)?.reason).toBe(want);
  });

  it('counts untolerated PreferNoSchedule taints for the score', () => {
    const n = node('n', {}, { taints: [{ key: 'a', effect: 'PreferNoSchedule' }, { key: 'b', effect: 'PreferNoSchedule' }, { key: 'c', effect: 'NoSchedule' }] });
    expect(intolerablePreferNoSchedule(pod(), n)).toBe(2);
    expect(intolerablePreferNoSchedule(pod({ tolerations: [{ key: 'a', operator: 'Exists', effect: 'PreferNoSchedule' }] }), n)).toBe(1);
  });
});

describe('cordoned nodes (plugins/nodeunschedulable/node_unschedulable.go)', () => {
  const cordoned = node('n', {}, { unschedulable: true });
  it.each([
    ['a schedulable node passes', node('n'), pod(), undefined],
    ['a cordoned node rejects', cordoned, pod(), 'node(s) were unschedulable'],
    ['the unschedulable toleration lets a pod on', cordoned, pod({ tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }), undefined],
  ])('%s', (_name, n, p, want) => {
    expect(nodeUnschedulableFilter(p, n)?.reason).toBe(want);
  });
});

describe('volumes (plugins/volumebinding/volume_binding.go, binder.go; plugins/volumerestrictions/volume_restrictions.go)', () => {
  const claim = (name: string, extra: Record<string, any> = {}): KubeObject => ({ metadata: { name, namespace: 'ns', ...(extra.metadata ?? {}) }, spec: { accessModes: ['ReadWriteOnce'], ...(extra.spec ?? {}) } });
  const pinned: KubeObject = { metadata: { name: 'pv1' }, spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] }] } } } };
  const uses = (c: string) => pod({ volumes: [{ name: 'data', persistentVolumeClaim: { claimName: c } }] });

  it.each([
    ['a missing claim', view(), uses('data'), 'persistentvolumeclaim "data" not found'],
    ['a claim being deleted', view({ pvcs: [claim('data', { metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } })] }), uses('data'), 'persistentvolumeclaim "data" is being deleted'],
    ['an unbound claim', view({ pvcs: [claim('data')] }), uses('data'), 'pod has unbound immediate PersistentVolumeClaims'],
    ['an ephemeral claim not created yet', view(), pod({ volumes: [{ name: 'scratch', ephemeral: { volumeClaimTemplate: { spec: {} } } }] }), 'waiting for ephemeral volume controller to create the persistentvolumeclaim "p-scratch"'],
    ['an unbound WaitForFirstConsumer claim waits for the pod, not the pod for it', view({ pvcs: [claim('data', { spec: { storageClassName: 'wffc' } })] }), uses('data'), undefined],
    ['a bound claim passes', view({ pvcs: [claim('data', { spec: { volumeName: 'pv1' } })], pvs: [pinned] }), uses('data'), undefined],
  ])('pre-filter: %s', (_name, v, p, want) => {
    expect(volumePreFilter(p, v)).toBe(want);
  });

  it('a volume pinned to n1 admits n1 only', () => {
    const v = view({ pvcs: [claim('data', { spec: { volumeName: 'pv1' } })], pvs: [pinned] });
    expect(volumeBindingFilter(uses('data'), node('n1'), v)).toBeUndefined();
    expect(volumeBindingFilter(uses('data'), node('n2'), v)).toEqual({ reason: 'node(s) had volume node affinity conflict', unresolvable: true });
  });

  it('an unbound WaitForFirstConsumer claim follows the node already chosen for it', () => {
    const v = view({ pvcs: [claim('data', { spec: { storageClassName: 'wffc' }, metadata: { annotations: { 'volume.kubernetes.io/selected-node': 'n1' } } })] });
    expect(volumeBindingFilter(uses('data'), node('n1'), v)).toBeUndefined();
    expect(volumeBindingFilter(uses('data'), node('n2'), v)?.reason).toBe('node(s) had volume node affinity conflict');
  });

  it('a claim bound to a missing volume rejects every node', () => {
    const v = view({ pvcs: [claim('data', { spec: { volumeName: 'gone' } })] });
    expect(volumeBindingFilter(uses('data'), node('n1'), v)?.reason).toBe('node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)');
  });

  it('ReadWriteOncePod allows one pod in the cluster; ReadWriteOnce is left to node affinity', () => {
    const other = { ...uses('data'), metadata: { name: 'other', namespace: 'ns', uid: 'uid-o' }, spec: { ...uses('data').spec, nodeName: 'n1' } };
    const rwop = view({ pvcs: [claim('data', { spec: { accessModes: ['ReadWriteOncePod'], volumeName: 'pv1' } })], placed: [other] });
    expect(readWriteOncePodFilter(uses('data'), rwop)).toEqual({ reason: 'node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode', unresolvable: false });
    const rwo = view({ pvcs: [claim('data', { spec: { volumeName: 'pv1' } })], placed: [other] });
    expect(readWriteOncePodFilter(uses('data'), rwo)).toBeUndefined();
  });
});

describe('the FailedScheduling message (framework/types.go FitError.Error; plugins/defaultpreemption)', () => {
  const U = (reason: string) => ({ reason, unresolvable: true });
  it.each([
    [
      'reasons counted, sorted as strings, then preemption',
      3,
      undefined,
      [U('node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }'), U("node(s) didn't match Pod's node affinity/selector"), U("node(s) didn't match Pod's node affinity/selector")],
      "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    ],
    ['a pre-filter reason stands for every node', 2, 'pod has unbound immediate PersistentVolumeClaims', [], '0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.'],
    [
      'a resolvable reason finds no preemption victims',
      2,
      undefined,
      [{ reason: 'node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode', unresolvable: false }, U('node(s) were unschedulable')],
      '0/2 nodes are available: 1 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.',
    ],
  ])('%s', (_name, n, pre, rejections, want) => {
    expect(fitErrorMessage(n, pre, rejections)).toBe(want);
  });
});

describe('one scheduling cycle (schedule.ts)', () => {
  const nodes = [node('sandbox', { 'topology.kubernetes.io/zone': 'zone-a' }), node('sandbox-worker', { 'topology.kubernetes.io/zone': 'zone-b' }), node('sandbox-worker2', { 'topology.kubernetes.io/zone': 'zone-c' })];
  it('no nodes at all', () => {
    expect(schedule(pod(), [], view())).toEqual({ message: 'no nodes available to schedule pods' });
  });
  it('the first failing filter per node is the one reported (cordon before taint)', () => {
    const ns = [node('a', {}, { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] }), node('b', {}, { taints: [{ key: 'x', effect: 'NoSchedule' }] }), node('c', { tier: 'db' })];
    expect(schedule(pod({ nodeSelector: { tier: 'web' } }), ns, view())).toEqual({
      message: "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {x: }, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    });
  });
  it('spreads a controller\'s replicas to the node with fewest of them', () => {
    const owner = { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs-1', controller: true }] };
    const placed = [
      { metadata: { name: 'a', namespace: 'ns', uid: 'a', ...owner }, spec: { nodeName: 'sandbox' } },
      { metadata: { name: 'b', namespace: 'ns', uid: 'b', ...owner }, spec: { nodeName: 'sandbox-worker2' } },
    ];
    expect(schedule(pod({}, owner), nodes, view({ placed })).node).toBe('sandbox-worker');
  });
  it('preferred affinity outweighs spreading; ties go to the first node by name', () => {
    const prefer = pod({ affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['zone-c'] }] } }] } } });
    expect(schedule(prefer, nodes, view()).node).toBe('sandbox-worker2');
    expect(schedule(pod(), nodes, view()).node).toBe('sandbox');
  });
  it('PreferNoSchedule steers away without forbidding', () => {
    const tainted = nodes.map((n, i) => (i === 0 ? { ...n, spec: { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] } } : n));
    expect(schedule(pod(), tainted, view()).node).toBe('sandbox-worker');
    expect(schedule(pod(), [tainted[0]!], view()).node).toBe('sandbox');
  });
});

describe('DaemonSet placement (pkg/controller/daemon/daemon_controller.go, util/daemonset_util.go)', () => {
  const tmpl = { spec: { nodeSelector: { role: 'agent' }, containers: [{ name: 'c', image: 'busybox' }] } };
  it('runs where the selector and taints allow, cordoned nodes included', () => {
    expect(shouldRunOn(tmpl, node('a', { role: 'agent' }, { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] }))).toBe(true);
    expect(shouldRunOn(tmpl, node('b'))).toBe(false);
    expect(shouldRunOn(tmpl, node('c', { role: 'agent' }, { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }))).toBe(false);
  });
  it('pins each pod to its node by metadata.name affinity and adds the daemon tolerations', () => {
    const spec = daemonPodSpec(tmpl, 'sandbox-worker');
    expect(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual({ nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['sandbox-worker'] }] }] });
    expect(spec.tolerations).toContainEqual({ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' });
    expect(daemonPodNode({ metadata: {}, spec })).toBe('sandbox-worker');
    expect(nodeUnschedulableFilter({ metadata: {}, spec }, node('sandbox-worker', {}, { unschedulable: true }))).toBeUndefined();
  });
});

describe('PodDisruptionBudget status (pkg/controller/disruption/disruption.go)', () => {
  const ready = (name: string, extra: Record<string, unknown> = {}): KubeObject => ({ metadata: { name, ...extra }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  const notReady = (name: string): KubeObject => ({ metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'False' }] } });
  const now = Date.parse('2026-01-01T00:10:00Z');
  it.each([
    ['minAvailable as a number', { minAvailable: 2 }, [ready('a'), ready('b'), ready('c')], 3, { expectedPods: 3, desiredHealthy: 2, currentHealthy: 3, disruptionsAllowed: 1 }],
    ['minAvailable equal to the healthy pods allows nothing', { minAvailable: 2 }, [ready('a'), ready('b'), notReady('c')], 3, { desiredHealthy: 2, currentHealthy: 2, disruptionsAllowed: 0 }],
    ['maxUnavailable counts from the owners\' scale', { maxUnavailable: 1 }, [ready('a'), ready('b')], 3, { expectedPods: 3, desiredHealthy: 2, currentHealthy: 2, disruptionsAllowed: 0 }],
    ['percentages round up', { minAvailable: '50%' }, [ready('a'), ready('b'), ready('c')], 3, { expectedPods: 3, desiredHealthy: 2, disruptionsAllowed: 1 }],
    ['a terminating pod is not healthy', { minAvailable: 1 }, [ready('a', { deletionTimestamp: '2026-01-01T00:00:00Z' }), ready('b')], 2, { currentHealthy: 1, disruptionsAllowed: 0 }],
  ])('%s', (_name, spec, pods, owners, want) => {
    expect(budgetStatus({ spec, pods, expectedFromOwners: owners, disruptedPods: {}, now })).toMatchObject(want);
  });
  it('a just-evicted pod does not count until deleted or 2 minutes pass', () => {
    const pods = [ready('a'), ready('b')];
    expect(budgetStatus({ spec: { minAvailable: 1 }, pods, expectedFromOwners: 2, disruptedPods: { a: '2026-01-01T00:09:30Z' }, now })).toMatchObject({ currentHealthy: 1, disruptionsAllowed: 0, disruptedPods: { a: '2026-01-01T00:09:30Z' } });
    expect(budgetStatus({ spec: { minAvailable: 1 }, pods, expectedFromOwners: 2, disruptedPods: { a: '2026-01-01T00:01:00Z' }, now })).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 1, disruptedPods: {} });
  });
  it('scales intstr values', () => {
    expect([scaledValue(2, 10), scaledValue('25%', 10), scaledValue('0%', 3)]).toEqual([2, 3, 0]);
  });
});

describe('eviction (pkg/registry/core/pod/storage/eviction.go)', () => {
  const running = (labels: Record<string, string>, isReady = true): any => ({ metadata: { name: 'web-1', namespace: 'ns', labels }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: isReady ? 'True' : 'False' }] } });
  const pdb = (status: Record<string, unknown>, spec: Record<string, unknown> = {}): any => ({ metadata: { name: 'web', namespace: 'ns', generation: 1 }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec }, status: { observedGeneration: 1, ...status } });
  const now = new Date('2026-01-01T00:00:00Z');
  it('refuses a body naming another pod with 400', () => {
    expect(() => checkEvictionBody({ metadata: { name: 'other' } }, 'web-1')).toThrow('name in URL does not match name in Eviction object');
    expect(() => checkEvictionBody({ metadata: { name: 'web-1' } }, 'web-1')).not.toThrow();
  });
  it('without a budget, or for a pod not running, deletes', () => {
    expect(decideEviction(running({ app: 'db' }), [pdb({ disruptionsAllowed: 0 })], now)).toEqual({ delete: true });
    expect(decideEviction({ ...running({ app: 'web' }), status: { phase: 'Pending' } }, [pdb({ disruptionsAllowed: 0 })], now)).toEqual({ delete: true });
  });
  it('a budget with no disruption left refuses with 429 and the real message', () => {
    let err: any;
    try {
      decideEviction(running({ app: 'web' }), [pdb({ disruptionsAllowed: 0, desiredHealthy: 2, currentHealthy: 2 })], now);
    } catch (e) {
      err = e;
    }
    expect(err.toStatus()).toMatchObject({ code: 429, reason: 'TooManyRequests', message: "Cannot evict pod as it would violate the pod's disruption budget.", details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }] } });
  });
  it('a budget not yet observed refuses; two budgets are an error', () => {
    expect(() => decideEviction(running({ app: 'web' }), [{ ...pdb({ disruptionsAllowed: 1 }), metadata: { name: 'web', generation: 2 } }], now)).toThrow("Cannot evict pod as it would violate the pod's disruption budget.");
    expect(() => decideEviction(running({ app: 'web' }), [pdb({ disruptionsAllowed: 1 }), pdb({ disruptionsAllowed: 1 })], now)).toThrow('more than one PodDisruptionBudget');
  });
  it('spends one disruption and records the pod', () => {
    const d = decideEviction(running({ app: 'web' }), [pdb({ disruptionsAllowed: 1, desiredHealthy: 1, currentHealthy: 2 })], now);
    expect(d.pdbStatus?.status).toMatchObject({ disruptionsAllowed: 0, disruptedPods: { 'web-1': '2026-01-01T00:00:00Z' }, conditions: [{ type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods' }] });
  });
  it('an unready pod goes when the budget is healthy (IfHealthyBudget) or always (AlwaysAllow)', () => {
    expect(decideEviction(running({ app: 'web' }, false), [pdb({ disruptionsAllowed: 0, desiredHealthy: 1, currentHealthy: 1 })], now)).toEqual({ delete: true });
    expect(decideEviction(running({ app: 'web' }, false), [pdb({ disruptionsAllowed: 0, desiredHealthy: 2, currentHealthy: 1 }, { unhealthyPodEvictionPolicy: 'AlwaysAllow' })], now)).toEqual({ delete: true });
    expect(() => decideEviction(running({ app: 'web' }, false), [pdb({ disruptionsAllowed: 0, desiredHealthy: 2, currentHealthy: 1 })], now)).toThrow('disruption budget');
  });
});

describe('node names, labels and count (kind naming; well-known labels)', () => {
  it('names nodes as kind does and spreads zones', () => {
    expect(sandboxNodeNames(4)).toEqual(['sandbox', 'sandbox-worker', 'sandbox-worker2', 'sandbox-worker3']);
    expect(nodeLabels('sandbox-worker', 1)).toMatchObject({ 'kubernetes.io/hostname': 'sandbox-worker', 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': 'zone-b' });
    expect(nodeLabels('sandbox', 0)).toHaveProperty('node-role.kubernetes.io/control-plane', '');
    expect(nodeLabels('sandbox-worker3', 3)['topology.kubernetes.io/zone']).toBe('zone-a');
  });
  it('remembers the count in DIR and refuses nonsense', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-nodes-'));
    expect(resolveNodeCount(dir, undefined)).toBe(1);
    expect(resolveNodeCount(dir, 3)).toBe(3);
    expect(resolveNodeCount(dir, undefined)).toBe(3);
    for (const bad of ['0', '65', 'three', '2.5', -1]) expect(() => validateNodeCount(bad)).toThrow(/--nodes: ".*" is not a node count \(an integer from 1 to 64\)/);
  });
});
