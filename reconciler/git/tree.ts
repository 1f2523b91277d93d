import { objectReader, treeBytes, writeObject, type ObjectReader, type TreeEntry } from './objects.ts';

/** path → blob oid to write, or null to delete. Paths are '/'-separated and relative to the tree root. */
export type TreeEdits = Map<string, string | null>;

/** A blob oid, null to delete, or a whole subtree to place at the path (a directory already rewritten elsewhere). */
export type TreeEdit = string | null | { tree: string };

/**
 * Rewrites only the trees on the paths being changed (O(depth × entries of those trees)), reusing every other subtree
 * by oid. This is what keeps a catalog commit flat as the branch grows to 100,000 restore points: nothing else is
 * read or re-hashed, unlike an index-based `add`. Returns the new root tree oid (the empty tree when nothing is left).
 */
export async function editTree(gitdir: string, rootTree: string | undefined, edits: ReadonlyMap<string, TreeEdit>): Promise<string> {
  const objects = objectReader(gitdir);
  const root = editLevel(objects, rootTree, [...edits].map(([p, oid]) => [splitPath(p), oid] as const));
  return root ?? writeObject(gitdir, 'tree', Buffer.alloc(0), objects);
}

function splitPath(p: string): string[] {
  const parts = p.split('/').filter((s) => s.length > 0);
  if (parts.length === 0 || parts.some((s) => s === '.' || s === '..' || s === '.git')) throw new Error(`invalid tree path "${p}"`);
  return parts;
}

function editLevel(objects: ObjectReader, treeOid: string | undefined, edits: ReadonlyArray<readonly [string[], TreeEdit]>): string | undefined {
  const entries = new Map<string, TreeEntry>();
  if (treeOid) for (const e of objects.readTree(treeOid)) entries.set(e.name, e);
  const sub = new Map<string, Array<readonly [string[], TreeEdit]>>();
  for (const [parts, oid] of edits) {
    const [head, ...rest] = parts as [string, ...string[]];
    if (rest.length === 0) {
      if (oid === null) entries.delete(head);
      else if (typeof oid === 'object') entries.set(head, { mode: '40000', name: head, oid: oid.tree, type: 'tree' });
      else entries.set(head, { mode: '100644', name: head, oid, type: 'blob' });
    } else {
      let list = sub.get(head);
      if (!list) sub.set(head, (list = []));
      list.push([rest, oid]);
    }
  }
  for (const [name, list] of sub) {
    const existing = entries.get(name);
    const child = editLevel(objects, existing?.type === 'tree' ? existing.oid : undefined, list);
    if (child === undefined) entries.delete(name);
    else entries.set(name, { mode: '40000', name, oid: child, type: 'tree' });
  }
  if (entries.size === 0) return undefined;
  return writeObject(objects.gitdir, 'tree', treeBytes([...entries.values()]), objects);
}

/** The blob oid at `path` in a tree, or undefined; walks only the trees on that path. */
export async function blobAt(gitdir: string, rootTree: string | undefined, path: string): Promise<string | undefined> {
  if (!rootTree) return undefined;
  const objects = objectReader(gitdir);
  const parts = splitPath(path);
  let oid = rootTree;
  for (let i = 0; i < parts.length; i++) {
    const e = objects.readTree(oid).find((t) => t.name === parts[i]);
    if (!e) return undefined;
    if (i === parts.length - 1) return e.type === 'blob' ? e.oid : undefined;
    if (e.type !== 'tree') return undefined;
    oid = e.oid;
  }
  return undefined;
}
