import { compileCel } from '../../compiler/cel/index.ts';
import type { PlanBlueprint, PlanPolicy } from '../../compiler/plan/types.ts';
import type { Repository } from '../../repository/index.ts';
import { runAction, toHookRecords, type ActionResult, type ActionSpec } from '../blueprint/run.ts';
import type { KubeClient } from '../kube/client.ts';
import type { DiscoveryResult } from '../kube/discovery.ts';
import type { KubeObject } from '../kube/types.ts';
import { DEFAULT_PARALLELISM, labelValue, deleteSnapshot, exportVolumes, snapshotsReady, snapshotVolumes, volumeOutcome, type MoverRepository, type TakenSnapshot, type VolumeOutcome } from '../volumes/index.ts';
import { bundleIndex, bundlePath, objectYaml, type BundleEntry, type ResourceSummary } from './bundle.ts';
import { exportNamespaceTo, type ExportStreamResult } from './export.ts';
import type { RunProgressUpdate } from '../run-progress.ts';
import { BundleSpool } from './spool.ts';
import { writeBundle } from './write.ts';

export interface NamespaceBackupInput {
  client: KubeClient;
  cluster: string;
  namespace: string;
  policy: PlanPolicy;
  /** The plan's blueprints; the policy's bindings are resolved by name. */
  blueprints: PlanBlueprint[];
  restorePointId: string;
  /** Unique per run; names temporary objects and labels them for cleanup. Default: derived from restorePointId. */
  runId?: string;
  /** Where manifests (opened repository) and volume data (mover Jobs) go; absent when the policy does not export. */
  repository?: { repo: Repository; mover: MoverRepository };
  moverImage?: string;
  discovery?: DiscoveryResult;
  /** Timeouts: snapshot readiness and each mover Job. */
  snapshotTimeoutMs?: number;
  moverTimeoutMs?: number;
  signal?: AbortSignal;
  log?: (m: string) => void;
  /** Progress as it happens: phases, objects spooled, volumes moved (a ProgressTracker throttles it). */
  progress?: (u: RunProgressUpdate) => void;
  now?: () => Date;
}

/** Everything the RestorePoint `spec` needs from the Kubernetes side of one run (Git-safe: no Secret data). */
export interface NamespaceBackupResult {
  phase: 'Succeeded' | 'Failed';
  startTime: string;
  endTime: string;
  /** RestorePoint `spec.resources`. */
  resources: { apiVersion: string; kind: string; count: number; names: string[] }[];
  summary: ResourceSummary;
  volumes: VolumeOutcome[];
  /** RestorePoint `spec.repository.manifestSnapshot`. */
  manifestSnapshot?: string;
  artifacts: Record<string, Record<string, string>>;
  /** RestorePoint `spec.hooks`. */
  hooks: Record<string, unknown>[];
  stats: { bytesRead: number; bytesAdded: number; durationSeconds: number };
  /** Milliseconds per step (export = discovery+list+select+clean; hooks include the snapshots they wrap). */
  timings: { exportMs: number; hooksAndSnapshotsMs: number; snapshotsMs: number; volumesMs: number; manifestsMs: number };
  errors: string[];
  warnings: string[];
  /** For callers that want details (excluded objects, selector errors). */
  export?: ExportStreamResult;
  actions: ActionResult[];
}

/** Bundle path of a hook's stdout (a database dump): stored with the manifests, encrypted, never in Git. */
export function hookOutputPath(r: ActionResult, phase: string): string {
  const who = r.workload ? r.workload.replace('/', '-') : '_namespace';
  return `hooks/${r.blueprint}/${who}/${r.action}/${phase}.stdout`;
}

const WORKLOAD_TYPES = [
  { apiVersion: 'apps/v1', plural: 'deployments', kind: 'Deployment' },
  { apiVersion: 'apps/v1', plural: 'statefulsets', kind: 'StatefulSet' },
  { apiVersion: 'apps/v1', plural: 'daemonsets', kind: 'DaemonSet' },
] as const;

/**
 * The Kubernetes side of one backup run for one (policy, namespace), in the issue's order: select and export
 * manifests; run the bound blueprints' backup phases; snapshot the PVCs while the app is quiesced (inside the
 * blueprints' phases, before their finally phases); export volume data through mover Jobs; write the manifest
 * bundle (with hook outputs) into the repository; clean up. Never throws for a failed step: the result's `phase`
 * and `errors` say what happened, so the caller records a failed run instead of a restore point.
 */
export async function backupNamespace(input: NamespaceBackupInput): Promise<NamespaceBackupResult> {
  const now = input.now ?? (() => new Date());
  const start = now();
  const t0 = performance.now();
  const { client, policy, namespace } = input;
  const progress = input.progress ?? (() => undefined);
  const runId = input.runId ?? input.restorePointId;
  const errors: string[] = [];
  const warnings: string[] = [];
  const actions: ActionResult[] = [];
  let exp: ExportStreamResult | undefined;
  let spool: BundleSpool | undefined;
  let volumes: VolumeOutcome[] = [];
  let manifestSnapshot: string | undefined;
  let bytesRead = 0;
  let bytesAdded = 0;
  const timings = { exportMs: 0, hooksAndSnapshotsMs: 0, snapshotsMs: 0, volumesMs: 0, manifestsMs: 0 };
  const timed = async <T>(key: keyof typeof timings, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      timings[key] += Math.round(performance.now() - t);
    }
  };
  const labels = { 'coffer.dev/policy': labelValue(policy.name), 'coffer.dev/restorepoint': labelValue(input.restorePointId) };
  let taken: { pvc: KubeObject; snapshot?: TakenSnapshot; error?: string }[] = [];

  try {
    // 1. Resources.
    const selector = policy.selector.resources ? compileCel(policy.selector.resources.source, 'object') : undefined;
    // Objects go to a spool file on disk as they are listed, and into the repository only once the run succeeded.
    const writing = !!input.repository && policy.actions.export.enabled;
    if (writing) spool = await BundleSpool.create();
    progress({ phase: 'export' });
    exp = await timed('exportMs', () => exportNamespaceTo(client, {
      namespace,
      selector,
      excludeKinds: policy.selector.excludeKinds,
      defaultExclusions: policy.selector.defaultExclusions,
      excludeControlled: policy.selector.excludeControlled,
      includeClusterResources: policy.selector.includeClusterResources,
      discovery: input.discovery,
    }, async (e) => {
      await spool?.add(bundlePath(e), objectYaml(e.object));
      progress({ objects: 1 });
    }));
    for (const e of exp.clusterObjects) await spool?.add(bundlePath(e), objectYaml(e.object));
    progress({ objects: exp.clusterObjects.length });
    warnings.push(...exp.warnings);
    if (exp.selectorErrors.length) warnings.push(`resource selector failed on ${exp.selectorErrors.length} object(s), not captured: ${exp.selectorErrors.slice(0, 3).map((e) => `${e.object}: ${e.message}`).join('; ')}`);
    // Only bound filesystem volumes can be snapshotted and read by a mover; others are reported, not silently lost.
    const pvcs = exp.pvcs.filter((p) => {
      const phase = (p.status as { phase?: string } | undefined)?.phase;
      const mode = (p.spec as { volumeMode?: string } | undefined)?.volumeMode;
      if (phase !== 'Bound') warnings.push(`PVC ${p.metadata.name} is ${phase ?? 'not bound'}: its data is not captured (the manifest is)`);
      else if (mode === 'Block') warnings.push(`PVC ${p.metadata.name} is a raw block volume: its data is not captured (only filesystem volumes are supported)`);
      return phase === 'Bound' && mode !== 'Block';
    });

    // 2 + 3. Hooks around the snapshots.
    const snapshot = async () => {
      if (!policy.actions.snapshot.enabled || !pvcs.length) return;
      // Only until each is cut: the finally phases (unquiesce) run then, while the storage may still be processing.
      taken = await timed('snapshotsMs', () => snapshotVolumes(client, { namespace, pvcs, volumeSnapshotClass: policy.actions.snapshot.volumeSnapshotClass, labels, runId, timeoutMs: input.snapshotTimeoutMs, signal: input.signal, until: 'cut' }));
      failIfAny(taken);
    };
    const failIfAny = (t: typeof taken) => {
      const failed = t.filter((x) => x.error);
      if (failed.length) throw new Error(`volume snapshots failed: ${failed.map((x) => x.error).join('; ')}`);
    };
    const invocations = await blueprintInvocations(input, exp);
    const nest = async (i: number): Promise<void> => {
      if (i >= invocations.length) return snapshot();
      const inv = invocations[i]!;
      const r = await runAction({
        blueprint: inv.blueprint,
        action: 'backup',
        spec: inv.spec,
        context: { namespace, cluster: input.cluster, policy: policy.name, workload: inv.workload, restorePoint: { id: input.restorePointId, policy: policy.name, namespace, time: start.toISOString() }, artifacts: {} },
        ctx: { client, signal: input.signal, log: input.log },
        now,
        beforeFinally: () => nest(i + 1),
      });
      actions.push(r);
      if (!r.ok) throw new Error(r.error);
    };
    progress({ phase: 'hooks' });
    try {
      await timed('hooksAndSnapshotsMs', () => nest(0));
      if (taken.length) {
        taken = await timed('snapshotsMs', () => snapshotsReady(client, taken, { timeoutMs: input.snapshotTimeoutMs, signal: input.signal }));
        failIfAny(taken);
      }
    } catch (e) {
      errors.push((e as Error).message);
    }
    // Outer actions were pushed after inner ones; report in binding order.
    actions.reverse();

    // 4. Export.
    const snapshots = taken.filter((t): t is { pvc: KubeObject; snapshot: TakenSnapshot } => !!t.snapshot);
    if (!errors.length && input.repository && policy.actions.export.enabled) {
      if (policy.actions.export.volumeData && snapshots.length) {
        progress({ phase: 'volumes', volumesTotal: snapshots.length });
        const moved = new Map<string, number>();
        volumes = await timed('volumesMs', () => exportVolumes(client, {
          namespace,
          snapshots,
          repository: input.repository!.mover,
          tags: { cluster: input.cluster, namespace, policy: policy.name, restorepoint: input.restorePointId },
          runId,
          image: input.moverImage,
          parallelism: policy.actions.export.parallelism || DEFAULT_PARALLELISM,
          deleteSnapshots: policy.actions.snapshot.keepLocal === 0,
          timeoutMs: input.moverTimeoutMs,
          signal: input.signal,
          log: input.log,
          // Bytes as movers report them, then each volume's final size: the total only grows.
          onVolumeBytes: (pvc, b) => {
            const before = moved.get(pvc) ?? 0;
            if (b > before) moved.set(pvc, b), progress({ bytes: b - before });
          },
          onVolume: (v) => {
            const before = moved.get(v.pvc) ?? 0;
            moved.set(v.pvc, Infinity);
            progress({ volumesDone: 1, bytes: Math.max(0, (v.sizeBytes ?? 0) - before) });
          },
        }));
        for (const v of volumes) {
          if (v.phase === 'Failed') errors.push(`volume ${v.pvc}: ${v.error}`);
          bytesRead += v.sizeBytes ?? 0;
          bytesAdded += v.bytesAdded ?? 0;
        }
      } else if (policy.actions.export.volumeData && pvcs.length && !policy.actions.snapshot.enabled) {
        warnings.push('volume data is not exported: exporting volumes needs actions.snapshot.enabled (data is read from a snapshot, never from the live volume)');
      }
      const extra: BundleEntry[] = [];
      for (const a of actions) for (const p of a.phases) if (p.stdout?.length) extra.push({ path: hookOutputPath(a, p.phase), data: p.stdout });
      const index = bundleIndex(exp.summary, { cluster: input.cluster, namespace, policy: policy.name, restorePoint: input.restorePointId, time: start.toISOString() });
      const objects = spool!;
      async function* entries(): AsyncGenerator<BundleEntry> {
        yield index;
        yield* objects.entries();
        yield* extra;
      }
      if (!errors.length) {
        progress({ phase: 'manifests' });
        const w = await timed('manifestsMs', () => writeBundle(input.repository!.repo, entries(), { tags: { cluster: input.cluster, namespace, policy: policy.name, restorepoint: input.restorePointId }, time: start }));
        manifestSnapshot = w.snapshotId;
        bytesRead += w.stats.bytesProcessed;
        progress({ bytes: w.stats.bytesProcessed });
        bytesAdded += w.stats.bytesStored;
      }
    }
    if (!volumes.length && snapshots.length) {
      // Snapshot-only policies (or a failed run): record the in-cluster snapshots.
      volumes = snapshots.map((s) => {
        const { error: _none, ...v } = volumeOutcome(s.pvc, s.snapshot, s.snapshot.name, undefined, undefined);
        return { ...v, phase: errors.length ? 'Failed' : 'Succeeded' } as VolumeOutcome;
      });
    }
  } catch (e) {
    errors.push((e as Error).message);
  } finally {
    await spool?.close();
    // A failed run leaves no snapshots behind that nothing records.
    if (errors.length) for (const t of taken) if (t.snapshot) await deleteSnapshot(client, namespace, t.snapshot.name).catch(() => undefined);
  }
  const summary = exp?.summary ?? { total: 0, kinds: [] };
  const artifacts = collectArtifacts(actions);
  return {
    phase: errors.length ? 'Failed' : 'Succeeded',
    startTime: start.toISOString(),
    endTime: now().toISOString(),
    resources: summary.kinds.map((k) => ({ apiVersion: k.apiVersion, kind: k.kind, count: k.count, names: k.names })),
    summary,
    volumes: errors.length ? volumes.map((v) => ({ ...v, volumeSnapshot: undefined })).map(stripUndefined) : volumes,
    manifestSnapshot,
    artifacts,
    hooks: chronologicalHooks(actions),
    stats: { bytesRead, bytesAdded, durationSeconds: Math.round(performance.now() - t0) / 1000 },
    timings,
    errors,
    warnings,
    export: exp,
    actions,
  };
}

/** Hook records of nested actions in the order they ran (outer phases, inner phases, snapshot, inner finally, outer finally). */
function chronologicalHooks(actions: ActionResult[]): Record<string, unknown>[] {
  const rows = actions.flatMap((a) => {
    const recs = toHookRecords(a);
    let last = 0;
    // Skipped phases never started: keep them right after the phase that failed.
    return a.phases.map((p, i) => ({ at: (last = p.startedAt ?? last + 1e-6), rec: recs[i]! }));
  });
  return rows.sort((x, y) => x.at - y.at).map((r) => r.rec);
}

/**
 * Artifacts of all actions in one map. A blueprint bound once per namespace records `NAME`; bound per workload it
 * records `NAME@Kind/name` (the same blueprint runs for several workloads, each with its own dump), so the restore of a
 * workload reads `artifacts["NAME@StatefulSet/db"]` and exposes it to its templates as `artifacts.NAME`.
 */
export function collectArtifacts(actions: Pick<ActionResult, 'artifacts' | 'workload'>[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const a of actions) for (const [name, kv] of Object.entries(a.artifacts)) out[a.workload ? `${name}@${a.workload}` : name] = kv;
  return out;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Which blueprint actions run: each binding once per namespace, or once per workload its `workloads` CEL selects
 * (Deployments, StatefulSets, DaemonSets of the namespace). A binding to a blueprint without a backup action is a no-op.
 */
async function blueprintInvocations(input: NamespaceBackupInput, exp: ExportStreamResult): Promise<{ blueprint: string; spec: ActionSpec; workload?: { kind: string; name: string; namespace: string } }[]> {
  const out: { blueprint: string; spec: ActionSpec; workload?: { kind: string; name: string; namespace: string } }[] = [];
  const nsObj = exp.clusterObjects.find((o) => o.resource.kind === 'Namespace')?.object ?? { metadata: { name: input.namespace } };
  let workloads: KubeObject[] | undefined;
  for (const b of input.policy.blueprints) {
    const bp = input.blueprints.find((x) => x.name === b.blueprint);
    if (!bp) throw new Error(`policy ${input.policy.name} binds blueprint ${b.blueprint}, which the plan does not contain`);
    const spec = bp.actions.backup;
    if (!spec) continue;
    if (!b.workloads) {
      out.push({ blueprint: bp.name, spec });
      continue;
    }
    if (!workloads) {
      workloads = [];
      for (const t of WORKLOAD_TYPES) for (const w of await input.client.list(t.apiVersion, t.plural, input.namespace)) workloads.push({ ...w, apiVersion: t.apiVersion, kind: t.kind });
      workloads.sort((a, c) => `${a.kind}/${a.metadata.name}`.localeCompare(`${c.kind}/${c.metadata.name}`));
    }
    const prog = compileCel(b.workloads.source, 'workload');
    for (const w of workloads) {
      let hit = false;
      try {
        hit = prog.evaluate({ object: w, workload: w, namespaceObject: nsObj }) === true;
      } catch {
        hit = false;
      }
      if (hit) out.push({ blueprint: bp.name, spec, workload: { kind: w.kind, name: w.metadata.name, namespace: input.namespace } });
    }
  }
  return out;
}
