import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { parse } from 'yaml';
import { restore, type Repository } from '../../repository/index.ts';
import type { KubeObject } from '../kube/types.ts';
import { RestoreError } from './errors.ts';
import type { BundleObject } from './plan.ts';

export interface ReadBundle {
  objects: BundleObject[];
  /** `coffer-export.json` (format, cluster, namespace, summary). */
  index: Record<string, unknown>;
}

/** The resource type of a bundle path: `resources/deployments.apps/namespaces/shop/web.yaml` → plural `deployments`, group `apps`. */
export function resourceOfPath(path: string): { plural: string; group: string; namespaced: boolean } | undefined {
  const m = /^resources\/([^/]+)\/(namespaces\/[^/]+|cluster)\/[^/]+\.yaml$/.exec(path);
  if (!m) return undefined;
  const dot = m[1]!.indexOf('.');
  return { plural: dot < 0 ? m[1]! : m[1]!.slice(0, dot), group: dot < 0 ? '' : m[1]!.slice(dot + 1), namespaced: m[2] !== 'cluster' };
}

/** Parses bundle files (path → text) into objects; pure, so the layout is table-tested without a repository. */
export function parseBundle(files: ReadonlyMap<string, string>): ReadBundle {
  const objects: BundleObject[] = [];
  let index: Record<string, unknown> = {};
  for (const [path, text] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    if (path === 'coffer-export.json') {
      index = JSON.parse(text) as Record<string, unknown>;
      continue;
    }
    const r = resourceOfPath(path);
    if (!r) continue; // hook outputs and future additions
    let object: KubeObject;
    try {
      object = parse(text) as KubeObject;
    } catch (e) {
      throw new RestoreError('E_RESTORE_DATA', `manifest bundle ${path}: not valid YAML: ${(e as Error).message}`);
    }
    if (!object?.apiVersion || !object.kind || !object.metadata?.name) throw new RestoreError('E_RESTORE_DATA', `manifest bundle ${path}: not a Kubernetes object`);
    objects.push({ resource: { group: r.group, apiVersion: object.apiVersion, kind: object.kind, plural: r.plural, namespaced: r.namespaced }, object });
  }
  if (typeof index.format === 'number' && index.format > 1) throw new RestoreError('E_RESTORE_DATA', `manifest bundle format ${index.format} is newer than this coffer understands (1); upgrade coffer`);
  return { objects, index };
}

/**
 * Reads a manifest snapshot back from the repository (through a private temporary directory, removed afterwards).
 * Every blob is authenticated on the way, so a damaged repository fails here, before the cluster is touched.
 */
export async function readBundle(repo: Repository, snapshotId: string): Promise<ReadBundle> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'coffer-restore-bundle-'));
  try {
    try {
      await restore(repo, snapshotId, dir, { owner: false });
    } catch (e) {
      throw new RestoreError('E_RESTORE_DATA', `cannot read manifest snapshot ${snapshotId.slice(0, 12)} from the repository: ${(e as Error).message}`);
    }
    const files = new Map<string, string>();
    for (const ent of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!ent.isFile()) continue;
      const full = join(ent.parentPath, ent.name);
      const rel = relative(dir, full).split(sep).join('/');
      if (rel === 'coffer-export.json' || rel.startsWith('resources/') || rel.startsWith('hooks/')) files.set(rel, await fsp.readFile(full, 'utf8'));
    }
    return parseBundle(files);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
