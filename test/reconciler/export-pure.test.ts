import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compileCel } from '../../compiler/cel/index.ts';
import { buildBundle, BUNDLE_YAML, BundleSpool, bundlePath, cleanManifest, objectYaml, exportableResources, objectExclusion, OWNER_REFERENCES_ANNOTATION, selectObjects, summarize, type ExportedObject } from '../../reconciler/export/index.ts';
import type { ApiResource, KubeObject } from '../../reconciler/kube/types.ts';
import { DEFAULT_EXCLUDED_KINDS } from '../../compiler/plan/defaults.ts';
import { parseBundleFile } from '../../reconciler/restore/index.ts';

const meta = { uid: 'u-1', resourceVersion: '42', generation: 3, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'kubectl' }], selfLink: '/x' };

function obj(apiVersion: string, kind: string, name: string, extra: Record<string, unknown> = {}, md: Record<string, unknown> = {}): KubeObject {
  return { apiVersion, kind, metadata: { name, namespace: 'shop', ...meta, ...md }, ...extra } as KubeObject;
}

describe('cleanManifest', () => {
  const cases: { name: string; input: KubeObject; expected: KubeObject }[] = [
    {
      name: 'drops server-set metadata and status, keeps labels, annotations and last-applied',
      input: obj('v1', 'ConfigMap', 'cfg', { data: { a: '1' }, status: { x: 1 } }, { labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'n' } }),
      expected: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'shop', labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'n' } }, data: { a: '1' } },
    },
    {
      name: 'Service: allocated clusterIP dropped',
      input: obj('v1', 'Service', 'web', { spec: { clusterIP: '10.0.0.7', clusterIPs: ['10.0.0.7'], ports: [{ port: 80 }] } }),
      expected: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { ports: [{ port: 80 }] } },
    },
    {
      name: 'Service: headless clusterIP None kept',
      input: obj('v1', 'Service', 'db', { spec: { clusterIP: 'None', clusterIPs: ['None'] } }),
      expected: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'shop' }, spec: { clusterIP: 'None', clusterIPs: ['None'] } },
    },
    {
      name: 'owner references move to an annotation without uids',
      input: obj('v1', 'Secret', 'tls', { data: { k: 'dg==' } }, { ownerReferences: [{ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', name: 'tls', uid: 'abc', controller: true, blockOwnerDeletion: true }] }),
      expected: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'tls', namespace: 'shop', annotations: { [OWNER_REFERENCES_ANNOTATION]: '[{"apiVersion":"cert-manager.io/v1","kind":"Certificate","name":"tls","controller":true}]' } },
        data: { k: 'dg==' },
      },
    },
    {
      name: 'Secret data is kept (the bundle is encrypted), ServiceAccount token data is not',
      input: obj('v1', 'Secret', 'robot-token', { type: 'kubernetes.io/service-account-token', data: { token: 'c2VjcmV0' } }, { annotations: { 'kubernetes.io/service-account.name': 'robot' } }),
      expected: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'robot-token', namespace: 'shop', annotations: { 'kubernetes.io/service-account.name': 'robot' } }, type: 'kubernetes.io/service-account-token' },
    },
    {
      name: 'PVC: controller annotations dropped, volumeName kept',
      input: obj('v1', 'PersistentVolumeClaim', 'data', { spec: { volumeName: 'pv-1', storageClassName: 'fast' }, status: { phase: 'Bound' } }, { annotations: { 'pv.kubernetes.io/bind-completed': 'yes', 'volume.kubernetes.io/storage-provisioner': 'x' }, finalizers: ['kubernetes.io/pvc-protection'] }),
      expected: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'shop', finalizers: ['kubernetes.io/pvc-protection'] }, spec: { volumeName: 'pv-1', storageClassName: 'fast' } },
    },
    {
      name: 'PV: claimRef loses uid and resourceVersion',
      input: { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-1', ...meta }, spec: { claimRef: { namespace: 'shop', name: 'data', uid: 'x', resourceVersion: '9', kind: 'PersistentVolumeClaim' } } } as KubeObject,
      expected: { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-1' }, spec: { claimRef: { namespace: 'shop', name: 'data', kind: 'PersistentVolumeClaim' } } },
    },
    {
      name: 'Job: generated selector and labels dropped',
      input: obj('batch/v1', 'Job', 'migrate', { spec: { selector: { matchLabels: { 'controller-uid': 'u' } }, template: { metadata: { labels: { 'controller-uid': 'u', 'job-name': 'migrate', app: 'm' } }, spec: {} } } }, { labels: { 'controller-uid': 'u', 'job-name': 'migrate' } }),
      expected: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: 'shop' }, spec: { template: { metadata: { labels: { app: 'm' } }, spec: {} } } },
    },
    {
      name: 'Pod: nodeName and injected kube-api-access volume dropped',
      input: obj('v1', 'Pod', 'debug', {
        spec: {
          nodeName: 'n1',
          containers: [{ name: 'c', volumeMounts: [{ name: 'kube-api-access-abcde', mountPath: '/var/run/secrets' }, { name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'kube-api-access-abcde', projected: { sources: [] } }, { name: 'data', emptyDir: {} }],
        },
      }),
      expected: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', namespace: 'shop' }, spec: { containers: [{ name: 'c', volumeMounts: [{ name: 'data', mountPath: '/data' }] }], volumes: [{ name: 'data', emptyDir: {} }] } },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const before = structuredClone(c.input);
      expect(cleanManifest(c.input)).toEqual(c.expected);
      expect(c.input).toEqual(before); // pure: input untouched
    });
  }
});

describe('default exclusions', () => {
  const owned = (kind: string) => ({ ownerReferences: [{ apiVersion: 'apps/v1', kind, name: 'web-abc', uid: 'x', controller: true }] });
  const table: [string, KubeObject, string | undefined][] = [
    ['pod owned by a ReplicaSet', obj('v1', 'Pod', 'web-abc-1', {}, owned('ReplicaSet')), 'pod owned by ReplicaSet web-abc'],
    ['bare pod kept', obj('v1', 'Pod', 'debug', { status: { phase: 'Running' } }), undefined],
    ['finished bare pod', obj('v1', 'Pod', 'once', { status: { phase: 'Succeeded' } }), 'finished pod'],
    ['replicaset owned by a Deployment', obj('apps/v1', 'ReplicaSet', 'web-abc', {}, owned('Deployment')), 'replicaset owned by Deployment web-abc'],
    ['bare replicaset kept', obj('apps/v1', 'ReplicaSet', 'rs', {}), undefined],
    ['job owned by a CronJob', obj('batch/v1', 'Job', 'nightly-1', {}, { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', controller: true }] }), 'job owned by CronJob nightly'],
    ['kube-root-ca.crt', obj('v1', 'ConfigMap', 'kube-root-ca.crt'), 'published into every namespace by the root-ca controller'],
    ['generated SA token', obj('v1', 'Secret', 'default-token-x7k2p', { type: 'kubernetes.io/service-account-token' }, { annotations: { 'kubernetes.io/service-account.name': 'default' } }), 'token generated for ServiceAccount default'],
    ['user-made SA token kept', obj('v1', 'Secret', 'ci-token', { type: 'kubernetes.io/service-account-token' }, { annotations: { 'kubernetes.io/service-account.name': 'ci' } }), undefined],
    ['ordinary Secret kept', obj('v1', 'Secret', 'db-password', { data: {} }), undefined],
  ];
  for (const [name, o, reason] of table) it(name, () => expect(objectExclusion(o)).toBe(reason));

  it('keeps namespaced, listable, creatable types minus the default list and policy excludes', () => {
    const r = (group: string, plural: string, kind: string, namespaced = true, verbs = ['list', 'create', 'get']): ApiResource => ({ group, version: 'v1', apiVersion: group ? `${group}/v1` : 'v1', kind, plural, namespaced, verbs });
    const all = [
      r('', 'configmaps', 'ConfigMap'),
      r('', 'events', 'Event'),
      r('events.k8s.io', 'events', 'Event'),
      r('', 'endpoints', 'Endpoints'),
      r('discovery.k8s.io', 'endpointslices', 'EndpointSlice'),
      r('apps', 'controllerrevisions', 'ControllerRevision'),
      r('coordination.k8s.io', 'leases', 'Lease'),
      r('metrics.k8s.io', 'pods', 'PodMetrics', true, ['get', 'list']),
      r('', 'nodes', 'Node', false),
      r('', 'bindings', 'Binding', true, ['create']),
      r('apps', 'deployments', 'Deployment'),
      r('', 'secrets', 'Secret'),
      r('stable.example.com', 'crontabs', 'CronTab'),
      r('cert-manager.io', 'certificates', 'Certificate'),
    ];
    const ids = (xs: ApiResource[]) => xs.map((x) => (x.group ? `${x.plural}.${x.group}` : x.plural));
    expect(ids(exportableResources(all))).toEqual(['configmaps', 'deployments.apps', 'secrets', 'crontabs.stable.example.com', 'certificates.cert-manager.io']);
    expect(ids(exportableResources(all, { exclude: ['Secret', 'certificates.cert-manager.io'] }))).toEqual(['configmaps', 'deployments.apps', 'crontabs.stable.example.com']);
    // The plan's notation (Kind or Kind.group) works the same; with defaultExclusions off only the plan's list applies.
    expect(ids(exportableResources(all, { exclude: [...DEFAULT_EXCLUDED_KINDS, 'Certificate.cert-manager.io'], defaultExclusions: false }))).toEqual(['configmaps', 'deployments.apps', 'secrets', 'crontabs.stable.example.com']);
    expect(ids(exportableResources(all, { exclude: [], defaultExclusions: false }))).toContain('events');
    // A group-qualified name never matches another group.
    expect(ids(exportableResources(all, { exclude: ['Deployment.extensions'] }))).toContain('deployments.apps');
  });
});

describe('selection with the policy CEL selector', () => {
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { tier: 'prod' } } } as KubeObject;
  const objects = [
    obj('v1', 'ConfigMap', 'a', {}, { labels: { app: 'web' } }),
    obj('v1', 'ConfigMap', 'b', {}, { labels: { app: 'db' } }),
    obj('apps/v1', 'Deployment', 'web', {}, { labels: { app: 'web' } }),
    obj('v1', 'Secret', 'nolabels'),
  ];
  it('no selector selects everything', () => {
    expect(selectObjects(objects, undefined, ns).selected).toHaveLength(4);
  });
  it('selects by labels and kind, and may read the namespace', () => {
    const p = compileCel("has(object.metadata.labels) && object.metadata.labels.app == 'web' && namespaceObject.metadata.labels.tier == 'prod'", 'object');
    const r = selectObjects(objects, p, ns);
    expect(r.selected.map((o) => o.metadata.name)).toEqual(['a', 'web']);
    expect(r.rejected).toBe(2);
    expect(r.errors).toEqual([]);
  });
  it('an evaluation error excludes the object and is reported by name', () => {
    const p = compileCel("object.metadata.labels.app == 'web'", 'object');
    const r = selectObjects(objects, p, ns);
    expect(r.selected.map((o) => o.metadata.name)).toEqual(['a', 'web']);
    expect(r.errors.map((e) => e.object)).toEqual(['v1 Secret shop/nolabels']);
  });
});

describe('bundle and Git-safe summary', () => {
  const res = (group: string, plural: string, kind: string, namespaced = true) => ({ group, version: 'v1', apiVersion: group ? `${group}/v1` : 'v1', kind, plural, namespaced });
  const exported: ExportedObject[] = [
    { resource: res('', 'secrets', 'Secret'), object: cleanManifest(obj('v1', 'Secret', 'db', { data: { password: Buffer.from('hunter2').toString('base64') } })) },
    { resource: res('apps', 'deployments', 'Deployment'), object: cleanManifest(obj('apps/v1', 'Deployment', 'web', { spec: { replicas: 2 } })) },
    { resource: res('apps', 'deployments', 'Deployment'), object: cleanManifest(obj('apps/v1', 'Deployment', 'api', { spec: { replicas: 1 } })) },
    { resource: res('', 'persistentvolumes', 'PersistentVolume', false), object: cleanManifest({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-1' } } as KubeObject) },
  ];
  it('paths are Velero-like and never escape their folder', () => {
    expect(exported.map(bundlePath)).toEqual(['resources/secrets/namespaces/shop/db.yaml', 'resources/deployments.apps/namespaces/shop/web.yaml', 'resources/deployments.apps/namespaces/shop/api.yaml', 'resources/persistentvolumes/cluster/pv-1.yaml']);
    expect(bundlePath({ resource: res('x.io', 'things', 'Thing'), object: { apiVersion: 'x.io/v1', kind: 'Thing', metadata: { name: '../../etc', namespace: 'shop' } } })).toBe('resources/things.x.io/namespaces/shop/.._.._etc.yaml');
  });
  it('summary holds kinds, counts and sorted names only — never Secret data', () => {
    const s = summarize(exported);
    expect(s).toEqual({
      total: 4,
      kinds: [
        { apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments.apps', namespaced: true, count: 2, names: ['api', 'web'] },
        { apiVersion: 'v1', kind: 'PersistentVolume', resource: 'persistentvolumes', namespaced: false, count: 1, names: ['pv-1'] },
        { apiVersion: 'v1', kind: 'Secret', resource: 'secrets', namespaced: true, count: 1, names: ['db'] },
      ],
    });
    const text = JSON.stringify(s);
    expect(text).not.toContain(Buffer.from('hunter2').toString('base64'));
    expect(text).not.toContain('hunter2');
  });
  it('bundle holds every object (Secret data included), sorted, deterministic', () => {
    const a = buildBundle(exported, { namespace: 'shop' });
    const b = buildBundle([...exported].reverse(), { namespace: 'shop' });
    expect(a.map((e) => e.path)).toEqual(['coffer-export.json', 'resources/deployments.apps/namespaces/shop/api.yaml', 'resources/deployments.apps/namespaces/shop/web.yaml', 'resources/persistentvolumes/cluster/pv-1.yaml', 'resources/secrets/namespaces/shop/db.yaml']);
    expect(a.map((e) => e.data.toString())).toEqual(b.map((e) => e.data.toString()));
    const secret = parse(a.find((e) => e.path.endsWith('db.yaml'))!.data.toString()) as KubeObject;
    expect(Buffer.from((secret.data as { password: string }).password, 'base64').toString()).toBe('hunter2');
    expect(JSON.parse(a[0]!.data.toString())).toMatchObject({ format: 1, namespace: 'shop', summary: { total: 4 } });
  });
});

describe('bundle spool and YAML', () => {
  it('keeps files on disk, hands them back in path order, and refuses two objects on one path', async () => {
    const spool = await BundleSpool.create();
    try {
      const names = Array.from({ length: 200 }, (_, i) => `resources/configmaps/namespaces/shop/cm-${(i * 7919) % 200}.yaml`);
      await Promise.all(names.map((p) => spool.add(p, Buffer.from(`data of ${p}\n`))));
      await expect(spool.add(names[3]!, Buffer.from('again'))).rejects.toThrow(`two exported objects map to ${names[3]}`);
      const back: { path: string; data: string }[] = [];
      for await (const e of spool.entries()) back.push({ path: e.path, data: e.data.toString() });
      expect(back.map((e) => e.path)).toEqual([...names].sort());
      for (const e of back) expect(e.data).toBe(`data of ${e.path}\n`);
    } finally {
      await spool.close();
    }
  });

  // Plain scalars the two YAML libraries read differently (YAML 1.2 core: `0b…` is not an int, js-yaml reads it as one);
  // object files written with js-yaml must come back identical through either reader.
  it.each(['0b101', '0o17', '0x1F', '1_000', 'yes', 'no', '2026-11-24T01:05:00Z', '~', '', '012', '.inf', 'a: b', '- x', 'multi\nline\n'])('object files keep %j a string', (v) => {
    const o = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop', labels: { v } }, data: { v } } as KubeObject;
    expect(parse(objectYaml(o).toString())).toEqual(o);
    expect(parseBundleFile('resources/configmaps/namespaces/shop/c.yaml', objectYaml(o).toString(), { yaml: BUNDLE_YAML })!.object).toEqual(o);
  });

  it('reads bundles of earlier versions (written with the yaml package) with it', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  v: 0b101\n';
    expect(parseBundleFile('resources/configmaps/namespaces/shop/c.yaml', text, { format: 1 })!.object.data).toEqual({ v: '0b101' });
  });
});
