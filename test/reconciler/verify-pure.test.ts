import { describe, expect, it } from 'vitest';
import { parseFrequency } from '../../compiler/schedule/index.ts';
import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { buildVerificationResult, chooseVerifyTarget, judgeAnswer, pairKey, verificationsDue, verificationRun } from '../../reconciler/verify/index.ts';
import { validateKind } from '../../compiler/index.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord } from '../../reconciler/catalog/index.ts';
import { evaluateCompliance, renderMarkdown } from '../../reconciler/report/index.ts';
import { testPlan } from './report-fixtures.ts';

describe('judgeAnswer: the answer against the policy expectation', () => {
  // Cases from the issue: `SELECT count(*) FROM orders` ≥ N, a Redis key that must exist (EXISTS → 1, GET → value), an etcd key.
  const cases = [
    { name: 'count at least N', answer: '1500', expect: { atLeast: 1000 }, result: 'Passed', message: 'q returned "1500" (at least 1000)' },
    { name: 'count below N', answer: '42', expect: { atLeast: 1_000_000_000 }, result: 'Failed', message: 'q returned "42", expected at least 1000000000' },
    { name: 'bounds both sides', answer: ' 7\n', expect: { atLeast: 5, atMost: 6 }, result: 'Failed', message: 'q returned "7", expected at most 6' },
    { name: 'not a number', answer: 'ERR', expect: { atLeast: 1 }, result: 'Failed', message: 'q returned "ERR", expected at least 1 (not a number)' },
    { name: 'empty is not zero', answer: '', expect: { atMost: 0 }, result: 'Failed', message: 'q returned an empty answer, expected at most 0 (not a number)' },
    { name: 'redis EXISTS equals 1', answer: '1', expect: { equals: '1' }, result: 'Passed', message: 'q returned "1" (equal to "1")' },
    { name: 'key must exist', answer: '', expect: { exists: true }, result: 'Failed', message: 'q returned an empty answer, expected not empty' },
    { name: 'key must be gone', answer: 'v', expect: { exists: false }, result: 'Failed', message: 'q returned "v", expected empty' },
    { name: 'every condition must hold', answer: '3', expect: { equals: '3', exists: true, atLeast: 4 }, result: 'Failed', message: 'q returned "3", expected at least 4' },
  ] as const;
  it.each(cases)('$name', (c) => {
    expect(judgeAnswer('q', c.answer, c.expect)).toEqual({ result: c.result, message: c.message });
  });
});

const weekly = (tz = 'UTC') => parseFrequency('@weekly', tz);
const policy = (name: string, verify = true, paused = false) => ({ name, paused, verify: verify ? { schedule: weekly(), timeout: '30m', checks: [] } : undefined }) as unknown as PlanPolicy;

describe('verificationsDue', () => {
  // @weekly = Sunday 00:00 UTC; 2026-12-07 is a Monday.
  const now = new Date('2026-12-07T10:00:00Z');
  const sunday = new Date('2026-12-06T00:00:00Z');
  const run = (last: { startTime: string; phase: 'Succeeded' | 'Failed' }[], opts: { restorable?: boolean; paused?: boolean; verify?: boolean } = {}) =>
    verificationsDue({
      plan: { policies: [policy('db', opts.verify ?? true, opts.paused)] },
      selected: new Map([['db', ['shop']]]),
      restorable: new Set(opts.restorable === false ? [] : [pairKey('db', 'shop')]),
      last: last.map((l) => ({ policy: 'db', namespace: 'shop', name: 'v', ...l })),
      now,
    }).map((p) => ({ due: p.due, reason: p.reason, slot: p.slot?.toISOString(), nextDue: p.nextDue?.toISOString() }));
  const cases = [
    { name: 'never verified: due at once', last: [], want: { due: true, reason: 'never-verified', slot: sunday.toISOString(), nextDue: now.toISOString() } },
    { name: 'verified after the latest slot: waits for the next', last: [{ startTime: '2026-12-06T01:00:00Z', phase: 'Succeeded' as const }], want: { due: false, reason: 'up-to-date', slot: sunday.toISOString(), nextDue: '2026-12-13T00:00:00.000Z' } },
    { name: 'a failed verification of the slot is not retried before the next slot', last: [{ startTime: '2026-12-06T01:00:00Z', phase: 'Failed' as const }], want: { due: false, reason: 'up-to-date', slot: sunday.toISOString(), nextDue: '2026-12-13T00:00:00.000Z' } },
    { name: 'last verified before the latest slot: due once', last: [{ startTime: '2026-11-20T01:00:00Z', phase: 'Succeeded' as const }], want: { due: true, reason: 'scheduled', slot: sunday.toISOString(), nextDue: now.toISOString() } },
  ];
  it.each(cases)('$name', (c) => {
    expect(run(c.last)).toEqual([c.want]);
  });
  it('nothing to restore, paused, or no verify: never due', () => {
    expect(run([], { restorable: false })).toEqual([{ due: false, reason: 'no-restore-point', slot: undefined, nextDue: undefined }]);
    expect(run([], { paused: true })).toEqual([{ due: false, reason: 'paused', slot: undefined, nextDue: undefined }]);
    expect(run([], { verify: false })).toEqual([]);
  });
});

describe('buildVerificationResult', () => {
  const base = {
    name: 'verify-20261207-100000-abc123',
    cluster: 'dev',
    namespace: 'shop',
    policy: 'db',
    checks: [
      { name: 'orders', query: 'SELECT count(*) FROM orders', expect: { atLeast: 10 } },
      { name: 'flag', query: 'EXISTS flag', expect: { equals: '1' } },
    ],
    trigger: 'schedule' as const,
    slot: new Date('2026-12-06T00:00:00Z'),
    scratch: 'shop-verify-abc123',
    start: new Date('2026-12-07T10:00:00Z'),
    end: new Date('2026-12-07T10:01:00Z'),
    restoreSeconds: 50,
    durationSeconds: 60,
    scratchDeleted: true,
  };
  const validate = { blueprint: 'pg', action: 'validate', phase: 'amcheck', workload: 'StatefulSet/db', phaseResult: 'Succeeded', output: { check: 'pg_amcheck: 10/10 relations', integrity: 'ok', pod: 'db-0' } };
  const answer = (check: string, result: string, secs = 2) => ({ blueprint: 'pg', action: 'verify', phase: 'query', workload: 'StatefulSet/db', check, phaseResult: 'Succeeded', startTime: '2026-12-07T10:00:40.000Z', endTime: `2026-12-07T10:00:4${secs}.000Z`, output: { result } });

  it('every check passed: Succeeded, RTO without the checks, and a document the schema accepts', () => {
    const doc = buildVerificationResult({ ...base, restore: { name: 'verify-x', restorePoint: 'db-20261207-090000', phase: 'Succeeded', hooks: [validate, answer('orders', '12'), answer('flag', '1')] }, errors: [] });
    expect(doc.spec.phase).toBe('Succeeded');
    expect(doc.spec.rtoSeconds).toBe(46);
    expect(doc.spec.integrity).toEqual([{ blueprint: 'pg', workload: 'StatefulSet/db', result: 'Passed', output: 'check: pg_amcheck: 10/10 relations' }]);
    expect(doc.spec.checks?.map((c) => [c.name, c.result, c.answer])).toEqual([['orders', 'Passed', '12'], ['flag', 'Passed', '1']]);
    expect(validateKind('VerificationResult', doc)).toEqual([]);
    expect(verificationRun(doc, { sourceCommit: '', hash: 'sha256:x' }).spec).toEqual({ type: 'verify', cluster: 'dev', namespace: 'shop', policy: 'db', trigger: 'schedule', scheduledFor: '2026-12-06T00:00:00.000Z', planHash: 'sha256:x' });
  });

  it('a failed expectation, a query the engine refused and an unanswered check each fail it with the text', () => {
    const refused = { ...answer('flag', ''), phaseResult: 'Failed', output: {}, error: 'command exited 1: ERROR:  relation "flags" does not exist' };
    const doc = buildVerificationResult({ ...base, checks: [...base.checks, { name: 'gone', blueprint: 'other', query: 'x', expect: { exists: true } }], restore: { name: 'verify-x', restorePoint: 'rp', phase: 'Failed', hooks: [validate, answer('orders', '3'), refused] }, errors: ['blueprint pg verify check flag for StatefulSet/db: …'] });
    expect(doc.spec.phase).toBe('Failed');
    expect(doc.spec.rtoSeconds).toBeDefined();
    expect(doc.spec.checks?.map((c) => [c.name, c.result, c.message])).toEqual([
      ['orders', 'Failed', 'SELECT count(*) FROM orders returned "3", expected at least 10'],
      ['flag', 'Failed', 'EXISTS flag: command exited 1: ERROR:  relation "flags" does not exist'],
      ['gone', 'Failed', 'not run: the restore or the integrity check failed first'],
    ]);
    expect(doc.spec.errors).toContain('check orders (StatefulSet/db): SELECT count(*) FROM orders returned "3", expected at least 10');
    expect(validateKind('VerificationResult', doc)).toEqual([]);
  });

  it('a restore that failed before restoring anything: Failed, no RTO, checks not run', () => {
    const doc = buildVerificationResult({ ...base, errors: ['no restore point matches'] });
    expect(doc.spec).toMatchObject({ phase: 'Failed', restorePoint: '', errors: ['no restore point matches'] });
    expect(doc.spec.rtoSeconds).toBeUndefined();
    expect(doc.spec.checks?.every((c) => c.message === 'not run: the restore failed')).toBe(true);
  });

  it('a scratch namespace left behind fails an otherwise good verification', () => {
    const doc = buildVerificationResult({ ...base, checks: [], scratchDeleted: false, restore: { name: 'v', restorePoint: 'rp', phase: 'Succeeded', hooks: [validate] }, errors: ['cleanup: timed out'] });
    expect(doc.spec).toMatchObject({ phase: 'Failed', scratchDeleted: false, rtoSeconds: 50 });
  });
});

describe('compliance: last-verified', () => {
  const T = new Date('2026-12-07T10:00:00Z');
  const pol = (paused = false) => ({ ...testPlan().policies[0]!, paused, verify: { schedule: parseFrequency('@weekly'), timeout: '30m', checks: [{ name: 'orders', query: 'SELECT count(*) FROM orders', expect: { atLeast: 10 } }] } }) as PlanPolicy;
  const verifyRun = (name: string, phase: 'Succeeded' | 'Failed', start: string, error?: string): RunRecord => ({
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Run',
    metadata: { name },
    spec: { type: 'verify', cluster: 'dev', namespace: 'shop', policy: 'databases-daily', trigger: 'schedule' },
    status: { phase, startTime: start, endTime: start, ...(error ? { error } : {}) },
  });
  const doc = (name: string, phase: 'Succeeded' | 'Failed', start: string) =>
    buildVerificationResult({
      name,
      cluster: 'dev',
      namespace: 'shop',
      policy: 'databases-daily',
      checks: pol().verify!.checks,
      trigger: 'schedule',
      scratch: 'shop-verify-1',
      start: new Date(start),
      end: new Date(start),
      restore: { name: 'r', restorePoint: 'databases-daily-20261207-010000', phase: 'Succeeded', hooks: [{ blueprint: 'pg', action: 'verify', phase: 'q', check: 'orders', phaseResult: 'Succeeded', output: { result: phase === 'Succeeded' ? '12' : '3' } }] },
      restoreSeconds: 41.5,
      durationSeconds: 50,
      scratchDeleted: true,
      errors: [],
    });
  const evaluate = (runs: RunRecord[], newest?: ReturnType<typeof doc>, paused = false) =>
    evaluateCompliance({ plan: { ...testPlan(), policies: [pol(paused)] }, selected: new Map([['databases-daily', ['shop']]]), restorePoints: [], runs, lastRuns: [], now: T, ...(newest ? { verifications: [{ namespace: 'shop', policy: 'databases-daily', doc: newest }] } : {}) });
  const cases = [
    { name: 'never verified', runs: [], want: { result: 'fail', severity: 'medium', message: 'not verified yet (verify @weekly)' } },
    { name: 'verified a day ago, with its RTO', runs: [verifyRun('verify-a', 'Succeeded', '2026-12-06T10:00:00Z')], newest: doc('verify-a', 'Succeeded', '2026-12-06T10:00:00Z'), want: { result: 'pass', message: 'restore verified 24h ago (verify-a, RTO 41.5s)', properties: expect.objectContaining({ verification: 'verify-a', rtoSeconds: '41.5', checks: '1/1', restorePoint: 'databases-daily-20261207-010000' }) } },
    { name: 'newest failed: fail with its text', runs: [verifyRun('verify-a', 'Succeeded', '2026-12-01T10:00:00Z'), verifyRun('verify-b', 'Failed', '2026-12-06T10:00:00Z', 'check orders (StatefulSet/db): SELECT count(*) FROM orders returned "3", expected at least 10')], newest: doc('verify-b', 'Failed', '2026-12-06T10:00:00Z'), want: { result: 'fail', severity: 'high', message: 'last restore verification failed (verify-b): check orders (StatefulSet/db): SELECT count(*) FROM orders returned "3", expected at least 10' } },
    { name: 'older than the weekly frequency (plus 1 h grace)', runs: [verifyRun('verify-a', 'Succeeded', '2026-11-29T08:00:00Z')], want: { result: 'fail', severity: 'medium', message: 'last verified 8d ago, longer than verify @weekly allows (verify-a)' } },
  ];
  it.each(cases)('$name', (c) => {
    const r = evaluate(c.runs, c.newest);
    expect(r.spec.results.find((x) => x.rule === 'last-verified')).toMatchObject(c.want);
  });
  it('paused: skipped; policies without verify have no last-verified result', () => {
    expect(evaluate([], undefined, true).spec.results.find((x) => x.rule === 'last-verified')).toMatchObject({ result: 'skip' });
    const plain = evaluateCompliance({ plan: testPlan(), selected: new Map([['databases-daily', ['shop']]]), restorePoints: [], runs: [], lastRuns: [], now: T });
    expect(plain.spec.results.map((x) => x.rule)).not.toContain('last-verified');
  });
  it('the report validates and renders (golden markdown)', () => {
    const r = evaluate([verifyRun('verify-a', 'Succeeded', '2026-12-06T10:00:00Z')], doc('verify-a', 'Succeeded', '2026-12-06T10:00:00Z'));
    expect(validateKind('ComplianceReport', r)).toEqual([]);
    const path = fileURLToPath(new URL('./golden/compliance-verified.md', import.meta.url));
    const md = renderMarkdown(r);
    if (process.env.UPDATE_GOLDEN || !existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, md);
    }
    expect(md).toBe(readFileSync(path, 'utf8'));
  });
});

describe('chooseVerifyTarget: which pair and restore point coffer dr verify restores', () => {
  const rp = (namespace: string, policy: string, name: string, phase: 'Succeeded' | 'Failed' = 'Succeeded') => ({ cluster: 'c', namespace, policy, name, phase, startTime: '2026-12-07T00:00:00Z', volumes: 0, bytes: 0, path: '' });
  const points = [rp('shop', 'hourly', 'backup-1'), rp('shop', 'db', 'backup-2'), rp('crm', 'db', 'backup-3'), rp('crm', 'db', 'backup-4', 'Failed'), rp('wiki', 'db', 'backup-5', 'Failed'), rp('dup', 'a', 'backup-6'), rp('dup', 'b', 'backup-6')];
  const plan = { policies: [policy('db'), policy('hourly', false)] };
  const cases: { name: string; req: { namespace?: string; policy?: string; restorePoint?: string }; want?: object; error?: string }[] = [
    { name: 'one policy backs the namespace up', req: { namespace: 'crm' }, want: { namespace: 'crm', policy: 'db' } },
    { name: 'several: the one declaring spec.verify', req: { namespace: 'shop' }, want: { namespace: 'shop', policy: 'db' } },
    { name: 'several, --policy says which', req: { namespace: 'shop', policy: 'hourly' }, want: { namespace: 'shop', policy: 'hourly' } },
    { name: '--restore-point names namespace and policy', req: { restorePoint: 'backup-1' }, want: { namespace: 'shop', policy: 'hourly', restorePoint: 'backup-1' } },
    { name: 'a failed restore point by name is allowed (restorable by name, never chosen silently)', req: { restorePoint: 'backup-4' }, want: { namespace: 'crm', policy: 'db', restorePoint: 'backup-4' } },
    { name: 'several policies, none or both verifying', req: { namespace: 'dup' }, error: 'namespace dup has restore points of several policies (a, b); add --policy' },
    { name: 'one name in two directories', req: { restorePoint: 'backup-6' }, error: 'restore point "backup-6" exists in dup/a, dup/b; add --namespace or --policy' },
    { name: 'only failed points', req: { namespace: 'wiki' }, error: 'no successful restore point in namespace wiki to verify (see coffer get restorepoints -n wiki)' },
    { name: 'unknown name', req: { namespace: 'shop', restorePoint: 'backup-3' }, error: 'restore point "backup-3" not found in the catalog in namespace shop (see coffer get restorepoints)' },
    { name: 'neither namespace nor restore point', req: {}, error: '--namespace is required unless --restore-point names the restore point' },
  ];
  it.each(cases)('$name', (c) => {
    const filtered = points.filter((p) => (!c.req.namespace || p.namespace === c.req.namespace) && (!c.req.policy || p.policy === c.req.policy));
    if (c.error) expect(() => chooseVerifyTarget(filtered, plan, c.req)).toThrow(expect.objectContaining({ code: 'E_VERIFY_REQUEST', message: c.error }));
    else expect(chooseVerifyTarget(filtered, plan, c.req)).toEqual(c.want);
  });
});
