import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, restore, type Repository } from '../../repository/index.ts';
import { devNumbers } from '../../repository/restore.ts';
import { writeXattrs } from '../../repository/xattr.ts';
import { blobId, seal } from '../../repository/crypto.ts';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';
import { newRepo, prng, tempDir } from './helpers.ts';

const run = promisify(execFile);
const root = process.getuid?.() === 0;

/**
 * What `stat` says of every path under `dir` that a restore must reproduce: type, mode, owner, size, rdev,
 * mtime to the microsecond (Node's utimes cannot set nanoseconds), content hash, and which paths share an
 * inode (as a group number in walk order, since inode numbers themselves differ between trees).
 */
function statTree(dir: string): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const groups = new Map<bigint, number>();
  const visit = (rel: string) => {
    const st = lstatSync(path.join(dir, rel), { bigint: true });
    const e: Record<string, unknown> = { mode: (st.mode & 0o177777n).toString(8), uid: Number(st.uid), gid: Number(st.gid) };
    if (!st.isSymbolicLink()) e.mtimeUs = (st.mtimeNs / 1000n).toString();
    if (st.isFile()) {
      e.size = Number(st.size);
      e.sha = createHash('sha256').update(readFileSync(path.join(dir, rel))).digest('hex').slice(0, 16);
      e.nlink = Number(st.nlink);
      if (st.nlink > 1n) e.linkGroup = groups.get(st.ino) ?? (groups.set(st.ino, groups.size), groups.size - 1);
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) e.rdev = devNumbers(Number(st.rdev));
    if (st.isFile() || st.isDirectory()) {
      const names = listAttributesSync(path.join(dir, rel)).filter((n) => n.startsWith('user.') || n.startsWith('system.posix_acl_')).sort();
      if (names.length) e.xattrs = Object.fromEntries(names.map((n) => [n, getAttributeSync(path.join(dir, rel), n)!.toString('base64')]));
    }
    if (st.isDirectory()) for (const c of readdirSync(path.join(dir, rel)).sort()) visit(rel ? `${rel}/${c}` : c);
    out[rel || '.'] = e;
  };
  visit('');
  return out;
}

async function touchNs(p: string, stamp: string): Promise<void> {
  await run('touch', ['-h', '-m', '-d', stamp, p]);
}

describe('restore fidelity: hard links, FIFOs, device nodes, owners, modes, times, user xattrs, POSIX ACLs (beside restic)', () => {
  const t = tempDir('fidelity');
  const src = path.join(t.dir, 'src');
  let repo: Repository;
  let snapshotId: string;

  beforeAll(async () => {
    mkdirSync(path.join(src, 'sub/deeper'), { recursive: true });
    writeFileSync(path.join(src, 'data.bin'), prng(700_000, 3));
    linkSync(path.join(src, 'data.bin'), path.join(src, 'sub/data-link'));
    linkSync(path.join(src, 'data.bin'), path.join(src, 'sub/deeper/data-link2'));
    writeFileSync(path.join(src, 'small'), 'pair');
    linkSync(path.join(src, 'small'), path.join(src, 'small-2'));
    writeFileSync(path.join(src, 'alone'), 'one link');
    await run('mkfifo', ['-m', '0640', path.join(src, 'pipe')]);
    if (root) {
      await run('mknod', ['-m', '0620', path.join(src, 'null-like'), 'c', '1', '3']);
      await run('mknod', ['-m', '0660', path.join(src, 'loop-like'), 'b', '7', '200']);
      chownSync(path.join(src, 'alone'), 1234, 5678);
      chownSync(path.join(src, 'sub'), 4321, 8765);
    }
    chmodSync(path.join(src, 'alone'), 0o4751);
    chmodSync(path.join(src, 'sub/deeper'), 0o1777);
    symlinkSync('../data.bin', path.join(src, 'sub/sym'));
    setAttributeSync(path.join(src, 'alone'), 'user.mime_type', 'text/plain');
    setAttributeSync(path.join(src, 'alone'), 'user.bin', Buffer.from([0, 255, 10, 13]));
    setAttributeSync(path.join(src, 'sub'), 'user.checksum', 'abc');
    // POSIX ACLs (Debian's acl package): an access ACL on a file, access and default ACLs on a directory
    writeFileSync(path.join(src, 'acl-file'), 'acl');
    mkdirSync(path.join(src, 'acl-dir'));
    await run('setfacl', ['-m', 'u:1234:rw,g:55:r', path.join(src, 'acl-file')]);
    await run('setfacl', ['-m', 'u:1234:rwx', '-d', '-m', 'g:55:rx', path.join(src, 'acl-dir')]);
    // nanosecond stamps, restored to the microsecond
    for (const p of ['data.bin', 'small', 'alone', 'pipe', 'sub/deeper', 'sub', '.']) await touchNs(path.join(src, p), `@1700000000.${String(123456789 + p.length).padStart(9, '0')}`);
    ({ repo } = await newRepo(path.join(t.dir, 'repo')));
    const b = await backup(repo, [src]);
    snapshotId = b.snapshotId;
    expect(b.warnings).toEqual([]);
    // each hard-linked inode is read once, under its first path
    expect(b.stats).toMatchObject({ bytesRead: 700_000 + 4 + 8 + 3, filesNew: 7 });
  });
  afterAll(() => t.cleanup());

  it('restores the tree stat-identical to the source: links as links, FIFOs, devices, owners, setuid and sticky bits', async () => {
    const out = path.join(t.dir, 'coffer-out');
    const s = await restore(repo, snapshotId, out);
    expect(s.errors).toEqual([]);
    expect(s.warnings).toEqual([]);
    expect(s).toMatchObject({ hardlinks: 3, specials: root ? 3 : 1 });
    const restored = statTree(path.join(out, 'src'));
    expect(restored).toEqual(statTree(src));
    // spelled out, so a statTree that lost a field cannot make the comparison vacuous
    expect(restored['sub/deeper/data-link2']).toMatchObject({ nlink: 3, linkGroup: restored['data.bin']!.linkGroup });
    expect(restored['small-2']).toMatchObject({ nlink: 2 });
    expect(restored['pipe']!.mode).toBe('10640');
    if (root) {
      expect(restored['null-like']).toMatchObject({ mode: '20620', rdev: { major: 1, minor: 3 } });
      expect(restored['loop-like']).toMatchObject({ mode: '60660', rdev: { major: 7, minor: 200 } });
      expect(restored['alone']).toMatchObject({ uid: 1234, gid: 5678, mode: '104751' });
    }
    expect(restored['alone']!.xattrs).toEqual({ 'user.bin': 'AP8KDQ==', 'user.mime_type': Buffer.from('text/plain').toString('base64') });
    expect(restored['sub']!.xattrs).toEqual({ 'user.checksum': Buffer.from('abc').toString('base64') });
    expect(Object.keys(restored['acl-file']!.xattrs as object)).toEqual(['system.posix_acl_access']);
    expect(Object.keys(restored['acl-dir']!.xattrs as object)).toEqual(['system.posix_acl_access', 'system.posix_acl_default']);
    const getfacl = async (p: string) => (await run('getfacl', ['-c', '-p', p])).stdout;
    expect(await getfacl(path.join(out, 'src/acl-dir'))).toBe(await getfacl(path.join(src, 'acl-dir')));
    expect(await getfacl(path.join(out, 'src/acl-file'))).toContain('user:1234:rw-');
  });

  it('stores FIFOs and device nodes apart from `nodes`, where versions before them never look', async () => {
    const snap = await repo.loadJSON<{ tree: string }>('snapshots', snapshotId);
    const raw = async (id: string) => JSON.parse((await repo.loadBlob(id, 'tree')).toString()) as { nodes: { name: string; type: string; subtree?: string }[]; special?: { name: string }[] };
    const top = await raw(snap.tree);
    const tree = await raw(top.nodes[0]!.subtree!);
    expect(tree.nodes.map((n) => n.type).sort()).toEqual(['dir', 'dir', 'file', 'file', 'file', 'file', 'file']);
    expect(tree.special?.map((n) => n.name)).toEqual(root ? ['loop-like', 'null-like', 'pipe'] : ['pipe']);
  });

  it('an --include of a later link alone restores it as a plain file with the content', async () => {
    const out = path.join(t.dir, 'coffer-one');
    await restore(repo, snapshotId, out, { include: ['src/sub/deeper/data-link2'] });
    const st = lstatSync(path.join(out, 'src/sub/deeper/data-link2'));
    expect(st.nlink).toBe(1);
    expect(readFileSync(path.join(out, 'src/sub/deeper/data-link2')).equals(prng(700_000, 3))).toBe(true);
  });

  it.runIf(root)('without CAP_MKNOD (an unprivileged mover Pod): device nodes are skipped with a warning, the rest restored', async () => {
    const out = path.join(t.dir, 'nomknod-out');
    const env = { ...process.env, COFFER_TSX: '1', COFFER_REPOSITORY: path.join(t.dir, 'repo'), COFFER_PASSWORD: 'test-password' };
    const coffer = fileURLToPath(new URL('../../cli/coffer.js', import.meta.url));
    const r = await run('setpriv', ['--bounding-set', '-mknod', process.execPath, coffer, 'repo', 'restore', snapshotId, out], { env });
    expect(r.stderr).toContain('warning: src/null-like: chardev not restored');
    expect(r.stderr).toContain('warning: src/loop-like: blockdev not restored');
    expect(r.stdout).toContain('1 FIFO/device node(s)');
    const restored = statTree(path.join(out, 'src'));
    const expected = statTree(src);
    delete expected['null-like'];
    delete expected['loop-like'];
    expect(restored).toEqual(expected);
  });

  it("matches restic's own backup and restore of the same tree", async () => {
    const env = { ...process.env, RESTIC_REPOSITORY: path.join(t.dir, 'restic-repo'), RESTIC_PASSWORD: 'pw' };
    await run('restic', ['init', '-q'], { env });
    await run('restic', ['backup', '-q', '--no-cache', src], { env });
    const out = path.join(t.dir, 'restic-out');
    await run('restic', ['restore', '-q', '--no-cache', 'latest', '--target', out], { env });
    const theirs = statTree(path.join(out, src));
    const ours = statTree(path.join(t.dir, 'coffer-out/src'));
    expect(ours).toEqual(theirs);
  });
});

// Cases from glibc's makedev (sysdeps/unix/sysv/linux/sys/sysmacros.h): 12-bit major / 20-bit minor split across the 64 bits.
describe('devNumbers (Linux dev_t)', () => {
  it.each([
    [0x103, 1, 3],
    [0x10300, 259, 0],
    [0x1000 * 2 ** 32 + 0x100 * 2 ** 12, 0x1000, 0x100],
    [0x7c8, 7, 200],
  ])('%i → %i:%i', (rdev, major, minor) => {
    expect(devNumbers(rdev)).toEqual({ major, minor });
  });
});

describe('writeXattrs', () => {
  const t = tempDir('xattr');
  afterAll(() => t.cleanup());
  it('refuses every namespace but user.* and POSIX ACLs (a crafted snapshot must not set security.capability)', () => {
    const f = path.join(t.dir, 'bin');
    writeFileSync(f, '#!/bin/sh\n');
    for (const name of ['security.capability', 'trusted.x', 'system.posix_acl_mask', 'system.sockprotoname']) {
      expect(() => writeXattrs(f, [{ name, value: 'AQAAAg==' }])).toThrow(`extended attribute "${name}" refused`);
    }
    expect(listAttributesSync(f).filter((n) => !n.startsWith('user.'))).toEqual([]);
    // the binary form setfacl writes for u::rw-,u:1234:rw-,g::r--,m::rw-,o::r-- (version 2, then tag, perm, id per entry)
    const acl = Buffer.alloc(4 + 5 * 8);
    acl.writeUInt32LE(2, 0);
    [[0x01, 6, 0xffffffff], [0x02, 6, 1234], [0x04, 4, 0xffffffff], [0x10, 6, 0xffffffff], [0x20, 4, 0xffffffff]].forEach(([tag, perm, id], i) => {
      acl.writeUInt16LE(tag!, 4 + i * 8);
      acl.writeUInt16LE(perm!, 6 + i * 8);
      acl.writeUInt32LE(id!, 8 + i * 8);
    });
    writeXattrs(f, [{ name: 'system.posix_acl_access', value: acl.toString('base64') }]);
    expect(getAttributeSync(f, 'system.posix_acl_access')?.equals(acl)).toBe(true);
    writeXattrs(f, [{ name: 'user.ok', value: Buffer.from('1').toString('base64') }]);
    expect(getAttributeSync(f, 'user.ok')?.toString()).toBe('1');
  });
});

describe('xattrs after an upgrade', () => {
  const t = tempDir('xattr-upgrade');
  afterAll(() => t.cleanup());

  /** Store a tree blob as a version before xattrs would have: the same nodes without `xattrs`. */
  async function saveOldTree(repo: Repository, tree: { nodes: Record<string, unknown>[] }): Promise<string> {
    const raw = Buffer.from(JSON.stringify({ nodes: tree.nodes.map(({ xattrs: _, ...n }) => n) }));
    const id = blobId(repo.key, raw);
    const pw = repo.newPackWriter();
    await pw.add(id, 'tree', seal(repo.key.encrypt, raw), raw.length, 0);
    await repo.writeIndex(await pw.finish());
    return id;
  }

  it('an unchanged file under a parent made before xattrs were recorded gets them read, without its content being read', async () => {
    const src = path.join(t.dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'f'), 'content');
    setAttributeSync(path.join(src, 'f'), 'user.tag', 'kept');
    const { repo } = await newRepo(path.join(t.dir, 'repo'));
    const b1 = await backup(repo, [src]);
    // rewrite b1 as an older version would have written it: no xattrs in the tree, no `xattrs` flag
    const load = async (id: string) => JSON.parse((await repo.loadBlob(id, 'tree')).toString()) as { nodes: Record<string, unknown>[] };
    const top = await load(b1.snapshot.tree);
    const inner = await saveOldTree(repo, await load(top.nodes[0]!.subtree as string));
    const root = await saveOldTree(repo, { nodes: [{ ...top.nodes[0]!, subtree: inner }] });
    const { xattrs: _, ...old } = b1.snapshot;
    const oldId = await repo.saveJSON('snapshots', { ...old, tree: root });
    await repo.backend.delete('snapshots', b1.snapshotId);

    const b2 = await backup(repo, [src]);
    expect(b2.snapshot.parent).toBe(oldId);
    expect(b2.stats).toMatchObject({ filesUnmodified: 1, bytesRead: 0 });
    expect(b2.snapshot.xattrs).toBe(true);
    const out = path.join(t.dir, 'out');
    await restore(repo, b2.snapshotId, out);
    expect(getAttributeSync(path.join(out, 'src/f'), 'user.tag')?.toString()).toBe('kept');
  });
});
