/**
 * Several nodes, checked with the real kubectl against a 3-node sandbox:
 * nodes and their labels, placement by nodeSelector, affinity and taints, a
 * ReadWriteOnce volume that keeps a second pod on another node Pending with
 * the scheduler's event, cordon, drain with evictions, and a
 * PodDisruptionBudget that refuses an eviction with 429.
 */
import { describe, expect, it } from 'vitest';
import { eventually, sleeper, useTestCluster } from './runtime-harness.ts';

const { cluster, ok, apply, getJson } = useTestCluster({ nodes: 3 });

const podOn = (name: string, spec: Record<string, unknown> = {}, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { terminationGracePeriodSeconds: 1, containers: [sleeper('c')], ...spec },
});

async function nodeOf(name: string): Promise<string> {
  return eventually(async () => (await getJson('pod', name)).spec.nodeName, 30_000, `pod ${name} scheduled`);
}

async function running(name: string): Promise<void> {
  await ok(['wait', '--for=condition=Ready', `pod/${name}`, '--timeout=60s']);
}

async function schedulingFailure(name: string): Promise<string> {
  return eventually(async () => {
    const p = await getJson('pod', name);
    const c = (p.status?.conditions ?? []).find((x: any) => x.type === 'PodScheduled');
    return !p.spec.nodeName && c?.status === 'False' && c.reason === 'Unschedulable' && c.message;
  }, 30_000, `pod ${name} Unschedulable`);
}

describe('nodes and scheduling (kubectl)', () => {
  it('registers three Ready nodes with hostname, os, arch and zone labels', async () => {
    const out = await ok(['get', 'nodes', '-L', 'topology.kubernetes.io/zone', '--no-headers']);
    const rows = out.trim().split('\n').map((l) => l.split(/\s+/));
    expect(rows.map((r) => [r[0], r[1], r.at(-1)])).toEqual([
      ['sandbox', 'Ready', 'zone-a'],
      ['sandbox-worker', 'Ready', 'zone-b'],
      ['sandbox-worker2', 'Ready', 'zone-c'],
    ]);
    expect(rows[0]![2]).toBe('control-plane');
    const nodes = (await getJson('nodes')).items;
    for (const n of nodes) {
      expect(n.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': n.metadata.name, 'kubernetes.io/os': 'linux' });
      expect(n.metadata.labels['kubernetes.io/arch']).toMatch(/^(amd64|arm64)$/);
      expect(n.status.allocatable.pods).toBe('110');
    }
    const leases = await eventually(async () => {
      const l = (await getJson('leases', '-n', 'kube-node-lease')).items;
      return l.length === 3 && l;
    }, 30_000, 'node leases');
    expect(leases.map((l: any) => l.spec.holderIdentity).sort()).toEqual(['sandbox', 'sandbox-worker', 'sandbox-worker2']);
  });

  it('places pods by nodeSelector, required affinity and tolerations, and explains a misfit', async () => {
    await apply(podOn('by-selector', { nodeSelector: { 'kubernetes.io/hostname': 'sandbox-worker2' } }));
    await apply(podOn('by-affinity', { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['zone-b'] }] }] } } } }));
    expect(await nodeOf('by-selector')).toBe('sandbox-worker2');
    expect(await nodeOf('by-affinity')).toBe('sandbox-worker');
    await running('by-selector');
    const wide = await ok(['get', 'pod', 'by-selector', '-o', 'wide', '--no-headers']);
    expect(wide).toContain('sandbox-worker2');

    await ok(['taint', 'nodes', 'sandbox-worker', 'dedicated=db:NoSchedule']);
    await apply(podOn('untolerated', { nodeSelector: { 'kubernetes.io/hostname': 'sandbox-worker' } }));
    expect(await schedulingFailure('untolerated')).toBe(
      "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    );
    const describe = await ok(['describe', 'pod', 'untolerated']);
    expect(describe).toMatch(/Warning\s+FailedScheduling\s+.*default-scheduler\s+0\/3 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: db\}/);
    await apply(podOn('tolerated', { nodeSelector: { 'kubernetes.io/hostname': 'sandbox-worker' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] }));
    expect(await nodeOf('tolerated')).toBe('sandbox-worker');
    // Removing the taint lets the waiting pod in: the scheduler retries on node changes.
    await ok(['taint', 'nodes', 'sandbox-worker', 'dedicated=db:NoSchedule-']);
    expect(await nodeOf('untolerated')).toBe('sandbox-worker');
    await ok(['delete', 'pod', 'by-selector', 'by-affinity', 'untolerated', 'tolerated', '--wait=true']);
  });

  it('pins a ReadWriteOnce volume to its first pod\'s node; a second pod elsewhere stays Pending', async () => {
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    const mount = { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }], containers: [sleeper('c', { volumeMounts: [{ name: 'd', mountPath: '/data' }] })] };
    await apply(podOn('writer', { ...mount, nodeSelector: { 'kubernetes.io/hostname': 'sandbox-worker' } }));
    await running('writer');
    const pvc = await getJson('pvc', 'data');
    expect(pvc.metadata.annotations['volume.kubernetes.io/selected-node']).toBe('sandbox-worker');
    const pv = await getJson('pv', pvc.spec.volumeName);
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms).toEqual([{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['sandbox-worker'] }] }]);

    await apply(podOn('elsewhere', { ...mount, nodeSelector: { 'kubernetes.io/hostname': 'sandbox-worker2' } }));
    const msg = "0/3 nodes are available: 1 node(s) had volume node affinity conflict, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    expect(await schedulingFailure('elsewhere')).toBe(msg);
    const events = await eventually(async () => {
      const out = await ok(['get', 'events', '--field-selector', 'involvedObject.name=elsewhere,reason=FailedScheduling', '-o', 'json']);
      return JSON.parse(out).items[0];
    }, 30_000, 'FailedScheduling event');
    expect(events).toMatchObject({ type: 'Warning', reason: 'FailedScheduling', message: msg, source: { component: 'default-scheduler' } });
    expect((await getJson('pod', 'elsewhere')).status.phase).toBe('Pending');
    // A pod that may go anywhere follows the volume (ReadWriteOnce is per node, not per pod).
    await apply(podOn('follower', mount));
    expect(await nodeOf('follower')).toBe('sandbox-worker');
    await ok(['delete', 'pod', 'writer', 'elsewhere', 'follower', '--wait=true']);
    await ok(['delete', 'pvc', 'data', '--wait=true']);
  });

  it('binds a WaitForFirstConsumer claim only once its first pod has a node, and provisions it there', async () => {
    await apply({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'local-wffc' }, provisioner: 'sandbox.csi.coffer.dev', volumeBindingMode: 'WaitForFirstConsumer', reclaimPolicy: 'Delete' });
    await apply({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'late' }, spec: { storageClassName: 'local-wffc', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    await eventually(async () => /waiting for first consumer to be created before binding/.test(await ok(['describe', 'pvc', 'late'])), 30_000, 'WaitForFirstConsumer event');
    expect((await getJson('pvc', 'late')).status.phase).toBe('Pending');
    const mount = { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'late' } }], containers: [sleeper('c', { volumeMounts: [{ name: 'd', mountPath: '/data' }] })] };
    await apply(podOn('consumer', { ...mount, nodeSelector: { 'kubernetes.io/hostname': 'sandbox-worker2' } }));
    await running('consumer');
    const pvc = await getJson('pvc', 'late');
    expect(pvc.status.phase).toBe('Bound');
    expect(pvc.metadata.annotations['volume.kubernetes.io/selected-node']).toBe('sandbox-worker2');
    expect((await getJson('pv', pvc.spec.volumeName)).spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values).toEqual(['sandbox-worker2']);
    await ok(['delete', 'pod', 'consumer', '--wait=true']);
    await ok(['delete', 'pvc', 'late', '--wait=true']);
    await ok(['delete', 'storageclass', 'local-wffc']);
  });

  it('cordon keeps new pods off a node until uncordon', async () => {
    await ok(['cordon', 'sandbox-worker2']);
    const node = await eventually(async () => {
      const n = await getJson('node', 'sandbox-worker2');
      return n.spec.taints?.some((t: any) => t.key === 'node.kubernetes.io/unschedulable' && t.effect === 'NoSchedule') && n;
    }, 30_000, 'unschedulable taint');
    expect(node.spec.unschedulable).toBe(true);
    expect(await ok(['get', 'node', 'sandbox-worker2', '--no-headers'])).toContain('Ready,SchedulingDisabled');
    const described = await ok(['describe', 'node', 'sandbox-worker2']);
    expect(described).toMatch(/Taints:\s+node\.kubernetes\.io\/unschedulable:NoSchedule/);
    expect(described).toMatch(/Unschedulable:\s+true/);
    expect(described).toMatch(/topology\.kubernetes\.io\/zone=zone-c/);
    await apply(podOn('wants-worker2', { nodeSelector: { 'kubernetes.io/hostname': 'sandbox-worker2' } }));
    expect(await schedulingFailure('wants-worker2')).toBe(
      "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    );
    for (const n of ['a', 'b', 'c', 'd']) await apply(podOn(`free-${n}`));
    for (const n of ['a', 'b', 'c', 'd']) expect(await nodeOf(`free-${n}`)).not.toBe('sandbox-worker2');
    await ok(['uncordon', 'sandbox-worker2']);
    expect(await nodeOf('wants-worker2')).toBe('sandbox-worker2');
    await ok(['delete', 'pod', 'wants-worker2', 'free-a', 'free-b', 'free-c', 'free-d', '--wait=true']);
  });

  it('keeps pods off a node no kubelet serves (not-ready taint)', async () => {
    await apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'stray', labels: { 'kubernetes.io/hostname': 'stray' } } });
    await eventually(async () => (await getJson('node', 'stray')).spec.taints?.some((t: any) => t.key === 'node.kubernetes.io/not-ready'), 30_000, 'not-ready taint');
    expect(await ok(['get', 'node', 'stray', '--no-headers'])).toMatch(/^stray\s+NotReady/);
    await apply(podOn('wants-stray', { nodeSelector: { 'kubernetes.io/hostname': 'stray' } }));
    expect(await schedulingFailure('wants-stray')).toBe(
      "0/4 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.",
    );
    await ok(['delete', 'pod', 'wants-stray']);
    await ok(['delete', 'node', 'stray']);
  });

  it('drain evicts pods (DaemonSet pods stay) and the Deployment replaces them elsewhere; a PDB refuses with 429', async () => {
    await apply({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { terminationGracePeriodSeconds: 1, containers: [sleeper('a')] } } },
    });
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { terminationGracePeriodSeconds: 1, containers: [sleeper('web', { volumeMounts: [{ name: 'cache', mountPath: '/cache' }] })], volumes: [{ name: 'cache', emptyDir: {} }] } } },
    });
    await ok(['rollout', 'status', 'daemonset/agent', '--timeout=60s']);
    await ok(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    const ds = await getJson('daemonset', 'agent');
    expect(ds.status).toMatchObject({ desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3 });
    const web = (await getJson('pods', '-l', 'app=web')).items;
    expect(new Set(web.map((p: any) => p.spec.nodeName)).size).toBe(3);

    const drain = await cluster().kubectl(['drain', 'sandbox-worker', '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=60s'], { timeoutMs: 90_000 });
    expect(drain.stderr + drain.stdout).toMatch(/evicting pod default\/web-/);
    expect(drain.code).toBe(0);
    expect(drain.stdout).toMatch(/pod\/web-\S+ evicted/);
    expect(drain.stdout).toContain('node/sandbox-worker drained');
    await ok(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    const after = (await getJson('pods', '-l', 'app=web', '--field-selector', 'status.phase=Running')).items;
    expect(after).toHaveLength(3);
    expect(after.every((p: any) => p.spec.nodeName !== 'sandbox-worker')).toBe(true);
    const agents = (await getJson('pods', '-l', 'app=agent')).items;
    expect(agents.map((p: any) => p.spec.nodeName).sort()).toEqual(['sandbox', 'sandbox-worker', 'sandbox-worker2']);

    // A budget that needs every pod: the eviction API answers 429 and drain gives up at its timeout.
    await apply({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec: { minAvailable: 3, selector: { matchLabels: { app: 'web' } } } });
    const pdb = await eventually(async () => {
      const b = await getJson('pdb', 'web');
      return b.status?.observedGeneration === 1 && b.status.currentHealthy === 3 && b;
    }, 30_000, 'PDB status');
    expect(pdb.status).toMatchObject({ desiredHealthy: 3, currentHealthy: 3, disruptionsAllowed: 0, expectedPods: 3 });
    expect((await ok(['get', 'pdb', 'web', '--no-headers'])).split(/\s+/).slice(0, 4)).toEqual(['web', '3', 'N/A', '0']);
    const victim = after.find((p: any) => p.spec.nodeName === 'sandbox-worker2').metadata.name;
    const eviction = JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: victim, namespace: 'default' } });
    const refused = await cluster().kubectl(['create', '--raw', `/api/v1/namespaces/default/pods/${victim}/eviction`, '-f', '-'], { input: eviction });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget.");
    const blocked = await cluster().kubectl(['drain', 'sandbox-worker2', '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=3s'], { timeoutMs: 60_000 });
    expect(blocked.code).not.toBe(0);
    expect(blocked.stderr).toContain(`error when evicting pods/"${victim}" -n "default" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.`);
    expect((await getJson('pod', victim)).metadata.deletionTimestamp).toBeUndefined();

    // With room in the budget the same eviction goes through and is recorded.
    await ok(['patch', 'pdb', 'web', '--type=merge', '-p', '{"spec":{"minAvailable":2}}']);
    await eventually(async () => (await getJson('pdb', 'web')).status.disruptionsAllowed === 1, 30_000, 'budget allows one');
    await ok(['create', '--raw', `/api/v1/namespaces/default/pods/${victim}/eviction`, '-f', '-'], eviction);
    await eventually(async () => (await cluster().kubectl(['get', 'pod', victim])).code !== 0, 30_000, 'evicted pod gone');
    await ok(['uncordon', 'sandbox-worker', 'sandbox-worker2']);
    await ok(['delete', 'deployment', 'web']);
    await ok(['delete', 'daemonset', 'agent']);
    await ok(['delete', 'pdb', 'web']);
    // Its own waits (rollouts, drains, budget status) add up past the default 60 s on a loaded machine.
  }, 300_000);
});
