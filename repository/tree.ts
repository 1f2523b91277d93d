import { RepoError } from './errors.ts';
import type { Repository } from './repo.ts';
import type { Xattr } from './xattr.ts';

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev';

/** One entry of a directory listing inside a snapshot. Times are nanoseconds since the epoch as decimal strings. */
export interface TreeNode {
  name: string;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  mtime: string;
  size?: number;
  inode?: number;
  ctime?: string;
  /** st_dev and st_nlink, recorded only when nlink > 1: restore links the paths that share (device, inode). */
  device?: number;
  links?: number;
  /** st_rdev of a character or block device node. */
  rdev?: number;
  /** user.* extended attributes, values in base64 (files and directories). */
  xattrs?: Xattr[];
  content?: string[];
  subtree?: string;
  target?: string;
}

/**
 * As stored, FIFOs and device nodes go in `special`, which versions before them never read: they restore
 * everything else and skip these, as they skipped them at backup. `loadTree` merges them back.
 */
export interface Tree {
  nodes: TreeNode[];
  special?: TreeNode[];
}

export const SPECIAL_TYPES: ReadonlySet<NodeType> = new Set(['fifo', 'chardev', 'blockdev']);

export interface Snapshot {
  version: number;
  time: string;
  tree: string;
  paths: string[];
  hostname: string;
  username: string;
  tags: Record<string, string>;
  parent?: string;
  program: string;
  /** Every file's and directory's user.* xattrs were recorded: the next backup may take an unchanged file's from here. */
  xattrs?: boolean;
  summary?: SnapshotSummary;
}

/** Backup counters, plus the paths not stored exactly as they were (unreadable, changed while read). */
export interface SnapshotSummary {
  [stat: string]: number | SnapshotWarning[] | undefined;
  bytesProcessed?: number;
  warnings?: SnapshotWarning[];
}

/** `code` is the errno (EIO, EACCES…) or `CHANGED_WHILE_READ`. */
export interface SnapshotWarning {
  path: string;
  code: string;
  message: string;
}

/** A name that is safe to join under a directory: not empty, not `.`/`..`, no separator or NUL. */
export function safeName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

export async function loadTree(repo: Repository, id: string): Promise<Tree> {
  const raw = await repo.loadBlob(id, 'tree');
  let t: Tree;
  try {
    t = JSON.parse(raw.toString('utf8')) as Tree;
  } catch {
    throw new RepoError('E_REPO_CORRUPT', `tree ${id.slice(0, 16)} is not valid JSON`);
  }
  if (t.special?.length) {
    t.nodes = [...t.nodes, ...t.special].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    delete t.special;
  }
  return t;
}

export interface SnapshotInfo extends Snapshot {
  id: string;
}

export async function listSnapshots(repo: Repository): Promise<SnapshotInfo[]> {
  const files = await repo.backend.list('snapshots');
  const out: SnapshotInfo[] = [];
  for (const f of files) out.push({ id: f.name, ...(await repo.loadJSON<Snapshot>('snapshots', f.name)) });
  out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
  return out;
}

/** Find a snapshot by full id, unique prefix (≥ 4 chars) or `latest`. */
export async function findSnapshot(repo: Repository, ref: string): Promise<SnapshotInfo> {
  const all = await listSnapshots(repo);
  if (ref === 'latest') {
    const last = all.at(-1);
    if (!last) throw new RepoError('E_REPO_SNAPSHOT', 'the repository has no snapshots');
    return last;
  }
  const m = ref.length >= 4 ? all.filter((s) => s.id.startsWith(ref)) : [];
  if (m.length === 1) return m[0]!;
  throw new RepoError('E_REPO_SNAPSHOT', m.length ? `snapshot prefix "${ref}" is ambiguous (${m.length} matches)` : `no snapshot "${ref}"`);
}

/** Walk a snapshot depth-first, yielding each node with its slash-separated path relative to the snapshot root. */
export async function* walk(repo: Repository, treeId: string, prefix = ''): AsyncGenerator<{ path: string; node: TreeNode }> {
  const t = await loadTree(repo, treeId);
  for (const node of t.nodes) {
    const p = prefix ? `${prefix}/${node.name}` : node.name;
    yield { path: p, node };
    if (node.type === 'dir' && node.subtree) yield* walk(repo, node.subtree, p);
  }
}
