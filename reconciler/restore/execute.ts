import { compileCel } from '../../compiler/cel/index.ts';
import type { PlanBlueprint, PlanPolicy, PlanVerifyCheck } from '../../compiler/plan/types.ts';
import type { Repository } from '../../repository/index.ts';
import { runAction, toHookRecords, type ActionResult, type ActionSpec } from '../blueprint/run.ts';
import type { RestorePoint } from '../catalog/types.ts';
import { isConflict, isNotFound, type KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { mapLimit, sleep, waitFor } from '../kube/wait.ts';
import type { MoverRepository } from '../volumes/mover.ts';
import { RestoreError } from './errors.ts';
import { hasHealth, unhealthyReason } from './health.ts';
import type { PlannedObject, RestorePlan } from './plan.ts';
import { verifySnapshots } from './verify.ts';
import { claimPodSpec, placementForClaim } from './placement.ts';
import { restoreMoverLabels, restoreMoverName, runRestoreMover } from './volume.ts';
import { populateAndHandBack } from '../volumes/handback.ts';
import { moverIdentity } from '../volumes/identity.ts';

export type ExistingPolicy = 'skip' | 'update' | 'recreate';
export const EXISTING_POLICIES: readonly ExistingPolicy[] = ['skip', 'update', 'recreate'];

export interface ResourceOutcome {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  action: 'created' | 'updated' | 'skipped' | 'failed';
  reason?: string;
  transforms?: string[];
}

export interface VolumeRestoreOutcome {
  pvc: string;
  snapshotId?: string;
  bytesRestored?: number;
  phase: 'Pending' | 'Succeeded' | 'Failed';
  error?: string;
  /** Where the data came from (kept out of the RestoreResult document, which has no field for it; shown by the CLI). */
  from: 'repository' | 'volumesnapshot' | 'none';
}

export interface ExecuteInput {
  client: KubeClient;
  plan: RestorePlan;
  restorePoint: RestorePoint;
  /** Needed when the plan restores volume data from the repository. */
  repository?: { repo: Repository; mover: MoverRepository };
  existing?: ExistingPolicy;
  dryRun?: boolean;
  wait?: boolean;
  /** How long `--wait` (and hooks waiting for their workload) wait; default 5 minutes. */
  waitTimeoutMs?: number;
  /** The target is the cluster the restore point was taken on: a surviving local VolumeSnapshot may be used. */
  sameCluster?: boolean;
  /** Blueprint `restore` actions to run once the data is in place (the policy's bindings). */
  hooks?: { policy: PlanPolicy; blueprints: readonly PlanBlueprint[] };
  /** Also run the blueprints' optional `validate` action once everything is restored (DR drills). */
  validate?: boolean;
  /** Then each of these policy checks through the blueprints' `verify` action (restore verification). */
  verify?: readonly PlanVerifyCheck[];
  moverImage?: string;
  moverTimeoutMs?: number;
  /** Volume restores in flight at once (default 9, like K10). */
  parallelism?: number;
  /** Object creations in flight at once within a wave (default 16). */
  objectParallelism?: number;
  runId: string;
  signal?: AbortSignal;
  log?: (m: string) => void;
}

export interface ExecuteResult {
  resources: ResourceOutcome[];
  volumes: VolumeRestoreOutcome[];
  hooks: Record<string, unknown>[];
  /** Objects not healthy when `--wait` gave up: `StatefulSet shop/db: 0/1 replicas ready`. */
  unhealthy: string[];
  errors: string[];
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/**
 * Creations in flight at once: enough to hide the round trip (a sequential restore — Velero's, or `kubectl create -f`
 * — is bound by it: 52 minutes for 31,000 Secrets, V#6845) and well below kube-apiserver's default in-flight limit.
 */
export const DEFAULT_OBJECT_PARALLELISM = 16;

function ident(o: KubeObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

/**
 * Applies a restore plan to a cluster in its order: wave after wave, the objects of a wave in parallel (at most
 * `objectParallelism`), each created with one request. Nothing that exists is changed unless `existing` says so
 * (`skip`, the default, reports it); a Namespace is never deleted and recreated, whatever `existing` says. PVCs that
 * carry data are created, filled by restore mover Jobs (or from a surviving local VolumeSnapshot), and only then are
 * services and workloads created, so no pod ever mounts a half-restored volume. Blueprint `restore` phases run after
 * the data is in place and the workload is ready. With `dryRun` the cluster is only read.
 *
 * Before anything is created, every repository snapshot the restore needs is verified (its packs read and hash-checked),
 * so a damaged repository fails the restore with the target untouched. Dry runs skip that read.
 */
export async function executeRestore(input: ExecuteInput): Promise<ExecuteResult> {
  const { client, plan } = input;
  const existing = input.existing ?? 'skip';
  const log = input.log ?? (() => undefined);
  const resources: ResourceOutcome[] = [];
  const volumes: VolumeRestoreOutcome[] = [];
  const errors: string[] = [];
  const hooks: Record<string, unknown>[] = [];
  const uids = new Map<string, string>();
  const outcomeOf = new Map<PlannedObject, ResourceOutcome>();

  const repoSnapshots = plan.objects.filter((p) => p.volume?.snapshotId).map((p) => p.volume!.snapshotId!);
  if (repoSnapshots.length && !input.repository) throw new RestoreError('E_RESTORE_ARGS', 'the restore point has volume data in a repository, but no repository was given');
  // A dry run stays cheap (it reads no volume data); a real restore checks first, so a damaged repository changes nothing.
  if (repoSnapshots.length && !input.dryRun) {
    const v = await verifySnapshots(input.repository!.repo, repoSnapshots);
    log(`verified ${repoSnapshots.length} volume snapshot(s): ${v.packs} pack(s), ${v.bytes} bytes`);
  }

  // Claims filled in the mover namespace and handed back (README of volumes/): created only then, with their volume.
  const moverNamespace = input.repository?.mover.namespace;
  const pending: { p: PlannedObject; outcome: VolumeRestoreOutcome; handBack?: { body: KubeObject; resource: ResourceOutcome } }[] = [];
  const flushVolumes = async () => {
    const batch = pending.splice(0);
    const objects = plan.objects.map((o) => o.object);
    const settled = await mapLimit(batch, input.parallelism ?? 9, async ({ p, outcome, handBack }) => {
      const ns = p.object.metadata.namespace!;
      const claim = p.object.metadata.name;
      const placement = placementForClaim(ns, claim, objects);
      const mover = (namespace: string, pvc: string, name?: string) =>
        runRestoreMover(client, {
          ...(placement ? { placement } : {}),
          identity: moverIdentity(claimPodSpec(ns, claim, objects), claim, 'new'),
          namespace,
          pvc,
          ...(name ? { name } : {}),
          snapshotId: p.volume!.snapshotId!,
          repository: input.repository!.mover,
          runId: input.runId,
          ...(input.moverImage ? { image: input.moverImage } : {}),
          ...(input.moverTimeoutMs ? { timeoutMs: input.moverTimeoutMs } : {}),
          ...(input.signal ? { signal: input.signal } : {}),
          log,
        });
      if (handBack) {
        const name = restoreMoverName(`${ns}-${claim}`, input.runId);
        const { result, claim: created } = await populateAndHandBack(client, {
          claim: handBack.body,
          moverNamespace: moverNamespace!,
          name,
          labels: restoreMoverLabels(claim, input.runId),
          fill: (staging) => mover(moverNamespace!, staging, name),
          create: (body) => createRetrying(client, p, body, input.signal),
          ...(input.waitTimeoutMs ? { timeoutMs: input.waitTimeoutMs } : {}),
          ...(input.signal ? { signal: input.signal } : {}),
        });
        if (created.metadata.uid) uids.set(`${p.object.kind}/${claim}`, created.metadata.uid);
        log(`volume ${ns}/${claim}: filled in ${moverNamespace} and bound to volume ${(created.spec as { volumeName?: string }).volumeName}`);
        outcome.bytesRestored = result.bytes;
      } else {
        outcome.bytesRestored = (await mover(ns, claim)).bytes;
      }
      outcome.phase = 'Succeeded';
    });
    settled.forEach((s, i) => {
      if (s.status === 'rejected') {
        const { outcome: o, handBack } = batch[i]!;
        o.phase = 'Failed';
        o.error = (s.reason as Error).message;
        errors.push(`volume ${o.pvc}: ${o.error}`);
        if (handBack) Object.assign(handBack.resource, { action: 'failed', reason: o.error });
      }
    });
  };

  /** One object: created (the common case, one request), else handled as `existing` says. */
  const restoreOne = async (p: PlannedObject): Promise<ResourceOutcome> => {
    if (input.signal?.aborted) throw input.signal.reason;
    const o = p.object;
    const ns = p.resource.namespaced ? o.metadata.namespace : undefined;
    const base: Omit<ResourceOutcome, 'action'> = { apiVersion: o.apiVersion, kind: o.kind, ...(ns ? { namespace: ns } : {}), name: o.metadata.name, ...(p.transforms.length ? { transforms: p.transforms } : {}) };
    const isNamespace = p.resource.group === '' && o.kind === 'Namespace';
    const policy: ExistingPolicy = isNamespace && existing === 'recreate' ? 'update' : existing;
    const remember = (live: KubeObject) => live.metadata.uid && uids.set(`${o.kind}/${o.metadata.name}`, live.metadata.uid);
    const findLive = async () => {
      const live = await client.find(o.apiVersion, p.resource.plural, ns, o.metadata.name);
      if (live) remember(live);
      if (live && (live.metadata as { deletionTimestamp?: string }).deletionTimestamp) {
        throw new RestoreError('E_RESTORE_FAILED', `${ident(o)} is being deleted; wait until it is gone and restore again`);
      }
      return live;
    };
    try {
      if (input.dryRun) {
        const live = await findLive();
        const outcome: ResourceOutcome = !live
          ? { ...base, action: 'created' }
          : policy === 'skip'
            ? { ...base, action: 'skipped', reason: 'already exists (--existing skip)' }
            : { ...base, action: 'updated', reason: policy === 'recreate' ? 'would be deleted and created again (--existing recreate)' : 'would be updated (--existing update)' };
        if (p.volume && outcome.action !== 'skipped' && !(live && policy === 'update')) volumes.push({ pvc: o.metadata.name, ...(p.volume.snapshotId ? { snapshotId: p.volume.snapshotId } : {}), phase: 'Pending', from: await volumeSource(p) });
        return outcome;
      }
      const desired = p.load ? await p.load() : o;
      const owners = ownerReferences(p, uids);
      const body: KubeObject = { ...desired, metadata: { ...desired.metadata, ...(owners.length ? { ownerReferences: owners } : {}) } };
      const from = p.volume ? await volumeSource(p) : 'none';
      if (from === 'volumesnapshot') body.spec = { ...(body.spec as Record<string, unknown>), dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: p.volume!.volumeSnapshot } };
      // A claim filled from the repository is created only once its volume is filled in the mover namespace.
      const handBack = from === 'repository' && !!moverNamespace && moverNamespace !== ns;
      const created = async (replaced: boolean): Promise<ResourceOutcome> => {
        const outcome: ResourceOutcome = { ...base, action: replaced ? 'updated' : 'created', ...(replaced ? { reason: 'deleted and created again (--existing recreate)' } : {}) };
        if (p.volume) {
          const v: VolumeRestoreOutcome = { pvc: o.metadata.name, ...(p.volume.snapshotId && from === 'repository' ? { snapshotId: p.volume.snapshotId } : {}), phase: from === 'volumesnapshot' ? 'Succeeded' : 'Pending', from };
          volumes.push(v);
          if (from === 'repository') pending.push({ p, outcome: v, ...(handBack ? { handBack: { body, resource: outcome } } : {}) });
        }
        return outcome;
      };
      try {
        if (handBack) {
          if (!(await findLive())) return await created(false);
        } else {
          remember(await createRetrying(client, p, body, input.signal));
          return await created(false);
        }
      } catch (e) {
        // Admission (webhooks, quotas, RBAC on create) runs before the exists check: an existing object may be
        // refused for another reason, and is still only "existing" to us.
        if (!isConflict(e) && !(await client.find(o.apiVersion, p.resource.plural, ns, o.metadata.name).catch(() => undefined))) throw e;
      }
      // It exists (or did a moment ago).
      const live = await findLive();
      if (!live) throw new RestoreError('E_RESTORE_FAILED', `${ident(o)} existed when created and was gone right after; restore again`);
      if (policy === 'skip') return { ...base, action: 'skipped', reason: 'already exists (--existing skip)' };
      if (policy === 'update') {
        const patch = p.resource.group === '' && o.kind === 'PersistentVolumeClaim' ? { metadata: { labels: desired.metadata.labels ?? null, annotations: desired.metadata.annotations ?? null } } : withoutStatus(desired);
        remember(await client.mergePatch(o.apiVersion, p.resource.plural, ns, o.metadata.name, patch));
        return { ...base, action: 'updated', ...(p.volume ? { reason: 'claim existed: its data was not overwritten (use --existing recreate)' } : {}) };
      }
      await client.delete(o.apiVersion, p.resource.plural, ns, o.metadata.name, 'Foreground');
      await waitFor(async () => ((await client.find(o.apiVersion, p.resource.plural, ns, o.metadata.name)) ? undefined : true), { timeoutMs: input.waitTimeoutMs ?? 300_000, what: `${ident(o)} to be deleted before it is created again`, ...(input.signal ? { signal: input.signal } : {}) });
      try {
        if (!handBack) remember(await createRetrying(client, p, body, input.signal));
      } catch (e) {
        if (isConflict(e)) throw new RestoreError('E_RESTORE_FAILED', `${ident(body)} was created by someone else during the restore`);
        throw e;
      }
      return await created(true);
    } catch (e) {
      if (input.signal?.aborted) throw e;
      errors.push(`${ident(o)}: ${(e as Error).message}`);
      return { ...base, action: 'failed', reason: (e as Error).message };
    }
  };

  // Wave by wave; inside a wave, objects in parallel (bounded). Volume data is restored once the claims are created,
  // before the next stage (services, then workloads) starts.
  const parallelism = Math.max(1, input.objectParallelism ?? DEFAULT_OBJECT_PARALLELISM);
  for (let i = 0; i < plan.objects.length; ) {
    let j = i + 1;
    while (j < plan.objects.length && plan.objects[j]!.wave === plan.objects[i]!.wave) j++;
    const wave = plan.objects.slice(i, j);
    if (pending.length && wave[0]!.stage !== 'volumes') await flushVolumes();
    if (input.signal?.aborted) throw input.signal.reason;
    const settled = await mapLimit(wave, parallelism, restoreOne);
    for (const [k, r] of settled.entries()) {
      if (r.status === 'rejected') throw r.reason; // only an abort escapes restoreOne
      outcomeOf.set(wave[k]!, r.value);
      resources.push(r.value);
    }
    i = j;
  }
  if (pending.length) await flushVolumes();
  volumes.sort((a, b) => (a.pvc < b.pvc ? -1 : a.pvc > b.pvc ? 1 : 0)); // created in parallel: report in a stable order

  // Local VolumeSnapshots are only usable inside the restore point's own namespace on its own cluster.
  async function volumeSource(p: PlannedObject): Promise<VolumeRestoreOutcome['from']> {
    const v = p.volume!;
    if (v.volumeSnapshot && input.sameCluster && p.object.metadata.namespace === input.restorePoint.spec.namespace) {
      const vs = await client.find('snapshot.storage.k8s.io/v1', 'volumesnapshots', p.object.metadata.namespace, v.volumeSnapshot).catch(() => undefined);
      if ((vs?.status as { readyToUse?: boolean } | undefined)?.readyToUse) return 'volumesnapshot';
    }
    return v.snapshotId ? 'repository' : 'none';
  }

  const unhealthy: string[] = [];
  const changed = plan.objects.filter((p) => ['created', 'updated'].includes(outcomeOf.get(p)?.action ?? ''));
  if (!input.dryRun && input.hooks && !volumes.some((v) => v.phase === 'Failed')) {
    hooks.push(...(await runRestoreHooks(input, changed, outcomeOf, errors, 'restore')));
  }
  if (!input.dryRun && input.wait) {
    const watched = changed.filter((p) => hasHealth(p.object.apiVersion, p.object.kind));
    const state = new Map<PlannedObject, string | undefined>();
    try {
      await waitFor(
        async () => {
          for (const p of watched) {
            if (state.has(p) && state.get(p) === undefined) continue;
            const live = await client.find(p.object.apiVersion, p.resource.plural, p.object.metadata.namespace, p.object.metadata.name);
            state.set(p, live ? unhealthyReason(live) : 'not found');
          }
          return [...state.values()].every((r) => r === undefined) ? true : undefined;
        },
        { timeoutMs: input.waitTimeoutMs ?? 300_000, what: 'restored resources to become healthy', maxIntervalMs: 2000, ...(input.signal ? { signal: input.signal } : {}) },
      );
    } catch (e) {
      if ((e as { code?: string }).code !== 'E_TIMEOUT') throw e;
    }
    for (const p of watched) {
      const r = state.get(p);
      if (r !== undefined) unhealthy.push(`${ident(p.object)}: ${r}`);
    }
  }
  if (!input.dryRun && input.validate && input.hooks && !errors.length) {
    hooks.push(...(await runRestoreHooks(input, changed, outcomeOf, errors, 'validate')));
  }
  if (!input.dryRun && input.verify?.length && input.hooks && !errors.length) {
    hooks.push(...(await runRestoreHooks(input, changed, outcomeOf, errors, 'verify')));
  }
  return { resources, volumes, hooks, unhealthy, errors };
}

function withoutStatus(o: KubeObject): KubeObject {
  const { status: _s, ...rest } = o;
  return rest as KubeObject;
}

/** Owner references to owners restored in this run, with the uids they were given (owners are in earlier waves). */
function ownerReferences(p: PlannedObject, uids: Map<string, string>): { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[] {
  const out: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[] = [];
  for (const r of p.owners) {
    const uid = uids.get(`${r.kind}/${r.name}`);
    if (uid) out.push({ apiVersion: r.apiVersion, kind: r.kind, name: r.name, uid, ...(r.controller ? { controller: true } : {}) });
  }
  return out;
}

/**
 * Creates one object. A namespace created a moment ago may still be initialising (its default ServiceAccount, or an
 * admission plugin not yet seeing it): retried briefly on NotFound. A Conflict (it exists) is the caller's to handle.
 */
async function createRetrying(client: KubeClient, p: PlannedObject, body: KubeObject, signal?: AbortSignal): Promise<KubeObject> {
  const ns = p.resource.namespaced ? body.metadata.namespace : undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.create(body.apiVersion, p.resource.plural, ns, body);
    } catch (e) {
      if (isNotFound(e) && attempt < 10) {
        await sleep(300, signal);
        continue;
      }
      throw e;
    }
  }
}

/**
 * Each blueprint binding's `restore` action, for every restored workload its CEL selects (or once for the namespace),
 * after that workload is ready — the SQLite swap needs a running pod. Artifacts recorded at backup as
 * `NAME@Kind/name` are given to the workload's action as `artifacts.NAME`.
 */
async function runRestoreHooks(input: ExecuteInput, changed: PlannedObject[], outcomeOf: Map<PlannedObject, ResourceOutcome>, errors: string[], action: 'restore' | 'validate' | 'verify'): Promise<Record<string, unknown>[]> {
  const { policy, blueprints } = input.hooks!;
  const rp = input.restorePoint;
  const all = rp.spec.artifacts ?? {};
  const records: Record<string, unknown>[] = [];
  const nsObj = changed.find((p) => p.object.kind === 'Namespace')?.object ?? { apiVersion: 'v1', kind: 'Namespace', metadata: { name: input.plan.targetNamespace } };
  const ctx = { client: input.client, ...(input.log ? { log: input.log } : {}), ...(input.signal ? { signal: input.signal } : {}) };
  const rpCtx = { id: rp.metadata.name, policy: rp.spec.policy, namespace: rp.spec.namespace, time: rp.spec.startTime };
  for (const b of policy.blueprints) {
    const bp = blueprints.find((x) => x.name === b.blueprint);
    const spec = bp?.actions[action] as ActionSpec | undefined;
    if (!bp || !spec) continue;
    const runs: { workload?: PlannedObject; artifacts: Record<string, Record<string, string>> }[] = [];
    if (!b.workloads) {
      if (!changed.length) continue;
      runs.push({ artifacts: Object.fromEntries(Object.entries(all).filter(([k]) => !k.includes('@'))) });
    } else {
      const prog = compileCel(b.workloads.source, 'workload');
      for (const p of changed) {
        if (!WORKLOAD_KINDS.has(p.object.kind) || outcomeOf.get(p)?.action === 'skipped') continue;
        let hit = false;
        try {
          hit = prog.evaluate({ object: p.object, workload: p.object, namespaceObject: nsObj }) === true;
        } catch {
          hit = false;
        }
        if (!hit) continue;
        const suffix = `@${p.object.kind}/${p.object.metadata.name}`;
        runs.push({ workload: p, artifacts: Object.fromEntries(Object.entries(all).filter(([k]) => k.endsWith(suffix)).map(([k, v]) => [k.slice(0, -suffix.length), v])) });
      }
    }
    for (const r of runs) {
      const w = r.workload;
      if (w) {
        try {
          await waitFor(
            async () => {
              const live = await input.client.find(w.object.apiVersion, w.resource.plural, w.object.metadata.namespace, w.object.metadata.name);
              return live && unhealthyReason(live) === undefined ? true : undefined;
            },
            { timeoutMs: input.waitTimeoutMs ?? 300_000, what: `${ident(w.object)} to be ready before its restore hook`, maxIntervalMs: 2000, ...(input.signal ? { signal: input.signal } : {}) },
          );
        } catch (e) {
          errors.push(`blueprint ${bp.name} ${action} for ${ident(w.object)}: ${(e as Error).message}`);
          continue;
        }
      }
      // The verify action runs once per policy check it answers (its answer is judged by reconciler/verify); others once.
      const checks = action === 'verify' ? (input.verify ?? []).filter((c) => !c.blueprint || c.blueprint === bp.name) : [undefined];
      for (const check of checks) {
        const res: ActionResult = await runAction({
          blueprint: bp.name,
          action,
          spec,
          context: {
            namespace: input.plan.targetNamespace,
            policy: policy.name,
            ...(w ? { workload: { kind: w.object.kind, name: w.object.metadata.name, namespace: w.object.metadata.namespace! } } : {}),
            restorePoint: rpCtx,
            artifacts: r.artifacts,
            ...(check ? { verify: { name: check.name, query: check.query, ...(check.database ? { database: check.database } : {}) } } : {}),
          },
          ctx,
        });
        records.push(...toHookRecords(res).map((h) => (check ? { ...h, check: check.name } : h)));
        if (!res.ok) errors.push(`blueprint ${bp.name} ${action}${check ? ` check ${check.name}` : ''}${w ? ` for ${ident(w.object)}` : ''}: ${res.error ?? 'failed'}`);
      }
    }
  }
  return records;
}
