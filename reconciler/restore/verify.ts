import { storageId } from '../../repository/crypto.ts';
import type { Repository } from '../../repository/index.ts';
import { findSnapshot, loadTree } from '../../repository/tree.ts';
import { RestoreError } from './errors.ts';

/**
 * Reads every pack the given snapshots need and checks its content hash, before a restore creates anything: a restore
 * from a damaged repository must fail clearly and leave the target as it was, not half-restore an app whose volume
 * then fails in its mover Job. Only the packs these snapshots use are read (not the whole repository, unlike
 * `coffer repo check --read-data`).
 */
export async function verifySnapshots(repo: Repository, ids: readonly string[]): Promise<{ packs: number; bytes: number }> {
  await repo.loadIndex();
  const packs = new Map<string, Set<string>>();
  const need = (blob: string, snap: string, where: string) => {
    const loc = repo.index.get(blob);
    if (!loc) throw new RestoreError('E_RESTORE_DATA', `repository damaged: snapshot ${snap.slice(0, 12)} needs blob ${blob.slice(0, 16)} ("${where}"), which no index lists`);
    let s = packs.get(loc.pack);
    if (!s) packs.set(loc.pack, (s = new Set()));
    s.add(snap);
  };
  for (const ref of ids) {
    let snap;
    try {
      snap = await findSnapshot(repo, ref);
    } catch (e) {
      throw new RestoreError('E_RESTORE_DATA', `snapshot ${ref.slice(0, 12)}: ${(e as Error).message}`);
    }
    const seen = new Set<string>();
    const visit = async (treeId: string, where: string): Promise<void> => {
      if (seen.has(treeId)) return;
      seen.add(treeId);
      need(treeId, snap.id, where || '/');
      let tree;
      try {
        tree = await loadTree(repo, treeId);
      } catch (e) {
        throw new RestoreError('E_RESTORE_DATA', `repository damaged: snapshot ${snap.id.slice(0, 12)}, directory "${where || '/'}": ${(e as Error).message}`);
      }
      for (const n of tree.nodes) {
        const p = where ? `${where}/${n.name}` : n.name;
        for (const b of n.content ?? []) need(b, snap.id, p);
        if (n.subtree) await visit(n.subtree, p);
      }
    };
    await visit(snap.tree, '');
  }
  let bytes = 0;
  for (const [pack, snaps] of packs) {
    let data: Buffer;
    try {
      data = await repo.backend.get('data', pack);
    } catch (e) {
      throw new RestoreError('E_RESTORE_DATA', `repository damaged: pack ${pack.slice(0, 16)} (used by snapshot ${[...snaps].map((s) => s.slice(0, 12)).join(', ')}) cannot be read: ${(e as Error).message}`);
    }
    bytes += data.length;
    if (storageId(data) !== pack) {
      throw new RestoreError('E_RESTORE_DATA', `repository damaged: pack ${pack.slice(0, 16)} (used by snapshot ${[...snaps].map((s) => s.slice(0, 12)).join(', ')}) does not match its content hash; nothing was restored`);
    }
  }
  return { packs: packs.size, bytes };
}
