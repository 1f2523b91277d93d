import { compileCel, type CelProgram } from '../../compiler/cel/index.ts';
import type { RestorePoint } from '../catalog/types.ts';
import { cleanManifest, OWNER_REFERENCES_ANNOTATION } from '../export/clean.ts';
import type { KubeObject } from '../kube/types.ts';
import { resourceId } from '../kube/types.ts';
import { RestoreError } from './errors.ts';
import { stageOf, stageRank, type RestoreStage } from './order.ts';
import { applyTransforms, type CompiledTransformSet } from './transforms.ts';

/** An object read back from the manifest bundle, with the resource type it was listed as (the plural, for URLs). */
export interface BundleObject {
  resource: { group: string; apiVersion: string; kind: string; plural: string; namespaced: boolean };
  object: KubeObject;
}

/** An owner the object is linked to again once the owner exists (its uid is only known at creation). */
export interface OwnerLink {
  apiVersion: string;
  kind: string;
  name: string;
  controller?: boolean;
}

/** Where a restored PVC's data comes from. */
export interface VolumeSource {
  /** The PVC's name in the restore point. */
  sourcePvc: string;
  /** Repository snapshot of the volume (filled by a restore mover Job). */
  snapshotId?: string;
  /** In-cluster VolumeSnapshot in the source namespace (used when it still exists on the same cluster). */
  volumeSnapshot?: string;
}

export interface PlannedObject {
  stage: RestoreStage;
  /** Objects of one wave are created in parallel; waves in ascending order (stage, kind, owners before dependents). */
  wave: number;
  resource: BundleObject['resource'];
  /** Desired state, cleaned, mapped and transformed: exactly what is sent to the API server. */
  object: KubeObject;
  owners: OwnerLink[];
  transforms: string[];
  volume?: VolumeSource;
  /**
   * Streamed plans (`planRestoreStream`) keep only a header in `object` for bulk kinds; this returns the whole object
   * as planned, read from the bundle again.
   */
  load?: () => Promise<KubeObject>;
}

export interface SkippedObject {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  reason: string;
}

export interface RestorePlan {
  sourceNamespace: string;
  targetNamespace: string;
  objects: PlannedObject[];
  skipped: SkippedObject[];
}

export interface PlanOptions {
  /** `from → to`; the restore point's namespace not listed here keeps its name. */
  namespaceMapping?: Record<string, string>;
  /** CEL over `object` (and `namespaceObject`): only matching objects are restored. */
  include?: string;
  /** CEL over `object`: matching objects are not restored. */
  exclude?: string;
  transforms?: CompiledTransformSet[];
  /** Restore volume data (default true); false creates empty PVCs. */
  volumes?: boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Parses `--namespace-mapping from=to` flags (repeatable, or comma-separated) into a map; bad names are errors. */
export function parseNamespaceMapping(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values.flatMap((x) => x.split(','))) {
    const m = /^\s*([^=\s]+)\s*=\s*([^=\s]+)\s*$/.exec(v);
    if (!m) throw new RestoreError('E_RESTORE_ARGS', `--namespace-mapping "${v}": expected FROM=TO`);
    for (const n of [m[1]!, m[2]!]) if (n.length > 63 || !DNS_LABEL.test(n)) throw new RestoreError('E_RESTORE_ARGS', `--namespace-mapping "${v}": "${n}" is not a valid namespace name`);
    if (out[m[1]!] && out[m[1]!] !== m[2]) throw new RestoreError('E_RESTORE_ARGS', `--namespace-mapping maps ${m[1]} twice (${out[m[1]!]} and ${m[2]})`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

function compileSelector(src: string | undefined, flag: string): CelProgram | undefined {
  if (src === undefined || src.trim() === '') return undefined;
  try {
    return compileCel(src, 'object', { expect: 'bool' });
  } catch (e) {
    throw new RestoreError('E_RESTORE_CEL', `${flag}: ${(e as Error).message}`);
  }
}

/** Kinds recreated by their controller: restoring them too would duplicate pods or fight the controller. */
const CONTROLLED_KINDS: Record<string, string[]> = {
  Pod: ['ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicationController'],
  ReplicaSet: ['Deployment'],
  Job: ['CronJob'],
  ControllerRevision: ['StatefulSet', 'DaemonSet'],
};

/** Order inside a stage: storage classes before claims, service accounts before the bindings that name them, pods last. */
const KIND_ORDER: Record<string, number> = {
  StorageClass: 0, PersistentVolume: 1, PersistentVolumeClaim: 2,
  ServiceAccount: 0, ClusterRole: 1, Role: 2, ClusterRoleBinding: 3, RoleBinding: 4,
  Deployment: 0, StatefulSet: 0, DaemonSet: 0, ReplicaSet: 1, CronJob: 1, Job: 2, ReplicationController: 2, Pod: 3,
};

export function ownerLinks(obj: KubeObject): OwnerLink[] {
  const raw = obj.metadata.annotations?.[OWNER_REFERENCES_ANNOTATION];
  if (raw) {
    try {
      const v = JSON.parse(raw) as OwnerLink[];
      if (Array.isArray(v)) return v.filter((r) => r && typeof r.kind === 'string' && typeof r.name === 'string');
    } catch {
      /* a hand-edited annotation: no owners */
    }
  }
  return (obj.metadata.ownerReferences ?? []).map(({ apiVersion, kind, name, controller }) => ({ apiVersion, kind, name, ...(controller ? { controller } : {}) }));
}

function describe(o: KubeObject): Omit<SkippedObject, 'reason'> {
  return { apiVersion: o.apiVersion, kind: o.kind, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}), name: o.metadata.name };
}

/** Everything one object's plan depends on besides the object itself (so a streamed plan can plan it again on load). */
interface PlanContext {
  sourceNamespace: string;
  targetNamespace: string;
  mapNs: (ns: string | undefined) => string | undefined;
  include?: CelProgram;
  exclude?: CelProgram;
  nsObject: KubeObject;
  volumes: Map<string, NonNullable<RestorePoint['spec']['volumes']>[number]>;
  opts: PlanOptions;
}

function planContext(rp: RestorePoint, opts: PlanOptions, nsObject: KubeObject | undefined): PlanContext {
  const mapping = opts.namespaceMapping ?? {};
  const sourceNamespace = rp.spec.namespace;
  const include = compileSelector(opts.include, '--include');
  const exclude = compileSelector(opts.exclude, '--exclude');
  return {
    sourceNamespace,
    targetNamespace: mapping[sourceNamespace] ?? sourceNamespace,
    mapNs: (ns) => (ns === undefined ? undefined : (mapping[ns] ?? ns)),
    ...(include ? { include } : {}),
    ...(exclude ? { exclude } : {}),
    nsObject: nsObject ?? namespaceOf(sourceNamespace).object,
    volumes: new Map((rp.spec.volumes ?? []).filter((v) => v.phase === 'Succeeded' && (v.snapshotId || v.volumeSnapshot)).map((v) => [v.pvc, v])),
    opts,
  };
}

function namespaceOf(name: string): BundleObject {
  return { resource: { group: '', apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false }, object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } };
}

const isNamespace = (b: BundleObject) => b.object.kind === 'Namespace' && b.resource.group === '';

/** One object of the bundle, planned (owners not yet narrowed to the restored ones) or skipped with the reason. Pure. */
function planOne(ctx: PlanContext, b: BundleObject): { planned: PlannedObject } | { skipped: SkippedObject } {
  const original = b.object;
  const test = (p: CelProgram, o: KubeObject, flag: string): boolean => {
    try {
      return p.test({ object: o, namespaceObject: ctx.nsObject });
    } catch (e) {
      const msg = (e as Error).message;
      // A missing field (has() not used) means "does not match"; anything else is the user's expression being wrong.
      if (/no such key|not found|Unknown variable/i.test(msg)) return false;
      throw new RestoreError('E_RESTORE_CEL', `${flag} on ${o.kind} ${o.metadata.name}: ${msg}`);
    }
  };
  const owners = ownerLinks(original);
  const controller = owners.find((r) => r.controller);
  if (controller && CONTROLLED_KINDS[original.kind]?.includes(controller.kind) && ['', 'apps', 'batch'].includes(b.resource.group)) {
    return { skipped: { ...describe(original), reason: `recreated by its controller ${controller.kind}/${controller.name}` } };
  }
  if (b.resource.group === '' && original.kind === 'PersistentVolume') return { skipped: { ...describe(original), reason: 'cluster-bound: the restored claim is provisioned a new volume' } };
  if (ctx.exclude && test(ctx.exclude, original, '--exclude')) return { skipped: { ...describe(original), reason: 'excluded by --exclude' } };
  if (ctx.include && !isNamespace(b) && !test(ctx.include, original, '--include')) return { skipped: { ...describe(original), reason: 'not selected by --include' } };

  let o = cleanManifest(original);
  if (o.metadata.annotations) {
    delete o.metadata.annotations[OWNER_REFERENCES_ANNOTATION];
    if (!Object.keys(o.metadata.annotations).length) delete o.metadata.annotations;
  }
  delete o.metadata.ownerReferences;
  if (b.resource.namespaced) o.metadata.namespace = ctx.mapNs(o.metadata.namespace ?? ctx.sourceNamespace)!;
  else delete o.metadata.namespace;
  if (isNamespace(b)) o.metadata.name = ctx.mapNs(o.metadata.name)!;
  if (b.resource.group === 'rbac.authorization.k8s.io' && (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    for (const s of (o.subjects as { kind?: string; namespace?: string }[] | undefined) ?? []) if (s.namespace) s.namespace = ctx.mapNs(s.namespace)!;
  }
  let volume: VolumeSource | undefined;
  if (b.resource.group === '' && o.kind === 'PersistentVolumeClaim') {
    const spec = (o.spec ?? {}) as Record<string, unknown>;
    delete spec.volumeName;
    const v = ctx.volumes.get(original.metadata.name);
    if (v && ctx.opts.volumes !== false) {
      delete spec.dataSource;
      delete spec.dataSourceRef;
      volume = { sourcePvc: v.pvc, ...(v.snapshotId ? { snapshotId: v.snapshotId } : {}), ...(v.volumeSnapshot ? { volumeSnapshot: v.volumeSnapshot } : {}) };
    }
  }
  let transforms: string[] = [];
  if (ctx.opts.transforms?.length) {
    const t = applyTransforms(o, ctx.opts.transforms);
    o = t.object;
    transforms = t.applied;
  }
  const stage = stageOf(o.apiVersion, o.kind);
  return { planned: { stage, wave: 0, resource: b.resource, object: o, owners, transforms, ...(volume ? { volume } : {}) } };
}

/** Plan-wide decisions once every object was seen: the Namespace rule, owners narrowed to restored ones, waves, order. */
function finishPlan(ctx: PlanContext, planned: PlannedObject[], skipped: SkippedObject[]): RestorePlan {
  // A Namespace only ever comes along with the objects that live in it.
  const anyNamespaced = planned.some((p) => p.resource.namespaced);
  const kept = planned.filter((p) => {
    if (p.object.kind === 'Namespace' && p.resource.group === '' && !anyNamespaced && ctx.include) {
      skipped.push({ ...describe(p.object), reason: 'not selected by --include' });
      return false;
    }
    return true;
  });
  const byKey = new Map(kept.map((p) => [ownerKey(p.object), p]));
  for (const p of kept) p.owners = p.owners.filter((r) => byKey.has(`${r.kind}/${r.name}`));
  assignWaves(kept, byKey);
  kept.sort((a, c) => a.wave - c.wave || compareText(resourceId(a.resource), resourceId(c.resource)) || compareText(a.object.metadata.name, c.object.metadata.name));
  skipped.sort((a, c) => compareText(a.kind, c.kind) || compareText(a.name, c.name));
  return { sourceNamespace: ctx.sourceNamespace, targetNamespace: ctx.targetNamespace, objects: kept, skipped };
}

const compareText = new Intl.Collator().compare;

/** Owner references name kind and name (the namespace is the object's own). */
function ownerKey(o: KubeObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

/**
 * Waves: objects of one wave are created in parallel, waves one after another. An object's wave is its stage and kind
 * order, or right after its latest owner's wave (owners before dependents: a Secret a Certificate owns waits for the
 * Certificate, so it gets its owner's new uid). Claims keep their place, before every workload: their data is
 * restored before any pod mounts them, and a StatefulSet adopts its claims again by itself. A cycle of owners
 * (never valid in Kubernetes) is cut where it closes.
 */
function assignWaves(objects: PlannedObject[], byKey: Map<string, PlannedObject>): void {
  const done = new Map<PlannedObject, number>();
  const visiting = new Set<PlannedObject>();
  const wave = (p: PlannedObject): number => {
    const known = done.get(p);
    if (known !== undefined) return known;
    let w = stageRank(p.stage) * 100 + (KIND_ORDER[p.object.kind] ?? 5) * 10;
    if (visiting.has(p)) return w;
    visiting.add(p);
    if (!(p.resource.group === '' && p.object.kind === 'PersistentVolumeClaim')) {
      for (const r of p.owners) {
        const owner = byKey.get(`${r.kind}/${r.name}`);
        if (owner && owner !== p) w = Math.max(w, wave(owner) + 1);
      }
    }
    visiting.delete(p);
    done.set(p, w);
    p.wave = w;
    return w;
  };
  for (const p of objects) wave(p);
}

/**
 * The restore plan of one restore point: which objects are created, in which order, and exactly as what. Pure — the
 * same restore point, bundle and options always give the same plan, which is what `--dry-run` prints.
 *
 * Decisions:
 * - Every object is cleaned again (bundles written by older versions, or by hand, may still carry server fields);
 *   PVCs also lose `volumeName`/`dataSource` — a restored claim gets a new volume, filled from the backup.
 * - PersistentVolumes are never restored: they are cluster-bound, and their claims are provisioned anew.
 * - Pods, ReplicaSets, Jobs and ControllerRevisions owned by a controller are skipped: the controller recreates them.
 * - Owner references come back only to owners restored in the same run (the uid is set at creation time); others are
 *   dropped, because a reference to a missing owner makes the garbage collector delete the object. Owners are
 *   created before their dependents (see `assignWaves`).
 * - The Namespace itself is restored whenever anything namespaced is (an `--include` rarely means "and not its
 *   namespace"), unless `--exclude` names it.
 * - `--include`/`--exclude` see the object as it was backed up (before mapping and transforms), like Velero's filters.
 */
export function planRestore(rp: RestorePoint, bundle: readonly BundleObject[], opts: PlanOptions = {}): RestorePlan {
  const ctx = planContext(rp, opts, bundle.find(isNamespace)?.object);
  // Bundles of policies without cluster resources have no Namespace: restore needs one all the same.
  const all = bundle.some(isNamespace) ? bundle : [...bundle, namespaceOf(ctx.sourceNamespace)];
  const planned: PlannedObject[] = [];
  const skipped: SkippedObject[] = [];
  const seen = new Set<string>();
  for (const b of all) {
    checkOnce(seen, b);
    const r = planOne(ctx, b);
    if ('skipped' in r) skipped.push(r.skipped);
    else planned.push(r.planned);
  }
  return finishPlan(ctx, planned, skipped);
}

function checkOnce(seen: Set<string>, b: BundleObject): void {
  const key = `${resourceId(b.resource)}/${b.object.metadata.namespace ?? ''}/${b.object.metadata.name}`;
  if (seen.has(key)) throw new RestoreError('E_RESTORE_DATA', `the manifest bundle holds ${key} twice`);
  seen.add(key);
}

/** Where a streamed plan reads objects from: the bundle's files, one at a time (`restore/bundle.ts`). */
export interface BundleSource {
  /** Every object file, in path order. */
  readonly files: readonly string[];
  /** The bundle's Namespace object file, if it has one. */
  readonly namespaceFile?: string;
  read(path: string): Promise<BundleObject>;
}

/** Kept whole in a streamed plan: few per namespace, and read again after creation (placement, hooks, health). */
function retained(p: PlannedObject): boolean {
  return p.stage === 'crds' || p.stage === 'namespaces' || p.stage === 'workloads' || (p.resource.group === '' && p.object.kind === 'PersistentVolumeClaim');
}

/**
 * `planRestore` over a bundle too large to hold: every file is read and planned once to decide and order, then only a
 * header (apiVersion, kind, name, namespace) stays in memory for the bulk kinds (ConfigMaps, Secrets, Services, custom
 * resources…); `load()` reads and plans the file again when the object is created. Same plan, same order.
 */
export async function planRestoreStream(rp: RestorePoint, source: BundleSource, opts: PlanOptions = {}): Promise<RestorePlan> {
  const nsObject = source.namespaceFile ? (await source.read(source.namespaceFile)).object : undefined;
  const ctx = planContext(rp, opts, nsObject);
  const planned: PlannedObject[] = [];
  const skipped: SkippedObject[] = [];
  const seen = new Set<string>();
  const consider = (b: BundleObject, file?: string) => {
    checkOnce(seen, b);
    const r = planOne(ctx, b);
    if ('skipped' in r) return void skipped.push(r.skipped);
    const p = r.planned;
    if (file && !retained(p)) {
      const o = p.object;
      p.object = { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}) } };
      p.load = async () => {
        const again = planOne(ctx, await source.read(file));
        if ('skipped' in again) throw new RestoreError('E_RESTORE_DATA', `manifest bundle ${file} changed while restoring`);
        return again.planned.object;
      };
    }
    planned.push(p);
  };
  for (const file of source.files) consider(await source.read(file), file);
  if (!source.namespaceFile) consider(namespaceOf(ctx.sourceNamespace));
  return finishPlan(ctx, planned, skipped);
}
