/**
 * The demo's sample application and policy repository, as data: a StatefulSet whose volume holds a SQLite database,
 * a Deployment, a Service, a ConfigMap and a Secret, protected by one policy with an application-consistent SQLite
 * blueprint. Kept apart from the demo's steps so tests can deploy the same app.
 */
import type { KubeObject } from '../reconciler/kube/types.ts';

export const DEMO_NAMESPACE = 'shop';
export const DEMO_DB_PATH = '/data/app.db';

const labels = { app: 'shop' };
/**
 * The sample containers stop at once on SIGTERM. A shell that `exec`s sleep leaves sleep as the container's PID 1,
 * which ignores SIGTERM (no handler; the kernel drops it for a namespace's init), so every scale-down and delete
 * waited out the 30 s grace period before the SIGKILL — a quiesced backup of the demo took 30 s longer than its work.
 * The shell stays PID 1 with a handler instead, waiting on sleep in the background (`wait` returns on the signal).
 */
const EXIT_ON_TERM = "trap 'exit 0' TERM";
const IDLE = 'sleep 2147483647 & wait';
/** A container command that idles until it is stopped and stops at once on SIGTERM (above). */
export const IDLE_COMMAND = ['sh', '-c', `${EXIT_ON_TERM}; ${IDLE}`];

export function sampleApp(ns = DEMO_NAMESPACE): KubeObject[] {
  const seed = [
    'CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL);',
    "INSERT INTO orders (item, qty) SELECT 'espresso beans', 3 WHERE NOT EXISTS (SELECT 1 FROM orders);",
    "INSERT INTO orders (item, qty) SELECT 'grinder', 1 WHERE (SELECT count(*) FROM orders) = 1;",
    "INSERT INTO orders (item, qty) SELECT 'milk jug', 2 WHERE (SELECT count(*) FROM orders) = 2;",
  ].join(' ');
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'backup.coffer.dev/enabled': 'true' } } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shop-config', namespace: ns, labels }, data: { 'currency': 'EUR', 'greeting': 'Welcome to the coffee shop' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-db-credentials', namespace: ns, labels }, type: 'Opaque', stringData: { username: 'shop', password: 's3cr3t-never-in-git' } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: ns, labels },
      spec: { selector: { app: 'shop', tier: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: ns, labels, annotations: { 'coffer.dev/sqlite-path': DEMO_DB_PATH } },
      spec: {
        serviceName: 'db',
        replicas: 1,
        selector: { matchLabels: { app: 'shop', tier: 'db' } },
        template: {
          metadata: { labels: { app: 'shop', tier: 'db' } },
          spec: {
            containers: [
              {
                name: 'sqlite',
                image: 'keinos/sqlite3:3.46',
                command: ['sh', '-c', `${EXIT_ON_TERM}; sqlite3 ${DEMO_DB_PATH} "${seed}" || exit 1; echo "database ready"; ${IDLE}`],
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [
          { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'shop', tier: 'web' } },
        template: {
          metadata: { labels: { app: 'shop', tier: 'web' } },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'busybox:1.36',
                command: ['sh', '-c', `${EXIT_ON_TERM}; echo "serving $GREETING"; ${IDLE}`],
                env: [{ name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'shop-config', key: 'greeting' } } }],
              },
            ],
          },
        },
      },
    },
  ];
}

/** The policy repository the demo commits: coffer.yaml, a filesystem profile, a policy and the SQLite blueprint. */
export function demoPolicyRepo(repositoryPath: string, sqliteBlueprint: string): Record<string, string> {
  return {
    'coffer.yaml': `apiVersion: coffer.dev/v1alpha1
kind: Config
metadata:
  name: coffer
spec:
  cluster: demo
  catalog:
    branch: coffer-catalog
`,
    'profiles/local.yaml': `# A filesystem repository on this machine: deduplicated, compressed, encrypted.
apiVersion: coffer.dev/v1alpha1
kind: Profile
metadata:
  name: local
spec:
  filesystem:
    path: ${repositoryPath}
  encryption:
    keySecret:
      name: coffer-repository-key
      namespace: coffer-system
      key: passphrase
`,
    'policies/shop.yaml': `# Every namespace labelled backup.coffer.dev/enabled=true, hourly, with a consistent SQLite copy.
apiVersion: coffer.dev/v1alpha1
kind: Policy
metadata:
  name: hourly
spec:
  frequency: "@hourly"
  retention:
    hourly: 24
    daily: 7
  selector:
    namespaces: |
      has(namespaceObject.metadata.labels) &&
      "backup.coffer.dev/enabled" in namespaceObject.metadata.labels &&
      namespaceObject.metadata.labels["backup.coffer.dev/enabled"] == "true"
  profile: local
  blueprints:
    - name: sqlite
      workloads: has(workload.metadata.annotations) && "coffer.dev/sqlite-path" in workload.metadata.annotations
`,
    'blueprints/sqlite.yaml': sqliteBlueprint,
  };
}
