import type { Deriver, DerivedEdits } from '../git/branch-writer.ts';
import { EMPTY_TREE, objectId, objectReader, writeObject, type ObjectReader } from '../git/objects.ts';
import { editTree, type TreeEdit } from '../git/tree.ts';
import { clusterIndexPath, policyFiles, policyIndexPath, POLICIES_DIR, renderClusterIndex, renderPolicyIndex, type PolicyDirectory } from './policy-index.ts';
import { CatalogSnapshot, type PointDir } from './snapshot.ts';
import { CatalogDocumentError, INDEX_DIR, indexItem, indexPath, parseRestorePoint, renderIndex, sortItems, withoutFiles, type RestorePointIndex } from './summary.ts';

/** A change's edits under one cluster: per (namespace, policy) directory, above the directories, and to index files. */
interface ClusterEdits {
  /** `ns/policy` → path below the directory → edit. */
  dirs: Map<string, Map<string, TreeEdit>>;
  /** Paths below `<catalogDir>/<cluster>/` that are not inside a policy directory. */
  other: Map<string, TreeEdit>;
  /** `ns/policy` → the index file the change writes itself (`coffer catalog reindex`, a hand edit through Coffer). */
  indexFiles: Map<string, TreeEdit>;
}

/** A directory after the change: its tree and index oids, or gone. */
type DirAfter = { namespace: string; policy: string; tree?: string | undefined; index?: string | undefined };

/**
 * Keeps the derived index current in the same commit, against that attempt's base. For each restore point directory a
 * change touches: its new tree (only its own trees are rewritten) and its index — the previous one updated with the
 * documents put or deleted, or, when that index did not describe the base tree (documents committed with plain git),
 * rebuilt from the directory's documents. Then the cluster's new tree, handed back whole (the writer does not rewrite
 * the directories again), and its ClusterIndex and touched PolicyIndexes (policy-index.ts): updated when the base's
 * ClusterIndex vouched for its base, else rebuilt from a walk of the cluster.
 */
export function indexDeriver(catalogDir: string): Deriver {
  return async ({ gitdir, baseTree, edits }) => {
    const out: DerivedEdits = new Map();
    const clusters = groupEdits(catalogDir, edits);
    if (clusters.size === 0) return out;
    const objects = objectReader(gitdir);
    const snap = new CatalogSnapshot(objects, catalogDir, baseTree);
    const blob = (text: string): string => writeObject(gitdir, 'blob', Buffer.from(text), objects);
    for (const [cluster, ce] of clusters) {
      const changed = new Map<string, DirAfter>();
      const clusterEdits = new Map<string, TreeEdit>(ce.other);
      const baseDir = baseDirs(snap, cluster, [...ce.dirs.keys(), ...ce.indexFiles.keys()]);
      for (const [key, files] of ce.dirs) {
        const [namespace, policy] = key.split('/') as [string, string];
        const where = indexPath(catalogDir, cluster, namespace, policy);
        const base = baseDir(key);
        const newTree = await editTree(gitdir, base?.tree, files);
        if (newTree === EMPTY_TREE) {
          // An emptied directory disappears from the tree; its index goes with it.
          clusterEdits.set(key, null);
          if (base?.index) out.set(where, null);
          changed.set(key, { namespace, policy });
          continue;
        }
        clusterEdits.set(key, { tree: newTree });
        const text = (base && deletedOnly(objects, base, newTree, files)) ?? renderIndex((base && updatedIndex(objects, snap, base, newTree, files)) ?? snap.buildIndex({ cluster, namespace, policy, path: `${catalogDir}/${cluster}/${key}`, tree: newTree }));
        const oid = blob(text);
        out.set(where, oid);
        changed.set(key, { namespace, policy, tree: newTree, index: oid });
      }
      for (const [key, edit] of ce.indexFiles) {
        if (ce.dirs.has(key) || (edit !== null && typeof edit === 'object')) continue;
        const [namespace, policy] = key.split('/') as [string, string];
        const base = baseDir(key);
        if (base) changed.set(key, { namespace, policy, tree: base.tree, index: edit ?? undefined });
      }
      const baseCluster = snap.clusterTree(cluster);
      const newCluster = clusterEdits.size ? await editTree(gitdir, baseCluster, clusterEdits) : baseCluster;
      if (newCluster !== baseCluster) out.set(`${catalogDir}/${cluster}`, newCluster === EMPTY_TREE ? null : { tree: newCluster! });
      const after = newCluster === EMPTY_TREE ? undefined : newCluster;
      for (const [path, text] of clusterIndexEdits(catalogDir, snap, cluster, baseCluster, after, changed, ce.other.size > 0)) out.set(path, text === null ? null : blob(text));
    }
    return out;
  };
}

/**
 * The base's directories by `ns/policy`: from the PolicyIndexes of their policies when the base's ClusterIndex vouches
 * for them (a day's retention touches every namespace: five blobs instead of 200 trees), else walked one by one.
 */
function baseDirs(snap: CatalogSnapshot, cluster: string, keys: readonly string[]): (key: string) => PointDir | undefined {
  const seal = snap.clusterIndex(cluster);
  if (keys.length < 2 || !seal || seal.tree !== snap.clusterTree(cluster)) {
    return (key) => {
      const [namespace, policy] = key.split('/') as [string, string];
      return snap.dir(cluster, namespace, policy);
    };
  }
  const dirs = new Map<string, PointDir>();
  for (const policy of new Set(keys.map((k) => k.slice(k.indexOf('/') + 1)))) {
    for (const d of snap.dirs({ cluster, policy })) dirs.set(`${d.namespace}/${d.policy}`, d);
  }
  return (key) => dirs.get(key);
}

/** The index after a change that only deletes documents, edited as text (`withoutFiles`); undefined when it cannot be. */
function deletedOnly(objects: ObjectReader, base: PointDir, newTree: string, files: ReadonlyMap<string, TreeEdit>): string | undefined {
  const deleted = new Set<string>();
  for (const [file, edit] of files) {
    if (file.includes('/') || !file.endsWith('.yaml')) continue;
    if (edit !== null) return undefined;
    deleted.add(file);
  }
  return base.index ? withoutFiles(objects.read(base.index).data.toString('utf8'), base.tree, newTree, deleted) : undefined;
}

function groupEdits(catalogDir: string, edits: ReadonlyMap<string, TreeEdit>): Map<string, ClusterEdits> {
  const out = new Map<string, ClusterEdits>();
  const get = (cluster: string): ClusterEdits => {
    let ce = out.get(cluster);
    if (!ce) out.set(cluster, (ce = { dirs: new Map(), other: new Map(), indexFiles: new Map() }));
    return ce;
  };
  const prefix = `${catalogDir}/`;
  for (const [path, edit] of edits) {
    if (!path.startsWith(prefix)) continue;
    const parts = path.slice(prefix.length).split('/');
    if (parts[0] === INDEX_DIR) {
      // <catalogDir>/.index/<cluster>/<ns>/<policy>.json: an index file written by the change itself.
      if (parts.length === 4 && !parts[1]!.startsWith('.') && parts[3]!.endsWith('.json')) get(parts[1]!).indexFiles.set(`${parts[2]}/${parts[3]!.slice(0, -5)}`, edit);
      continue;
    }
    if (parts.length < 2 || parts[0]!.startsWith('.')) continue;
    const ce = get(parts[0]!);
    if (parts.length < 4) {
      ce.other.set(parts.slice(1).join('/'), edit);
      continue;
    }
    const key = `${parts[1]}/${parts[2]}`;
    let files = ce.dirs.get(key);
    if (!files) ce.dirs.set(key, (files = new Map()));
    files.set(parts.slice(3).join('/'), edit);
  }
  return out;
}

/**
 * The directory's index after `files`, from the base's index when that one is trusted (it describes the base tree):
 * only the documents put or deleted are parsed. Undefined when there is none to start from.
 */
function updatedIndex(objects: ObjectReader, snap: CatalogSnapshot, base: PointDir, newTree: string, files: ReadonlyMap<string, TreeEdit>): RestorePointIndex | undefined {
  const previous = snap.trustedIndex(base);
  if (!previous) return undefined;
  const items = new Map(previous.items.map((i) => [i.file ?? `${i.name}.yaml`, i]));
  const problems = new Map(previous.problems.map((p) => [p.file, p]));
  for (const [file, edit] of files) {
    // Only the directory's own .yaml files are restore points (what `documents()` reads).
    if (file.includes('/') || !file.endsWith('.yaml')) continue;
    items.delete(file);
    problems.delete(file);
    if (edit === null) continue;
    if (typeof edit === 'object') return undefined; // a subtree where a document was: rebuild
    try {
      items.set(file, indexItem(parseRestorePoint(`${base.path}/${file}`, objects.read(edit).data.toString('utf8')), file));
    } catch (e) {
      if (!(e instanceof CatalogDocumentError)) throw e;
      const { path: _p, ...rest } = e.problem;
      problems.set(file, { file, ...rest });
    }
  }
  return { apiVersion: 'coffer.dev/v1alpha1', kind: 'RestorePointIndex', tree: newTree, items: sortItems([...items.values()]), problems: [...problems.values()] };
}

/**
 * The ClusterIndex and PolicyIndex files after the change (path → content, null to delete). When the base's
 * ClusterIndex names the base's cluster tree and the change stays inside policy directories, only the policies of
 * changed directories are rewritten; otherwise (no index yet, documents committed with plain git, a merge, a change
 * above the directories) the cluster's new tree is walked and all of them are rebuilt.
 */
function clusterIndexEdits(
  catalogDir: string,
  snap: CatalogSnapshot,
  cluster: string,
  baseCluster: string | undefined,
  newCluster: string | undefined,
  changed: ReadonlyMap<string, DirAfter>,
  rebuild: boolean,
): Map<string, string | null> {
  const out = new Map<string, string | null>();
  const basePolicyFiles = (): string[] => [...snap.indexFiles().keys()].filter((p) => p.startsWith(`${catalogDir}/${INDEX_DIR}/${POLICIES_DIR}/${cluster}/`));
  if (!newCluster) {
    for (const p of basePolicyFiles()) out.set(p, null);
    if (snap.clusterIndex(cluster)) out.set(clusterIndexPath(catalogDir, cluster), null);
    return out;
  }
  if (changed.size === 0 && newCluster === baseCluster) return out;
  const seal = snap.clusterIndex(cluster);
  if (!rebuild && seal && baseCluster && seal.tree === baseCluster) {
    const updated = updatePolicies(catalogDir, snap, cluster, newCluster, new Map(Object.entries(seal.policies)), changed);
    if (updated) return updated;
  }
  // Rebuild: the directories of the new cluster tree, with the index oids the commit leaves beside them.
  const indexes = new Map(snap.dirs({ cluster }, { walk: true }).map((d) => [`${d.namespace}/${d.policy}`, d.index]));
  const dirs: Array<PolicyDirectory & { policy: string }> = [];
  for (const n of snap.objects.readTree(newCluster)) {
    if (n.type !== 'tree') continue;
    for (const p of snap.objects.readTree(n.oid)) {
      if (p.type !== 'tree') continue;
      const key = `${n.name}/${p.name}`;
      const index = changed.has(key) ? changed.get(key)!.index : indexes.get(key);
      dirs.push({ namespace: n.name, policy: p.name, tree: p.oid, ...(index ? { index } : {}) });
    }
  }
  const files = policyFiles(catalogDir, cluster, newCluster, dirs, blobId);
  for (const p of basePolicyFiles()) if (!files.has(p)) out.set(p, null);
  for (const [p, text] of files) out.set(p, text);
  return out;
}

/** The PolicyIndexes of the changed directories' policies, updated from the base's; undefined when one is unreadable. */
function updatePolicies(catalogDir: string, snap: CatalogSnapshot, cluster: string, newCluster: string, policies: Map<string, string>, changed: ReadonlyMap<string, DirAfter>): Map<string, string | null> | undefined {
  const out = new Map<string, string | null>();
  const byPolicy = new Map<string, DirAfter[]>();
  for (const d of changed.values()) byPolicy.set(d.policy, [...(byPolicy.get(d.policy) ?? []), d]);
  for (const [policy, dirs] of byPolicy) {
    const oid = policies.get(policy);
    const previous = oid ? snap.policyIndex(oid) : undefined;
    if (oid && previous?.policy !== policy) return undefined;
    const entries = new Map((previous?.directories ?? []).map((d) => [d.namespace, d]));
    for (const d of dirs) {
      if (d.tree) entries.set(d.namespace, { namespace: d.namespace, tree: d.tree, ...(d.index ? { index: d.index } : {}) });
      else entries.delete(d.namespace);
    }
    const path = policyIndexPath(catalogDir, cluster, policy);
    if (entries.size === 0) {
      policies.delete(policy);
      out.set(path, null);
      continue;
    }
    const text = renderPolicyIndex(policy, [...entries.values()]);
    policies.set(policy, blobId(text));
    out.set(path, text);
  }
  out.set(clusterIndexPath(catalogDir, cluster), renderClusterIndex(cluster, newCluster, policies));
  return out;
}

const blobId = (text: string): string => objectId('blob', Buffer.from(text));
