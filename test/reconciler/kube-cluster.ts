/**
 * The cluster the reconciler's Kubernetes tests run against: a fresh sandbox (default), or a real cluster when
 * `COFFER_TEST_KUBECONFIG` names a kubeconfig (opt-in on purpose: a stray KUBECONFIG must never make the test suite
 * create namespaces in someone's production cluster). Every test works in its own random namespace and deletes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KubeClient, waitFor, type KubeObject } from '../../reconciler/kube/index.ts';
import { isPodReady } from '../../reconciler/blueprint/index.ts';

export interface TestCluster {
  client: KubeClient;
  /** True on the sandbox (pods are local processes; hostPath repositories work). */
  sandbox: boolean;
  dir: string;
  stop(): Promise<void>;
}

export async function startTestCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-kube-test-'));
  const real = process.env.COFFER_TEST_KUBECONFIG;
  if (real) {
    return { client: new KubeClient({ kubeconfigPath: real }), sandbox: false, dir, stop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const { startSandbox } = await import('../../sandbox/index.ts');
  const sb = await startSandbox({ dir: join(dir, 'sandbox') });
  return {
    client: new KubeClient({ kubeConfig: sb.kubeConfig }),
    sandbox: true,
    dir,
    stop: async () => {
      await sb.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

const PLURALS: Record<string, [string, string]> = {
  Namespace: ['v1', 'namespaces'],
  ConfigMap: ['v1', 'configmaps'],
  Secret: ['v1', 'secrets'],
  Service: ['v1', 'services'],
  ServiceAccount: ['v1', 'serviceaccounts'],
  PersistentVolumeClaim: ['v1', 'persistentvolumeclaims'],
  Pod: ['v1', 'pods'],
  Deployment: ['apps/v1', 'deployments'],
  StatefulSet: ['apps/v1', 'statefulsets'],
  RoleBinding: ['rbac.authorization.k8s.io/v1', 'rolebindings'],
  CustomResourceDefinition: ['apiextensions.k8s.io/v1', 'customresourcedefinitions'],
};

/** Creates objects in order (like `kubectl create -f`), tolerating AlreadyExists for cluster-scoped shared ones. */
export async function createAll(client: KubeClient, objects: KubeObject[]): Promise<void> {
  for (const o of objects) {
    const [api, plural] = PLURALS[o.kind] ?? [o.apiVersion, `${o.kind.toLowerCase()}s`];
    try {
      await client.create(api, plural, o.metadata.namespace, o);
    } catch (e) {
      if ((e as { status?: number }).status === 409 && !o.metadata.namespace) continue;
      throw e;
    }
  }
}

/** Waits until `n` pods matching the selector are Ready. */
export async function waitPodsReady(client: KubeClient, namespace: string, labelSelector: string, n: number, timeoutMs = 150_000): Promise<KubeObject[]> {
  let last = '';
  return waitFor(
    async () => {
      const pods = await client.list('v1', 'pods', namespace, { labelSelector });
      last = pods.map((p) => `${p.metadata.name}:${(p.status as { phase?: string })?.phase}`).join(',');
      const ready = pods.filter(isPodReady);
      return ready.length >= n ? ready : undefined;
    },
    { timeoutMs, what: `${n} ready pod(s) ${labelSelector} in ${namespace}`, describe: () => last },
  );
}

/**
 * A realistic application: a StatefulSet whose PVC holds a SQLite database with rows, a Deployment, a Service, a
 * ConfigMap, a Secret, a ServiceAccount with a RoleBinding to a ClusterRole, a CRD and one custom resource.
 */
export function sampleApp(ns: string, crdGroup: string): KubeObject[] {
  const labels = (app: string) => ({ app });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: 'shop' } } },
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${crdGroup}` },
      spec: {
        group: crdGroup,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }],
      },
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns, labels: labels('web') }, data: { mode: 'production' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-credentials', namespace: ns }, type: 'Opaque', stringData: { password: 'hunter2-never-in-git' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: ns } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'web-view', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'web', namespace: ns }] },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: labels('web'), ports: [{ port: 80, targetPort: 8080 }] } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns },
      spec: { replicas: 1, selector: { matchLabels: labels('web') }, template: { metadata: { labels: labels('web') }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'web', image: 'busybox', command: ['sh', '-c', 'exec sleep 100000'] }] } } },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: ns },
      spec: {
        serviceName: 'db',
        replicas: 1,
        selector: { matchLabels: labels('db') },
        template: {
          metadata: { labels: labels('db') },
          spec: {
            // `sleep` as PID 1 ignores SIGTERM (as on a real node): do not wait 30 s for it.
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'db',
                // Has sh + sqlite3 on a real cluster too (Alpine-based); the sandbox maps it to the host's sqlite3.
                image: 'keinos/sqlite3',
                command: ['sh', '-c', "test -f /data/app.db || sqlite3 /data/app.db \"create table orders(id integer primary key, item text); insert into orders(item) values ('apple'),('pear'),('plum');\"; exec sleep 100000"],
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
                // Ready once the database has its rows, so tests never race the container's first write.
                // -readonly: a probe that ran before the command's `test -f` (a loaded node) created an empty app.db,
                // the table was then never made and the pod never Ready (CI, export-sandbox, 2026-12-07)
                readinessProbe: { exec: { command: ['sqlite3', '-readonly', '/data/app.db', 'select count(*) from orders'] }, periodSeconds: 1 },
              },
            ],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    },
    { apiVersion: `${crdGroup}/v1`, kind: 'Widget', metadata: { name: 'blue', namespace: ns }, spec: { size: 3 } },
  ] as KubeObject[];
}
