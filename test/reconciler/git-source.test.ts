import { readFileSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { main } from '../../cli/main.ts';
import { compileFromGit } from '../../compiler/index.ts';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifySource, openSource } from '../../reconciler/git/source.ts';
import { cleanup, gitCli, makePolicyRepo, startGitHttp, tempDir, type GitHttpServer } from './git-helpers.ts';

const FILES = {
  'coffer.yaml': 'apiVersion: coffer.dev/v1alpha1\nkind: Config\nmetadata:\n  name: repo\nspec:\n  cluster: dev\n',
  'policies/daily.yaml': 'kind: Policy # v1\n',
};

describe('classifySource', () => {
  it.each([
    ['git@github.com:acme/policies.git', 'E_GIT_SSH'],
    ['ssh://git@github.com/acme/policies.git', 'E_GIT_SSH'],
    ['git+ssh://git@host/x.git', 'E_GIT_SSH'],
    ['deploy@gitlab.internal:team/repo', 'E_GIT_SSH'],
    ['git://example.com/x.git', 'E_GIT_PROTOCOL'],
    ['ftp://example.com/x.git', 'E_GIT_PROTOCOL'],
  ])('refuses %s with %s and says to use HTTPS', (src, code) => {
    let err: unknown;
    try {
      classifySource(src);
    } catch (e) {
      err = e;
    }
    expect((err as { code: string }).code).toBe(code);
    expect((err as Error).message).toMatch(/HTTPS/);
  });

  it.each([
    ['https://github.com/acme/policies.git', { kind: 'remote', url: 'https://github.com/acme/policies.git' }],
    ['http://127.0.0.1:8080/r.git', { kind: 'remote', url: 'http://127.0.0.1:8080/r.git' }],
    ['/srv/git/policies', { kind: 'local', path: '/srv/git/policies' }],
    ['./policies', { kind: 'local', path: './policies' }],
    ['file:///srv/git/p%20q', { kind: 'local', path: '/srv/git/p q' }],
  ])('classifies %s', (src, want) => {
    expect(classifySource(src)).toEqual(want);
  });

  it('never echoes a token embedded in an SSH-looking or unsupported URL', () => {
    expect(() => classifySource('ftp://user:s3cret@example.com/x')).toThrow(/^(?!.*s3cret)/);
  });
});

describe('local sources', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('src-local');
  });
  afterAll(() => cleanup(dir));

  it('reads the committed tree of a non-bare repo, never the dirty working copy', async () => {
    const repo = makePolicyRepo(join(dir, 'work'), FILES);
    writeFileSync(join(repo, 'policies/daily.yaml'), 'kind: Policy # uncommitted edit\n');
    writeFileSync(join(repo, 'policies/untracked.yaml'), 'kind: Policy\n');
    const src = await openSource({ source: repo });
    expect(src.kind).toBe('local');
    expect(src.branch).toBe('main');
    const rev = await src.fetch();
    expect(rev.commit).toBe(gitCli(repo, 'rev-parse', 'main').trim());
    expect(Buffer.from((await rev.readFile('policies/daily.yaml'))!).toString()).toBe('kind: Policy # v1\n');
    expect(await rev.readFile('policies/untracked.yaml')).toBeUndefined();
    expect(await rev.listFiles()).toEqual(['coffer.yaml', 'policies/daily.yaml']);
    expect(await rev.listFiles('policies')).toEqual(['policies/daily.yaml']);
    expect(await rev.listFiles('nope')).toEqual([]);
  });

  it('reads a bare repository and follows new commits', async () => {
    const bare = makePolicyRepo(join(dir, 'b'), FILES, { bare: true });
    const src = await openSource({ source: `file://${bare}`, branch: 'main' });
    const first = await src.fetch();
    expect(first.commit).toBe(gitCli(bare, 'rev-parse', 'main').trim());
    gitCli(join(dir, 'b'), 'commit', '-q', '--allow-empty', '-m', 'second');
    gitCli(join(dir, 'b'), 'push', '-q', bare, 'main');
    const second = await src.fetch();
    expect(second.commit).not.toBe(first.commit);
    expect(second.commit).toBe(gitCli(bare, 'rev-parse', 'main').trim());
  });

  it('names the missing branch or the non-repository', async () => {
    const repo = makePolicyRepo(join(dir, 'c'), FILES);
    const src = await openSource({ source: repo, branch: 'release' });
    await expect(src.fetch()).rejects.toMatchObject({ code: 'E_GIT_REF_NOT_FOUND', message: expect.stringContaining('"release"') });
    await expect(openSource({ source: join(dir, 'c', 'policies') })).rejects.toMatchObject({ code: 'E_GIT_NOT_A_REPO' });
    await expect(openSource({ source: join(dir, 'missing') })).rejects.toMatchObject({ code: 'E_GIT_NOT_FOUND' });
  });
});

describe('HTTP remote with token auth (git http-backend on loopback)', () => {
  let dir: string;
  let server: GitHttpServer;
  let bare: string;
  const token = 'tok-123456';
  beforeAll(async () => {
    dir = tempDir('src-http');
    bare = makePolicyRepo(join(dir, 'policies'), FILES, { bare: true });
    server = await startGitHttp(dir, { token });
  });
  afterAll(async () => {
    await server.close();
    cleanup(dir);
  });

  it('clones into a bare cache, resolves the default branch, and fetches only new commits later', async () => {
    const cacheDir = join(dir, 'cache');
    const src = await openSource({ source: server.url('policies.git'), cacheDir, env: { COFFER_GIT_TOKEN: token } });
    expect(src.kind).toBe('remote');
    expect(src.branch).toBe('main');
    expect(src.location).toBe(server.url('policies.git'));
    const first = await src.fetch();
    expect(first.commit).toBe(gitCli(bare, 'rev-parse', 'main').trim());
    expect(Buffer.from((await first.readFile('coffer.yaml'))!).toString()).toContain('cluster: dev');
    // The cache is a real bare repository the git CLI can read.
    expect(gitCli(src.gitdir, 'rev-parse', '--is-bare-repository').trim()).toBe('true');
    expect(gitCli(src.gitdir, 'cat-file', '-p', `${first.commit}:policies/daily.yaml`)).toBe('kind: Policy # v1\n');

    gitCli(join(dir, 'policies'), 'commit', '-q', '--allow-empty', '-m', 'second');
    gitCli(join(dir, 'policies'), 'push', '-q', bare, 'main');
    // A second source on the same cache (the next process) reuses it.
    const again = await openSource({ source: server.url('policies.git'), branch: 'main', cacheDir, env: { COFFER_GIT_TOKEN: token } });
    expect(again.gitdir).toBe(src.gitdir);
    const second = await again.fetch();
    expect(second.commit).toBe(gitCli(bare, 'rev-parse', 'main').trim());
    expect(gitCli(src.gitdir, 'log', '--format=%s', second.commit).trim().split('\n')).toEqual(['second', 'initial policies']);
  });

  it('fails with E_GIT_AUTH without a token or with a wrong one, and never prints the token', async () => {
    const cacheDir = join(dir, 'cache-auth');
    await expect(openSource({ source: server.url('policies.git'), cacheDir, env: {} })).rejects.toMatchObject({
      code: 'E_GIT_AUTH',
      message: expect.stringContaining('COFFER_GIT_TOKEN'),
    });
    const bad = openSource({ source: server.url('policies.git'), cacheDir, env: { COFFER_GIT_TOKEN: 'wrong-token' } });
    await expect(bad).rejects.toMatchObject({ code: 'E_GIT_AUTH' });
    await expect(bad).rejects.not.toThrow(/wrong-token/);
  });

  it('names a missing branch and a missing repository', async () => {
    const cacheDir = join(dir, 'cache-miss');
    const src = await openSource({ source: server.url('policies.git'), branch: 'nope', cacheDir, env: { COFFER_GIT_TOKEN: token } });
    await expect(src.fetch()).rejects.toMatchObject({ code: 'E_GIT_REF_NOT_FOUND' });
    await expect(openSource({ source: server.url('absent.git'), cacheDir, env: { COFFER_GIT_TOKEN: token } })).rejects.toMatchObject({
      code: expect.stringMatching(/^E_GIT_/),
    });
  });
});

describe('compiling the plan from the fetched commit', () => {
  let dir: string;
  let server: GitHttpServer;
  beforeAll(async () => {
    dir = tempDir('src-compile');
    server = await startGitHttp(dir);
  });
  afterAll(async () => {
    await server.close();
    cleanup(dir);
  });

  it('compileFromGit(gitdir, commit) sees the committed repository, over HTTP and locally, never the dirty copy', async () => {
    const work = join(dir, 'work');
    const out = new PassThrough();
    out.resume();
    expect(await main(['init', work], { stdout: out, stderr: out, env: {}, cwd: dir })).toBe(0);
    // coffer init made the repository and its first commit on main.
    gitCli(dir, 'clone', '-q', '--bare', work, join(dir, 'remote.git'));
    const committed = readFileSync(join(work, 'coffer.yaml'), 'utf8');
    const cluster = /cluster:\s*(\S+)/.exec(committed)![1];
    writeFileSync(join(work, 'coffer.yaml'), committed.replace(/cluster:\s*\S+/, 'cluster: dirty-edit'));

    for (const source of [work, server.url('remote.git')]) {
      const src = await openSource({ source, cacheDir: join(dir, 'cache'), env: {} });
      const rev = await src.fetch();
      const res = await compileFromGit(rev.gitdir, rev.commit);
      expect(res.diagnostics.filter((d) => (d as { severity?: string }).severity === 'error')).toEqual([]);
      expect(res.plan?.sourceCommit).toBe(rev.commit);
      expect(res.plan?.config.cluster).toBe(cluster);
      expect(res.plan?.config.catalog.branch).toBe('coffer-catalog');
    }
  });
});
