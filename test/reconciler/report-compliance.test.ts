/** Compliance evaluation, change detection and rendering: pure, table-driven, validated against the JSON Schema. */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { parseFrequency } from '../../compiler/schedule/index.ts';
import type { LastRun, RestorePoint, RunRecord } from '../../reconciler/catalog/index.ts';
import { complianceChanges, complianceMessage, evaluateCompliance, renderMarkdown, type ComplianceInput, type ComplianceReport } from '../../reconciler/report/index.ts';
import { schemas } from '../../schemas/index.ts';
import { backup, failedRun } from './catalog-fixtures.ts';

const addFormats = addFormatsModule as unknown as (a: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
const s = schemas();
ajv.addSchema(s.common as object, 'common.schema.json');
const validate = ajv.compile(s.kinds.ComplianceReport as object);

const T = new Date('2026-11-24T12:00:00Z');
const h = (n: number) => new Date(T.getTime() - n * 3600_000);

function policy(name: string, frequency: string, retention: Partial<PlanPolicy['retention']>, paused = false): PlanPolicy {
  return {
    name,
    paused,
    schedule: parseFrequency(frequency),
    retention: { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, ...retention },
    selector: { namespaces: { source: 'true', env: 'namespace' }, excludeKinds: [], defaultExclusions: true, excludeControlled: true, includeClusterResources: false },
    profile: 'local',
    actions: { snapshot: { enabled: false, keepLocal: 0 }, export: { enabled: true, volumeData: true, parallelism: 1 } },
    blueprints: [],
    warnings: [],
  };
}

/** Successful backups of (namespace, policy) at the given hours ago: run records with their restore point names. */
function history(namespace: string, pol: string, hoursAgo: number[]) {
  const made = hoursAgo.map((n) => backup({ cluster: 'demo', namespace, policy: pol, start: h(n), suffix: `s${n}` }));
  return { runs: made.map((m) => ({ ...m.run, status: { ...m.run.status, restorePoint: m.rp.metadata.name } })), points: made.map((m) => m.rp) };
}

function lastRun(r: RunRecord, lastSuccessTime?: string): LastRun {
  return { policy: r.spec.policy!, namespace: r.spec.namespace!, run: r.metadata.name, phase: r.status.phase, startTime: r.status.startTime, trigger: r.spec.trigger, ...(lastSuccessTime ? { lastSuccessTime } : {}) };
}

function input(over: Partial<ComplianceInput> & { policies: PlanPolicy[] }): ComplianceInput {
  return {
    plan: { hash: `sha256:${'cd'.repeat(32)}`, sourceCommit: 'f'.repeat(40), policies: over.policies, config: { cluster: 'demo' } },
    selected: over.selected ?? new Map(over.policies.map((p) => [p.name, ['shop']])),
    restorePoints: over.restorePoints ?? [],
    runs: over.runs ?? [],
    lastRuns: over.lastRuns ?? [],
    now: over.now ?? T,
  };
}

const outcome = (r: ComplianceReport, rule: string, ns = 'shop') => r.spec.results.find((x) => x.rule === rule && x.resources[0]!.name === ns);

describe('evaluateCompliance', () => {
  const daily = policy('databases-daily', '@daily', { daily: 3 });
  const cases: Array<{ name: string; hoursAgo: number[]; last?: 'fail' | 'ok'; expect: { rpo: string; severity?: string; message: RegExp } }> = [
    { name: 'a backup 2h ago meets a daily RPO', hoursAgo: [2, 26], expect: { rpo: 'pass', message: /^RPO met \(last good 2h ago, RPO 24h\)$/ } },
    { name: 'a backup 24.5h ago is within the grace of a daily RPO', hoursAgo: [24.5], expect: { rpo: 'pass', message: /last good 25h ago/ } },
    { name: 'a backup 26h ago misses it', hoursAgo: [26], expect: { rpo: 'fail', severity: 'high', message: /^RPO missed \(last good 26h ago, RPO 24h\)$/ } },
    { name: 'a backup 4 days ago misses it badly', hoursAgo: [96], expect: { rpo: 'fail', severity: 'critical', message: /last good 4d ago/ } },
    { name: 'no backup at all is a miss', hoursAgo: [], expect: { rpo: 'fail', severity: 'high', message: /no successful backup yet/ } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { runs, points } = history('shop', daily.name, c.hoursAgo);
      const r = evaluateCompliance(input({ policies: [daily], runs, restorePoints: points, lastRuns: runs.length ? [lastRun(runs[0]!, runs[0]!.status.startTime)] : [] }));
      expect(validate(r), JSON.stringify(validate.errors)).toBe(true);
      const rpo = outcome(r, 'rpo')!;
      expect(rpo.result).toBe(c.expect.rpo);
      expect(rpo.severity).toBe(c.expect.severity);
      expect(rpo.message).toMatch(c.expect.message);
    });
  }

  it('reports a failed last backup with its error, while the RPO still counts the last good one', () => {
    const { runs, points } = history('shop', daily.name, [20]);
    const failed = failedRun({ cluster: 'demo', namespace: 'shop', policy: daily.name, start: h(1), error: 'mover Job failed: image pull\nmore' });
    const r = evaluateCompliance(input({ policies: [daily], runs: [failed, ...runs], restorePoints: points, lastRuns: [lastRun(failed, runs[0]!.status.startTime)] }));
    expect(outcome(r, 'rpo')!.result).toBe('pass');
    expect(outcome(r, 'last-backup-succeeded')).toMatchObject({ result: 'fail', severity: 'high', message: `last backup failed (${failed.metadata.name}): mover Job failed: image pull` });
    expect(r.spec.summary).toEqual({ pass: 2, fail: 1, warn: 0, error: 0, skip: 1 });
  });

  it('checks retention against GFS applied to the run history: missing points and points past retention both fail', () => {
    const { runs, points } = history('shop', daily.name, [1, 25, 49, 73]);
    // daily: 3 keeps the three newest days; the 73h-old point is past retention.
    const over = evaluateCompliance(input({ policies: [daily], runs, restorePoints: points }));
    expect(outcome(over, 'retention')).toMatchObject({ result: 'fail', severity: 'medium', properties: { held: '4', expected: '3', overdue: points[3]!.metadata.name } });
    const exact = evaluateCompliance(input({ policies: [daily], runs, restorePoints: points.slice(0, 3) }));
    expect(outcome(exact, 'retention')).toMatchObject({ result: 'pass', message: 'retention honoured (3 restore points held, 3 expected)' });
    // Someone deleted the 25h-old point from the catalog by hand.
    const lost = evaluateCompliance(input({ policies: [daily], runs, restorePoints: [points[0]!, points[2]!] }));
    expect(outcome(lost, 'retention')).toMatchObject({ result: 'fail', severity: 'high', properties: { missing: points[1]!.metadata.name } });
  });

  it('skips the DR drill rule without drills, passes or fails on the latest one', () => {
    const { runs, points } = history('shop', daily.name, [1]);
    const drill = (phase: 'Succeeded' | 'Failed', at: number): RunRecord => ({
      apiVersion: 'coffer.dev/v1alpha1',
      kind: 'Run',
      metadata: { name: `restore-drill-${at}` },
      spec: { type: 'restore', cluster: 'demo', namespace: 'shop', trigger: 'drill' },
      status: { phase, startTime: h(at).toISOString(), ...(phase === 'Failed' ? { error: 'pods not ready' } : {}) },
    });
    const base = { policies: [daily], restorePoints: points };
    expect(outcome(evaluateCompliance(input({ ...base, runs })), 'dr-drill')).toMatchObject({ result: 'skip', scored: false });
    expect(outcome(evaluateCompliance(input({ ...base, runs: [...runs, drill('Failed', 50), drill('Succeeded', 3)] })), 'dr-drill')).toMatchObject({ result: 'pass', message: 'DR drill passed (restore-drill-3, 3h ago)' });
    expect(outcome(evaluateCompliance(input({ ...base, runs: [...runs, drill('Succeeded', 50), drill('Failed', 3)] })), 'dr-drill')).toMatchObject({ result: 'fail', message: 'DR drill failed (restore-drill-3): pods not ready' });
  });

  it('skips every rule of a paused policy and only evaluates selected namespaces', () => {
    const paused = policy('old', '@hourly', { hourly: 1 }, true);
    const r = evaluateCompliance(input({ policies: [daily, paused], selected: new Map([[daily.name, ['web', 'shop']], [paused.name, ['shop']]]) }));
    expect(r.spec.results.filter((x) => x.policy === 'old').map((x) => x.result)).toEqual(['skip', 'skip', 'skip', 'skip']);
    expect([...new Set(r.spec.results.map((x) => `${x.resources[0]!.name}/${x.policy}`))]).toEqual(['shop/databases-daily', 'shop/old', 'web/databases-daily']);
    expect(validate(r), JSON.stringify(validate.errors)).toBe(true);
  });
});

describe('changes, messages and markdown', () => {
  const daily = policy('databases-daily', '@daily', { daily: 3 });
  const at = (now: Date, hoursAgo: number[]) => {
    const { runs, points } = history('shop', daily.name, hoursAgo);
    return evaluateCompliance(input({ policies: [daily], runs, restorePoints: points, now }));
  };

  it('sees no change when only ages move, and names the rule that flipped', () => {
    const a = at(T, [2]);
    const b = at(new Date(T.getTime() + 3600_000), [2]);
    expect(a.spec.results.find((r) => r.rule === 'rpo')!.message).not.toBe(b.spec.results.find((r) => r.rule === 'rpo')!.message);
    expect(complianceChanges(a, b)).toEqual([]);
    const c = at(new Date(T.getTime() + 24 * 3600_000), [2]);
    const changes = complianceChanges(a, c);
    expect(changes.map((x) => [x.rule, x.before?.result, x.after?.result])).toEqual([['rpo', 'pass', 'fail']]);
    expect(complianceMessage(changes, c, false).split('\n')[0]).toBe('compliance: shop/databases-daily RPO missed (last good 26h ago, RPO 24h)');
  });

  it('writes a first-report message and notices pairs that stop being protected', () => {
    const a = at(T, [2]);
    expect(complianceMessage(complianceChanges(undefined, a), a, true).split('\n')[0]).toBe('compliance: first report for cluster demo (0 fail, 0 error, 0 warn, 3 pass, 1 skip)');
    const empty = evaluateCompliance(input({ policies: [daily], selected: new Map() }));
    const gone = complianceChanges(a, empty);
    expect(gone).toHaveLength(4);
    expect(gone.every((g) => g.after === undefined && /no longer evaluated/.test(g.text))).toBe(true);
  });

  it('renders markdown worst first', () => {
    const { runs, points } = history('web', daily.name, [2]);
    const r = evaluateCompliance(input({ policies: [daily], selected: new Map([[daily.name, ['shop', 'web']]]), runs, restorePoints: points }));
    const md = renderMarkdown(r);
    const rows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Result') && !l.startsWith('| ---'));
    expect(rows[0]).toMatch(/^\| ❌ fail \| high \| shop \| databases-daily \| RPO met \| RPO missed \(no successful backup yet; RPO 24h\) \|$/);
    expect(rows.at(-1)).toMatch(/skip/);
    expect(md).toContain(`**1 fail · 0 error · 0 warn · ${r.spec.summary.pass} pass · ${r.spec.summary.skip} skip**`);
  });
});
