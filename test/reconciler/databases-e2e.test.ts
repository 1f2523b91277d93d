/**
 * Application-consistent backups of real databases under load (issue 18): for each engine and each of its blueprints
 * (logical dump; quiesce/physical snapshot), a writer commits continuously while the reconciler backs the namespace
 * up; the restore point is restored into a new namespace, the blueprint's `validate` action runs the engine's own
 * integrity check, and every commit acknowledged before the recorded consistency point must be there. Figures
 * (acknowledged before the point, restored, longest blocked write) are printed as one `DB-E2E {…}` line per case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from './databases/engines.ts';
import { DatabaseHarness } from './databases/harness.ts';
import { judgeAnswer } from '../../reconciler/verify/index.ts';

let h: DatabaseHarness;

beforeAll(async () => {
  h = await DatabaseHarness.start(process.env.DB_E2E_DEBUG ? (l) => console.error('[sandbox]', l) : undefined);
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

// Engines run side by side: each case mostly waits on pods and mover Jobs, so the file takes about the longest case.
describe.concurrent.each(ENGINES)('$name', (e) => {
  it.each(e.blueprints.map((b) => /([^/]+)\.yaml$/.exec(b)![1]!))('%s: backup under load, restore into a new namespace, integrity check, zero acknowledged commits lost', async (policy) => {
    // A short baseline window: the suite prints the figures, the 1 GiB bench measures them.
    const { figures, out } = await h.backupUnderLoad(e, policy, undefined, 2000);
    console.log(`DB-E2E ${JSON.stringify({ ...figures, lost: figures.lost.length })}`);
    expect(out.result.spec.errors).toBeUndefined();
    expect(out.result.spec.phase).toBe('Succeeded');
    const validate = (out.result.spec.hooks as { action: string; phaseResult: string; output?: Record<string, string> }[]).filter((x) => x.action === 'validate');
    expect(validate.map((x) => [x.phaseResult, x.output?.integrity])).toEqual([['Succeeded', 'ok']]);
    // The blueprint's verify action answered the engine's check on the restored copy, and the answer meets it.
    const verify = (out.result.spec.hooks as { action: string; check?: string; phaseResult: string }[]).filter((x) => x.action === 'verify');
    expect(verify.map((x) => [x.check, x.phaseResult])).toEqual([[e.check.name, 'Succeeded']]);
    expect(judgeAnswer(e.check.query, figures.verifyAnswer, e.check.expect).result).toBe('Passed');
    expect(figures.lost).toEqual([]);
    expect(figures.ackedBeforePoint).toBeGreaterThanOrEqual(20);
  }, 420_000);
});

describe('bad input', () => {
  it('a password the server no longer accepts fails the run with the engine error naming the Secret and key, and the app keeps committing', async () => {
    const e = ENGINES.find((x) => x.name === 'mariadb')!;
    const ns = 'mysql-snapshot-stale';
    await h.deploy(e, ns, 'the-first-password');
    // The password is rotated in the database; the Secret (and the container's env from it) still hold the old one.
    await h.sh(ns, e.name, `MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED BY 'rotated'"`);
    const run = (await h.backup('mysql-snapshot', ns)).runs[0]!;
    expect(run.run.status.phase).toBe('Failed');
    expect(run.run.status.error).toContain("Access denied for user 'root'@'localhost'");
    expect(run.run.status.error).toContain(`MARIADB_ROOT_PASSWORD from Secret ${ns}/mariadb-credentials key "root-password"`);
    expect(run.run.status.error).not.toContain('the-first-password');
    // Nothing was left blocked: a commit goes through right after the failed run.
    await h.sh(ns, e.name, `MYSQL_PWD=rotated mariadb -uroot shop -e "insert into ledger values (1)"`);
  }, 240_000);
});
