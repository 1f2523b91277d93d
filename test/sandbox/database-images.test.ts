/**
 * The database images of the sandbox's image table run Debian's real servers with the entrypoint behaviour their
 * images document (first-start initialisation into the mounted data directory, credentials from the environment,
 * the usual readiness probes and client tools), each in a network namespace of its own so two pods can listen on
 * the same port; other majors and MySQL fail loudly.
 */
import { describe, expect, it } from 'vitest';
import { eventually, useTestCluster } from './runtime-harness.ts';

const { ok, apply, getJson } = useTestCluster();

/** A StatefulSet-free pod with a PVC at the image's data path and an exec readiness probe. */
function dbPod(ns: string, name: string, image: string, dataPath: string, env: Record<string, string>, probe: string[], extra: Record<string, unknown> = {}) {
  return [
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: `${name}-data`, namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: ns, labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'db',
              image,
              env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
              readinessProbe: { exec: { command: probe }, periodSeconds: 1, failureThreshold: 600 },
              volumeMounts: [{ name: 'data', mountPath: dataPath }],
              ...extra,
            },
          ],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: `${name}-data` } }],
        },
      },
  ];
}

const ready = (ns: string, name: string) => ok(['wait', '-n', ns, '--for=condition=Ready', `pod/${name}`, '--timeout=120s']);
const exec = (ns: string, name: string, script: string) => ok(['exec', '-n', ns, name, '--', 'sh', '-c', script]);

describe('database images', () => {
  it('postgres:15 initialises PGDATA with POSTGRES_USER/PASSWORD/DB, answers pg_isready, and two pods share port 5432', async () => {
    await ok(['create', 'namespace', 'pg1']);
    await ok(['create', 'namespace', 'pg2']);
    const env = { POSTGRES_USER: 'shop', POSTGRES_PASSWORD: 's3cret', POSTGRES_DB: 'orders' };
    // Readiness over TCP, as with the real image: its first start answers on the socket from a temporary server
    // (init scripts) that then stops, so a socket probe could pass before the real server takes TCP connections.
    for (const ns of ['pg1', 'pg2']) for (const o of dbPod(ns, 'pg', 'postgres:15.4', '/var/lib/postgresql/data', env, ['pg_isready', '-h', '127.0.0.1', '-U', 'shop', '-d', 'orders'])) await apply(o);
    await ready('pg1', 'pg');
    await ready('pg2', 'pg');
    await exec('pg1', 'pg', `PGPASSWORD=s3cret psql -h 127.0.0.1 -U shop -d orders -v ON_ERROR_STOP=1 -c "create table t(v int)" -c "insert into t values (1)"`);
    expect(await exec('pg2', 'pg', `PGPASSWORD=s3cret psql -h 127.0.0.1 -U shop -d orders -Atc "select count(*) from pg_tables where tablename='t'"`)).toBe('0\n');
    expect(await exec('pg1', 'pg', `psql -U shop -d orders -Atc "select v from t"; ls -ln $PGDATA/PG_VERSION | awk '{print $3}'`)).toBe('1\n999\n');
    // As in the image: initdb's trust for local connections, scram-sha-256 for every other host.
    expect(await exec('pg1', 'pg', 'grep -v "^#" $PGDATA/pg_hba.conf | grep . | tail -1')).toBe('host all all all scram-sha-256\n');
  });

  it('redis:7 with --requirepass answers a tcpSocket probe inside its own network, and refuses a wrong password', async () => {
    await ok(['create', 'namespace', 'rd']);
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'redis', namespace: 'rd' },
      spec: { containers: [{ name: 'redis', image: 'redis:7.0', args: ['--requirepass', 'rpw'], readinessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 1 } }] },
    });
    await ready('rd', 'redis');
    expect(await exec('rd', 'redis', 'REDISCLI_AUTH=rpw redis-cli SET k v; pwd; id -un')).toBe('OK\n/data\nroot\n');
    expect(await exec('rd', 'redis', 'ps -o user= -p 1 2>/dev/null || stat -c %U /proc/1')).toMatch(/^(redis|999)\n$/);
    expect(await exec('rd', 'redis', 'REDISCLI_AUTH=wrong redis-cli GET k 2>&1')).toContain('WRONGPASS');
  });

  it('an image asking for another major, latest or MySQL stays Pending with ErrImagePull naming what runs here', async () => {
    await ok(['create', 'namespace', 'refused']);
    for (const [name, image] of [['pg16', 'postgres:16'], ['latest', 'redis'], ['mysql', 'mysql:8.0']] as const) {
      await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'refused' }, spec: { containers: [{ name: 'c', image }] } });
    }
    const reason = async (name: string) =>
      eventually(async () => {
        const s = (await getJson('pod', '-n', 'refused', name)).status?.containerStatuses?.[0]?.state?.waiting;
        return s?.message ? s : undefined;
      });
    expect((await reason('pg16')).message).toBe(`Failed to pull image "postgres:16": image "postgres:16": asks for PostgreSQL 16, but this sandbox runs Debian's PostgreSQL 15 only (use postgres:15)`);
    expect((await reason('latest')).message).toContain(`image "redis": asks for tag "latest", which names no Redis version, but this sandbox runs Debian's Redis 7 only (use redis:7)`);
    expect((await reason('mysql')).message).toContain('MySQL is not available in this sandbox; it runs Debian\'s MariaDB 10.11 (use mariadb:10.11');
  });
});
