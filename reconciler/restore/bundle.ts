import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsyaml from 'js-yaml';
import { parse } from 'yaml';
import { findSnapshot, withLock, type Repository, type TreeNode } from '../../repository/index.ts';
import { planReads } from '../../repository/restore.ts';
import { walk } from '../../repository/tree.ts';
import type { KubeObject } from '../kube/types.ts';
import { mapLimit } from '../kube/wait.ts';
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
 * with it, ~10× faster than the `yaml` package; older ones with `yaml`, which wrote them: the two libraries
 * disagree on a few plain scalars (`0b101` is a string to one, a number to the other).
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
 * Unpacks a manifest snapshot from the repository into one private spool file on local disk, so a namespace of any
 * size is restored without holding its bundle in memory: objects are read from there one by one. Pack ranges are
 * read once each (the repository's read plan), every blob authenticated on the way, so a damaged repository fails
 * here, before the cluster is touched. One file instead of one per object: 50,000 small files cost more to create
 * than to read.
 */
export async function openBundle(repo: Repository, snapshotId: string): Promise<OpenBundle> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'coffer-restore-bundle-'));
  let fh: fsp.FileHandle | undefined;
  const close = async () => {
    await fh?.close().catch(() => undefined);
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    fh = await fsp.open(join(dir, 'bundle'), 'w+', 0o600);
    let where: Map<string, { offset: number; length: number }>;
    try {
      where = await withLock(repo, false, 'restore', () => unpack(repo, snapshotId, fh!));
    } catch (e) {
      throw new RestoreError('E_RESTORE_DATA', `cannot read manifest snapshot ${snapshotId.slice(0, 12)} from the repository: ${(e as Error).message}`);
    }
    const text = async (path: string) => {
      const at = where.get(path)!;
      const buf = Buffer.allocUnsafe(at.length);
      await fh!.read(buf, 0, at.length, at.offset);
      return buf.toString('utf8');
    };
    const index = parseIndex(where.has('coffer-export.json') ? await text('coffer-export.json') : undefined);
    const files = [...where.keys()].filter((p) => resourceOfPath(p)).sort();
    const namespaceFile = files.find((f) => f.startsWith('resources/namespaces/cluster/'));
    return {
      index,
      files,
      ...(namespaceFile ? { namespaceFile } : {}),
      read: async (path) => parseBundleFile(path, await text(path), index)!,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Writes every file of the snapshot into `out`, end to end; returns where each one is. */
async function unpack(repo: Repository, snapshotId: string, out: fsp.FileHandle): Promise<Map<string, { offset: number; length: number }>> {
  await repo.loadIndex();
  const snap = await findSnapshot(repo, snapshotId);
  const files: { rel: string; node: TreeNode }[] = [];
  for await (const { path, node } of walk(repo, snap.tree)) if (node.type === 'file') files.push({ rel: path, node });
  const plan = planReads(repo, files);
  const failed = plan.failed.findIndex((f) => f !== undefined);
  if (failed >= 0) throw new Error(`${files[failed]!.rel}: ${plan.failed[failed]}`);
  const where = new Map<string, { offset: number; length: number }>();
  let offset = 0;
  const starts = plan.sizes.map((size, i) => {
    where.set(files[i]!.rel, { offset, length: size });
    return (offset += size) - size;
  });
  for (const run of plan.runs) {
    const buf = await repo.backend.getRange('data', run.pack, run.offset, run.length);
    // Blobs of one run (≤ 8 MiB) open concurrently: decompression and the id check run on the thread pool.
    const opened = await mapLimit(run.blobs, 32, async (b) => {
      const at = b.entry.offset - run.offset;
      const plain = await repo.openBlob(buf.subarray(at, at + b.entry.length), b.entry, run.pack);
      for (const [fi, off] of b.targets) await out.write(plain, 0, plain.length, starts[fi]! + off);
    });
    for (const o of opened) if (o.status === 'rejected') throw o.reason;
  }
  return where;
}
