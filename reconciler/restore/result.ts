import jsyaml from 'js-yaml';
import { validateKind } from '../../compiler/index.ts';
import type { Catalog, CommitResult } from '../catalog/index.ts';
import type { Phase, RestorePoint, RunRecord } from '../catalog/types.ts';
import type { ExecuteResult } from './execute.ts';

export interface RestoreResultDoc {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: 'RestoreResult';
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    restore?: string;
    restorePoint: string;
    source: { cluster?: string; namespace: string; policy: string };
    target: { cluster?: string; namespace: string };
    startTime: string;
    endTime?: string;
    durationSeconds?: number;
    phase: Phase;
    transforms?: string[];
    summary: { created: number; updated: number; skipped: number; failed: number };
    resources: ExecuteResult['resources'];
    volumes?: { pvc: string; from?: 'repository' | 'volumesnapshot' | 'none'; snapshotId?: string; bytesRestored?: number; phase: Phase; error?: string }[];
    hooks?: Record<string, unknown>[];
    errors?: string[];
  };
}

/** Succeeded when everything asked for happened; Failed when nothing was created or updated; else PartiallyFailed. */
export function restorePhase(x: Pick<ExecuteResult, 'resources' | 'errors' | 'unhealthy'>): Phase {
  const problems = x.errors.length + x.unhealthy.length + x.resources.filter((r) => r.action === 'failed').length;
  if (!problems) return 'Succeeded';
  return x.resources.some((r) => r.action === 'created' || r.action === 'updated') ? 'PartiallyFailed' : 'Failed';
}

export interface ResultInput {
  name: string;
  restore?: string;
  restorePoint: RestorePoint;
  target: { cluster?: string; namespace: string };
  transforms: string[];
  start: Date;
  end: Date;
  /** Resources skipped by the plan (controllers recreate them, filters) are listed too: "every resource considered". */
  planned: ExecuteResult;
  planSkipped: { apiVersion: string; kind: string; namespace?: string; name: string; reason: string }[];
}

/** The RestoreResult document (schemas/restoreresult.schema.json). Pure. */
export function buildRestoreResult(i: ResultInput): RestoreResultDoc {
  const x = i.planned;
  const resources = [...x.resources, ...i.planSkipped.map((s) => ({ ...s, action: 'skipped' as const }))];
  const count = (a: string) => resources.filter((r) => r.action === a).length;
  const errors = [...x.errors, ...x.unhealthy.map((u) => `not healthy: ${u}`)];
  const rp = i.restorePoint;
  return {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'RestoreResult',
    metadata: { name: i.name, labels: { 'coffer.dev/restore-point': rp.metadata.name.slice(0, 63), 'coffer.dev/namespace': i.target.namespace } },
    spec: {
      ...(i.restore ? { restore: i.restore } : {}),
      restorePoint: rp.metadata.name,
      source: { cluster: rp.spec.cluster, namespace: rp.spec.namespace, policy: rp.spec.policy },
      target: { ...(i.target.cluster ? { cluster: i.target.cluster } : {}), namespace: i.target.namespace },
      startTime: i.start.toISOString(),
      endTime: i.end.toISOString(),
      durationSeconds: Math.max(0, Math.round(i.end.getTime() - i.start.getTime()) / 1000),
      phase: restorePhase(x),
      ...(i.transforms.length ? { transforms: i.transforms } : {}),
      summary: { created: count('created'), updated: count('updated'), skipped: count('skipped'), failed: count('failed') },
      resources,
      ...(x.volumes.length ? { volumes: x.volumes } : {}),
      ...(x.hooks.length ? { hooks: x.hooks } : {}),
      ...(errors.length ? { errors } : {}),
    },
  };
}

/** Catalog-branch path of a restore result: `restores/<cluster>/<target namespace>/<name>.yaml`. */
export function restoreResultPath(cluster: string, namespace: string, name: string): string {
  return `restores/${cluster}/${namespace}/${name}.yaml`;
}

/**
 * Commits the result and its Run record (type restore, so `coffer runs` lists restores next to backups, with the
 * run's log for `coffer logs`) as one commit on the catalog branch of the target cluster.
 */
export async function recordRestore(catalog: Catalog, doc: RestoreResultDoc, runName: string, trigger: RunRecord['spec']['trigger'] = 'manual', log: string[] = []): Promise<CommitResult & { path: string }> {
  const path = restoreResultPath(catalog.cluster, doc.spec.target.namespace, doc.metadata.name);
  const run: RunRecord = {
    apiVersion: 'coffer.dev/v1alpha1',
    kind: 'Run',
    metadata: { name: runName },
    spec: { type: 'restore', cluster: catalog.cluster, namespace: doc.spec.target.namespace, policy: doc.spec.source.policy, trigger, ...(doc.spec.restore ? { restore: doc.spec.restore } : {}) },
    status: {
      phase: doc.spec.phase,
      startTime: doc.spec.startTime,
      ...(doc.spec.endTime ? { endTime: doc.spec.endTime } : {}),
      restorePoint: doc.spec.restorePoint,
      volumes: doc.spec.volumes?.length ?? 0,
      bytes: (doc.spec.volumes ?? []).reduce((n, v) => n + (v.bytesRestored ?? 0), 0),
      ...(doc.spec.errors?.length ? { error: doc.spec.errors.join('; ').slice(0, 2000) } : {}),
      ...(log.length ? { log } : {}),
    },
  };
  const s = doc.spec.summary;
  const message = `restore: ${doc.spec.source.namespace}/${doc.spec.restorePoint} → ${doc.spec.target.namespace} ${doc.spec.phase === 'Succeeded' ? 'ok' : doc.spec.phase}, ${s.created} created, ${s.updated} updated, ${s.skipped} skipped, ${s.failed} failed\n\nRestore-Result: ${doc.metadata.name}\nRestore-Point: ${doc.spec.restorePoint}\n`;
  validateRestoreResult(doc);
  // js-yaml (YAML 1.2 core schema): a result lists every object considered, 50,000 lines for a big namespace, which
  // the `yaml` package takes seconds to write; its output reads back identically with `yaml`.
  const content = jsyaml.dump(doc, { schema: jsyaml.CORE_SCHEMA, lineWidth: -1, noRefs: true, skipInvalid: true });
  const r = await catalog.recordRun(run, message, { put: [{ path, content }] });
  return { ...r, path };
}

/** Checks a result against schemas/restoreresult.schema.json (compiler-core's validators); a malformed document is never committed. */
export function validateRestoreResult(doc: RestoreResultDoc): void {
  const problems = validateKind('RestoreResult', doc);
  if (problems.length) {
    const msg = problems.map((p) => `/${p.path.join('/')} ${p.message}`).join('; ');
    throw Object.assign(new Error(`RestoreResult ${doc.metadata.name} does not match its schema: ${msg}`), { code: 'E_CATALOG_INVALID' });
  }
}
