/**
 * The execution plan: what `coffer plan` prints and what the reconciler executes.
 * Plain JSON data, deterministic (sorted, defaults filled in), free of secrets
 * (profiles carry Secret references only) and free of wall-clock time.
 */

import type { Schedule } from '../schedule/index.ts';

export const PLAN_API_VERSION = 'coffer.dev/v1alpha1';

export interface Plan {
  apiVersion: typeof PLAN_API_VERSION;
  kind: 'Plan';
  /** Commit the plan was compiled from; '' when compiled from a directory. Not part of `hash`. */
  sourceCommit: string;
  /** sha256:HEX of the canonical JSON of everything below (not sourceCommit): equal plans, equal hash. */
  hash: string;
  config: PlanConfig;
  policies: PlanPolicy[];
  profiles: PlanProfile[];
  blueprints: PlanBlueprint[];
  transformSets: PlanTransformSet[];
  restores: PlanRestore[];
}

export interface PlanConfig {
  cluster: string;
  catalog: { branch: string; path: string };
  reports: { path: string; interval: string };
  sync: { branch: string; interval: string };
  concurrency: { runs: number; volumes: number };
  defaults: { timezone: string; profile?: string };
}

export interface PlanRetention {
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
}

/**
 * compiler/schedule's Schedule (source, normalized, kind, timezone, nominalIntervalSeconds,
 * maxIntervalSeconds) — pass it straight to nextRun/previousSlot — plus the backup window.
 */
export interface PlanSchedule extends Schedule {
  /** Daily window runs must start in, HH:MM in `timezone`; absent = any time. */
  window?: { start: string; end: string };
}

export type CelEnvironmentName = 'namespace' | 'object' | 'workload' | 'transform';

/** A CEL expression that compiled and type-checked; re-compile `source` in `env` to evaluate it. */
export interface PlanExpression {
  source: string;
  env: CelEnvironmentName;
}

export interface PlanSelector {
  namespaces: PlanExpression;
  /** Absent = every object not excluded. */
  resources?: PlanExpression;
  /** Kinds never captured (defaults plus the policy's own), sorted, as Kind or Kind.group. */
  excludeKinds: string[];
  defaultExclusions: boolean;
  /** Skip objects with a controller ownerReference (ReplicaSets of Deployments, Pods of ReplicaSets/StatefulSets/Jobs): their owner recreates them. */
  excludeControlled: boolean;
  includeClusterResources: boolean;
}

export interface PlanActions {
  snapshot: { enabled: boolean; volumeSnapshotClass?: string; keepLocal: number };
  export: { enabled: boolean; volumeData: boolean; parallelism: number };
}

export interface PlanBlueprintBinding {
  blueprint: string;
  /** Absent = run once per namespace. */
  workloads?: PlanExpression;
}

export interface PlanPolicy {
  name: string;
  description?: string;
  paused: boolean;
  schedule: PlanSchedule;
  retention: PlanRetention;
  selector: PlanSelector;
  profile: string;
  actions: PlanActions;
  blueprints: PlanBlueprintBinding[];
  /** Restore verification (spec.verify); absent = never verified. */
  verify?: PlanVerify;
  /** Things that are legal but probably not what the author wants (retention the frequency cannot meet). */
  warnings: string[];
}

/** What the answer to a verify check must be; every condition given must hold. */
export interface PlanVerifyExpect {
  atLeast?: number;
  atMost?: number;
  equals?: string;
  exists?: boolean;
}

export interface PlanVerifyCheck {
  name: string;
  /** Only this bound blueprint's verify action answers it; absent = every bound blueprint with a verify action. */
  blueprint?: string;
  query: string;
  database?: string;
  expect: PlanVerifyExpect;
}

/** spec.verify: when to restore the latest restore point into a scratch namespace and what the copy must pass. */
export interface PlanVerify {
  schedule: PlanSchedule;
  /** Whole-verification deadline as a duration string (default 30m). */
  timeout: string;
  checks: PlanVerifyCheck[];
}

export interface SecretKeyRef {
  name: string;
  namespace?: string;
  key: string;
}

export interface PlanProfile {
  name: string;
  type: 's3' | 'filesystem';
  /** s3://bucket/prefix or file:///path — what RestorePoint.spec.repository.location records. */
  location: string;
  s3?: {
    bucket: string;
    prefix: string;
    region: string;
    endpoint?: string;
    forcePathStyle: boolean;
    insecureSkipTLSVerify: boolean;
    credentials?: { secretName: string; namespace?: string; accessKeyIdKey: string; secretAccessKeyKey: string };
  };
  filesystem?: { path: string; claimName?: string };
  encryption: { keySecret: SecretKeyRef };
  immutability?: { days: number };
}

export type BlueprintActionName = 'backup' | 'restore' | 'delete' | 'validate' | 'verify';
export type FunctionName = 'KubeExec' | 'KubeTask' | 'ScaleWorkload' | 'Wait';

export interface PlanPhase {
  name: string;
  func: FunctionName;
  /** Arguments as written; string values may be templates (parse with compiler/template.ts parseTemplate). */
  args: Record<string, unknown>;
  timeout: string;
}

export interface PlanBlueprintAction {
  phases: PlanPhase[];
  finally: PlanPhase[];
  /** Artifact name → key → template. */
  outputArtifacts: Record<string, Record<string, string>>;
  inputArtifacts: string[];
}

export interface PlanBlueprint {
  name: string;
  description?: string;
  actions: Partial<Record<BlueprintActionName, PlanBlueprintAction>>;
}

export interface PlanPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

export interface PlanTransformSet {
  name: string;
  description?: string;
  transforms: { name: string; condition: PlanExpression; patch: PlanPatchOperation[] }[];
}

export interface PlanRestore {
  name: string;
  source: { cluster: string; namespace: string; policy: string; restorePoint: string; before?: string };
  target: { cluster: string; namespace: string };
  include?: { kinds?: string[]; names?: string[]; resources?: PlanExpression };
  excludeKinds: string[];
  volumes: boolean;
  resources: boolean;
  existingResourcePolicy: 'skip' | 'update';
  transforms: string[];
  hooks: boolean;
}
