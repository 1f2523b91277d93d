/**
 * When `coffer run` wakes after a pass: the earliest backup slot or restore-verification slot of any pair, capped by
 * the (jittered) poll interval, at least 1 s. Pure table with a fixed clock: the pairs come from the real `duePairs`
 * and `verificationsDue` deciders, the wake-up from `nextWakeup`, the sleep from `sleepAfterPass`. Schedules follow the
 * cron and `@every` rules of compiler/schedule (cron(5) macros: @hourly = "0 * * * *", @daily = "0 0 * * *").
 */
import { describe, expect, it } from 'vitest';
import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { parseFrequency } from '../../compiler/schedule/index.ts';
import type { LastRun } from '../../reconciler/catalog/types.ts';
import { sleepAfterPass } from '../../reconciler/loop.ts';
import { duePairs, nextWakeup } from '../../reconciler/schedule/due.ts';
import { pairKey, verificationsDue, type LastVerification } from '../../reconciler/verify/index.ts';

function policy(name: string, frequency: string, verify?: string, paused = false): PlanPolicy {
  return {
    name,
    paused,
    schedule: parseFrequency(frequency, 'UTC'),
    retention: { hourly: 0, daily: 7, weekly: 0, monthly: 0, yearly: 0 },
    selector: { namespaces: { source: 'true', env: 'namespace' }, excludeKinds: [], defaultExclusions: true, excludeControlled: true, includeClusterResources: true },
    profile: 'local',
    actions: { snapshot: { enabled: true, keepLocal: 0 }, export: { enabled: true, volumeData: true, parallelism: 1 } },
    blueprints: [],
    ...(verify ? { verify: { schedule: parseFrequency(verify, 'UTC'), timeout: '30m', checks: [] } } : {}),
    warnings: [],
  };
}

const backedUp = (p: string, start: string): LastRun => ({ policy: p, namespace: 'shop', run: `backup-${start}`, phase: 'Succeeded', startTime: start, endTime: start, trigger: 'schedule', lastSuccessTime: start });
const verified = (p: string, start: string): LastVerification => ({ policy: p, namespace: 'shop', name: `verify-${start}`, startTime: start, phase: 'Succeeded' });

interface Row {
  name: string;
  policies: PlanPolicy[];
  backups?: LastRun[];
  verifications?: LastVerification[];
  /** Pairs with a restore point (default: every pair). */
  restorable?: string[];
  now: string;
  intervalMs: number;
  random?: number;
  want: { next?: string; sleepMs: number };
}

const MIN = 60_000;
const HOUR = 60 * MIN;

const rows: Row[] = [
  {
    name: '@hourly verify between hourly slots: wakes at the verify slot, not at the 1h poll',
    policies: [policy('db', '@daily', '@hourly')],
    backups: [backedUp('db', '2026-12-07T00:00:02Z')],
    verifications: [verified('db', '2026-12-07T10:00:04Z')],
    now: '2026-12-07T10:20:00Z',
    intervalMs: HOUR,
    want: { next: '2026-12-07T11:00:00.000Z', sleepMs: 40 * MIN },
  },
  {
    name: 'cron verify "30 10 * * *" half a minute away: wakes in 30 s',
    policies: [policy('db', '@daily', '30 10 * * *')],
    backups: [backedUp('db', '2026-12-07T00:00:02Z')],
    verifications: [verified('db', '2026-12-06T10:30:05Z')],
    now: '2026-12-07T10:29:30Z',
    intervalMs: 5 * MIN,
    want: { next: '2026-12-07T10:30:00.000Z', sleepMs: 30_000 },
  },
  {
    name: 'verification due in this pass (never verified): the next wake is its following slot',
    policies: [policy('db', '@daily', '@hourly')],
    backups: [backedUp('db', '2026-12-07T00:00:02Z')],
    now: '2026-12-07T10:20:00Z',
    intervalMs: HOUR,
    want: { next: '2026-12-07T11:00:00.000Z', sleepMs: 40 * MIN },
  },
  {
    name: 'a backup due in this pass as the only pair: wakes for its next slot (@every 10m), not at the 1h poll',
    policies: [policy('web', '@every 10m')],
    now: '2026-12-07T10:20:00Z',
    intervalMs: HOUR,
    want: { next: '2026-12-07T10:30:00.000Z', sleepMs: 10 * MIN },
  },
  {
    name: 'a backup slot before the verify slot: the earlier one wins',
    policies: [policy('web', '@every 15m'), policy('db', '@daily', '@hourly')],
    backups: [backedUp('web', '2026-12-07T10:15:01Z'), backedUp('db', '2026-12-07T00:00:02Z')],
    verifications: [verified('db', '2026-12-07T10:00:04Z')],
    now: '2026-12-07T10:20:00Z',
    intervalMs: HOUR,
    want: { next: '2026-12-07T10:30:00.000Z', sleepMs: 10 * MIN },
  },
  {
    name: 'no restore point yet: the verify pair does not wake the loop, its backup slot does',
    policies: [policy('db', '@daily', '@hourly')],
    backups: [{ ...backedUp('db', '2026-12-07T00:00:02Z'), phase: 'Failed', lastSuccessTime: undefined } as unknown as LastRun],
    restorable: [],
    now: '2026-12-07T10:20:00Z',
    intervalMs: 24 * HOUR,
    want: { next: '2026-12-08T00:00:00.000Z', sleepMs: 13 * HOUR + 40 * MIN },
  },
  {
    name: 'paused policy: neither its backups nor its verifications wake the loop; the poll does',
    policies: [policy('db', '@hourly', '@hourly', true)],
    now: '2026-12-07T10:20:00Z',
    intervalMs: 5 * MIN,
    want: { sleepMs: 5 * MIN },
  },
  {
    name: 'the verify slot lies beyond the poll interval: the interval, with its jitter at the low end (0.9×)',
    policies: [policy('db', '@daily', '@weekly')],
    backups: [backedUp('db', '2026-12-07T00:00:02Z')],
    verifications: [verified('db', '2026-12-06T00:00:09Z')],
    now: '2026-12-07T10:20:00Z',
    intervalMs: 5 * MIN,
    random: 0,
    want: { next: '2026-12-08T00:00:00.000Z', sleepMs: 4.5 * MIN },
  },
  {
    name: 'a slot a few milliseconds away: at least one second of sleep',
    policies: [policy('db', '@daily', '@hourly')],
    backups: [backedUp('db', '2026-12-07T00:00:02Z')],
    verifications: [verified('db', '2026-12-07T10:00:04Z')],
    now: '2026-12-07T10:59:59.990Z',
    intervalMs: 5 * MIN,
    want: { next: '2026-12-07T11:00:00.000Z', sleepMs: 1000 },
  },
];

describe('the loop wakes for the earliest backup or verification slot', () => {
  it.each(rows)('$name', (row) => {
    const now = new Date(row.now);
    const plan = { policies: row.policies };
    const selected = new Map(row.policies.map((p) => [p.name, ['shop']]));
    const backups = duePairs({ plan, selected, lastRuns: row.backups ?? [], now });
    const verifications = verificationsDue({ plan, selected, restorable: new Set(row.restorable ?? row.policies.map((p) => pairKey(p.name, 'shop'))), last: row.verifications ?? [], now });
    const next = nextWakeup([...backups, ...verifications]);
    expect(next?.toISOString()).toBe(row.want.next);
    expect(sleepAfterPass({ next, now, intervalMs: row.intervalMs, random: row.random ?? 0.5 })).toBe(row.want.sleepMs);
  });
});
