import { gitFs } from './fs.ts';
import git, { type TreeEntry } from 'isomorphic-git';

/** path → blob oid to write, or null to delete. Paths are '/'-separated and relative to the tree root. */
export type TreeEdits = Map<string, string | null>;

/**
 * Rewrites only the trees on the paths being changed (O(depth × entries of those trees)), reusing every other subtree
 * by oid. This is what keeps a catalog commit cheap when the branch already holds 10,000 restore points: nothing else
 * is read or re-hashed, unlike an index-based `add`. Returns the new root tree oid (the empty tree when nothing is left).
 */
export async function editTree(gitdir: string, rootTree: string | undefined, edits: TreeEdits, cache: object): Promise<string> {
  const root = await editLevel(gitdir, rootTree, [...edits].map(([p, oid]) => [splitPath(p), oid] as const), cache);
  return root ?? (await git.writeTree({ fs: gitFs, gitdir, tree: [] }));
}

function splitPath(p: string): string[] {
  const parts = p.split('/').filter((s) => s.length > 0);
  if (parts.length === 0 || parts.some((s) => s === '.' || s === '..' || s === '.git')) throw new Error(`invalid tree path "${p}"`);
  return parts;
}

async function editLevel(
  gitdir: string,
  treeOid: string | undefined,
  edits: ReadonlyArray<readonly [string[], string | null]>,
  cache: object,
): Promise<string | undefined> {
  const entries = new Map<string, TreeEntry>();
  if (treeOid) for (const e of (await git.readTree({ fs: gitFs, gitdir, oid: treeOid, cache })).tree) entries.set(e.path, e);
  const sub = new Map<string, Array<readonly [string[], string | null]>>();
  for (const [parts, oid] of edits) {
    const [head, ...rest] = parts as [string, ...string[]];
    if (rest.length === 0) {
      if (oid === null) entries.delete(head);
      else entries.set(head, { mode: '100644', path: head, oid, type: 'blob' });
    } else {
      let list = sub.get(head);
      if (!list) sub.set(head, (list = []));
      list.push([rest, oid]);
    }
  }
  for (const [name, list] of sub) {
    const existing = entries.get(name);
    const child = await editLevel(gitdir, existing?.type === 'tree' ? existing.oid : undefined, list, cache);
    if (child === undefined) entries.delete(name);
    else entries.set(name, { mode: '040000', path: name, oid: child, type: 'tree' });
  }
  if (entries.size === 0) return undefined;
  return git.writeTree({ fs: gitFs, gitdir, tree: [...entries.values()] });
}

/** The blob oid at `path` in a tree, or undefined; walks only the trees on that path. */
export async function blobAt(gitdir: string, rootTree: string | undefined, path: string, cache: object): Promise<string | undefined> {
  if (!rootTree) return undefined;
  let oid = rootTree;
  const parts = splitPath(path);
  for (let i = 0; i < parts.length; i++) {
    const { tree } = await git.readTree({ fs: gitFs, gitdir, oid, cache });
    const e = tree.find((t) => t.path === parts[i]);
    if (!e) return undefined;
    if (i === parts.length - 1) return e.type === 'blob' ? e.oid : undefined;
    if (e.type !== 'tree') return undefined;
    oid = e.oid;
  }
  return undefined;
}
