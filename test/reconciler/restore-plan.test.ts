/** Pure parts of restore, table-tested: plan (order, cleaning, skips, owners, mapping, filters, transforms), selection, bundle layout, mover objects, health, result document. */
import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../reconciler/catalog/index.ts';
import type { RestorePoint } from '../../reconciler/catalog/types.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import {
  applyTransforms,
  declaredRestoreRequest,
  buildRestoreResult,
  compileTransformSets,
  parseBefore,
  parseBundle,
  parseNamespaceMapping,
  parseRestoreOutput,
  planRestore,
  planRestoreStream,
  resourceOfPath,
  restoreMoverObjects,
  restoreMoverName,
  restorePhase,
  selectRestorePoint,
  stageOf,
  unhealthyReason,
  validateRestoreResult,
  type BundleObject,
} from '../../reconciler/restore/index.ts';

function rp(over: Partial<RestorePoint['spec']> = {}, name = 'hourly-20261124-010500'): RestorePoint {
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'RestorePoint',
    metadata: { name },
    spec: {
      cluster: 'demo', namespace: 'shop', policy: 'hourly', planHash: 'sha256:x', sourceCommit: 'a'.repeat(40), startTime: '2026-11-24T01:05:00.000Z', phase: 'Succeeded',
      repository: { profile: 'local', location: 'file:///r', manifestSnapshot: 'm'.repeat(64) },
      volumes: [{ pvc: 'data-db-0', phase: 'Succeeded', snapshotId: 'v'.repeat(64), volumeSnapshot: 'snap-1' }],
      ...over,
    },
  };
}

const PLURAL: Record<string, [string, string, boolean]> = {
  Namespace: ['', 'namespaces', false], ConfigMap: ['', 'configmaps', true], Secret: ['', 'secrets', true], Service: ['', 'services', true], Pod: ['', 'pods', true],
  PersistentVolumeClaim: ['', 'persistentvolumeclaims', true], PersistentVolume: ['', 'persistentvolumes', false], ServiceAccount: ['', 'serviceaccounts', true],
  Deployment: ['apps', 'deployments', true], StatefulSet: ['apps', 'statefulsets', true], ReplicaSet: ['apps', 'replicasets', true], Job: ['batch', 'jobs', true], CronJob: ['batch', 'cronjobs', true],
  RoleBinding: ['rbac.authorization.k8s.io', 'rolebindings', true], Role: ['rbac.authorization.k8s.io', 'roles', true], Ingress: ['networking.k8s.io', 'ingresses', true],
  CustomResourceDefinition: ['apiextensions.k8s.io', 'customresourcedefinitions', false], Widget: ['acme.example', 'widgets', true], StorageClass: ['storage.k8s.io', 'storageclasses', false],
};

function obj(kind: string, name: string, extra: Record<string, unknown> = {}, md: Record<string, unknown> = {}): BundleObject {
  const [group, plural, namespaced] = PLURAL[kind]!;
  const apiVersion = group ? `${group}/v1` : 'v1';
  return { resource: { group, apiVersion, kind, plural, namespaced }, object: { apiVersion, kind, metadata: { name, ...(namespaced ? { namespace: 'shop' } : {}), ...md }, ...extra } as KubeObject };
}

const owned = (kind: string, name: string, controller = true) => ({ annotations: { 'coffer.dev/owner-references': JSON.stringify([{ apiVersion: 'apps/v1', kind, name, ...(controller ? { controller: true } : {}) }]) } });

const bundle: BundleObject[] = [
  obj('Widget', 'w1'),
  obj('Deployment', 'web', { spec: { replicas: 3 } }),
  obj('ReplicaSet', 'web-abc', {}, owned('Deployment', 'web')),
  obj('Pod', 'web-abc-1', {}, owned('ReplicaSet', 'web-abc')),
  obj('Pod', 'bare'),
  obj('StatefulSet', 'db'),
  obj('Pod', 'db-0', {}, owned('StatefulSet', 'db')),
  obj('Service', 'web', { spec: { clusterIP: '10.0.0.7', clusterIPs: ['10.0.0.7'], ports: [{ port: 80 }] } }),
  obj('Service', 'db', { spec: { clusterIP: 'None' } }),
  obj('PersistentVolumeClaim', 'data-db-0', { spec: { volumeName: 'pv-1', resources: { requests: { storage: '1Gi' } } }, status: { phase: 'Bound' } }, { annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } }),
  obj('PersistentVolume', 'pv-1'),
  obj('ConfigMap', 'cfg', { data: { a: '1' } }, { uid: 'u1', resourceVersion: '7', managedFields: [{}] }),
  obj('Secret', 'creds', { data: { p: 'eA==' } }),
  obj('ConfigMap', 'child', {}, owned('Deployment', 'web', false)),
  obj('ConfigMap', 'orphan', {}, owned('Deployment', 'gone', false)),
  obj('RoleBinding', 'rb', { subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: 'shop' }, { kind: 'ServiceAccount', name: 'x', namespace: 'other' }], roleRef: { kind: 'Role', name: 'r' } }),
  obj('Role', 'r'),
  obj('ServiceAccount', 'app'),
  obj('Namespace', 'shop', {}, { labels: { team: 'a' } }),
  obj('CustomResourceDefinition', 'widgets.acme.example'),
  obj('Ingress', 'web'),
  obj('StorageClass', 'fast'),
];

describe('planRestore', () => {
  const plan = planRestore(rp(), bundle);
  const names = plan.objects.map((p) => `${p.object.kind}/${p.object.metadata.name}`);

  it('orders CRDs, namespaces, RBAC, config, volumes, services, workloads, other, custom resources; owners before dependents', () => {
    expect(names).toEqual([
      'CustomResourceDefinition/widgets.acme.example',
      'Namespace/shop',
      'ServiceAccount/app',
      'Role/r',
      'RoleBinding/rb',
      'ConfigMap/cfg', 'ConfigMap/orphan',
      'Secret/creds',
      'StorageClass/fast',
      'PersistentVolumeClaim/data-db-0',
      'Service/db', 'Service/web',
      'Deployment/web', 'StatefulSet/db',
      'ConfigMap/child', // owned by Deployment/web: created once its owner has a uid
      'Pod/bare',
      'Ingress/web',
      'Widget/w1',
    ]);
    expect(plan.objects.map((p) => p.stage)).toEqual(['crds', 'namespaces', 'rbac', 'rbac', 'rbac', 'config', 'config', 'config', 'volumes', 'volumes', 'services', 'services', 'workloads', 'workloads', 'config', 'workloads', 'other', 'custom']);
    // Waves ascend; objects of one wave are created in parallel.
    const waves = plan.objects.map((p) => p.wave);
    expect(waves).toEqual([...waves].sort((a, b) => a - b));
    expect(new Set(waves).size).toBe(14);
  });

  // Owner chains and their waves. Sources: Kubernetes "Owners and Dependents" (ownerReferences name kind + name in the
  // same namespace), cert-manager (a Certificate owns its Secret), StatefulSet PVC retention (a StatefulSet may own its claims).
  it.each<[string, BundleObject[], string[], boolean]>([
    ['a custom resource owns a Secret: the Secret waits for it', [obj('Widget', 'w'), obj('Secret', 'tls', {}, { annotations: { 'coffer.dev/owner-references': JSON.stringify([{ apiVersion: 'acme.example/v1', kind: 'Widget', name: 'w' }]) } })], ['Widget/w', 'Secret/tls'], true],
    ['chains: Deployment → ConfigMap → Secret', [obj('Secret', 's', {}, { annotations: { 'coffer.dev/owner-references': JSON.stringify([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'c' }]) } }), obj('ConfigMap', 'c', {}, owned('Deployment', 'd', false)), obj('Deployment', 'd')], ['Deployment/d', 'ConfigMap/c', 'Secret/s'], true],
    ['a claim owned by its StatefulSet stays before every workload', [obj('StatefulSet', 'db'), obj('PersistentVolumeClaim', 'data-db-0', {}, owned('StatefulSet', 'db'))], ['PersistentVolumeClaim/data-db-0', 'StatefulSet/db'], false],
    ['an owner cycle (invalid) is cut, nothing is lost', [obj('ConfigMap', 'a', {}, { annotations: { 'coffer.dev/owner-references': JSON.stringify([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'b' }]) } }), obj('ConfigMap', 'b', {}, { annotations: { 'coffer.dev/owner-references': JSON.stringify([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'a' }]) } })], ['ConfigMap/b', 'ConfigMap/a'], false],
  ])('%s', (_name, objects, want, ownersFirst) => {
    const p = planRestore(rp({ volumes: [] }), [obj('Namespace', 'shop'), ...objects]);
    const order = p.objects.filter((o) => o.object.kind !== 'Namespace');
    expect(order.map((o) => `${o.object.kind}/${o.object.metadata.name}`)).toEqual(want);
    if (ownersFirst) for (const [i, o] of order.entries()) for (const r of o.owners) expect(order.findIndex((x) => x.object.kind === r.kind && x.object.metadata.name === r.name)).toBeLessThan(i);
  });

  it('a streamed plan is the same plan, with bulk kinds loaded on demand', async () => {
    const files = bundle.map((b) => `resources/${b.resource.plural}${b.resource.group ? `.${b.resource.group}` : ''}/${b.resource.namespaced ? 'namespaces/shop' : 'cluster'}/${b.object.metadata.name}.yaml`);
    const byFile = new Map(files.map((f, i) => [f, bundle[i]!]));
    let reads = 0;
    const source = { files: [...files].sort(), namespaceFile: 'resources/namespaces/cluster/shop.yaml', read: async (f: string) => (reads++, structuredClone(byFile.get(f)!)) };
    const streamed = await planRestoreStream(rp(), source, {});
    expect(streamed.skipped).toEqual(plan.skipped);
    expect(streamed.objects.map((p) => [p.stage, p.wave, p.object.kind, p.object.metadata.name, p.owners])).toEqual(plan.objects.map((p) => [p.stage, p.wave, p.object.kind, p.object.metadata.name, p.owners]));
    const cfg = streamed.objects.find((p) => p.object.kind === 'ConfigMap' && p.object.metadata.name === 'cfg')!;
    expect(cfg.object).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'shop' } });
    const before = reads;
    expect(await cfg.load!()).toEqual(plan.objects.find((p) => p.object === plan.objects.find((q) => q.object.kind === 'ConfigMap' && q.object.metadata.name === 'cfg')!.object)!.object);
    expect(reads).toBe(before + 1);
    // Workloads, claims and the Namespace stay whole (placement, hooks and health read them after creation).
    for (const p of streamed.objects.filter((x) => ['Deployment', 'StatefulSet', 'PersistentVolumeClaim', 'Namespace'].includes(x.object.kind))) expect(p.load).toBeUndefined();
  });

  it('skips what controllers recreate and cluster-bound volumes, with the reason', () => {
    expect(plan.skipped).toEqual([
      { apiVersion: 'v1', kind: 'PersistentVolume', name: 'pv-1', reason: 'cluster-bound: the restored claim is provisioned a new volume' },
      { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'db-0', reason: 'recreated by its controller StatefulSet/db' },
      { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web-abc-1', reason: 'recreated by its controller ReplicaSet/web-abc' },
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'shop', name: 'web-abc', reason: 'recreated by its controller Deployment/web' },
    ]);
  });

  it('cleans server-set and cluster-bound fields', () => {
    const get = (k: string, n: string) => plan.objects.find((p) => p.object.kind === k && p.object.metadata.name === n)!;
    expect(get('ConfigMap', 'cfg').object).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'shop' }, data: { a: '1' } });
    expect(get('Service', 'web').object.spec).toEqual({ ports: [{ port: 80 }] });
    expect(get('Service', 'db').object.spec).toEqual({ clusterIP: 'None' });
    const pvc = get('PersistentVolumeClaim', 'data-db-0');
    expect(pvc.object).toEqual({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-db-0', namespace: 'shop' }, spec: { resources: { requests: { storage: '1Gi' } } } });
    expect(pvc.volume).toEqual({ sourcePvc: 'data-db-0', snapshotId: 'v'.repeat(64), volumeSnapshot: 'snap-1' });
  });

  it('links owners only when they are restored too, and drops the annotation', () => {
    const get = (n: string) => plan.objects.find((p) => p.object.kind === 'ConfigMap' && p.object.metadata.name === n)!;
    expect(get('child').owners).toEqual([{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }]);
    expect(get('orphan').owners).toEqual([]);
    for (const p of plan.objects) expect(p.object.metadata.annotations?.['coffer.dev/owner-references']).toBeUndefined();
  });

  it('maps namespaces, including RoleBinding subjects of the mapped namespace only', () => {
    const m = planRestore(rp(), bundle, { namespaceMapping: { shop: 'shop-b' } });
    expect(m.targetNamespace).toBe('shop-b');
    expect(m.objects.find((p) => p.object.kind === 'Namespace')!.object.metadata).toEqual({ name: 'shop-b', labels: { team: 'a' } });
    for (const p of m.objects) if (p.resource.namespaced) expect(p.object.metadata.namespace).toBe('shop-b');
    expect((m.objects.find((p) => p.object.kind === 'RoleBinding')!.object.subjects as { namespace: string }[]).map((s) => s.namespace)).toEqual(['shop-b', 'other']);
  });

  it('filters with --include / --exclude CEL and keeps the namespace', () => {
    const inc = planRestore(rp(), bundle, { include: 'object.kind == "ConfigMap" && object.metadata.name.startsWith("c")' });
    expect(inc.objects.map((p) => `${p.object.kind}/${p.object.metadata.name}`)).toEqual(['Namespace/shop', 'ConfigMap/cfg', 'ConfigMap/child']);
    expect(inc.skipped.find((s) => s.kind === 'Secret')?.reason).toBe('not selected by --include');
    // A field that is missing does not match (no error); the PVC still carries its volume.
    const exc = planRestore(rp(), bundle, { exclude: 'object.spec.replicas == 3' });
    expect(exc.skipped.find((s) => s.kind === 'Deployment')?.reason).toBe('excluded by --exclude');
    expect(exc.objects.some((p) => p.object.kind === 'StatefulSet')).toBe(true);
    expect(() => planRestore(rp(), bundle, { include: 'object.kind ==' })).toThrow(expect.objectContaining({ code: 'E_RESTORE_CEL' }));
  });

  it('adds a Namespace when the bundle has none', () => {
    const p = planRestore(rp(), [obj('ConfigMap', 'cfg')], { namespaceMapping: { shop: 'x' } });
    expect(p.objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`)).toEqual(['Namespace/x', 'ConfigMap/cfg']);
  });

  it('creates empty claims with volumes: false, and does not attach failed volumes', () => {
    expect(planRestore(rp(), bundle, { volumes: false }).objects.find((p) => p.object.kind === 'PersistentVolumeClaim')!.volume).toBeUndefined();
    const failed = planRestore(rp({ volumes: [{ pvc: 'data-db-0', phase: 'Failed', snapshotId: 'x' }] }), bundle);
    expect(failed.objects.find((p) => p.object.kind === 'PersistentVolumeClaim')!.volume).toBeUndefined();
  });

  it('rejects a bundle with the same object twice', () => {
    expect(() => planRestore(rp(), [obj('ConfigMap', 'a'), obj('ConfigMap', 'a')])).toThrow(/twice/);
  });
});

describe('transforms', () => {
  const sets = compileTransformSets([
    {
      name: 'dr',
      transforms: [
        { name: 'sc', condition: { source: 'object.kind == "PersistentVolumeClaim"', env: 'transform' }, patch: [{ op: 'add', path: '/spec/storageClassName', value: 'fast' }] },
        { name: 'one', condition: { source: 'object.kind == "Deployment" && object.spec.replicas > 1', env: 'transform' }, patch: [{ op: 'replace', path: '/spec/replicas', value: 1 }] },
      ],
    },
  ]);
  it.each([
    ['a PVC gets a storage class', obj('PersistentVolumeClaim', 'p', { spec: {} }).object, ['dr/sc'], { storageClassName: 'fast' }],
    ['fewer replicas', obj('Deployment', 'd', { spec: { replicas: 3 } }).object, ['dr/one'], { replicas: 1 }],
    ['a condition that does not hold changes nothing', obj('Deployment', 'd', { spec: { replicas: 1 } }).object, [], { replicas: 1 }],
    ['a condition that errors (missing field) does not select', obj('Deployment', 'd', { spec: {} }).object, [], {}],
  ])('%s', (_t, input, applied, spec) => {
    const before = structuredClone(input);
    const r = applyTransforms(input, sets);
    expect(r.applied).toEqual(applied);
    expect(r.object.spec).toEqual(spec);
    expect(input).toEqual(before);
  });
  it('a patch that does not apply is an error naming the rule and object', () => {
    const bad = compileTransformSets([{ name: 's', transforms: [{ name: 't', condition: { source: 'true', env: 'transform' }, patch: [{ op: 'test', path: '/spec/x', value: 1 }] }] }]);
    expect(() => applyTransforms(obj('ConfigMap', 'c').object, bad)).toThrow(/transform s\/t does not apply to ConfigMap shop\/c/);
  });
  it('a condition that does not type-check is refused up front', () => {
    expect(() => compileTransformSets([{ name: 's', transforms: [{ name: 't', condition: { source: 'object.kind +', env: 'transform' }, patch: [] }] }])).toThrow(expect.objectContaining({ code: 'E_RESTORE_TRANSFORM' }));
  });
});

describe('flags and selection', () => {
  it.each([
    [['a=b'], { a: 'b' }],
    [['a=b,c=d', 'e=f'], { a: 'b', c: 'd', e: 'f' }],
  ])('parses --namespace-mapping %j', (input, want) => expect(parseNamespaceMapping(input)).toEqual(want));
  it.each([['a'], ['a=B'], ['a=b', 'a=c'], ['=b']])('rejects --namespace-mapping %j', (...input) => expect(() => parseNamespaceMapping(input)).toThrow(expect.objectContaining({ code: 'E_RESTORE_ARGS' })));

  it.each([
    ['2026-11-20T10:00Z', '2026-11-20T10:00:00.000Z'],
    ['2026-11-20T10:00:30+01:00', '2026-11-20T09:00:30.000Z'],
    ['2026-11-20', '2026-11-20T00:00:00.000Z'],
  ])('parses --before %s', (s, iso) => expect(parseBefore(s).toISOString()).toBe(iso));
  it('rejects a bad --before', () => expect(() => parseBefore('yesterday')).toThrow(expect.objectContaining({ code: 'E_RESTORE_ARGS' })));

  const entry = (name: string, start: string, extra: Partial<RestorePoint['spec']> = {}): CatalogEntry<RestorePoint> => ({ path: name, doc: rp({ startTime: start, ...extra }, name) });
  const points = [
    entry('h-1', '2026-11-20T09:00:00Z'),
    entry('h-2', '2026-11-20T10:00:00Z'),
    entry('h-3', '2026-11-20T11:00:00Z', { phase: 'PartiallyFailed' }),
    entry('o-1', '2026-11-20T12:00:00Z', { namespace: 'other' }),
  ];
  it('latest is the newest Succeeded point of the namespace', () => expect(selectRestorePoint(points, { ref: 'latest', namespace: 'shop' }).doc.metadata.name).toBe('h-2'));
  it('--before picks the newest at or before the time', () => expect(selectRestorePoint(points, { ref: 'latest', namespace: 'shop', before: new Date('2026-11-20T09:30:00Z') }).doc.metadata.name).toBe('h-1'));
  it('by name, even a partially failed one', () => expect(selectRestorePoint(points, { ref: 'h-3' }).doc.metadata.name).toBe('h-3'));
  it.each([
    [{ ref: 'nope' }, /not found/],
    [{ ref: 'latest' }, /several namespaces/],
    [{ ref: 'latest', namespace: 'shop', before: new Date('2026-11-19T00:00:00Z') }, /no successful restore point/],
  ])('refuses %j', (q, msg) => expect(() => selectRestorePoint(points, q)).toThrow(msg));
});

describe('bundle layout', () => {
  it.each([
    ['resources/deployments.apps/namespaces/shop/web.yaml', { plural: 'deployments', group: 'apps', namespaced: true }],
    ['resources/configmaps/namespaces/shop/cfg.yaml', { plural: 'configmaps', group: '', namespaced: true }],
    ['resources/widgets.acme.example/cluster/w.yaml', { plural: 'widgets', group: 'acme.example', namespaced: false }],
    ['hooks/sqlite/StatefulSet-db/backup/copy.stdout', undefined],
  ])('%s', (p, want) => expect(resourceOfPath(p)).toEqual(want));

  it('parses objects and the index, and refuses newer formats', () => {
    const files = new Map([
      ['coffer-export.json', '{"format":1,"namespace":"shop"}'],
      ['resources/configmaps/namespaces/shop/cfg.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: shop\n'],
      ['hooks/x/y.stdout', 'ignored'],
    ]);
    const b = parseBundle(files);
    expect(b.index).toEqual({ format: 1, namespace: 'shop' });
    expect(b.objects).toEqual([{ resource: { group: '', apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true }, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'shop' } } }]);
    expect(() => parseBundle(new Map([['coffer-export.json', '{"format":2}']]))).toThrow(/newer/);
    expect(() => parseBundle(new Map([['resources/configmaps/namespaces/shop/x.yaml', 'just: text\n']]))).toThrow(/not a Kubernetes object/);
  });
});

describe('restore mover', () => {
  it('mounts the new PVC under /restore/data and a filesystem repository as the backup mover does', () => {
    const { secret, job } = restoreMoverObjects({ namespace: 'shop', pvc: 'data-db-0', snapshotId: 'abc', repository: { url: 'file:///srv/repo', password: 'pw', volume: { hostPath: '/srv/repo' } }, runId: 'restore-20261124-010500-abcdef' });
    expect(secret.stringData).toEqual({ COFFER_REPOSITORY: '/repository', COFFER_PASSWORD: 'pw' });
    const pod = (job.spec as { template: { spec: { containers: { args: string[]; volumeMounts: unknown[] }[]; volumes: unknown[] } } }).template.spec;
    expect(pod.containers[0]!.args).toEqual(['repo', 'restore', 'abc', '/restore', '--output', 'json']);
    expect(pod.containers[0]!.volumeMounts).toEqual([{ name: 'target', mountPath: '/restore/data' }, { name: 'repository', mountPath: '/repository' }]);
    expect(pod.volumes).toEqual([{ name: 'target', persistentVolumeClaim: { claimName: 'data-db-0' } }, { name: 'repository', hostPath: { path: '/srv/repo', type: 'Directory' } }]);
    expect(job.metadata.name).toBe('coffer-restore-data-db-0-abcdef');
  });
  it.each([['data-db-0'], ['data-store-0-0'], ['a-very-long-persistent-volume-claim-name-for-the-main-database-0'], ['x'.repeat(253)]])('mover names leave room for pod suffixes: %s', (pvc) => {
    const n = restoreMoverName(pvc, 'restore-20261125-222740-dc566a');
    expect(n.length).toBeLessThanOrEqual(52);
    expect(n).toMatch(/^coffer-restore-[a-z0-9-]*-dc566a$/);
    expect(restoreMoverName(pvc + 'x', 'restore-20261125-222740-dc566a')).not.toBe(n);
  });
  it('S3 repositories go by URL with credentials in the Secret', () => {
    const { secret, job } = restoreMoverObjects({ namespace: 'n', pvc: 'p', snapshotId: 's', repository: { url: 's3://b/p', password: 'pw', env: { AWS_ACCESS_KEY_ID: 'k' } }, runId: 'r' });
    expect(secret.stringData).toEqual({ AWS_ACCESS_KEY_ID: 'k', COFFER_REPOSITORY: 's3://b/p', COFFER_PASSWORD: 'pw' });
    expect(JSON.stringify(job)).not.toContain('hostPath');
  });
  it.each([
    ['progress\n{"files":2,"dirs":1,"symlinks":0,"bytes":10,"errors":[],"seconds":0.1}\n', { files: 2, bytes: 10, errors: [] }],
    ['{"files":1,"bytes":3,"errors":["x: denied"]}', { files: 1, bytes: 3, errors: ['x: denied'] }],
    ['no json here', undefined],
  ])('parses the mover log %#', (log, want) => expect(parseRestoreOutput(log)).toEqual(want));
});

describe('health and result', () => {
  it.each([
    [{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', status: { phase: 'Pending' } }, 'not bound (phase Pending)'],
    [{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', status: { phase: 'Bound' } }, undefined],
    [{ apiVersion: 'apps/v1', kind: 'StatefulSet', spec: { replicas: 2 }, status: { readyReplicas: 1, observedGeneration: 1 } }, '1/2 replicas ready'],
    [{ apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 0 }, status: { observedGeneration: 1 } }, undefined],
    [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', generation: 2 }, spec: { replicas: 1 }, status: { readyReplicas: 1, observedGeneration: 1 } }, 'not observed by its controller yet'],
    [{ apiVersion: 'batch/v1', kind: 'Job', status: { conditions: [{ type: 'Failed', status: 'True', message: 'BackoffLimitExceeded' }] } }, 'failed: BackoffLimitExceeded'],
    [{ apiVersion: 'batch/v1', kind: 'Job', status: { conditions: [{ type: 'Complete', status: 'True' }] } }, undefined],
    [{ apiVersion: 'v1', kind: 'ConfigMap' }, undefined],
  ])('health %#', (o, want) => expect(unhealthyReason({ metadata: { name: 'x' }, ...o } as KubeObject)).toBe(want));

  const exec = {
    resources: [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: 's', name: 'a', action: 'created' as const }, { apiVersion: 'v1', kind: 'Secret', namespace: 's', name: 'b', action: 'failed' as const, reason: 'forbidden' }],
    volumes: [{ pvc: 'p', snapshotId: 'x', bytesRestored: 5, phase: 'Succeeded' as const, from: 'repository' as const }],
    hooks: [],
    unhealthy: ['StatefulSet s/db: 0/1 replicas ready'],
    errors: ['Secret s/b: forbidden'],
  };
  it('phase: Succeeded, PartiallyFailed, Failed', () => {
    expect(restorePhase({ resources: exec.resources.slice(0, 1), errors: [], unhealthy: [] })).toBe('Succeeded');
    expect(restorePhase(exec)).toBe('PartiallyFailed');
    expect(restorePhase({ resources: exec.resources.slice(1), errors: ['x'], unhealthy: [] })).toBe('Failed');
  });
  it('builds a schema-valid RestoreResult listing plan skips too', () => {
    const doc = buildRestoreResult({ name: 'restore-20261124-010500-abcdef', restorePoint: rp(), target: { cluster: 'b', namespace: 's' }, transforms: ['dr'], start: new Date('2026-11-24T01:05:00Z'), end: new Date('2026-11-24T01:05:03.5Z'), planned: exec, planSkipped: [{ apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'db-0', reason: 'recreated by its controller StatefulSet/db' }] });
    expect(() => validateRestoreResult(doc)).not.toThrow();
    expect(doc.spec.summary).toEqual({ created: 1, updated: 0, skipped: 1, failed: 1 });
    expect(doc.spec.durationSeconds).toBe(3.5);
    expect(doc.spec.phase).toBe('PartiallyFailed');
    expect(doc.spec.errors).toEqual(['Secret s/b: forbidden', 'not healthy: StatefulSet s/db: 0/1 replicas ready']);
    expect(doc.spec.volumes).toEqual([{ pvc: 'p', from: 'repository', snapshotId: 'x', bytesRestored: 5, phase: 'Succeeded' }]);
    expect(() => validateRestoreResult({ ...doc, spec: { ...doc.spec, phase: 'Weird' as never } })).toThrow(/does not match its schema/);
  });
  it('stages of common kinds', () => {
    expect([stageOf('v1', 'Secret'), stageOf('apps/v1', 'DaemonSet'), stageOf('policy/v1', 'PodDisruptionBudget'), stageOf('acme.example/v1', 'Widget')]).toEqual(['config', 'workloads', 'other', 'custom']);
  });
});

describe('declared Restore documents', () => {
  const base = { name: 'r', source: { cluster: 'a', namespace: 'shop', policy: 'p', restorePoint: '' }, target: { cluster: 'b', namespace: 'shop-x' }, excludeKinds: [], volumes: true, resources: true, existingResourcePolicy: 'skip' as const, transforms: ['t'], hooks: true };
  it('maps source, target, mapping, transforms and the once-only result name', () => {
    expect(declaredRestoreRequest(base)).toEqual({
      restorePoint: { ref: 'latest', namespace: 'shop', policy: 'p' },
      sourceCluster: 'a',
      targetCluster: 'b',
      namespaceMapping: { shop: 'shop-x' },
      transforms: ['t'],
      existing: 'skip',
      volumes: true,
      hooks: true,
      restoreName: 'r',
      resultName: 'r',
    });
  });
  it('turns include kinds, names and CEL into one selector that really selects', () => {
    const req = declaredRestoreRequest({ ...base, include: { kinds: ['ConfigMap'], names: ['Secret/s1', 'Ingress.networking.k8s.io/web'], resources: { source: 'object.metadata.name == "x"', env: 'object' } }, excludeKinds: ['Widget.acme.example'], resources: true });
    const p = planRestore(rp(), [...bundle, obj('Secret', 's1'), obj('Secret', 'x'), obj('Secret', 'other')], { include: req.include!, exclude: req.exclude! });
    expect(p.objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`)).toEqual(['Namespace/shop', 'ConfigMap/cfg', 'ConfigMap/child', 'ConfigMap/orphan', 'Secret/s1', 'Secret/x', 'Ingress/web']);
    expect(p.skipped.find((s) => s.kind === 'Widget')?.reason).toBe('excluded by --exclude');
  });
  it('resources: false restores the claims only; before becomes --before', () => {
    const req = declaredRestoreRequest({ ...base, resources: false, source: { ...base.source, before: '2026-11-20T08:00:00Z' } });
    expect(req.restorePoint.before?.toISOString()).toBe('2026-11-20T08:00:00.000Z');
    const p = planRestore(rp(), bundle, { include: req.include! });
    expect(p.objects.map((o) => o.object.kind)).toEqual(['Namespace', 'PersistentVolumeClaim']);
  });
});
