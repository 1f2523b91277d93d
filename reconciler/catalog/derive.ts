import type { Deriver } from '../git/branch-writer.ts';
import { objectReader, writeObject } from '../git/objects.ts';
import { editTree, type TreeEdits } from '../git/tree.ts';
import { CatalogSnapshot } from './snapshot.ts';
import { CatalogDocumentError, indexItem, indexPath, parseRestorePoint, renderIndex, sortItems, type RestorePointIndex } from './summary.ts';

/**
 * Keeps the index of every restore point directory a change touches current, in the same commit: the directory's
 * new tree is computed (only its own trees are rewritten), the previous index is updated with the documents put or
 * deleted — or, when that index did not describe the base tree (documents committed with plain git), rebuilt from
 * the directory's documents — and written beside. Runs once per attempt, against that attempt's base.
 */
export function indexDeriver(catalogDir: string): Deriver {
  return async ({ gitdir, baseTree, edits }) => {
    const out: TreeEdits = new Map();
    const byDir = new Map<string, Map<string, string | null>>();
    const prefix = `${catalogDir}/`;
    for (const [path, oid] of edits) {
      if (!path.startsWith(prefix)) continue;
      const parts = path.slice(prefix.length).split('/');
      if (parts.length !== 4 || parts[0]!.startsWith('.') || !parts[3]!.endsWith('.yaml')) continue;
      const dir = `${prefix}${parts.slice(0, 3).join('/')}`;
      let m = byDir.get(dir);
      if (!m) byDir.set(dir, (m = new Map()));
      m.set(parts[3]!, oid);
    }
    if (byDir.size === 0) return out;
    const objects = objectReader(gitdir);
    const snap = new CatalogSnapshot(objects, catalogDir, baseTree);
    for (const [dir, changes] of byDir) {
      const [cluster, namespace, policy] = dir.slice(prefix.length).split('/') as [string, string, string];
      const where = indexPath(catalogDir, cluster, namespace, policy);
      const base = snap.dir(cluster, namespace, policy);
      const newTree = await editTree(gitdir, base?.tree, new Map(changes));
      // An emptied directory disappears from the tree; its index goes with it.
      if (!base?.tree && [...changes.values()].every((v) => v === null)) continue;
      const isEmpty = objects.readTree(newTree).length === 0;
      if (isEmpty) {
        out.set(where, null);
        continue;
      }
      const previous = base ? snap.trustedIndex(base) : undefined;
      let index: RestorePointIndex;
      if (previous) {
        const items = new Map(previous.items.map((i) => [i.file ?? `${i.name}.yaml`, i]));
        const problems = new Map(previous.problems.map((p) => [p.file, p]));
        for (const [file, oid] of changes) {
          items.delete(file);
          problems.delete(file);
          if (oid === null) continue;
          try {
            items.set(file, indexItem(parseRestorePoint(`${dir}/${file}`, objects.read(oid).data.toString('utf8')), file));
          } catch (e) {
            if (!(e instanceof CatalogDocumentError)) throw e;
            const { path: _p, ...rest } = e.problem;
            problems.set(file, { file, ...rest });
          }
        }
        index = { apiVersion: 'coffer.dev/v1alpha1', kind: 'RestorePointIndex', tree: newTree, items: sortItems([...items.values()]), problems: [...problems.values()] };
      } else {
        index = snap.buildIndex({ cluster, namespace, policy, path: dir, tree: newTree });
      }
      out.set(where, writeObject(gitdir, 'blob', Buffer.from(renderIndex(index)), objects));
    }
    return out;
  };
}
