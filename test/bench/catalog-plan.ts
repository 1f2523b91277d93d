import type { Plan, PlanPolicy } from '../../compiler/plan/types.ts';
import { POLICIES } from './catalog-data.ts';

/** The plan compliance is evaluated against in the bench: five hourly policies, each selecting every namespace. */
export function benchPlan(namespaces: number): { plan: Plan; selected: Map<string, string[]> } {
  const policies = Array.from({ length: POLICIES }, (_, i) => ({
    name: `policy-${i}`,
    paused: false,
    schedule: { source: '@every 5h', normalized: '@every 5h', kind: 'every', timezone: 'UTC', nominalIntervalSeconds: 18000, maxIntervalSeconds: 18000 },
    retention: { hourly: 200, daily: 0, weekly: 0, monthly: 0, yearly: 0 },
  })) as unknown as PlanPolicy[];
  const plan = { hash: `sha256:${'ab'.repeat(32)}`, sourceCommit: 'c0ffee'.padEnd(40, '0'), policies, config: { cluster: 'bench', reports: { path: 'reports', interval: '24h' } } } as unknown as Plan;
  const ns = Array.from({ length: namespaces }, (_, i) => `ns-${i}`);
  return { plan, selected: new Map(policies.map((p) => [p.name, ns])) };
}
