import jsyaml from 'js-yaml';
import type { ApiResource, KubeObject } from '../kube/types.ts';
import { resourceId } from '../kube/types.ts';

/** An exported object with the resource type it was listed as (restores need the plural, not just the kind). */
export interface ExportedObject {
  resource: Pick<ApiResource, 'group' | 'version' | 'apiVersion' | 'kind' | 'plural' | 'namespaced'>;
  object: KubeObject;
}

/** One file of the manifest snapshot written into the repository. */
export interface BundleEntry {
  path: string;
  data: Buffer;
}

/** Per-kind counts and names: what a RestorePoint in Git may say about resources. Never holds object contents. */
export interface KindSummary {
  apiVersion: string;
  kind: string;
  /** `deployments.apps` */
  resource: string;
  namespaced: boolean;
  count: number;
  names: string[];
}

export interface ResourceSummary {
  total: number;
  kinds: KindSummary[];
}

/** Version of the bundle layout below, stored in `coffer-export.json` so future restores can read old bundles. */
export const BUNDLE_FORMAT = 1;

/**
 * The YAML writer of the object files, recorded in `coffer-export.json` as `yaml`: js-yaml with the YAML 1.2 core
 * schema, ~5× faster than the `yaml` package (which wrote older bundles) and read back with the same library and schema.
 */
export const BUNDLE_YAML = 'js-yaml';

/** One object's file content: block YAML, no line folding, no anchors; deterministic for the same object. */
export function objectYaml(o: KubeObject): Buffer {
  return Buffer.from(jsyaml.dump(o, { schema: jsyaml.CORE_SCHEMA, lineWidth: -1, noRefs: true, skipInvalid: true }));
}

/**
 * Bundle path of an object, Velero-like so people who know Velero find their way:
 * `resources/deployments.apps/namespaces/shop/web.yaml`, `resources/persistentvolumes/cluster/pvc-123.yaml`.
 */
export function bundlePath(e: ExportedObject): string {
  const id = resourceId(e.resource);
  const name = safeSegment(e.object.metadata.name);
  return e.resource.namespaced ? `resources/${id}/namespaces/${safeSegment(e.object.metadata.namespace ?? '')}/${name}.yaml` : `resources/${id}/cluster/${name}.yaml`;
}

/** Kubernetes names cannot hold `/`, but custom resources are loosely validated; never let a name climb out of its folder. */
function safeSegment(s: string): string {
  return s === '' || s === '.' || s === '..' ? `_${s}` : s.replace(/[/\\\0]/g, '_');
}

/** Counts and names per kind, built one object at a time (a streamed export keeps names only). */
export class SummaryBuilder {
  private readonly byId = new Map<string, KindSummary>();
  private total = 0;

  add(e: ExportedObject): void {
    const id = resourceId(e.resource);
    let k = this.byId.get(id);
    if (!k) {
      k = { apiVersion: e.resource.apiVersion, kind: e.resource.kind, resource: id, namespaced: e.resource.namespaced, count: 0, names: [] };
      this.byId.set(id, k);
    }
    k.count++;
    k.names.push(e.object.metadata.name);
    this.total++;
  }

  /** Sorted, so the same cluster state always gives the same summary (stable Git diffs). */
  result(): ResourceSummary {
    const kinds = [...this.byId.values()].sort((a, b) => a.resource.localeCompare(b.resource));
    for (const k of kinds) k.names.sort();
    return { total: this.total, kinds };
  }
}

/** Counts and names per kind, sorted, so the same cluster state always gives the same summary (stable Git diffs). */
export function summarize(objects: ExportedObject[]): ResourceSummary {
  const b = new SummaryBuilder();
  for (const e of objects) b.add(e);
  return b.result();
}

/** `coffer-export.json`: what the bundle is (format, YAML writer, cluster, namespace, …) and its summary. */
export function bundleIndex(summary: ResourceSummary, meta: Record<string, unknown> = {}): BundleEntry {
  return { path: 'coffer-export.json', data: Buffer.from(JSON.stringify({ format: BUNDLE_FORMAT, yaml: BUNDLE_YAML, ...meta, summary }, null, 2) + '\n') };
}

/**
 * The manifest snapshot: one YAML file per object (Secret data included — this goes only to the encrypted repository)
 * plus `coffer-export.json` describing it. Sorted by path and serialized deterministically so an unchanged object is
 * byte-identical between runs and deduplicates in the repository.
 */
export function buildBundle(objects: ExportedObject[], meta: Record<string, unknown> = {}): BundleEntry[] {
  const entries = objects.map((e) => ({ path: bundlePath(e), data: objectYaml(e.object) }));
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.path === entries[i - 1]!.path) throw new Error(`two exported objects map to ${entries[i]!.path}`);
  }
  entries.unshift(bundleIndex(summarize(objects), meta));
  return entries;
}
