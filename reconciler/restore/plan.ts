import { compileCel, type CelProgram } from '../../compiler/cel/index.ts';
import type { RestorePoint } from '../catalog/types.ts';
import { cleanManifest, OWNER_REFERENCES_ANNOTATION } from '../export/clean.ts';
import type { KubeObject } from '../kube/types.ts';
import { resourceId } from '../kube/types.ts';
import { RestoreError } from './errors.ts';
import { groupOf, stageOf, stageRank, type RestoreStage } from './order.ts';
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
  resource: BundleObject['resource'];
  /** Desired state, cleaned, mapped and transformed: exactly what is sent to the API server. */
  object: KubeObject;
  owners: OwnerLink[];
  transforms: string[];
  volume?: VolumeSource;
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
 *   dropped, because a reference to a missing owner makes the garbage collector delete the object.
 * - The Namespace itself is restored whenever anything namespaced is (an `--include` rarely means "and not its
 *   namespace"), unless `--exclude` names it.
 * - `--include`/`--exclude` see the object as it was backed up (before mapping and transforms), like Velero's filters.
 */
export function planRestore(rp: RestorePoint, bundle: readonly BundleObject[], opts: PlanOptions = {}): RestorePlan {
  const mapping = opts.namespaceMapping ?? {};
  const sourceNamespace = rp.spec.namespace;
  const targetNamespace = mapping[sourceNamespace] ?? sourceNamespace;
  const mapNs = (ns: string | undefined) => (ns === undefined ? undefined : (mapping[ns] ?? ns));
  const include = compileSelector(opts.include, '--include');
  const exclude = compileSelector(opts.exclude, '--exclude');
  const nsObject = bundle.find((b) => b.object.kind === 'Namespace' && groupOf(b.object.apiVersion) === '')?.object ?? { apiVersion: 'v1', kind: 'Namespace', metadata: { name: sourceNamespace } };
  const skipped: SkippedObject[] = [];
  const chosen: { b: BundleObject; object: KubeObject; owners: OwnerLink[] }[] = [];
  const test = (p: CelProgram, o: KubeObject, flag: string): boolean => {
    try {
      return p.test({ object: o, namespaceObject: nsObject });
    } catch (e) {
      const msg = (e as Error).message;
      // A missing field (has() not used) means "does not match"; anything else is the user's expression being wrong.
      if (/no such key|not found|Unknown variable/i.test(msg)) return false;
      throw new RestoreError('E_RESTORE_CEL', `${flag} on ${o.kind} ${o.metadata.name}: ${msg}`);
    }
  };
  const seen = new Set<string>();
  // Bundles of policies without cluster resources have no Namespace: restore needs one all the same.
  const all = bundle.some((b) => b.object.kind === 'Namespace' && b.resource.group === '')
    ? bundle
    : [...bundle, { resource: { group: '', apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false }, object: nsObject }];
  for (const b of all) {
    const o = b.object;
    const key = `${resourceId(b.resource)}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(key)) throw new RestoreError('E_RESTORE_DATA', `the manifest bundle holds ${key} twice`);
    seen.add(key);
    const owners = ownerLinks(o);
    const controller = owners.find((r) => r.controller);
    const isNs = o.kind === 'Namespace' && b.resource.group === '';
    if (controller && CONTROLLED_KINDS[o.kind]?.includes(controller.kind) && ['', 'apps', 'batch'].includes(b.resource.group)) {
      skipped.push({ ...describe(o), reason: `recreated by its controller ${controller.kind}/${controller.name}` });
      continue;
    }
    if (b.resource.group === '' && o.kind === 'PersistentVolume') {
      skipped.push({ ...describe(o), reason: 'cluster-bound: the restored claim is provisioned a new volume' });
      continue;
    }
    if (exclude && test(exclude, o, '--exclude')) {
      skipped.push({ ...describe(o), reason: 'excluded by --exclude' });
      continue;
    }
    if (include && !isNs && !test(include, o, '--include')) {
      skipped.push({ ...describe(o), reason: 'not selected by --include' });
      continue;
    }
    chosen.push({ b, object: o, owners });
  }
  // A Namespace only ever comes along with the objects that live in it.
  const anyNamespaced = chosen.some((c) => c.b.resource.namespaced);
  const kept = chosen.filter((c) => {
    if (c.object.kind === 'Namespace' && c.b.resource.group === '' && !anyNamespaced && include) {
      skipped.push({ ...describe(c.object), reason: 'not selected by --include' });
      return false;
    }
    return true;
  });
  const restoredKeys = new Set(kept.map((c) => `${c.object.kind}/${c.object.metadata.name}`));
  const volumes = new Map((rp.spec.volumes ?? []).filter((v) => v.phase === 'Succeeded' && (v.snapshotId || v.volumeSnapshot)).map((v) => [v.pvc, v]));

  const objects: PlannedObject[] = [];
  for (const { b, object: original, owners } of kept) {
    let o = cleanManifest(original);
    if (o.metadata.annotations) {
      delete o.metadata.annotations[OWNER_REFERENCES_ANNOTATION];
      if (!Object.keys(o.metadata.annotations).length) delete o.metadata.annotations;
    }
    delete o.metadata.ownerReferences;
    if (b.resource.namespaced) o.metadata.namespace = mapNs(o.metadata.namespace ?? sourceNamespace)!;
    else delete o.metadata.namespace;
    if (o.kind === 'Namespace' && b.resource.group === '') o.metadata.name = mapNs(o.metadata.name)!;
    if (b.resource.group === 'rbac.authorization.k8s.io' && (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
      for (const s of (o.subjects as { kind?: string; namespace?: string }[] | undefined) ?? []) if (s.namespace) s.namespace = mapNs(s.namespace)!;
    }
    let volume: VolumeSource | undefined;
    if (b.resource.group === '' && o.kind === 'PersistentVolumeClaim') {
      const spec = (o.spec ?? {}) as Record<string, unknown>;
      delete spec.volumeName;
      const v = volumes.get(original.metadata.name);
      if (v && opts.volumes !== false) {
        delete spec.dataSource;
        delete spec.dataSourceRef;
        volume = { sourcePvc: v.pvc, ...(v.snapshotId ? { snapshotId: v.snapshotId } : {}), ...(v.volumeSnapshot ? { volumeSnapshot: v.volumeSnapshot } : {}) };
      }
    }
    let transforms: string[] = [];
    if (opts.transforms?.length) {
      const t = applyTransforms(o, opts.transforms);
      o = t.object;
      transforms = t.applied;
    }
    objects.push({
      stage: stageOf(o.apiVersion, o.kind),
      resource: b.resource,
      object: o,
      owners: owners.filter((r) => restoredKeys.has(`${r.kind}/${r.name}`)),
      transforms,
      ...(volume ? { volume } : {}),
    });
  }
  objects.sort(
    (a, c) =>
      stageRank(a.stage) - stageRank(c.stage) ||
      (KIND_ORDER[a.object.kind] ?? 5) - (KIND_ORDER[c.object.kind] ?? 5) ||
      resourceId(a.resource).localeCompare(resourceId(c.resource)) ||
      a.object.metadata.name.localeCompare(c.object.metadata.name),
  );
  skipped.sort((a, c) => a.kind.localeCompare(c.kind) || a.name.localeCompare(c.name));
  return { sourceNamespace, targetNamespace, objects, skipped };
}
