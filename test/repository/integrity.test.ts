import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, check, FileBackend, initRepository, openRepository, restore, type Repository } from '../../repository/index.ts';
import { FAST_KDF, newRepo, prng, tempDir } from './helpers.ts';

describe('passwords and keys', () => {
  const t = tempDir('keys');
  afterAll(() => t.cleanup());

  it('a wrong password is E_REPO_PASSWORD; an added key opens the same data; the key in use cannot be removed', async () => {
    const backend = new FileBackend(path.join(t.dir, 'repo'));
    const repo = await initRepository(backend, 'first', { scrypt: FAST_KDF });
    await expect(openRepository(backend, 'nope')).rejects.toMatchObject({ code: 'E_REPO_PASSWORD' });
    await expect(initRepository(backend, 'first')).rejects.toMatchObject({ code: 'E_REPO_EXISTS' });
    const second = await repo.addKey('second', FAST_KDF);
    const viaSecond = await openRepository(backend, 'second');
    expect(viaSecond.config.id).toBe(repo.config.id);
    expect(viaSecond.key.encrypt.equals(repo.key.encrypt)).toBe(true);
    expect((await repo.listKeys()).map((k) => k.current).sort()).toEqual([false, true]);
    await expect(viaSecond.removeKey(second.slice(0, 10))).rejects.toMatchObject({ code: 'E_REPO_KEY' });
    await viaSecond.removeKey(repo.keyId.slice(0, 10));
    await expect(openRepository(backend, 'first')).rejects.toMatchObject({ code: 'E_REPO_PASSWORD' });
    expect((await openRepository(backend, 'second')).keyId).toBe(second);
  });

  it('opening an empty location says the repository is not initialised', async () => {
    await expect(openRepository(new FileBackend(path.join(t.dir, 'nothing')), 'x')).rejects.toMatchObject({ code: 'E_REPO_NOT_INITIALIZED' });
  });
});

describe('damaged data', () => {
  const t = tempDir('flip');
  let repo: Repository;
  let snapA: string;
  let snapB: string;
  let packOfA: string;

  beforeAll(async () => {
    ({ repo } = await newRepo(path.join(t.dir, 'repo'), { packSize: 1024 * 1024 }));
    for (const n of ['a', 'b']) {
      mkdirSync(path.join(t.dir, n));
      writeFileSync(path.join(t.dir, n, 'data.bin'), prng(3 * 1024 * 1024, n === 'a' ? 11 : 22));
    }
    snapA = (await backup(repo, [path.join(t.dir, 'a')])).snapshotId;
    snapB = (await backup(repo, [path.join(t.dir, 'b')])).snapshotId;
    // a pack holding a data blob of a/data.bin only
    const tree = await repo.loadBlob((await repo.loadJSON<{ tree: string }>('snapshots', snapA)).tree, 'tree');
    const dirTree = JSON.parse((await repo.loadBlob(JSON.parse(tree.toString()).nodes[0].subtree, 'tree')).toString());
    packOfA = repo.index.get(dirTree.nodes[0].content[0])!.pack;
    const file = path.join(t.dir, 'repo/data', packOfA.slice(0, 2), packOfA);
    const bytes = readFileSync(file);
    bytes[100] ^= 0x01;
    writeFileSync(file, bytes);
  });
  afterAll(() => t.cleanup());

  it('check without --read-data does not read packs; check --read-data names the damaged pack and the snapshot it affects', async () => {
    expect((await check(repo)).ok).toBe(true);
    const r = await check(repo, { readData: true });
    expect(r.ok).toBe(false);
    expect(r.damaged).toHaveLength(1);
    expect(r.damaged[0]!.pack).toBe(packOfA);
    expect(r.damaged[0]!.snapshots).toEqual([snapA]);
    expect(r.errors.join('\n')).toContain(packOfA);
    expect(r.errors.join('\n')).toContain(snapA.slice(0, 8));
    expect(r.errors.join('\n')).not.toContain(snapB.slice(0, 8));
  });

  it('restore refuses the damaged file and writes no garbage, while undamaged snapshots restore', async () => {
    const out = path.join(t.dir, 'out');
    await expect(restore(repo, snapA, out)).rejects.toMatchObject({ code: 'E_REPO_CORRUPT' });
    expect(existsSync(path.join(out, 'a/data.bin'))).toBe(false);
    expect(readdirSync(path.join(out, 'a'))).toEqual([]); // no temporary file left behind
    await restore(repo, snapB, out);
    expect(readFileSync(path.join(out, 'b/data.bin')).equals(prng(3 * 1024 * 1024, 22))).toBe(true);
  });

  it('a damaged snapshot file is detected by its name (content hash) and authentication', async () => {
    const snapFile = path.join(t.dir, 'repo/snapshots', snapB);
    const bytes = readFileSync(snapFile);
    bytes[bytes.length - 3] ^= 0x80;
    writeFileSync(snapFile, bytes);
    const r = await check(repo);
    expect(r.ok).toBe(false);
    expect(r.errors.join('\n')).toContain(snapB.slice(0, 8));
  });
});

describe('check --read-data, one pack verified by both workers', () => {
  const t = tempDir('split');
  afterAll(() => t.cleanup());

  // the workers split a pack's blobs by bytes (a third to the one that also hashes the pack): damage in either share counts
  it.each([
    ['first', 0],
    ['last', -1],
  ])('counts a damaged %s blob of the pack, with two workers and with none', async (_which, pick) => {
    const { repo } = await newRepo(path.join(t.dir, `repo-${pick}`), { packSize: 8 * 1024 * 1024 });
    mkdirSync(path.join(t.dir, `d${pick}`));
    writeFileSync(path.join(t.dir, `d${pick}`, 'data.bin'), prng(6 * 1024 * 1024, 7));
    await backup(repo, [path.join(t.dir, `d${pick}`)]);
    const [pack, entries] = [...repo.packs].find(([, es]) => es.filter((e) => e.type === 'data').length >= 3)!;
    const data = entries.filter((e) => e.type === 'data').sort((a, b) => a.offset - b.offset);
    const victim = data.at(pick)!;
    const file = path.join(t.dir, `repo-${pick}`, 'data', pack.slice(0, 2), pack);
    const bytes = readFileSync(file);
    bytes[victim.offset + 40] ^= 0x01;
    writeFileSync(file, bytes);
    for (const workers of [2, 0]) {
      const r = await check(repo, { readData: true, workers });
      expect(r.damaged.map((d) => d.pack)).toEqual([pack]);
      expect(r.damaged[0]!.reason).toContain(`1 of ${entries.length} blob(s) fail authentication`);
    }
  });
});
