import { describe, expect, it } from 'vitest';
import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { parseFrequency } from '../../compiler/schedule/index.ts';
import type { LastRun } from '../../reconciler/catalog/types.ts';
import { duePairs, nextWakeup, type DueReason } from '../../reconciler/schedule/due.ts';

function policy(name: string, frequency: string, opts: { paused?: boolean; window?: { start: string; end: string }; timezone?: string } = {}): PlanPolicy {
  const s = parseFrequency(frequency, opts.timezone ?? 'UTC');
  return {
    name,
    paused: opts.paused ?? false,
    schedule: { ...s, ...(opts.window ? { window: opts.window } : {}) },
    retention: { hourly: 0, daily: 7, weekly: 0, monthly: 0, yearly: 0 },
    selector: { namespaces: { source: 'true', env: 'namespace' }, excludeKinds: [], defaultExclusions: true, excludeControlled: true, includeClusterResources: true },
    profile: 'local',
    actions: { snapshot: { enabled: true, keepLocal: 0 }, export: { enabled: true, volumeData: true, parallelism: 1 } },
    blueprints: [],
    warnings: [],
  };
}

function last(policy: string, namespace: string, start: string, phase: LastRun['phase'] = 'Succeeded', extra: Partial<LastRun> = {}): LastRun {
  const end = new Date(Date.parse(start) + 60_000).toISOString();
  return {
    policy,
    namespace,
    run: `backup-${start}`,
    phase,
    startTime: start,
    endTime: end,
    trigger: 'schedule',
    ...(phase === 'Succeeded' ? { lastSuccessTime: start } : {}),
    ...extra,
  };
}

interface Row {
  name: string;
  policy: PlanPolicy;
  last?: LastRun;
  now: string;
  inFlight?: string[];
  retry?: number;
  want: { due: boolean; reason: DueReason; slot?: string; nextDue?: string };
}

const daily = policy('daily', '@daily');
const hourly = policy('hourly', '@hourly');
const nightly = policy('nightly', '@hourly', { window: { start: '22:00', end: '06:00' } });
const every15 = policy('every15', '@every 15m');
const paused = policy('paused', '@hourly', { paused: true });
const paris = policy('paris', '0 2 * * *', { timezone: 'Europe/Paris' });

const rows: Row[] = [
  { name: 'never run: due now for the latest slot', policy: daily, now: '2026-11-24T09:30:00Z', want: { due: true, reason: 'never-run', slot: '2026-11-24T00:00:00.000Z', nextDue: '2026-11-24T09:30:00.000Z' } },
  {
    name: 'served today: waits for tomorrow',
    policy: daily,
    last: last('daily', 'shop', '2026-11-24T00:00:05Z'),
    now: '2026-11-24T09:30:00Z',
    want: { due: false, reason: 'up-to-date', slot: '2026-11-24T00:00:00.000Z', nextDue: '2026-11-25T00:00:00.000Z' },
  },
  {
    name: 'slot passed, last run was the previous slot: scheduled',
    policy: daily,
    last: last('daily', 'shop', '2026-11-23T00:00:05Z'),
    now: '2026-11-24T00:00:30Z',
    want: { due: true, reason: 'scheduled', slot: '2026-11-24T00:00:00.000Z' },
  },
  {
    name: 'down for 5 hours: one catch-up run for the latest slot, not five',
    policy: hourly,
    last: last('hourly', 'shop', '2026-11-24T00:00:02Z'),
    now: '2026-11-24T05:17:00Z',
    want: { due: true, reason: 'catch-up', slot: '2026-11-24T05:00:00.000Z' },
  },
  {
    name: 'a manual run after the slot serves it',
    policy: hourly,
    last: last('hourly', 'shop', '2026-11-24T05:10:00Z', 'Succeeded', { trigger: 'manual' }),
    now: '2026-11-24T05:17:00Z',
    want: { due: false, reason: 'up-to-date', nextDue: '2026-11-24T06:00:00.000Z' },
  },
  {
    name: 'window closed: owed work waits for the window to open',
    policy: nightly,
    last: last('nightly', 'shop', '2026-11-24T05:00:00Z'),
    now: '2026-11-24T12:00:00Z',
    want: { due: false, reason: 'outside-window', slot: '2026-11-24T12:00:00.000Z', nextDue: '2026-11-24T22:00:00.000Z' },
  },
  {
    name: 'window open: runs once for the slot at the opening',
    policy: nightly,
    last: last('nightly', 'shop', '2026-11-24T05:00:00Z'),
    now: '2026-11-24T22:00:10Z',
    want: { due: true, reason: 'catch-up', slot: '2026-11-24T22:00:00.000Z' },
  },
  {
    name: 'up to date inside the window: next slot',
    policy: nightly,
    last: last('nightly', 'shop', '2026-11-24T23:00:01Z'),
    now: '2026-11-24T23:30:00Z',
    want: { due: false, reason: 'up-to-date', nextDue: '2026-11-25T00:00:00.000Z' },
  },
  {
    name: 'up to date at the window end: next slot pushed to the next opening',
    policy: nightly,
    last: last('nightly', 'shop', '2026-11-25T05:00:01Z'),
    now: '2026-11-25T05:30:00Z',
    want: { due: false, reason: 'up-to-date', nextDue: '2026-11-25T22:00:00.000Z' },
  },
  { name: 'paused: never due, no wake-up', policy: paused, now: '2026-11-24T05:17:00Z', want: { due: false, reason: 'paused' } },
  {
    name: 'failed slot retried after the delay',
    policy: daily,
    last: last('daily', 'shop', '2026-11-24T00:00:05Z', 'Failed', { lastSuccessTime: '2026-11-23T00:00:05Z' }),
    now: '2026-11-24T00:30:00Z',
    want: { due: true, reason: 'retry', slot: '2026-11-24T00:00:00.000Z' },
  },
  {
    name: 'cancelled slot (coffer cancel) is not retried: the next slot runs',
    policy: daily,
    last: last('daily', 'shop', '2026-11-24T00:00:05Z', 'Cancelled', { lastSuccessTime: '2026-11-23T00:00:05Z' }),
    now: '2026-11-24T00:30:00Z',
    want: { due: false, reason: 'up-to-date', nextDue: '2026-11-25T00:00:00.000Z' },
  },
  {
    name: 'failed slot waits for the retry delay',
    policy: daily,
    last: last('daily', 'shop', '2026-11-24T00:00:05Z', 'Failed'),
    now: '2026-11-24T00:05:00Z',
    want: { due: false, reason: 'retry-wait', nextDue: '2026-11-24T00:16:05.000Z' },
  },
  {
    name: 'retry disabled: a failed slot waits for the next slot',
    policy: hourly,
    last: last('hourly', 'shop', '2026-11-24T05:00:05Z', 'Failed'),
    now: '2026-11-24T05:30:00Z',
    retry: Infinity,
    want: { due: false, reason: 'up-to-date', nextDue: '2026-11-24T06:00:00.000Z' },
  },
  {
    name: 'retry that would land after the next slot: the next slot does it',
    policy: every15,
    last: last('every15', 'shop', '2026-11-24T05:00:05Z', 'Failed'),
    now: '2026-11-24T05:05:00Z',
    want: { due: false, reason: 'up-to-date', nextDue: '2026-11-24T05:15:00.000Z' },
  },
  {
    name: 'namespace busy with another run: waits',
    policy: daily,
    now: '2026-11-24T09:30:00Z',
    inFlight: ['shop'],
    want: { due: false, reason: 'busy', slot: '2026-11-24T00:00:00.000Z' },
  },
  {
    name: '@every slots are epoch-anchored',
    policy: every15,
    last: last('every15', 'shop', '2026-11-24T05:00:05Z'),
    now: '2026-11-24T05:15:00Z',
    want: { due: true, reason: 'scheduled', slot: '2026-11-24T05:15:00.000Z' },
  },
  {
    name: 'time zone: 02:00 Paris is 01:00Z in winter',
    policy: paris,
    last: last('paris', 'shop', '2026-11-23T01:00:03Z'),
    now: '2026-11-24T01:00:30Z',
    want: { due: true, reason: 'scheduled', slot: '2026-11-24T01:00:00.000Z' },
  },
];

describe('duePairs', () => {
  it.each(rows)('$name', (row) => {
    const [pair] = duePairs({
      plan: { policies: [row.policy] },
      selected: { [row.policy.name]: ['shop'] },
      lastRuns: row.last ? [row.last] : [],
      now: new Date(row.now),
      ...(row.inFlight ? { inFlight: row.inFlight.map((namespace) => ({ policy: 'other', namespace })) } : {}),
      ...(row.retry !== undefined ? { retryFailedAfterSeconds: row.retry } : {}),
    });
    expect(pair).toBeDefined();
    expect({ due: pair!.due, reason: pair!.reason }).toEqual({ due: row.want.due, reason: row.want.reason });
    if (row.want.slot) expect(pair!.slot?.toISOString()).toBe(row.want.slot);
    if (row.want.nextDue) expect(pair!.nextDue?.toISOString()).toBe(row.want.nextDue);
    if (row.policy.paused) expect(pair!.nextDue).toBeUndefined();
  });

  it('runs a missed pair once: after the catch-up run is recorded, nothing is due until the next slot', () => {
    const now = new Date('2026-11-24T05:17:00Z');
    const before = duePairs({ plan: { policies: [hourly] }, selected: { hourly: ['shop'] }, lastRuns: [last('hourly', 'shop', '2026-11-24T00:00:02Z')], now });
    expect(before.filter((p) => p.due)).toHaveLength(1);
    const after = duePairs({ plan: { policies: [hourly] }, selected: { hourly: ['shop'] }, lastRuns: [last('hourly', 'shop', '2026-11-24T05:17:01Z')], now: new Date('2026-11-24T05:40:00Z') });
    expect(after.filter((p) => p.due)).toHaveLength(0);
  });

  it('orders due pairs oldest slot first, skips namespaces no longer selected, and reports the next wake-up', () => {
    const now = new Date('2026-11-24T09:30:00Z');
    const pairs = duePairs({
      plan: { policies: [hourly, daily, paused] },
      selected: new Map([
        ['hourly', ['b', 'a']],
        ['daily', ['a', 'c']],
        ['paused', ['a']],
      ]),
      lastRuns: [last('daily', 'c', '2026-11-24T00:00:01Z'), last('hourly', 'b', '2026-11-24T09:00:01Z'), last('daily', 'gone', '2026-11-20T00:00:00Z')],
      now,
    });
    expect(pairs.map((p) => `${p.policy}/${p.namespace}:${p.reason}`)).toEqual([
      'daily/a:never-run',
      'hourly/a:never-run',
      'daily/c:up-to-date',
      'hourly/b:up-to-date',
      'paused/a:paused',
    ]);
    expect(nextWakeup(pairs)?.toISOString()).toBe('2026-11-24T10:00:00.000Z');
  });
});
