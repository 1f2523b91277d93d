/**
 * Database images the sandbox runs with Debian's servers: the official and Bitnami images of PostgreSQL, MariaDB,
 * Redis and etcd, each mapped to the one major version Debian ships. The image's documented entrypoint behaviour
 * (first-start initialisation of the mounted data directory, its environment variables, dropping root for the
 * server's own account) is a shell script in this folder, bound where the real image keeps it; a tag that asks for
 * another major, `latest`, or MySQL is refused with a message naming what does run, so a manifest never silently
 * runs a server it did not ask for.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageDefinition } from '../images.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PG_BIN = '/usr/lib/postgresql/15/bin';

interface Engine {
  product: string;
  /** The version Debian ships, as far as a tag must match it: `15`, `10.11`, `7`, `3.4`. */
  version: string;
  /** The tag to suggest in messages. */
  example: string;
  images: Record<string, ImageDefinition>;
}

const bin = (engine: string) => ({ source: path.join(HERE, engine), target: '/usr/local/bin' });

/** Official images keep their entrypoint in /usr/local/bin and drop root to a system account (uid 999). */
const ENGINES: Engine[] = [
  {
    product: 'PostgreSQL',
    version: '15',
    example: 'postgres:15',
    images: {
      postgres: {
        name: 'postgres',
        entrypoint: ['docker-entrypoint.sh'],
        cmd: ['postgres'],
        env: { PATH: `${PATH}:${PG_BIN}`, PG_MAJOR: '15', PGDATA: '/var/lib/postgresql/data', LANG: 'C.UTF-8' },
        readOnlyMounts: [bin('postgres')],
        users: [{ name: 'postgres', uid: 999, gid: 999, home: '/var/lib/postgresql' }],
        privateNetwork: true,
        workingDir: '/',
      },
      'bitnami/postgresql': {
        name: 'bitnami/postgresql',
        entrypoint: ['/opt/bitnami/scripts/postgresql/entrypoint.sh'],
        cmd: ['/opt/bitnami/scripts/postgresql/run.sh'],
        env: { PATH: `/opt/bitnami/postgresql/bin:${PATH}`, PGDATA: '/bitnami/postgresql/data', LANG: 'C.UTF-8', BITNAMI_APP_NAME: 'postgresql' },
        readOnlyMounts: [bin('postgres'), { source: path.join(HERE, 'bitnami', 'postgresql'), target: '/opt/bitnami/scripts/postgresql' }, { source: '/usr/lib/postgresql/15', target: '/opt/bitnami/postgresql' }],
        users: [{ name: 'postgres', uid: 1001, gid: 1001, home: '/bitnami/postgresql' }],
        privateNetwork: true,
        workingDir: '/',
      },
    },
  },
  {
    product: 'MariaDB',
    version: '10.11',
    example: 'mariadb:10.11',
    images: {
      mariadb: {
        name: 'mariadb',
        entrypoint: ['docker-entrypoint.sh'],
        cmd: ['mariadbd'],
        env: { PATH, LANG: 'C.UTF-8' },
        readOnlyMounts: [bin('mariadb')],
        users: [{ name: 'mysql', uid: 999, gid: 999, home: '/var/lib/mysql' }],
        privateNetwork: true,
        workingDir: '/',
      },
      'bitnami/mariadb': {
        name: 'bitnami/mariadb',
        entrypoint: ['/opt/bitnami/scripts/mariadb/entrypoint.sh'],
        cmd: ['/opt/bitnami/scripts/mariadb/run.sh'],
        env: { PATH: `/opt/bitnami/mariadb/bin:${PATH}`, LANG: 'C.UTF-8', BITNAMI_APP_NAME: 'mariadb' },
        readOnlyMounts: [bin('mariadb'), { source: path.join(HERE, 'bitnami', 'mariadb'), target: '/opt/bitnami/scripts/mariadb' }],
        users: [{ name: 'mysql', uid: 1001, gid: 1001, home: '/bitnami/mariadb' }],
        privateNetwork: true,
        workingDir: '/',
      },
    },
  },
  {
    product: 'Redis',
    version: '7',
    example: 'redis:7',
    images: {
      redis: {
        name: 'redis',
        entrypoint: ['docker-entrypoint.sh'],
        cmd: ['redis-server'],
        env: { PATH },
        readOnlyMounts: [bin('redis')],
        users: [{ name: 'redis', uid: 999, gid: 999, home: '/data' }],
        privateNetwork: true,
        workingDir: '/data',
      },
      'bitnami/redis': {
        name: 'bitnami/redis',
        entrypoint: ['/opt/bitnami/scripts/redis/entrypoint.sh'],
        cmd: ['/opt/bitnami/scripts/redis/run.sh'],
        env: { PATH: `/opt/bitnami/redis/bin:${PATH}`, BITNAMI_APP_NAME: 'redis' },
        readOnlyMounts: [bin('redis'), { source: path.join(HERE, 'bitnami', 'redis'), target: '/opt/bitnami/scripts/redis' }],
        users: [{ name: 'redis', uid: 1001, gid: 1001, home: '/bitnami/redis' }],
        privateNetwork: true,
        workingDir: '/',
      },
    },
  },
  {
    product: 'etcd',
    version: '3.4',
    example: 'quay.io/coreos/etcd:v3.4.23',
    images: {
      // quay.io/coreos/etcd, gcr.io/etcd-development/etcd and registry.k8s.io/etcd: no entrypoint, etcd on PATH.
      ...Object.fromEntries(
        ['coreos/etcd', 'etcd-development/etcd', 'etcd'].map((repo) => [
          repo,
          { name: 'etcd', entrypoint: [], cmd: ['/usr/local/bin/etcd'], env: { PATH, ETCDCTL_API: '3' }, readOnlyMounts: [bin('etcd')], privateNetwork: true, workingDir: '/' },
        ]),
      ),
      'bitnami/etcd': {
        name: 'bitnami/etcd',
        entrypoint: ['/opt/bitnami/scripts/etcd/entrypoint.sh'],
        cmd: ['/opt/bitnami/scripts/etcd/run.sh'],
        env: { PATH: `/opt/bitnami/etcd/bin:${PATH}`, ETCDCTL_API: '3', BITNAMI_APP_NAME: 'etcd' },
        readOnlyMounts: [bin('etcd'), { source: path.join(HERE, 'bitnami', 'etcd'), target: '/opt/bitnami/scripts/etcd' }],
        users: [{ name: 'etcd', uid: 1001, gid: 1001, home: '/bitnami/etcd' }],
        privateNetwork: true,
        workingDir: '/',
      },
    },
  },
];

/** MySQL images: MariaDB is not MySQL 8 (authentication, dump format), so they are refused rather than faked. */
const MYSQL_REPOS = new Set(['mysql', 'bitnami/mysql', 'mysql/mysql-server']);

/** `postgres:15 (PostgreSQL 15)…` for the ErrImagePull message. */
export function databaseImageSummary(): string {
  return ENGINES.map((e) => `${Object.keys(e.images).join('/')} at ${e.product} ${e.version} (e.g. ${e.example})`).join(', ');
}

/** Numeric components of a tag: `v3.4.23` → [3, 4, 23], `15.4-bookworm` → [15, 4], `latest` → []. */
export function tagVersion(tag: string): number[] {
  const m = /^v?(\d+(?:\.\d+)*)/.exec(tag);
  return m ? m[1]!.split('.').map(Number) : [];
}

/** Whether a tag names the shipped version: every component it gives up to the version's length must match. */
export function tagMatches(tag: string, version: string): boolean {
  const want = version.split('.').map(Number);
  const got = tagVersion(tag);
  if (got.length === 0) return false;
  return want.every((w, i) => i >= got.length || got[i] === w);
}

export type DatabaseResolution = { definition: ImageDefinition } | { refused: string };

/** The definition for a database repository and tag, a refusal naming what runs, or undefined (not a database). */
export function databaseImage(repo: string, tag: string): DatabaseResolution | undefined {
  if (MYSQL_REPOS.has(repo)) {
    return { refused: `MySQL is not available in this sandbox; it runs Debian's MariaDB 10.11 (use mariadb:10.11 or bitnami/mariadb:10.11)` };
  }
  for (const e of ENGINES) {
    const def = e.images[repo];
    if (!def) continue;
    if (!tagMatches(tag, e.version)) {
      const asked = tagVersion(tag).length ? `${e.product} ${tagVersion(tag).join('.')}` : `tag "${tag}", which names no ${e.product} version`;
      return { refused: `asks for ${asked}, but this sandbox runs Debian's ${e.product} ${e.version} only (use ${e.example})` };
    }
    return { definition: def };
  }
  return undefined;
}
