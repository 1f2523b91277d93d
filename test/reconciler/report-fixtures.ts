/** A small Plan for report, metrics and server tests that need one without compiling a repository. */
import type { Plan } from '../../compiler/plan/types.ts';
import { parseFrequency } from '../../compiler/schedule/index.ts';

export function testPlan(cluster = 'dev'): Plan {
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Plan',
    sourceCommit: 'a'.repeat(40),
    hash: `sha256:${'ab'.repeat(32)}`,
    config: { cluster, catalog: { branch: 'coffer-catalog', path: 'catalog' }, reports: { path: 'reports/', interval: '24h' }, sync: { branch: 'main', interval: '5m' }, concurrency: { runs: 9, volumes: 2 }, defaults: { timezone: 'UTC' } },
    policies: [
      {
        name: 'databases-daily',
        paused: false,
        schedule: parseFrequency('@daily'),
        retention: { hourly: 0, daily: 7, weekly: 0, monthly: 0, yearly: 0 },
        selector: { namespaces: { source: 'true', env: 'namespace' }, excludeKinds: [], defaultExclusions: true, excludeControlled: true, includeClusterResources: false },
        profile: 'local',
        actions: { snapshot: { enabled: false, keepLocal: 0 }, export: { enabled: true, volumeData: true, parallelism: 1 } },
        blueprints: [],
        warnings: [],
      },
    ],
    profiles: [],
    blueprints: [],
    transformSets: [],
    restores: [],
  };
}
