import type { DocumentIndex } from '../documents.ts';
import { documentsOfKind } from '../documents.ts';
import { canonicalJson, sha256 } from './canonical.ts';
import { DEFAULT_EXCLUDED_KINDS, DEFAULT_PHASE_TIMEOUT, DEFAULT_TIMEZONE, DEFAULT_VERIFY_TIMEOUT } from './defaults.ts';
import type {
  BlueprintActionName,
  Plan,
  PlanBlueprint,
  PlanBlueprintAction,
  PlanConfig,
  PlanPhase,
  PlanPolicy,
  PlanProfile,
  PlanRestore,
  PlanSchedule,
  PlanTransformSet,
  PlanVerify,
} from './types.ts';
import { PLAN_API_VERSION } from './types.ts';

type Obj = Record<string, any>;

/** Turns a frequency into the plan's schedule plus warnings; supplied by the caller (compiler/schedule underneath). */
export type ScheduleResolver = (frequency: string, timezone: string, window: { start: string; end: string } | undefined, retention: PlanPolicy['retention']) => { schedule: PlanSchedule; warnings: string[] };

/**
 * Builds the plan from documents that passed every check: fills in defaults, sorts
 * everything, and hashes the canonical JSON. Pure: same documents, same bytes.
 */
export function buildPlan(index: DocumentIndex, sourceCommit: string, resolveSchedule: ScheduleResolver): Plan {
  const config = buildConfig(index);
  const body = {
    apiVersion: PLAN_API_VERSION as typeof PLAN_API_VERSION,
    kind: 'Plan' as const,
    config,
    policies: documentsOfKind(index, 'Policy').map((d) => buildPolicy(d.name, d.value.spec as Obj, config, resolveSchedule)),
    profiles: documentsOfKind(index, 'Profile').map((d) => buildProfile(d.name, d.value.spec as Obj)),
    blueprints: documentsOfKind(index, 'Blueprint').map((d) => buildBlueprint(d.name, d.value.spec as Obj)),
    transformSets: documentsOfKind(index, 'TransformSet').map((d) => buildTransformSet(d.name, d.value.spec as Obj)),
    restores: documentsOfKind(index, 'Restore').map((d) => buildRestore(d.name, d.value.spec as Obj, config)),
  };
  const hash = sha256(canonicalJson(body));
  return { ...body, sourceCommit, hash };
}

/** Serialises a plan the one way Coffer ever does: canonical, sorted keys, two-space indent. */
export function planJson(plan: Plan): string {
  return canonicalJson(plan);
}

function buildConfig(index: DocumentIndex): PlanConfig {
  const spec = (documentsOfKind(index, 'Config')[0]?.value.spec ?? {}) as Obj;
  return {
    cluster: spec.cluster ?? 'default',
    catalog: { branch: spec.catalog?.branch ?? 'coffer-catalog', path: spec.catalog?.path ?? 'catalog' },
    reports: { path: spec.reports?.path ?? 'reports', interval: spec.reports?.interval ?? '24h' },
    sync: { branch: spec.sync?.branch ?? 'main', interval: spec.sync?.interval ?? '5m' },
    concurrency: { runs: spec.concurrency?.runs ?? 3, volumes: spec.concurrency?.volumes ?? 9 },
    defaults: { timezone: spec.defaults?.timezone ?? DEFAULT_TIMEZONE, profile: spec.defaults?.profile },
  };
}

function buildPolicy(name: string, spec: Obj, config: PlanConfig, resolveSchedule: ScheduleResolver): PlanPolicy {
  const r = spec.retention ?? {};
  const retention = { hourly: r.hourly ?? 0, daily: r.daily ?? 0, weekly: r.weekly ?? 0, monthly: r.monthly ?? 0, yearly: r.yearly ?? 0 };
  const { schedule, warnings } = resolveSchedule(spec.frequency, spec.timezone ?? config.defaults.timezone, spec.backupWindow, retention);
  const sel = spec.selector;
  const defaultExclusions = sel.defaultExclusions ?? true;
  const exclude = new Set<string>([...(defaultExclusions ? DEFAULT_EXCLUDED_KINDS : []), ...(sel.excludeKinds ?? [])]);
  const bindings = [
    ...(spec.blueprint ? [{ blueprint: spec.blueprint as string }] : []),
    ...((spec.blueprints ?? []) as Obj[]).map((b) => ({ blueprint: b.name as string, workloads: b.workloads ? { source: b.workloads as string, env: 'workload' as const } : undefined })),
  ];
  const snap = spec.actions?.snapshot ?? {};
  const exp = spec.actions?.export ?? {};
  return {
    name,
    description: spec.description,
    paused: spec.paused ?? false,
    schedule,
    retention,
    selector: {
      namespaces: { source: sel.namespaces, env: 'namespace' },
      resources: sel.resources ? { source: sel.resources, env: 'object' } : undefined,
      excludeKinds: [...exclude].sort(),
      defaultExclusions,
      excludeControlled: defaultExclusions,
      includeClusterResources: sel.includeClusterResources ?? false,
    },
    profile: spec.profile,
    actions: {
      snapshot: { enabled: snap.enabled ?? true, volumeSnapshotClass: snap.volumeSnapshotClass, keepLocal: snap.keepLocal ?? 0 },
      export: { enabled: exp.enabled ?? true, volumeData: exp.volumeData ?? true, parallelism: exp.parallelism ?? 9 },
    },
    blueprints: bindings,
    verify: spec.verify ? buildVerify(spec.verify as Obj, spec.timezone ?? config.defaults.timezone, resolveSchedule) : undefined,
    warnings: [...warnings].sort(),
  };
}

/** Verify schedules resolve like backup ones (no window, no retention to check against). */
export const VERIFY_RETENTION: PlanPolicy['retention'] = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };

function buildVerify(v: Obj, timezone: string, resolveSchedule: ScheduleResolver): PlanVerify {
  return {
    schedule: resolveSchedule(v.frequency, timezone, undefined, VERIFY_RETENTION).schedule,
    timeout: v.timeout ?? DEFAULT_VERIFY_TIMEOUT,
    checks: ((v.checks ?? []) as Obj[]).map((c) => ({
      name: c.name,
      blueprint: c.blueprint,
      query: c.query,
      database: c.database,
      expect: { atLeast: c.expect.atLeast, atMost: c.expect.atMost, equals: c.expect.equals, exists: c.expect.exists },
    })),
  };
}

function buildProfile(name: string, spec: Obj): PlanProfile {
  const enc = spec.encryption.keySecret;
  const base = {
    name,
    encryption: { keySecret: { name: enc.name, namespace: enc.namespace, key: enc.key } },
    immutability: spec.immutability ? { days: spec.immutability.days } : undefined,
  };
  if (spec.s3) {
    const s = spec.s3;
    const prefix = (s.prefix ?? '').replace(/\/+$/, '');
    return {
      ...base,
      type: 's3',
      location: `s3://${s.bucket}${prefix ? `/${prefix}` : ''}`,
      s3: {
        bucket: s.bucket,
        prefix,
        region: s.region ?? 'us-east-1',
        endpoint: s.endpoint,
        forcePathStyle: s.forcePathStyle ?? false,
        insecureSkipTLSVerify: s.insecureSkipTLSVerify ?? false,
        credentials: s.credentials
          ? {
              secretName: s.credentials.secretName,
              namespace: s.credentials.namespace,
              accessKeyIdKey: s.credentials.accessKeyIdKey ?? 'aws_access_key_id',
              secretAccessKeyKey: s.credentials.secretAccessKeyKey ?? 'aws_secret_access_key',
            }
          : undefined,
      },
    };
  }
  const path = (spec.filesystem.path as string).replace(/(.)\/+$/, '$1');
  return { ...base, type: 'filesystem', location: `file://${path}`, filesystem: { path, claimName: spec.filesystem.claimName } };
}

function buildPhase(p: Obj): PlanPhase {
  return { name: p.name, func: p.func, args: p.args, timeout: p.timeout ?? DEFAULT_PHASE_TIMEOUT };
}

function buildBlueprint(name: string, spec: Obj): PlanBlueprint {
  const actions: Partial<Record<BlueprintActionName, PlanBlueprintAction>> = {};
  for (const a of ['backup', 'restore', 'delete', 'validate', 'verify'] as const) {
    const src = spec.actions[a];
    if (!src) continue;
    const outputArtifacts: Record<string, Record<string, string>> = {};
    for (const [k, v] of Object.entries((src.outputArtifacts ?? {}) as Record<string, Obj>)) outputArtifacts[k] = { ...v.keyValue };
    actions[a] = {
      phases: (src.phases as Obj[]).map(buildPhase),
      finally: ((src.finally ?? []) as Obj[]).map(buildPhase),
      outputArtifacts,
      inputArtifacts: [...(src.inputArtifacts ?? [])].sort(),
    };
  }
  return { name, description: spec.description, actions };
}

function buildTransformSet(name: string, spec: Obj): PlanTransformSet {
  return {
    name,
    description: spec.description,
    transforms: (spec.transforms as Obj[]).map((t) => ({
      name: t.name,
      condition: { source: t.condition, env: 'transform' as const },
      patch: (t.patch as Obj[]).map((op) => ({ op: op.op, path: op.path, from: op.from, value: op.value })),
    })),
  };
}

function buildRestore(name: string, spec: Obj, config: PlanConfig): PlanRestore {
  const src = spec.source;
  const inc = spec.include;
  return {
    name,
    source: { cluster: src.cluster ?? config.cluster, namespace: src.namespace, policy: src.policy, restorePoint: src.restorePoint ?? 'latest', before: src.before },
    target: { cluster: spec.target?.cluster ?? config.cluster, namespace: spec.target?.namespace ?? src.namespace },
    include: inc
      ? { kinds: inc.kinds ? [...inc.kinds].sort() : undefined, names: inc.names ? [...inc.names].sort() : undefined, resources: inc.resources ? { source: inc.resources, env: 'object' } : undefined }
      : undefined,
    excludeKinds: [...(spec.exclude?.kinds ?? [])].sort(),
    volumes: spec.volumes ?? true,
    resources: spec.resources ?? true,
    existingResourcePolicy: spec.existingResourcePolicy ?? 'skip',
    transforms: spec.transforms ?? [],
    hooks: spec.hooks ?? true,
  };
}
