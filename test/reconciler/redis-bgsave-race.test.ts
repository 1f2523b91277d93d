/**
 * The redis blueprint's backup step against the saves around it (Debian's redis-server in the sandbox). An automatic
 * save (`save 60 10000`) or an AOF rewrite may be running when the step starts; that child's dump lacks every write
 * acknowledged after its fork, so the step must neither take it for its own save nor fail because of it. The race is
 * made deterministic: a hand-started BGSAVE child is stopped (SIGSTOP) right after its fork, a write is acknowledged,
 * the step starts and is seen waiting (it polls INFO), then the child is let go and completes, moving LASTSAVE. The
 * dump the step leaves is loaded into a fresh redis-server: the write must be there. (The blueprint before 3a1db36
 * failed here with "ERR Background save already in progress".) And the step's own save failing ends the step at once.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { load } from 'js-yaml';
import { execInPod, runAction, type ActionSpec } from '../../reconciler/blueprint/index.ts';
import { waitFor } from '../../reconciler/kube/index.ts';
import { createAll, randomName, startTestCluster, waitPodsReady, type TestCluster } from './kube-cluster.ts';
import { appManifests, engine } from './databases/engines.ts';

vi.setConfig({ testTimeout: 240_000 });

let cluster: TestCluster;
let ns: string;

beforeAll(async () => {
  cluster = await startTestCluster();
  ns = randomName('redis-race');
  await createAll(cluster.client, appManifests(engine('redis'), ns, 'race-pw'));
  await waitPodsReady(cluster.client, ns, 'app=db', 1);
  // 40 keys: with rdb-key-save-delay each test sets how long a save takes.
  expect(await sh(`for i in $(seq 40); do echo "SET fill:$i $i"; done | redis-cli | sort | uniq -c | tr -s ' '`)).toBe(' 40 OK\n');
}, 240_000);

afterAll(async () => {
  await cluster?.client.delete('v1', 'namespaces', undefined, ns).catch(() => undefined);
  await cluster?.stop();
});

/** A bash script in the redis container, authenticated as the app; fails the test on a non-zero exit. */
async function sh(script: string): Promise<string> {
  const r = await execInPod(cluster.client, ns, 'db-0', 'redis', ['bash', '-c', `set -eo pipefail; export REDISCLI_AUTH="$REDIS_PASSWORD"; ${script}`]);
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr.toString()}${r.stdout.toString()}`);
  return r.stdout.toString();
}

const field = (info: string, name: string) => new RegExp(`^${name}:(\\S*)`, 'm').exec(info)?.[1];
/** No child runs: neither an RDB save nor an AOF rewrite. (waitFor waits while its probe answers undefined.) */
const idle = (info: string) => field(info, 'rdb_bgsave_in_progress') === '0' && field(info, 'aof_rewrite_in_progress') === '0';

/** The blueprint's backup action, as the backup run starts it, against the StatefulSet `db`. */
function backupStep() {
  const doc = load(readFileSync('blueprints/redis.yaml', 'utf8')) as { spec: { actions: { backup: { phases: ActionSpec['phases'] } } } };
  return runAction({
    blueprint: 'redis',
    action: 'backup',
    spec: { phases: doc.spec.actions.backup.phases },
    context: { namespace: ns, workload: { kind: 'StatefulSet', name: 'db', namespace: ns } },
    ctx: { client: cluster.client, log: () => undefined },
  });
}

describe('redis blueprint backup step', () => {
  it('a save that forked before the consistency point does not stand in for the step\'s own: the acknowledged write is in the dump', async () => {
    // 40 keys at 100 ms each: the hand-started child is still at work when it is stopped (checked below) and ends ≤ 4 s
    // after it is let go; the step's own save (delay set back to 0 once the child has its copy) is quick.
    expect(await sh('redis-cli CONFIG SET rdb-key-save-delay 100000')).toBe('OK\n');
    // The AOF base written on start is a child too: begin once none runs.
    await waitFor(async () => idle(await sh('redis-cli INFO persistence')) || undefined, { timeoutMs: 60_000, what: 'no child running' });

    // The "automatic" save: fork, then stop the child at once (its pid is the only child of the server, PID 1 here).
    const started = await sh(`redis-cli BGSAVE; kill -STOP $(pgrep -P "$(redis-cli INFO server | tr -d '\\r' | sed -n 's/^process_id://p')")`);
    expect(started).toBe('Background saving started\n');
    const held = await sh('redis-cli INFO persistence');
    expect(field(held, 'rdb_bgsave_in_progress')).toBe('1');
    expect(Number(field(held, 'current_save_keys_processed'))).toBeLessThan(Number(field(held, 'current_save_keys_total')));
    const lastSaveBefore = (await sh('redis-cli LASTSAVE')).trim();
    expect(await sh('redis-cli CONFIG SET rdb-key-save-delay 0')).toBe('OK\n');

    try {
      // Acknowledged after that fork: missing from the stopped child's dump.
      const ack = await sh('redis-cli SET race after-fork; date +%s.%N');
      expect(ack.split('\n')[0]).toBe('OK');
      const ackedAt = Number(ack.split('\n')[1]);

      const calls = async () => Number(/^cmdstat_info:calls=(\d+)/m.exec(await sh('redis-cli INFO commandstats'))?.[1]);
      const base = await calls();
      let settled = false;
      const step = backupStep().finally(() => {
        settled = true;
      });
      // Wait until the step has asked INFO twice beyond our own polls (each poll adds one call): it is waiting on the
      // running child. (A step that does not wait ends here instead.)
      let polls = 0;
      await waitFor(async () => settled || (await calls()) - base - ++polls >= 2 || undefined, { timeoutMs: 120_000, what: 'the backup step polling INFO' });
      await sh('kill -CONT $(pgrep -P 1)');
      await waitFor(async () => (await sh('redis-cli LASTSAVE')).trim() !== lastSaveBefore || undefined, { timeoutMs: 120_000, what: 'the hand-started save to complete' });

      const result = await step;
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      const out = result.phases[0]!.output;
      expect(Date.parse(out.consistentAt!) / 1000).toBeGreaterThanOrEqual(ackedAt);

      // The dump the step left, loaded by a fresh server on a private socket.
      const loaded = await sh(`unset REDISCLI_AUTH; d=$(mktemp -d); cp ${out.dir}/dump.rdb $d/
        redis-server --port 0 --unixsocket $d/s --dir $d --dbfilename dump.rdb --appendonly no --save '' --daemonize yes --logfile $d/log
        n=0; until [ "$(redis-cli -s $d/s PING 2>/dev/null)" = PONG ]; do n=$((n+1)); [ $n -lt 1200 ] || { cat $d/log >&2; exit 1; }; sleep 0.1; done
        redis-cli -s $d/s GET race; redis-cli -s $d/s DBSIZE; redis-cli -s $d/s SHUTDOWN NOSAVE || true; rm -rf $d`);
      expect(loaded).toBe('after-fork\n41\n');
    } finally {
      await sh('kill -CONT $(pgrep -P 1) 2>/dev/null || true');
    }
  });

  it('its own save failing (the child killed) fails the step at once, naming the status, instead of waiting out the phase timeout', async () => {
    // ~1 s per key: the step's save runs for as long as the test needs it to.
    expect(await sh('redis-cli CONFIG SET rdb-key-save-delay 1000000')).toBe('OK\n');
    try {
      await waitFor(async () => idle(await sh('redis-cli INFO persistence')) || undefined, { timeoutMs: 60_000, what: 'no child running' });
      const step = backupStep();
      await waitFor(async () => field(await sh('redis-cli INFO persistence'), 'rdb_bgsave_in_progress') === '1' || undefined, { timeoutMs: 120_000, what: "the step's BGSAVE to start" });
      await sh('kill -KILL $(pgrep -P 1)');
      const result = await step;
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/^BGSAVE failed: rdb_last_bgsave_status:err$/m);
    } finally {
      await sh('redis-cli CONFIG SET rdb-key-save-delay 0');
    }
  });
});
