import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import jsyaml from 'js-yaml';
import { parse } from 'yaml';
import { restore, type Repository } from '../../repository/index.ts';
import type { KubeObject } from '../kube/types.ts';
import { BUNDLE_FORMAT, BUNDLE_YAML } from '../export/bundle.ts';
import { RestoreError } from './errors.ts';
import type { BundleObject, BundleSource } from './plan.ts';

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

/**
 * One bundle file's object. Bundles written with js-yaml (`coffer-export.json` says `"yaml": "js-yaml"`) are read
 * with it, ~10× faster than the \`yaml\` package; older ones with \`yaml\`, which wrote them: the two libraries
 * disagree on a few plain scalars (\`0b101\` is a string to one, a number to the other).
 */
export function parseBundleFile(path: string, text: string, index: Record<string, unknown>): BundleObject | undefined {
  const r = resourceOfPath(path);
  if (!r) return undefined; // hook outputs and future additions
  let object: KubeObject;
  try {
    object = (index.yaml === BUNDLE_YAML ? jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, filename: path }) : parse(text)) as KubeObject;
  } catch (e) {
    throw new RestoreError('E_RESTORE_DATA', `manifest bundle ${path}: not valid YAML: ${(e as Error).message}`);
  }
  if (!object?.apiVersion || !object.kind || !object.metadata?.name) throw new RestoreError('E_RESTORE_DATA', `manifest bundle ${path}: not a Kubernetes object`);
  return { resource: { group: r.group, apiVersion: object.apiVersion, kind: object.kind, plural: r.plural, namespaced: r.namespaced }, object };
}

function parseIndex(text: string | undefined): Record<string, unknown> {
  let index: Record<string, unknown> = {};
  if (text !== undefined) {
    try {
      index = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new RestoreError('E_RESTORE_DATA', `manifest bundle coffer-export.json: ${(e as Error).message}`);
    }
  }
  if (typeof index.format === 'number' && index.format > BUNDLE_FORMAT) throw new RestoreError('E_RESTORE_DATA', `manifest bundle format ${index.format} is newer than this coffer understands (${BUNDLE_FORMAT}); upgrade coffer`);
  return index;
}

/** Parses bundle files (path → text) into objects; pure, so the layout is table-tested without a repository. */
export function parseBundle(files: ReadonlyMap<string, string>): ReadBundle {
  const index = parseIndex(files.get('coffer-export.json'));
  const objects: BundleObject[] = [];
  for (const [path, text] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    const b = parseBundleFile(path, text, index);
    if (b) objects.push(b);
  }
  return { objects, index };
}

/** A manifest snapshot unpacked into a private temporary directory, read one object at a time. */
export interface OpenBundle extends BundleSource {
  /** `coffer-export.json` (format, cluster, namespace, summary). */
  readonly index: Record<string, unknown>;
  /** Removes the temporary directory. */
  close(): Promise<void>;
}

/**
 * Unpacks a manifest snapshot from the repository onto disk (a private temporary directory), so a namespace of any
 * size is restored without holding its bundle in memory: objects are read from there one by one. Every blob is
 * authenticated on the way, so a damaged repository fails here, before the cluster is touched.
 */
export async function openBundle(repo: Repository, snapshotId: string): Promise<OpenBundle> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'coffer-restore-bundle-'));
  const close = () => fsp.rm(dir, { recursive: true, force: true });
  try {
    try {
      await restore(repo, snapshotId, dir, { owner: false });
    } catch (e) {
      throw new RestoreError('E_RESTORE_DATA', `cannot read manifest snapshot ${snapshotId.slice(0, 12)} from the repository: ${(e as Error).message}`);
    }
    const index = parseIndex(await fsp.readFile(join(dir, 'coffer-export.json'), 'utf8').catch(() => undefined));
    const files: string[] = [];
    for (const ent of await fsp.readdir(join(dir, 'resources'), { recursive: true, withFileTypes: true }).catch(() => [])) {
      if (!ent.isFile()) continue;
      const rel = relative(dir, join(ent.parentPath, ent.name)).split(sep).join('/');
      if (resourceOfPath(rel)) files.push(rel);
    }
    files.sort();
    const namespaceFile = files.find((f) => f.startsWith('resources/namespaces/cluster/'));
    return {
      index,
      files,
      ...(namespaceFile ? { namespaceFile } : {}),
      read: async (path) => parseBundleFile(path, await fsp.readFile(join(dir, path), 'utf8'), index)!,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
