import type { Repository } from './repo.ts';
import { findSnapshot, listSnapshots, loadTree, type TreeNode } from './tree.ts';
import { RepoError } from './errors.ts';

export interface LsEntry {
  path: string;
  type: TreeNode['type'];
  mode: number;
  size: number;
  uid: number;
  gid: number;
  mtime: string;
  target?: string;
}

function toEntry(p: string, n: TreeNode): LsEntry {
  const ns = BigInt(n.mtime);
  return {
    path: p,
    type: n.type,
    mode: n.mode,
    size: n.size ?? 0,
    uid: n.uid,
    gid: n.gid,
    mtime: new Date(Number(ns / 1_000_000n)).toISOString(),
    ...(n.target !== undefined ? { target: n.target } : {}),
  };
}

/** List a snapshot recursively, or the subtree/entry at `sub` (slash-separated). */
export async function ls(repo: Repository, snapRef: string, sub = ''): Promise<LsEntry[]> {
  await repo.loadIndex();
  const snap = await findSnapshot(repo, snapRef);
  const parts = sub.split('/').filter((x) => x && x !== '.');
  let treeId = snap.tree;
  let prefix = '';
  const out: LsEntry[] = [];
  for (let i = 0; i < parts.length; i++) {
    const t = await loadTree(repo, treeId);
    const n = t.nodes.find((x) => x.name === parts[i]);
    if (!n) throw new RepoError('E_REPO_PATH', `"${sub}" is not in snapshot ${snap.id.slice(0, 8)}`);
    prefix = prefix ? `${prefix}/${n.name}` : n.name;
    if (n.type !== 'dir' || !n.subtree) {
      if (i !== parts.length - 1) throw new RepoError('E_REPO_PATH', `"${prefix}" in snapshot ${snap.id.slice(0, 8)} is not a directory`);
      return [toEntry(prefix, n)];
    }
    if (i === parts.length - 1) out.push(toEntry(prefix, n));
    treeId = n.subtree;
  }
  const visit = async (id: string, pre: string) => {
    for (const n of (await loadTree(repo, id)).nodes) {
      const p = pre ? `${pre}/${n.name}` : n.name;
      out.push(toEntry(p, n));
      if (n.subtree) await visit(n.subtree, p);
    }
  };
  await visit(treeId, prefix);
  return out;
}

export interface RepoStats {
  snapshots: number;
  packs: number;
  blobs: number;
  indexFiles: number;
  keys: number;
  /** Bytes the backend holds (packs + indexes + snapshots + keys + config). */
  storedBytes: number;
  /** Sum of unique blobs' plaintext sizes: the data after dedupe, before compression. */
  uniqueRawBytes: number;
  /** Sum over snapshots of the bytes they would restore: the data before dedupe. */
  totalRestoreBytes: number;
  dedupRatio: number;
  compressionRatio: number;
}

export async function stats(repo: Repository): Promise<RepoStats> {
  await repo.loadIndex();
  const sum = async (t: 'data' | 'index' | 'snapshots' | 'keys' | 'config') => (await repo.backend.list(t)).reduce((a, f) => a + f.size, 0);
  const storedBytes = (await sum('data')) + (await sum('index')) + (await sum('snapshots')) + (await sum('keys')) + (await sum('config'));
  let uniqueRawBytes = 0;
  let dataStored = 0;
  for (const loc of repo.index.values()) {
    uniqueRawBytes += loc.rawLength;
    dataStored += loc.length;
  }
  const snaps = await listSnapshots(repo);
  const totalRestoreBytes = snaps.reduce((a, s) => a + (s.summary?.bytesProcessed ?? 0), 0);
  return {
    snapshots: snaps.length,
    packs: repo.packs.size,
    blobs: repo.index.size,
    indexFiles: repo.indexFiles.size,
    keys: (await repo.backend.list('keys')).length,
    storedBytes,
    uniqueRawBytes,
    totalRestoreBytes,
    dedupRatio: uniqueRawBytes ? Math.round((totalRestoreBytes / uniqueRawBytes) * 100) / 100 : 0,
    compressionRatio: dataStored ? Math.round((uniqueRawBytes / dataStored) * 100) / 100 : 0,
  };
}

export { listSnapshots, loadTree };
