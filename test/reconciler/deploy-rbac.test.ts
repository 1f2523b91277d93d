/**
 * deploy/base/rbac.yaml against the calls Coffer makes, evaluated with the
 * sandbox's RBAC authorizer (the same rules kube-apiserver applies): every
 * call in the table must be allowed for the `coffer` ServiceAccount, and a few
 * it never needs must stay refused. Each row names the file that makes the call.
 */
import { describe, expect, it } from 'vitest';
import { RbacAuthorizer } from '../../sandbox/api/rbac/authorizer.ts';
import { rulesFor } from '../../sandbox/api/rbac/resolver.ts';
import type { Attributes } from '../../sandbox/api/auth/types.ts';
import type { BindingObject } from '../../sandbox/api/rbac/types.ts';
import { COFFER_NS as NS, COFFER_SA as coffer, deployedRbac as deployed } from './deploy-rbac-fixture.ts';

const APP = 'shop';

const call = (verb: string, resource: string, namespace: string, opts: { group?: string; name?: string } = {}): Attributes => {
  const [r, sub] = resource.split('/');
  return { user: coffer, verb, resourceRequest: true, apiGroup: opts.group ?? '', resource: r, subresource: sub ?? '', namespace, name: opts.name ?? '' };
};

const CALLS: [string, Attributes][] = [
  // discovery and selection
  ['reconciler/kube/discovery.ts: GET /apis', { user: coffer, verb: 'get', resourceRequest: false, path: '/apis' }],
  ['reconciler/kube/discovery.ts: GET /apis/apps/v1', { user: coffer, verb: 'get', resourceRequest: false, path: '/apis/apps/v1' }],
  ['reconciler/reconcile.ts: list namespaces', call('list', 'namespaces', '')],
  ['reconciler/export/export.ts: get the namespace', call('get', 'namespaces', '', { name: APP })],
  ['reconciler/export/export.ts: list every namespaced type', call('list', 'configmaps', APP)],
  ['reconciler/export/export.ts: list secrets (into the encrypted repository)', call('list', 'secrets', APP)],
  ['reconciler/export/export.ts: list custom resources', call('list', 'carts', APP, { group: 'shop.example.com' })],
  ['reconciler/export/export.ts: get referenced StorageClasses', call('get', 'storageclasses', '', { group: 'storage.k8s.io', name: 'standard' })],
  // snapshots
  ['reconciler/volumes/snapshot.ts: get the PV', call('get', 'persistentvolumes', '', { name: 'pv-1' })],
  ['reconciler/volumes/snapshot.ts: list VolumeSnapshotClasses', call('list', 'volumesnapshotclasses', '', { group: 'snapshot.storage.k8s.io' })],
  ['reconciler/volumes/snapshot.ts: create a VolumeSnapshot', call('create', 'volumesnapshots', APP, { group: 'snapshot.storage.k8s.io' })],
  ['reconciler/volumes/snapshot.ts: poll the VolumeSnapshot', call('get', 'volumesnapshots', APP, { group: 'snapshot.storage.k8s.io', name: 'vs' })],
  ['reconciler/volumes/snapshot.ts: list a run\'s VolumeSnapshots', call('list', 'volumesnapshots', APP, { group: 'snapshot.storage.k8s.io' })],
  ['reconciler/reconcile.ts: delete a VolumeSnapshot on retention', call('delete', 'volumesnapshots', APP, { group: 'snapshot.storage.k8s.io', name: 'vs' })],
  // backup mover
  ['reconciler/volumes/handoff.ts: read the snapshot\'s content', call('get', 'volumesnapshotcontents', '', { group: 'snapshot.storage.k8s.io', name: 'snapcontent-1' })],
  ['reconciler/volumes/handoff.ts: pre-provision a Retain content', call('create', 'volumesnapshotcontents', '', { group: 'snapshot.storage.k8s.io' })],
  ['reconciler/volumes/handoff.ts: the VolumeSnapshot in coffer-system', call('create', 'volumesnapshots', NS, { group: 'snapshot.storage.k8s.io' })],
  ['reconciler/volumes/handoff.ts: release the content', call('delete', 'volumesnapshotcontents', '', { group: 'snapshot.storage.k8s.io', name: 'coffer-x' })],
  ['reconciler/volumes/mover.ts: create the credentials Secret in coffer-system', call('create', 'secrets', NS)],
  ['reconciler/volumes/mover.ts: create the mover Job in coffer-system', call('create', 'jobs', NS, { group: 'batch' })],
  ['reconciler/volumes/mover.ts: create the credentials Secret', call('create', 'secrets', APP)],
  ['reconciler/volumes/mover.ts: create the PVC from the snapshot', call('create', 'persistentvolumeclaims', APP)],
  ['reconciler/volumes/mover.ts: create the mover Job', call('create', 'jobs', APP, { group: 'batch' })],
  ['reconciler/volumes/mover.ts: patch the Secret\'s owner', call('patch', 'secrets', APP, { name: 'mover-creds' })],
  ['reconciler/volumes/mover.ts: patch the PVC\'s owner', call('patch', 'persistentvolumeclaims', APP, { name: 'mover-pvc' })],
  ['reconciler/volumes/mover.ts: poll the Job', call('get', 'jobs', APP, { group: 'batch', name: 'mover' })],
  ['reconciler/volumes/mover.ts: find the Job\'s pod', call('list', 'pods', APP)],
  ['reconciler/volumes/mover.ts: read the pod log', call('get', 'pods/log', APP, { name: 'mover-abcde' })],
  ['reconciler/volumes/mover.ts: delete the Job', call('delete', 'jobs', APP, { group: 'batch', name: 'mover' })],
  ['reconciler/volumes/mover.ts: delete the PVC', call('delete', 'persistentvolumeclaims', APP, { name: 'mover-pvc' })],
  ['reconciler/volumes/mover.ts: delete the credentials Secret', call('delete', 'secrets', APP, { name: 'mover-creds' })],
  ['reconciler/volumes/mover.ts: the app pods\' identity (restricted movers act as the workload)', call('list', 'pods', APP)],
  ['reconciler/volumes/handback.ts: fill a claim in coffer-system', call('create', 'persistentvolumeclaims', NS)],
  ['reconciler/volumes/handback.ts: keep its volume (Retain) and reserve it for the target claim', call('patch', 'persistentvolumes', '', { name: 'pvc-1' })],
  ['reconciler/volumes/handback.ts: delete the claim in coffer-system', call('delete', 'persistentvolumeclaims', NS, { name: 'coffer-restore-x' })],
  ['reconciler/volumes/sweep.ts: list leftovers', call('list', 'jobs', NS, { group: 'batch' })],
  ['reconciler/volumes/sweep.ts: delete a leftover Secret', call('delete', 'secrets', NS, { name: 'coffer-x' })],
  ['reconciler/volumes/sweep.ts: delete a leftover hand-off snapshot', call('delete', 'volumesnapshots', NS, { group: 'snapshot.storage.k8s.io', name: 'coffer-x' })],
  ['reconciler/volumes/sweep.ts: discard a volume an interrupted hand-back left', call('delete', 'persistentvolumes', '', { name: 'pvc-1' })],
  ['reconciler/volumes/sweep.ts: record the sweep as an Event (through kube/events.ts)', call('create', 'events', NS)],
  ['reconciler/kube/events.ts: the mover namespace as an Event\'s object outside a pod', call('get', 'namespaces', '', { name: NS })],
  // blueprints
  ['reconciler/blueprint/functions/KubeExec.ts: exec over WebSocket (GET)', call('get', 'pods/exec', APP, { name: 'db-0' })],
  ['reconciler/blueprint/functions/KubeExec.ts: exec over SPDY (POST)', call('create', 'pods/exec', APP, { name: 'db-0' })],
  ['reconciler/blueprint/functions/ScaleWorkload.ts: read the scale', call('get', 'statefulsets/scale', APP, { group: 'apps', name: 'db' })],
  ['reconciler/blueprint/functions/ScaleWorkload.ts: patch the scale', call('patch', 'deployments/scale', APP, { group: 'apps', name: 'web' })],
  ['reconciler/blueprint/functions/KubeTask.ts: create the task pod', call('create', 'pods', APP)],
  ['reconciler/blueprint/functions/KubeTask.ts: delete the task pod', call('delete', 'pods', APP, { name: 'task' })],
  ['reconciler/blueprint/functions/Wait.ts: get any object', call('get', 'deployments', APP, { group: 'apps', name: 'web' })],
  // own state in coffer-system
  ['reconciler/lease/index.ts: read the Lease', call('get', 'leases', NS, { group: 'coordination.k8s.io', name: 'coffer' })],
  ['reconciler/lease/index.ts: create the Lease', call('create', 'leases', NS, { group: 'coordination.k8s.io' })],
  ['reconciler/lease/index.ts: replace the Lease', call('update', 'leases', NS, { group: 'coordination.k8s.io', name: 'coffer' })],
  ['reconciler/volumes/run-lease.ts: a workstation backup holds its run Lease', call('create', 'leases', NS, { group: 'coordination.k8s.io' })],
  ['reconciler/volumes/run-lease.ts: the sweep reads a run Lease', call('get', 'leases', NS, { group: 'coordination.k8s.io', name: 'coffer-run-backup-x' })],
  ['reconciler/volumes/run-lease.ts: a run Lease deleted after its run, or by the sweep when expired', call('delete', 'leases', NS, { group: 'coordination.k8s.io', name: 'coffer-run-backup-x' })],
  ['reconciler/server/job-store.ts: write an API job', call('create', 'configmaps', NS)],
  ['reconciler/server/job-store.ts: update an API job', call('patch', 'configmaps', NS, { name: 'coffer-job-restore-x' })],
  ['reconciler/server/job-store.ts: prune a finished API job', call('delete', 'configmaps', NS, { name: 'coffer-job-restore-x' })],
  ['reconciler/server/job-store.ts: list API jobs', call('list', 'configmaps', NS)],
  ['reconciler/kube/events.ts: find its Deployment from its pod', call('get', 'replicasets', NS, { group: 'apps', name: 'coffer-abc' })],
  ['reconciler/kube/events.ts: an Event on its Deployment', call('create', 'events', NS)],
  ['reconciler/kube/events.ts: count a repeated Event', call('patch', 'events', NS, { name: 'coffer.1' })],
  ['reconciler/profile-repository.ts: read repository credentials', call('get', 'secrets', NS, { name: 'coffer-repository' })],
  ['reconciler/server/kube-auth.ts: TokenReview of an API caller', call('create', 'tokenreviews', '', { group: 'authentication.k8s.io' })],
  ['reconciler/server/kube-auth.ts: SubjectAccessReview of an API call', call('create', 'subjectaccessreviews', '', { group: 'authorization.k8s.io' })],
  // restore
  ['reconciler/restore/execute.ts: create a namespace', call('create', 'namespaces', '')],
  ['reconciler/restore/execute.ts: find an existing object', call('get', 'configmaps', APP, { name: 'c' })],
  ['reconciler/restore/execute.ts: create objects', call('create', 'deployments', APP, { group: 'apps' })],
  ['reconciler/restore/execute.ts: --existing update (merge patch)', call('patch', 'deployments', APP, { group: 'apps', name: 'web' })],
  ['reconciler/restore/execute.ts: --existing recreate (delete first)', call('delete', 'deployments', APP, { group: 'apps', name: 'web' })],
  ['reconciler/restore/volume.ts: create the restore credentials Secret', call('create', 'secrets', APP)],
  ['reconciler/restore/volume.ts: patch the Secret\'s owner', call('patch', 'secrets', APP, { name: 'restore-creds' })],
  ['reconciler/restore/volume.ts: delete the restore Job', call('delete', 'jobs', APP, { group: 'batch', name: 'restore' })],
  ['reconciler/restore/volume.ts: delete the restore credentials Secret', call('delete', 'secrets', APP, { name: 'restore-creds' })],
  ['reconciler/restore/drill.ts: delete the scratch namespace', call('delete', 'namespaces', '', { name: 'shop-drill-x' })],
];

const NEVER: [string, Attributes][] = [
  ['no impersonation', call('impersonate', 'users', '', { name: 'admin' })],
  ['no watching Secrets (Coffer polls; it never streams credentials)', call('watch', 'secrets', APP)],
  ['no watching mover Jobs or VolumeSnapshots (reconciler/kube/wait.ts polls)', call('watch', 'jobs', APP, { group: 'batch' })],
  ['no deletecollection', call('deletecollection', 'pods', APP)],
  ['no metrics scraping of the API server', { user: coffer, verb: 'get', resourceRequest: false, path: '/metrics' }],
];

describe('deploy/base/rbac.yaml grants what Coffer calls', () => {
  const authz = new RbacAuthorizer(deployed());
  for (const [what, a] of CALLS) it(`allows ${what}`, () => expect(authz.authorize(a).decision).toBe('allow'));
  for (const [what, a] of NEVER) it(`refuses: ${what}`, () => expect(authz.authorize(a).decision).toBe('no-opinion'));

  it('bind and escalate are granted only where a RoleBinding to coffer-restore-rbac says so, never cluster-wide', () => {
    const escalate = call('escalate', 'roles', APP, { group: 'rbac.authorization.k8s.io' });
    const bind = call('bind', 'clusterroles', APP, { group: 'rbac.authorization.k8s.io', name: 'edit' });
    expect([authz.authorize(escalate).decision, authz.authorize(bind).decision]).toEqual(['no-opinion', 'no-opinion']);
    const rb = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'coffer-restore-rbac', namespace: APP }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'coffer-restore-rbac' }, subjects: [{ kind: 'ServiceAccount', name: 'coffer', namespace: NS }] } as unknown as BindingObject;
    const withRb = new RbacAuthorizer(deployed([], [rb]));
    expect([withRb.authorize(escalate).decision, withRb.authorize(bind).decision]).toEqual(['allow', 'allow']);
    expect(withRb.authorize(call('bind', 'clusterroles', '', { group: 'rbac.authorization.k8s.io', name: 'cluster-admin' })).decision).toBe('no-opinion');
  });

  it('no rule grants verb * or impersonate', () => {
    const rules = rulesFor(deployed(), coffer, APP).rules;
    expect(rules.filter((r) => r.verbs.includes('*') || r.verbs.includes('impersonate'))).toEqual([]);
  });

  it('without the cluster-wide coffer-restore binding, backups alone need nothing from coffer-restore', () => {
    const lister = deployed(['coffer-restore']);
    const backupOnly = new RbacAuthorizer(lister);
    const restoreOnly = new Set(CALLS.filter(([w]) => w.startsWith('reconciler/restore/')).map(([w]) => w));
    for (const [what, a] of CALLS) if (!restoreOnly.has(what)) expect([what, backupOnly.authorize(a).decision]).toEqual([what, 'allow']);
    expect(rulesFor(lister, coffer, APP).rules.some((r) => r.verbs.includes('escalate'))).toBe(false);
  });
});
