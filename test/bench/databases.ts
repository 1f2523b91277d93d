/**
 * `npm run bench:databases [-- --mb 1024] [--only postgres,mariadb]`: per engine and blueprint path, a database of
 * `--mb` (or COFFER_BENCH_DB_MB; default 1024) MiB is backed up while the ledger writer commits, restored into a new
 * namespace, integrity-checked (validate) and queried (verify). Prints one JSON line per case: downtime (longest time a
 * write was blocked), backup time, restore time (start → ready, validated, queried), RTO (start → every workload
 * ready), commits acknowledged before the consistency point and how many came back, acknowledged commits lost.
 * `--only` (or COFFER_BENCH_DB_ONLY=postgres,redis) limits the engines, or the blueprints (`--only mysql-snapshot`). `--dir DIR` (COFFER_BENCH_DB_DIR) keeps the
 * sandbox's volumes and snapshots under DIR: on a copy-on-write filesystem (XFS with reflink=1, btrfs) the sandbox's
 * snapshot copy is a reflink, cut in milliseconds whatever the size, as on a copy-on-write CSI driver; on ext4 it is
 * a real copy, during which a quiesce that waits for the cut keeps the application blocked.
 */
import { parseArgs } from 'node:util';
import { DatabaseHarness } from '../reconciler/databases/harness.ts';
import { ENGINES } from '../reconciler/databases/engines.ts';
import { pullCofferImage } from '../../sandbox/runtime/images.ts';

const { values: flags } = parseArgs({ options: { mb: { type: 'string' }, only: { type: 'string' }, dir: { type: 'string' } } });
const mb = Number(flags.mb ?? process.env.COFFER_BENCH_DB_MB ?? 1024);
if (!Number.isInteger(mb) || mb < 1) throw new Error(`--mb ${flags.mb ?? process.env.COFFER_BENCH_DB_MB}: expected a whole number of MiB ≥ 1`);
const only = (flags.only ?? process.env.COFFER_BENCH_DB_ONLY)?.split(',');

/** Shell run in the app's container that grows its database by about `mb` MiB. */
const SEED: Record<string, (mb: number) => string> = {
  // pgbench scale 1 ≈ 15 MiB of tables and indexes.
  postgres: (n) => `pgbench -i -q -s ${Math.max(1, Math.round(n / 15))} -U shop orders >/dev/null 2>&1`,
  mariadb: (n) =>
    `export MYSQL_PWD="$MARIADB_ROOT_PASSWORD"; mariadb -uroot shop -e "create table filler (id int auto_increment primary key, b longblob) engine=InnoDB; set max_recursive_iterations=1000000; insert into filler(b) with recursive s(n) as (select 1 union all select n+1 from s where n < ${n}) select repeat(md5(rand()), 32768) from s"`,
  redis: (n) => `export REDISCLI_AUTH="$REDIS_PASSWORD"; awk 'BEGIN { v = sprintf("%1024s", ""); gsub(/ /, "x", v); for (i = 0; i < ${n * 1024}; i++) printf "SET filler:%d %s\\n", i, v }' | redis-cli --pipe >/dev/null`,
  // 128 KiB values from stdin (a command-line argument that long is refused by execve).
  etcd: (n) => `head -c 98304 /dev/urandom | base64 -w0 > /tmp/filler; for i in $(seq ${Math.max(1, n * 8)}); do etcdctl put filler/$i < /tmp/filler >/dev/null; done`,
};

// The mover image (dist/) is built before the first case, not while its backup runs.
await pullCofferImage();
const dir = flags.dir ?? process.env.COFFER_BENCH_DB_DIR;
const h = await DatabaseHarness.start(undefined, dir);
try {
  for (const e of ENGINES) {
    for (const bp of e.blueprints) {
      const policy = /([^/]+)\.yaml$/.exec(bp)![1]!;
      if (only && !only.includes(e.name) && !only.includes(policy)) continue;
      const t = Date.now();
      try {
        const { figures } = await h.backupUnderLoad(e, policy, SEED[e.name]!(mb));
        console.log(JSON.stringify({ sizeMiB: mb, ...(dir ? { dir } : {}), ...figures, lost: figures.lost.length, caseSeconds: (Date.now() - t) / 1000 }));
      } catch (err) {
        console.log(JSON.stringify({ sizeMiB: mb, engine: e.name, blueprint: policy, error: (err as Error).message.slice(0, 500) }));
      }
    }
  }
} finally {
  await h.stop();
}
