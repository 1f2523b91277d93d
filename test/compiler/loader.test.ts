import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileSources } from '../../compiler/compile.ts';
import { readDirectory } from '../../compiler/load/directory.ts';
import { readGitCommit } from '../../compiler/load/git.ts';
import { findBinary, parseSourceFile } from '../../compiler/load/yaml.ts';
import { isPolicySourcePath } from '../../compiler/load/source.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const parse = (text: string | Uint8Array) => parseSourceFile({ path: 'bad.yaml', bytes: typeof text === 'string' ? enc(text) : text });

/** Malformed input of every sort: each gets one clear error with a position, never a throw or a hang. */
const corpus: { name: string; input: string | Uint8Array; code: string; message: RegExp; line: number; column: number }[] = [
  { name: 'tab indentation', input: 'spec:\n\tfrequency: "@daily"\n', code: 'E_YAML', message: /tab/i, line: 2, column: 1 },
  { name: 'unclosed double quote', input: 'kind: Policy\nmetadata:\n  name: "db\n', code: 'E_YAML', message: /quot|end of the stream/i, line: 3, column: 9 },
  { name: 'unclosed single quote', input: "kind: 'Policy\n", code: 'E_YAML', message: /quot|end of the stream/i, line: 1, column: 7 },
  { name: 'duplicate key', input: 'kind: Policy\nkind: Profile\n', code: 'E_YAML', message: /unique/i, line: 2, column: 1 },
  { name: 'unclosed flow sequence', input: 'spec:\n  kinds: [a, b\n', code: 'E_YAML', message: /flow|expected|missing/i, line: 2, column: 10 },
  { name: 'undefined alias', input: 'a: *nothing\n', code: 'E_YAML', message: /alias|anchor/i, line: 1, column: 4 },
  { name: 'binary junk (NUL)', input: new Uint8Array([0x6b, 0x3a, 0x20, 0x0a, 0x00, 0xff, 0x10]), code: 'E_BINARY', message: /not UTF-8 text: NUL byte at byte 4/, line: 2, column: 1 },
  { name: 'invalid UTF-8', input: new Uint8Array([0x61, 0x3a, 0x20, 0xc3, 0x28]), code: 'E_BINARY', message: /invalid UTF-8 sequence at byte 3/, line: 1, column: 4 },
  { name: 'a scalar document', input: 'just a string\n', code: 'E_DOCUMENT', message: /must be a mapping .*got a string/, line: 1, column: 1 },
  { name: 'a list document', input: '- a\n- b\n', code: 'E_DOCUMENT', message: /got a list/, line: 1, column: 1 },
  // Issue 19: each of these validated silently and the policy disappeared.
  { name: 'an empty file', input: '', code: 'E_EMPTY_FILE', message: /file holds no document/, line: 1, column: 1 },
  { name: 'only comments', input: '# the daily policy\n# (moved)\n', code: 'E_EMPTY_FILE', message: /empty or only comments/, line: 1, column: 1 },
  { name: 'only a separator', input: '---\n', code: 'E_EMPTY_FILE', message: /no document/, line: 1, column: 1 },
  { name: 'a ~ document', input: '~\n', code: 'E_EMPTY_DOCUMENT', message: /document is null/, line: 1, column: 1 },
  { name: 'a null document after a comment', input: '# emptied\n---\nnull\n', code: 'E_EMPTY_DOCUMENT', message: /document is null/, line: 3, column: 1 },
];

describe('malformed YAML corpus', () => {
  it.each(corpus)('$name → $code at $line:$column', (c) => {
    const r = parse(c.input);
    expect(r.documents).toEqual([]);
    const err = r.diagnostics.find((d) => d.severity === 'error');
    expect(err).toBeDefined();
    expect(err).toMatchObject({ code: c.code, file: 'bad.yaml', line: c.line, column: c.column });
    expect(err!.message).toMatch(c.message);
    expect(err!.message).not.toMatch(/\n|at .*\.ts:\d+/); // one line, no stack
  });

  it('refuses an alias bomb (billion laughs) instead of expanding it', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      lines.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const r = parse(lines.join('\n'));
    expect(r.documents).toEqual([]);
    expect(r.diagnostics[0]).toMatchObject({ code: 'E_YAML', line: 1, column: 1 });
    expect(r.diagnostics[0]!.message).toMatch(/too many alias expansions/);
  });

  it('refuses a 50 MB file by size, before parsing it', () => {
    const big = new Uint8Array(50 * 1024 * 1024).fill(0x61);
    const r = parse(big);
    expect(r.diagnostics).toEqual([
      { code: 'E_FILE_TOO_LARGE', severity: 'error', message: 'file is 50.0 MiB, larger than the 4.0 MiB limit for policy files', file: 'bad.yaml', line: 1, column: 1, path: '' },
    ]);
  });

  it('reports deep nesting as an error, not a stack overflow', () => {
    const r = parse(`a: ${'['.repeat(20000)}${']'.repeat(20000)}\n`);
    expect(r.documents).toEqual([]);
    expect(r.diagnostics.some((d) => d.severity === 'error')).toBe(true);
  });

  it('reads multi-document files, skips empty documents and a BOM', () => {
    const r = parse('\ufeffkind: A\n---\n---\nkind: B\n...\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.documents.map((d) => d.value.kind)).toEqual(['A', 'B']);
    expect(r.documents.map((d) => d.index)).toEqual([0, 2]);
  });

  it('names the null document of a multi-document file and keeps the others', () => {
    const r = parse('kind: A\n---\n  ~\n---\nkind: B\n');
    expect(r.documents.map((d) => d.value.kind)).toEqual(['A', 'B']);
    expect(r.diagnostics).toMatchObject([{ code: 'E_EMPTY_DOCUMENT', file: 'bad.yaml', line: 3, column: 3 }]);
  });

  it('keeps going after a broken file: other files are still validated', () => {
    const r = compileSources(
      [
        { path: 'a.yaml', bytes: enc('kind: [\n') },
        { path: 'b.yaml', bytes: enc('apiVersion: coffer.dev/v1alpha1\nkind: Profile\nmetadata:\n  name: p\nspec: {}\n') },
      ],
      '',
    );
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.file)).toEqual(['a.yaml', 'b.yaml', 'b.yaml']);
  });

  it('ignores documents of other tools with a warning', () => {
    const r = compileSources([{ path: 'kustomization.yaml', bytes: enc('apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n') }], '');
    expect(r.diagnostics.map((d) => [d.severity, d.code])).toContainEqual(['warning', 'W_FOREIGN']);
    expect(r.plan).toBeDefined();
  });

  it('findBinary accepts valid multi-byte UTF-8', () => {
    expect(findBinary(enc('name: café — 日本 🎉\n'))).toBeUndefined();
  });
});

describe('directory loader', () => {
  it('reads *.yaml and *.yml recursively, sorted, skipping catalog/, reports/, runs/ and dot-folders', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-load-'));
    try {
      for (const p of ['b.yaml', 'a.yml', 'sub/c.yaml', 'catalog/x/rp.yaml', 'reports/r.yaml', 'runs/r.yaml', '.github/ci.yaml', 'notes.txt', 'sub/catalog/kept.yaml']) {
        await mkdir(join(dir, p, '..'), { recursive: true });
        await writeFile(join(dir, p), 'kind: X\n');
      }
      const files = await readDirectory(dir);
      expect(files.map((f) => f.path)).toEqual(['a.yml', 'b.yaml', 'sub/c.yaml', 'sub/catalog/kept.yaml']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('does not read an oversized file into memory but still reports it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-load-'));
    try {
      await writeFile(join(dir, 'huge.yaml'), Buffer.alloc(5 * 1024 * 1024, 0x61));
      const files = await readDirectory(dir);
      const r = compileSources(files, '');
      expect(r.diagnostics[0]).toMatchObject({ code: 'E_FILE_TOO_LARGE', file: 'huge.yaml' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('follows symlinks inside the folder, reads a linked-twice file once, and names every link it refuses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-load-'));
    const outside = await mkdtemp(join(tmpdir(), 'coffer-outside-'));
    try {
      await mkdir(join(dir, '.shared'));
      await mkdir(join(dir, 'real'));
      await writeFile(join(dir, '.shared/common.yaml'), 'kind: Common\n');
      await writeFile(join(dir, 'real/a.yaml'), 'kind: A\n');
      await writeFile(join(outside, 'x.yaml'), 'kind: X\n');
      await symlink('.shared/common.yaml', join(dir, 'common.yaml')); // hidden folder: only reachable through the link
      await symlink('real/a.yaml', join(dir, 'again.yaml'));
      await symlink(join(outside, 'x.yaml'), join(dir, 'escape.yaml'));
      await symlink('nowhere.yaml', join(dir, 'dangling.yaml'));
      await symlink(outside, join(dir, 'linked-folder'));
      const files = await readDirectory(dir);
      expect(files.map((f) => [f.path, f.problem?.code ?? 'read'])).toEqual([
        ['again.yaml', 'W_SYMLINK_DUPLICATE'],
        ['common.yaml', 'read'],
        ['dangling.yaml', 'E_SYMLINK'],
        ['escape.yaml', 'E_SYMLINK'],
        ['linked-folder', 'E_SYMLINK'],
        ['real/a.yaml', 'read'],
      ]);
      const r = compileSources(files, '');
      const about = (f: string) => r.diagnostics.filter((d) => d.file === f).map((d) => `${d.severity} ${d.line}:${d.column} ${d.message}`);
      expect(about('escape.yaml')).toEqual([`error 1:1 symbolic link to ${join(outside, 'x.yaml')}, outside the folder being validated; copy the file in or validate the folder it lives in`]);
      expect(about('dangling.yaml')).toEqual(['error 1:1 symbolic link to a file that does not exist']);
      expect(about('again.yaml')).toEqual(['warning 1:1 symbolic link to real/a.yaml, which is read already; this link is skipped']);
      expect(about('linked-folder')[0]).toMatch(/^error 1:1 symbolic link to a folder: folders are not followed/);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('reports symlinks committed to Git instead of parsing their target text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-load-git-'));
    try {
      await mkdir(join(dir, 'policies'));
      await writeFile(join(dir, 'policies/a.yaml'), 'kind: A\n');
      await writeFile(join(dir, 'outside.yaml'), 'kind: O\n');
      await symlink('a.yaml', join(dir, 'policies/again.yaml'));
      await symlink('../outside.yaml', join(dir, 'policies/up.yaml'));
      const git = (...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a], { stdio: 'pipe' });
      git('init', '-q', '-b', 'main');
      git('add', '-A');
      git('commit', '-qm', 'links');
      const { files } = await readGitCommit(join(dir, '.git'), 'HEAD', 'policies');
      expect(files.map((f) => [f.path, f.problem?.code ?? 'read'])).toEqual([
        ['a.yaml', 'read'],
        ['again.yaml', 'W_SYMLINK_DUPLICATE'],
        ['up.yaml', 'E_SYMLINK'],
      ]);
      expect(files[2]!.problem!.message).toBe('symbolic link to ../outside.yaml, which is not a policy file inside the folder read from Git; commit the file itself');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('path filter', () => {
    expect(isPolicySourcePath('policies/db.yaml')).toBe(true);
    expect(isPolicySourcePath('catalog/c/ns/p/rp.yaml')).toBe(false);
    expect(isPolicySourcePath('.coffer/x.yaml')).toBe(false);
    expect(isPolicySourcePath('README.md')).toBe(false);
  });
});
