import { chmodSync, linkSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setAttributeSync } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, type Repository, type TreeNode } from '../../repository/index.ts';
import { newRepo, prng, tempDir, text } from './helpers.ts';

/**
 * A file node's keys, in the order they are stored. A tree's id is the HMAC of its JSON, so the order is part of
 * the format in effect: an unchanged directory must serialize to the same bytes in every version, or its tree is
 * written again (and every tree above it). backup.ts builds file nodes as object literals (fileNode), not by
 * spreading — these cases pin the order on every path that makes one.
 */
const PLAIN = ['name', 'mode', 'uid', 'gid', 'mtime', 'type', 'inode', 'ctime', 'size', 'content'];
const LINKED = ['name', 'mode', 'uid', 'gid', 'mtime', 'type', 'inode', 'ctime', 'device', 'links', 'size', 'content'];

async function dirNodes(repo: Repository, root: string): Promise<Map<string, TreeNode>> {
  const top = JSON.parse((await repo.loadBlob(root, 'tree')).toString()) as { nodes: TreeNode[] };
  const sub = JSON.parse((await repo.loadBlob(top.nodes[0]!.subtree!, 'tree')).toString()) as { nodes: TreeNode[] };
  return new Map(sub.nodes.map((n) => [n.name, n]));
}

describe('file nodes as stored: key order and values on every path (small, large, hard-linked, xattrs, unchanged, changed)', () => {
  const t = tempDir('node-shape');
  const src = path.join(t.dir, 'src');
  let xattrs = true;

  beforeAll(() => {
    mkdirSync(src);
    writeFileSync(path.join(src, 'small'), text(3000)); // the small-file path (batched on the workers, or read inline)
    writeFileSync(path.join(src, 'large'), prng(600 * 1024, 7)); // the general path (readLargeFile)
    writeFileSync(path.join(src, 'link-a'), text(2000));
    linkSync(path.join(src, 'link-a'), path.join(src, 'link-b')); // nlink 2: device and links recorded
    writeFileSync(path.join(src, 'tagged'), text(1000));
    try {
      setAttributeSync(path.join(src, 'tagged'), 'user.k', 'v');
    } catch {
      xattrs = false; // a file system without user xattrs: the key is then simply absent
    }
    writeFileSync(path.join(src, 'empty'), '');
  });
  afterAll(() => t.cleanup());

  it.each(['blocking', 'workers'] as const)('small files read %s: every key in the stored order, values from lstat', async (mode) => {
    const { repo } = await newRepo(path.join(t.dir, `repo-${mode}`));
    const first = await backup(repo, [src], { smallFileReads: mode });
    const nodes = await dirNodes(repo, first.snapshot.tree);
    expect(Object.keys(nodes.get('small')!)).toEqual(PLAIN);
    expect(Object.keys(nodes.get('large')!)).toEqual(PLAIN);
    expect(Object.keys(nodes.get('empty')!)).toEqual(PLAIN);
    expect(Object.keys(nodes.get('link-a')!)).toEqual(LINKED);
    expect(Object.keys(nodes.get('link-b')!)).toEqual(LINKED);
    expect(Object.keys(nodes.get('tagged')!)).toEqual(xattrs ? [...PLAIN, 'xattrs'] : PLAIN);
    if (xattrs) expect(nodes.get('tagged')!.xattrs).toEqual([{ name: 'user.k', value: Buffer.from('v').toString('base64') }]);
    const st = lstatSync(path.join(src, 'link-a'), { bigint: true });
    expect(nodes.get('link-a')).toMatchObject({ mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtime: st.mtimeNs.toString(), type: 'file', inode: Number(st.ino), ctime: st.ctimeNs.toString(), device: Number(st.dev), links: 2, size: 2000 });
    expect(nodes.get('empty')!.content).toEqual([]);
    expect(nodes.get('large')!.content!.length).toBeGreaterThan(0);

    // unchanged: every node is the parent's, the trees serialize to the same bytes, so the same root id
    const again = await backup(repo, [src], { smallFileReads: mode });
    expect(again.stats.filesUnmodified).toBe(6);
    expect(again.snapshot.tree).toBe(first.snapshot.tree);

    // a ctime-only change (chmod and back) is read again: new ctime, same key order
    const small = path.join(src, 'small');
    const mode0 = Number(lstatSync(small).mode) & 0o7777;
    chmodSync(small, 0o600);
    chmodSync(small, mode0);
    const changed = await backup(repo, [src], { smallFileReads: mode });
    expect(changed.stats.filesChanged).toBe(1);
    const after = await dirNodes(repo, changed.snapshot.tree);
    expect(Object.keys(after.get('small')!)).toEqual(PLAIN);
    expect(after.get('small')!.ctime).toBe(lstatSync(small, { bigint: true }).ctimeNs.toString());
    expect(after.get('small')!.content).toEqual(nodes.get('small')!.content);
  });
});
