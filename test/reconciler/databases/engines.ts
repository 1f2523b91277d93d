/**
 * The four database engines as an application would deploy them (a Secret with the password, a StatefulSet with a
 * volumeClaimTemplate, the image's own environment variables taking the password by secretKeyRef), plus what the
 * end-to-end suite and `npm run bench:databases` need per engine: a writer that commits one sequence number at a
 * time and prints `ack N` only after the commit returned, the query that lists the sequence numbers a database holds,
 * and the schema set-up.
 */
import type { KubeObject } from '../../../reconciler/kube/types.ts';

export interface Engine {
  name: 'postgres' | 'mariadb' | 'redis' | 'etcd';
  image: string;
  /** Blueprints by path: the logical one first, then the quiesce/physical one. */
  blueprints: string[];
  /** Where the image keeps its data (the volume's mountPath). */
  dataPath: string;
  /** Secret key the app reads its password from (the Secret is `<engine>-credentials`). */
  secretKey: string;
  container: (password: { secret: string; key: string }) => Record<string, unknown>;
  /** Shell run in the container once the server is ready: creates the ledger table (or nothing). */
  setup: string;
  /** Shell: commits 1, 2, 3… and prints `ack N T` (T: the container's clock, epoch seconds) after each commit returned; stops when /tmp/coffer-writer.stop exists. */
  writer: string;
  /** Shell printing every committed sequence number, one per line. */
  list: string;
  /** A policy check (spec.verify.checks) the restored copy answers through the blueprint's verify action. */
  check: { name: string; query: string; database?: string; expect: { atLeast?: number; equals?: string; exists?: boolean } };
}

const envFromSecret = (name: string, ref: { secret: string; key: string }) => ({ name, valueFrom: { secretKeyRef: { name: ref.secret, key: ref.key } } });
const STOP = '/tmp/coffer-writer.stop';
/**
 * The ack's time is read in the container (bash's EPOCHREALTIME: no fork) the moment the client printed it, so the
 * host's event loop, `kubectl exec` streaming and the sandbox serving it add nothing to a measured gap. `ok`: the reply
 * the line before an ack must be (redis-cli prints a failed SET's error and goes on; psql and mariadb stop).
 */
const stamp = (ok = '') =>
  `{ p=; while IFS= read -r l; do case "$l" in "ack "*) ${ok ? `[ "$p" = ${ok} ] || { echo "commit \${l#ack } failed: $p" >&2; exit 1; }; ` : ''}echo "$l $EPOCHREALTIME";; esac; p=$l; done; }`;
/** One client process per commit (for a client with no session mode). */
const loop = (commit: string) => `i=0; while [ ! -e ${STOP} ]; do i=$((i+1)); ${commit} || { echo "commit $i failed" >&2; exit 1; }; echo "ack $i $EPOCHREALTIME"; done`;
/**
 * One client session for every commit, as an application's pooled connection: statements are fed in order and the
 * client prints `ack N` only after commit N returned (the generator runs at most a pipe buffer ahead). Paced at about
 * 200 commits/s (`read -t` on a FIFO nobody writes: a sleep without a fork), so the writer does not take a core of the
 * machine the backup shares, and still shows any write blocked longer than a few milliseconds.
 */
const PACE = 0.005;
const session = (statements: string, client: string, ok?: string) =>
  `set -o pipefail; mkfifo /tmp/coffer-writer.tick; exec 9<>/tmp/coffer-writer.tick; i=0; while [ ! -e ${STOP} ]; do i=$((i+1)); printf '${statements}\\n' $i $i; read -t ${PACE} -u 9 || :; done | ${client} | ${stamp(ok)}`;

export const ENGINES: Engine[] = [
  {
    name: 'postgres',
    image: 'postgres:15',
    blueprints: ['blueprints/postgres.yaml', 'blueprints/postgres-snapshot.yaml'],
    dataPath: '/var/lib/postgresql/data',
    secretKey: 'password',
    container: (pw) => ({
      env: [{ name: 'POSTGRES_USER', value: 'shop' }, envFromSecret('POSTGRES_PASSWORD', pw), { name: 'POSTGRES_DB', value: 'orders' }],
      readinessProbe: { exec: { command: ['pg_isready', '-h', '127.0.0.1', '-U', 'shop', '-d', 'orders'] }, periodSeconds: 1, failureThreshold: 3 },
    }),
    setup: `psql -U shop -d orders -v ON_ERROR_STOP=1 -qc 'create table if not exists ledger (seq bigint primary key, at timestamptz default now())'`,
    writer: session('insert into ledger(seq) values (%d);\\n\\\\echo ack %d', 'psql -U shop -d orders -qAtX -v ON_ERROR_STOP=1'),
    list: `psql -U shop -d orders -Atc 'select seq from ledger order by seq'`,
    check: { name: 'ledger', query: 'SELECT count(*) FROM ledger', database: 'orders', expect: { atLeast: 20 } },
  },
  {
    name: 'mariadb',
    image: 'mariadb:10.11',
    blueprints: ['blueprints/mysql.yaml', 'blueprints/mysql-snapshot.yaml'],
    dataPath: '/var/lib/mysql',
    secretKey: 'root-password',
    container: (pw) => ({
      env: [envFromSecret('MARIADB_ROOT_PASSWORD', pw), { name: 'MARIADB_DATABASE', value: 'shop' }],
      // mariadb-admin ping exits 0 whenever the server answers, even "Access denied": readiness does not hang on a password.
      readinessProbe: { exec: { command: ['mariadb-admin', '--protocol=tcp', 'ping'] }, periodSeconds: 1, failureThreshold: 3 },
    }),
    setup: `MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot shop -e 'create table if not exists ledger (seq bigint primary key) engine=InnoDB'`,
    writer: `export MYSQL_PWD="$MARIADB_ROOT_PASSWORD"; ${session('insert into ledger values (%d); select "ack %d";', 'mariadb -uroot shop -NB --unbuffered')}`,
    list: `MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N shop -e 'select seq from ledger order by seq'`,
    check: { name: 'ledger', query: 'SELECT count(*) FROM ledger', expect: { atLeast: 20 } },
  },
  {
    name: 'redis',
    image: 'redis:7',
    blueprints: ['blueprints/redis.yaml'],
    dataPath: '/data',
    secretKey: 'password',
    container: (pw) => ({
      env: [envFromSecret('REDIS_PASSWORD', pw)],
      args: ['--requirepass', '$(REDIS_PASSWORD)', '--appendonly', 'yes'],
      readinessProbe: { exec: { command: ['sh', '-c', 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'] }, periodSeconds: 1, failureThreshold: 3 },
    }),
    setup: 'true',
    writer: `export REDISCLI_AUTH="$REDIS_PASSWORD"; ${session('SET seq:%d 1\\nECHO "ack %d"', 'redis-cli', 'OK')}`,
    list: `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --scan --pattern 'seq:*' | sed 's/^seq://'`,
    check: { name: 'first-key', query: 'EXISTS seq:1', expect: { equals: '1' } },
  },
  {
    name: 'etcd',
    image: 'quay.io/coreos/etcd:v3.4.27',
    blueprints: ['blueprints/etcd.yaml'],
    dataPath: '/var/lib/etcd',
    secretKey: 'unused',
    container: () => ({
      command: ['etcd', '--data-dir=/var/lib/etcd', '--listen-client-urls=http://0.0.0.0:2379', '--advertise-client-urls=http://127.0.0.1:2379'],
      readinessProbe: { exec: { command: ['etcdctl', 'endpoint', 'health'] }, periodSeconds: 1, failureThreshold: 3 },
    }),
    setup: 'true',
    writer: loop(`etcdctl put seq/$i 1 >/dev/null`),
    list: `etcdctl get seq/ --prefix --keys-only | grep . | sed 's#^seq/##'`,
    check: { name: 'first-key', query: 'seq/1', expect: { equals: '1' } },
  },
];

export function engine(name: string): Engine {
  const e = ENGINES.find((x) => x.name === name);
  if (!e) throw new Error(`no engine ${name}`);
  return e;
}

/** The app: its credentials Secret and a one-replica StatefulSet named `db` with a data volume. */
export function appManifests(e: Engine, ns: string, password: string): KubeObject[] {
  const secret = `${e.name}-credentials`;
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'backup.coffer.dev/engine': e.name } } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret, namespace: ns }, stringData: { [e.secretKey]: password } } as KubeObject,
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: ns },
      spec: {
        serviceName: 'db',
        replicas: 1,
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: { containers: [{ name: e.name, image: e.image, volumeMounts: [{ name: 'data', mountPath: e.dataPath }], ...e.container({ secret, key: e.secretKey }) }] },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    } as KubeObject,
  ];
}
