import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
