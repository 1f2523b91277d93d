/**
 * Which database image references the sandbox runs, and the refusals for the rest (pure). Tags as the images publish
 * them: Docker Hub `postgres` (15, 15.4, 15-alpine, 15.4-bookworm), `mariadb` (10.11, 10.11.6-jammy, lts), `redis`
 * (7, 7.2.4-alpine), Bitnami (`15.4.0-debian-11-r0`), quay.io/coreos/etcd (`v3.4.27`), registry.k8s.io/etcd (`3.4.13-0`).
 */
import { describe, expect, it } from 'vitest';
import { bwrapArgs } from '../../sandbox/runtime/bwrap.ts';
import { pullError, resolveImage, tagOf } from '../../sandbox/runtime/images.ts';
import { tagMatches } from '../../sandbox/runtime/images/databases.ts';

describe('database image table', () => {
  it.each([
    ['postgres:15', 'postgres'],
    ['docker.io/library/postgres:15.4-bookworm', 'postgres'],
    ['postgres:15-alpine', 'postgres'],
    ['bitnami/postgresql:15.4.0-debian-11-r0', 'bitnami/postgresql'],
    ['mariadb:10.11', 'mariadb'],
    ['mariadb:10.11.6-jammy', 'mariadb'],
    ['mariadb:10', 'mariadb'],
    ['docker.io/bitnami/mariadb:10.11.5', 'bitnami/mariadb'],
    ['redis:7', 'redis'],
    ['redis:7.2.4-alpine', 'redis'],
    ['bitnami/redis:7.0.15', 'bitnami/redis'],
    ['quay.io/coreos/etcd:v3.4.27', 'etcd'],
    ['registry.k8s.io/etcd:3.4.13-0', 'etcd'],
    ['bitnami/etcd:3.4.23', 'bitnami/etcd'],
  ])('%s runs as %s', (image, name) => {
    expect(resolveImage(image)?.name).toBe(name);
  });

  it.each([
    ['postgres:16', `image "postgres:16": asks for PostgreSQL 16, but this sandbox runs Debian's PostgreSQL 15 only (use postgres:15)`],
    ['postgres', `image "postgres": asks for tag "latest", which names no PostgreSQL version, but this sandbox runs Debian's PostgreSQL 15 only (use postgres:15)`],
    ['mariadb:11.4', `image "mariadb:11.4": asks for MariaDB 11.4, but this sandbox runs Debian's MariaDB 10.11 only (use mariadb:10.11)`],
    ['mariadb:lts', `image "mariadb:lts": asks for tag "lts", which names no MariaDB version, but this sandbox runs Debian's MariaDB 10.11 only (use mariadb:10.11)`],
    ['quay.io/coreos/etcd:v3.5.9', `image "quay.io/coreos/etcd:v3.5.9": asks for etcd 3.5.9, but this sandbox runs Debian's etcd 3.4 only (use quay.io/coreos/etcd:v3.4.23)`],
    ['mysql:8.0', `image "mysql:8.0": MySQL is not available in this sandbox; it runs Debian's MariaDB 10.11 (use mariadb:10.11 or bitnami/mariadb:10.11)`],
  ])('%s is refused', (image, message) => {
    expect(resolveImage(image)).toBeUndefined();
    expect(pullError(image)).toBe(message);
  });

  it('an unknown image names the whole table, databases included', () => {
    expect(pullError('nginx:1.25')).toMatch(/^image "nginx:1.25" is not in the sandbox image table \(images that run here: busybox, .*postgres\/bitnami\/postgresql at PostgreSQL 15 \(e\.g\. postgres:15\)/);
  });

  it.each([
    ['15', '15', true],
    ['15.4', '15', true],
    ['10', '10.11', true],
    ['10.6', '10.11', false],
    ['v3.4.27', '3.4', true],
    ['3.5', '3.4', false],
    ['latest', '7', false],
  ])('tag %s matches %s: %s', (tag, version, want) => {
    expect(tagMatches(tag, version)).toBe(want);
  });

  it('tagOf reads the tag past a registry port and before a digest', () => {
    expect(tagOf('localhost:5000/postgres:15@sha256:abc')).toBe('15');
    expect(tagOf('localhost:5000/postgres')).toBe('latest');
  });

  it('database images get their own network, their /usr/local/bin and 0755 parents for their data paths', () => {
    const def = resolveImage('postgres:15')!;
    expect(def.privateNetwork).toBe(true);
    expect(def.readOnlyMounts[0]?.target).toBe('/usr/local/bin');
    expect(def.users).toEqual([{ name: 'postgres', uid: 999, gid: 999, home: '/var/lib/postgresql' }]);
    const a = bwrapArgs({ hostname: 'p', etcFiles: {}, tmpDir: '/t', mounts: [{ source: '/v', target: '/var/lib/postgresql/data', readOnly: false }], env: {}, workingDir: '/', argv: ['postgres'], privateNetwork: true }).join(' ');
    expect(a).toContain('--unshare-net');
    expect(a).toContain('--perms 0755 --dir /var/lib --perms 0755 --dir /var/lib/postgresql --bind /v /var/lib/postgresql/data');
  });
});
