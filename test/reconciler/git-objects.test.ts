import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Inflater, ObjectReader, packEntryHeader } from '../../reconciler/git/objects.ts';
import { cleanup, gitCli, tempDir } from './git-helpers.ts';

/**
 * The object reader against git's own packs: every object git packed (whole, and OFS deltas in chains, as
 * `git repack -adf` writes them) reads back byte for byte as `git cat-file` prints it, with one inflate stream reused
 * for all of them.
 */
describe('ObjectReader over packs git wrote', () => {
  let dir: string;
  let gitdir: string;
  beforeAll(() => {
    dir = tempDir('git-objects');
    gitdir = join(dir, 'repo.git');
    gitCli(dir, 'init', '-q', '--bare', '-b', 'main', gitdir);
    // A file growing commit by commit: git stores the newest whole and older versions as deltas against newer ones.
    let parent: string | undefined;
    let text = '';
    for (let i = 0; i < 60; i++) {
      text += `${i}: ${'x'.repeat(i % 7)} line of a growing document\n`;
      const blob = execFileSync('git', ['--git-dir', gitdir, 'hash-object', '-w', '--stdin'], { input: text, encoding: 'utf8' }).trim();
      const tree = execFileSync('git', ['--git-dir', gitdir, 'mktree'], { input: `100644 blob ${blob}\tdoc.txt\n`, encoding: 'utf8' }).trim();
      parent = gitCli(gitdir, 'commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', `v${i}`).trim();
    }
    gitCli(gitdir, 'update-ref', 'refs/heads/main', parent!);
    gitCli(gitdir, 'repack', '-adfq', '--depth=10');
  }, 60_000);
  afterAll(() => cleanup(dir));

  it('reads every packed object, deltas included, as git cat-file does', () => {
    const listed = gitCli(gitdir, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype) %(deltabase)').trim().split('\n');
    expect(listed.filter((l) => !l.endsWith(` ${'0'.repeat(40)}`)).length).toBeGreaterThan(20); // deltas are there
    const reader = new ObjectReader(gitdir);
    for (const line of listed) {
      const [oid, type] = line.split(' ') as [string, string];
      const got = reader.read(oid);
      expect(got.type).toBe(type);
      expect(got.data.equals(execFileSync('git', ['--git-dir', gitdir, 'cat-file', type, oid]))).toBe(true);
    }
    reader.close();
  });

  it('names the pack and offset of an entry whose data is corrupt, and reads the other objects after it', () => {
    const copy = join(dir, 'corrupt.git');
    gitCli(dir, 'clone', '-q', '--bare', '--no-local', gitdir, copy);
    const packDir = join(copy, 'objects', 'pack');
    const name = readdirSync(packDir).find((f) => f.endsWith('.pack'))!;
    // A whole commit (no delta base) and its pack offset, from git's own listing of the pack.
    const [oid, , , , offset] = gitCli(copy, 'verify-pack', '-v', join(packDir, name)).split('\n').find((l) => / commit /.test(l))!.split(/\s+/) as [string, string, string, string, string];
    const bytes = readFileSync(join(packDir, name));
    const head = packEntryHeader(bytes, Number(offset), Number(offset));
    bytes[Number(offset) + head.dataAt + 4]! ^= 0xff;
    writeFileSync(join(packDir, name), bytes);
    const reader = new ObjectReader(copy);
    expect(() => reader.read(oid)).toThrow(expect.objectContaining({ code: 'E_GIT_OBJECT_CORRUPT', message: expect.stringContaining(`${name.slice(0, -5)}: object at ${Number(offset) + head.dataAt}`) }));
    const tree = gitCli(gitdir, 'rev-parse', 'main^{tree}').trim();
    expect(reader.read(tree).type).toBe('tree');
    reader.close();
  });
});

/**
 * Several packs holding overlapping objects (what a catalog gets: a history pack, then the packs of later commits and
 * `coffer catalog reindex`). Every object reads as git prints it, whichever packs hold it; lookups try the pack that
 * answered last, then the others newest first by .pack mtime as git does. The order is made visible in a copy of the
 * repository where one pack's copy of a shared object is corrupt: only the copy the reader picks is inflated.
 */
describe('ObjectReader over several packs with overlapping objects', () => {
  let dir: string;
  let gitdir: string;
  let corrupt: string;
  const blobs: string[] = [];
  let older: string; // blobs 0..19
  let newer: string; // blobs 10..29
  const SHARED = 15;
  const pack = (from: number, to: number): string =>
    execFileSync('git', ['--git-dir', gitdir, 'pack-objects', '-q', '--window=0', join(gitdir, 'objects', 'pack', 'pack')], { input: `${blobs.slice(from, to).join('\n')}\n`, encoding: 'utf8' }).trim();
  const setMtime = (repo: string, name: string, secondsAgo: number): void => {
    const t = new Date(Date.now() - secondsAgo * 1000);
    utimesSync(join(repo, 'objects', 'pack', `pack-${name}.pack`), t, t);
  };

  beforeAll(() => {
    dir = tempDir('git-objects-packs');
    gitdir = join(dir, 'repo.git');
    gitCli(dir, 'init', '-q', '--bare', '-b', 'main', gitdir);
    for (let i = 0; i < 34; i++) {
      blobs.push(execFileSync('git', ['--git-dir', gitdir, 'hash-object', '-w', '--stdin'], { input: `${i}\n${randomBytes(300).toString('base64')}\n`, encoding: 'utf8' }).trim());
    }
    older = pack(0, 20);
    newer = pack(10, 30);
    // Blobs 30..33 stay loose; the packed ones are only in packs.
    execFileSync('git', ['--git-dir', gitdir, 'prune-packed']);
    // In a copy, the shared blob's copy in the older pack is made unreadable.
    corrupt = join(dir, 'corrupt.git');
    cpSync(gitdir, corrupt, { recursive: true });
    const packFile = join(corrupt, 'objects', 'pack', `pack-${older}.pack`);
    const line = gitCli(gitdir, 'verify-pack', '-v', packFile).split('\n').find((l) => l.startsWith(`${blobs[SHARED]} `))!;
    const offset = Number(line.split(/\s+/)[4]);
    const bytes = readFileSync(packFile);
    bytes[offset + packEntryHeader(bytes, offset, offset).dataAt + 4]! ^= 0xff;
    writeFileSync(packFile, bytes);
  }, 60_000);
  afterAll(() => cleanup(dir));

  it('reads every object, packed twice, once or loose, as git cat-file does', () => {
    const reader = new ObjectReader(gitdir);
    for (const [i, oid] of blobs.entries()) {
      const got = reader.read(oid);
      expect(got.type).toBe('blob');
      expect(got.data.equals(execFileSync('git', ['--git-dir', gitdir, 'cat-file', 'blob', oid])), `blob ${i}`).toBe(true);
      expect(reader.has(oid)).toBe(true);
    }
    expect(reader.has('0'.repeat(40))).toBe(false);
    expect(() => reader.read('0'.repeat(40))).toThrow(expect.objectContaining({ code: 'E_GIT_OBJECT_MISSING' }));
    expect(() => reader.read('abc')).toThrow(expect.objectContaining({ code: 'E_GIT_OBJECT_MISSING' }));
    reader.close();
  });

  // Each case: the packs' ages (seconds ago), the objects read before the shared one, and which copy is read.
  const cases: Array<{ name: string; olderAge: number; newerAge: number; before: number[]; copy: 'intact' | 'corrupt' }> = [
    { name: 'the newest pack first', olderAge: 1000, newerAge: 0, before: [], copy: 'intact' },
    { name: 'by mtime, not by name: the corrupt pack made the newest', olderAge: 0, newerAge: 1000, before: [], copy: 'corrupt' },
    { name: 'the pack that answered last first (a blob only the older pack holds)', olderAge: 1000, newerAge: 0, before: [3], copy: 'corrupt' },
    { name: 'the pack that answered last first (a blob only the newer pack holds)', olderAge: 0, newerAge: 1000, before: [3, 25], copy: 'intact' },
    { name: 'a loose object read between does not change the last pack', olderAge: 1000, newerAge: 0, before: [3, 31], copy: 'corrupt' },
  ];
  for (const c of cases) {
    it(`lookup order: ${c.name}`, () => {
      setMtime(corrupt, older, c.olderAge);
      setMtime(corrupt, newer, c.newerAge);
      const reader = new ObjectReader(corrupt);
      for (const i of c.before) expect(reader.read(blobs[i]!).type).toBe('blob');
      if (c.copy === 'intact') expect(reader.read(blobs[SHARED]!).data.equals(execFileSync('git', ['--git-dir', gitdir, 'cat-file', 'blob', blobs[SHARED]!]))).toBe(true);
      else expect(() => reader.read(blobs[SHARED]!)).toThrow(expect.objectContaining({ code: 'E_GIT_OBJECT_CORRUPT', message: expect.stringContaining(`pack pack-${older}:`) }));
      reader.close();
    });
  }
});

/** The reused inflate stream: the table below is zlib's own behaviour, checked against `inflateSync`'s answers. */
describe('Inflater', () => {
  const data = Buffer.from('a catalog document, line after line\n'.repeat(40));
  const z = deflateSync(data);
  const corrupt = (at: number): Buffer => {
    const b = Buffer.from(z);
    b[at]! ^= 0xff;
    return b;
  };
  const cases: Array<{ name: string; input: Buffer; size: number; want: 'data' | 'short' | 'longer' | RegExp }> = [
    { name: 'a whole stream', input: z, size: data.length, want: 'data' },
    { name: 'bytes after the stream (the next pack entry) are ignored', input: Buffer.concat([z, Buffer.from('next entry')]), size: data.length, want: 'data' },
    { name: 'input cut before the stream ends: read more', input: z.subarray(0, z.length - 6), size: data.length, want: 'short' },
    { name: 'a stream longer than the header says', input: z, size: data.length - 1, want: 'longer' },
    { name: 'a wrong Adler-32 (RFC 1950 trailer)', input: corrupt(z.length - 1), size: data.length, want: /incorrect data check/ },
    { name: 'not a zlib header', input: corrupt(0), size: data.length, want: /incorrect header check/ },
    { name: 'the empty stream', input: deflateSync(Buffer.alloc(0)), size: 0, want: 'data' },
  ];
  // Twice through one inflater: a failed stream must not spoil the next object. The same table for `inflateSync`.
  for (const reuse of [true, false]) {
    const inflater = new Inflater({ reuse });
    for (const round of [1, 2]) {
      for (const c of cases) {
        it(`${c.name} (${reuse ? 'reused stream' : 'inflateSync'}, round ${round})`, () => {
          if (c.want instanceof RegExp) {
            expect(() => inflater.inflate(c.input, c.size)).toThrow(c.want);
            return;
          }
          const got = inflater.inflate(c.input, c.size);
          if (c.want === 'short') expect(got).toBe('short');
          else if (c.want === 'longer') expect((got as Buffer).length).toBeGreaterThan(c.size);
          else expect((got as Buffer).equals(c.size ? data : Buffer.alloc(0))).toBe(true);
        });
      }
    }
  }
});
