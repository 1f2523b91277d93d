import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../cli/main.ts';
import { BASE, capture } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-cli-'));
  mkdirSync(join(dir, 'repo'));
  for (const [p, t] of Object.entries(BASE)) writeFileSync(join(dir, 'repo', p), t);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('coffer validate', () => {
  it('exit 0 and a summary for a valid repository', async () => {
    const c = capture(ROOT);
    expect(await main(['validate', 'policies', 'blueprints'], c.io)).toBe(0);
    expect(c.err()).toMatch(/^valid: 22 document\(s\) \(8 Blueprint, 1 Config, 4 Policy, 3 Profile, 2 Restore, 4 TransformSet\)\n$/);
    expect(c.out()).toBe('');
  });

  it('finds the blueprints of the shipped example in their sibling folder, and names what it searched when one is missing', async () => {
    const c = capture(ROOT);
    expect(await main(['validate', 'policies'], c.io)).toBe(0);
    expect(c.err()).toBe('blueprints found beside policies: blueprints/mysql.yaml, blueprints/postgres.yaml, blueprints/quiesce.yaml, blueprints/redis.yaml, blueprints/sqlite.yaml\nvalid: 19 document(s) (5 Blueprint, 1 Config, 4 Policy, 3 Profile, 2 Restore, 4 TransformSet)\n');
    const lone = join(dir, 'lone');
    mkdirSync(join(lone, 'policies'), { recursive: true });
    mkdirSync(join(lone, 'blueprints'), { recursive: true });
    mkdirSync(join(lone, 'notes'), { recursive: true });
    for (const f of ['coffer.yaml', 'profiles', 'legacy.yaml']) cpSync(join(ROOT, 'policies', f), join(lone, 'policies', f), { recursive: true });
    const m = capture(dir);
    expect(await main(['validate', 'lone/policies'], m.io)).toBe(1);
    expect(m.out()).toMatch(/lone\/policies\/legacy\.yaml:\d+:\d+: Blueprint "quiesce" not found \(searched: lone\/policies, lone\/blueprints\)\n/);
    // Inside a Git repository every sibling folder is the same repository, so it is searched too.
    writeFileSync(join(lone, 'notes', 'q.yaml'), readFileSync(join(ROOT, 'blueprints', 'quiesce.yaml')));
    execFileSync('git', ['init', '-q', lone]);
    const g = capture(dir);
    await main(['validate', 'lone/policies'], g.io);
    expect(g.out()).not.toContain('Blueprint "quiesce"');
    expect(g.err()).toContain('blueprints found beside lone/policies: lone/notes/q.yaml\n');
  });

  it('exit 1 and file:line:col errors, paths as typed on the command line', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'db.yaml'), BASE['policy.yaml']!.replace('daily: 7', 'daily: "seven"'));
    const c = capture(dir);
    expect(await main(['validate', 'bad'], c.io)).toBe(1);
    expect(c.out()).toContain('bad/db.yaml:8:12: spec.retention.daily must be an integer >= 0 and <= 100000, got "seven"\n');
    expect(c.err()).toContain('error(s)');
  });

  it('on a terminal, shows the offending line with a caret', async () => {
    const c = capture(dir);
    (c.io.stdout as { isTTY?: boolean }).isTTY = true;
    expect(await main(['validate', 'bad'], c.io)).toBe(1);
    expect(c.out()).toContain('bad/db.yaml:8:12: spec.retention.daily must be an integer >= 0 and <= 100000, got "seven"\n    8 |     daily: "seven"\n      |            ^\n');
  });

  it('--output json gives code, message, file, line, column, path', async () => {
    const c = capture(dir);
    expect(await main(['validate', 'bad', '-o', 'json'], c.io)).toBe(1);
    const body = JSON.parse(c.out());
    expect(body.valid).toBe(false);
    expect(body.errors).toContainEqual({ code: 'E_SCHEMA', severity: 'error', message: 'spec.retention.daily must be an integer >= 0 and <= 100000, got "seven"', file: 'bad/db.yaml', line: 8, column: 12, path: 'spec.retention.daily' });
  });

  it('--ref validates a commit without a checkout', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'coffer-ref-'));
    try {
      const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', ...a], { cwd: repo, encoding: 'utf8' });
      mkdirSync(join(repo, 'gitops'));
      for (const [p, t] of Object.entries(BASE)) writeFileSync(join(repo, 'gitops', p), t);
      git('init', '-q');
      git('add', '-A');
      git('commit', '-qm', 'one');
      writeFileSync(join(repo, 'gitops', 'policy.yaml'), 'garbage: [');
      const c = capture(repo);
      expect(await main(['validate', 'gitops', '--ref', 'HEAD'], c.io)).toBe(0);
      const c2 = capture(repo);
      expect(await main(['validate', 'gitops'], c2.io)).toBe(1);
      expect(c2.out()).toMatch(/^gitops\/policy\.yaml:1:10: /);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('usage errors exit 1 with a message, no stack', async () => {
    const c = capture(dir);
    expect(await main(['validate', '--output', 'xml'], c.io)).toBe(1);
    expect(c.err()).toBe('error: --output must be text or json, got "xml"\n');
    const c2 = capture(dir);
    expect(await main(['validate', 'no-such-dir'], c2.io)).toBe(1);
    expect(c2.err()).toMatch(/^error: .*no-such-dir: no such directory\n$/);
  });
});

describe('coffer plan', () => {
  it('-o json prints the canonical plan; the same repository prints the same bytes', async () => {
    const a = capture(dir);
    const b = capture(join(dir, 'repo'));
    expect(await main(['plan', 'repo', '-o', 'json'], a.io)).toBe(0);
    expect(await main(['plan', '-o', 'json'], b.io)).toBe(0);
    expect(a.out()).toBe(b.out());
    expect(JSON.parse(a.out())).toMatchObject({ apiVersion: 'coffer.dev/v1alpha1', kind: 'Plan', sourceCommit: '' });
  });

  it('table output with next runs from an injected clock', async () => {
    const c = capture(join(dir, 'repo'));
    expect(await main(['plan', '--now', '2026-03-01T10:00:00Z'], c.io)).toBe(0);
    expect(c.out()).toMatch(/^POLICY\s+FREQUENCY\s+TIMEZONE\s+RPO\s+RETENTION h\/d\/w\/m\/y\s+PROFILE\s+BLUEPRINTS\s+NEXT RUN\ndb\s+@daily\s+UTC\s+1d\s+0\/7\/0\/0\/0\s+fs\s+bp\s+2026-03-02T00:00:00Z\n/);
  });

  it('--next-runs adds run times outside the plan; yaml output', async () => {
    const c = capture(join(dir, 'repo'));
    expect(await main(['plan', '-o', 'json', '--next-runs', '2', '--now', '2026-03-01T10:00:00Z'], c.io)).toBe(0);
    const body = JSON.parse(c.out());
    expect(body.nextRuns).toEqual({ db: ['2026-03-02T00:00:00.000Z', '2026-03-03T00:00:00.000Z'] });
    expect(body.plan.kind).toBe('Plan');
    const y = capture(dir);
    expect(await main(['plan', 'repo', '-o', 'yaml'], y.io)).toBe(0);
    expect(y.out()).toMatch(/^apiVersion: coffer.dev\/v1alpha1\n/);
  });

  it('exit 1 with every error when the repository does not compile', async () => {
    const c = capture(dir);
    expect(await main(['plan', 'bad'], c.io)).toBe(1);
    expect(c.err()).toContain('error: 3 error(s):\nbad/db.yaml:8:12: spec.retention.daily');
  });
});

describe('coffer explain', () => {
  it('documents a field like kubectl explain', async () => {
    const c = capture();
    expect(await main(['explain', 'policy.spec.retention.daily'], c.io)).toBe(0);
    expect(c.out()).toBe('KIND:     Policy\nVERSION:  coffer.dev/v1alpha1\n\nFIELD:    daily <integer>\n\nDESCRIPTION:\n    Newest restore point of each of the last N days to keep.\n\n    Range: 0 … 100000\n');
  });

  it('CEL fields list their environment and variables', async () => {
    const c = capture();
    expect(await main(['explain', 'policy.spec.selector.namespaces'], c.io)).toBe(0);
    expect(c.out()).toContain('CEL ENVIRONMENT: namespace (must return bool)\n    namespaceObject <map<string, dyn>>\n');
  });

  it('lists fields with types and required markers', async () => {
    const c = capture();
    expect(await main(['explain', 'Profile.spec'], c.io)).toBe(0);
    expect(c.out()).toContain('   encryption\t<Object> -required-\n');
    expect(c.out()).toContain('   s3\t<Object>\n');
  });

  // Issue 19: every kind crashed with "#/$defs/name not found" (common.schema.json's refs resolved against the kind).
  it.each(['policy', 'profile', 'blueprint', 'config', 'restore', 'transformset', 'KubeExec', 'KubeTask', 'ScaleWorkload', 'Wait'])('%s --recursive lists nested fields', async (kind) => {
    const c = capture();
    expect(await main(['explain', kind, '--recursive'], c.io)).toBe(0);
    expect(c.err()).toBe('');
    if (!/^[A-Z]/.test(kind)) {
      expect(c.out()).toContain('   metadata\t<Object> -required-\n      name\t<string> -required-\n');
      expect(c.out()).toMatch(/\n {9}\S/); // three levels deep
    }
  });

  it('unknown kinds and fields are errors', async () => {
    const c = capture();
    expect(await main(['explain', 'policy.spec.retentoin'], c.io)).toBe(1);
    expect(c.err()).toMatch(/^error: field "retentoin" does not exist in Policy.spec/);
    const c2 = capture();
    expect(await main(['explain', 'Polcy'], c2.io)).toBe(1);
    expect(c2.err()).toMatch(/^error: unknown kind "Polcy"/);
  });
});

describe('coffer init', () => {
  it('scaffolds a repository that validates, then refuses to overwrite it', async () => {
    const target = join(dir, 'new-repo');
    const c = capture(dir);
    expect(await main(['init', 'new-repo', '--cluster', 'lab'], c.io)).toBe(0);
    expect(readdirSync(target).sort()).toEqual(['.git', 'blueprints', 'coffer.yaml', 'policies', 'profiles']);
    // The next documented commands need a commit: checked with the git CLI, not the library that wrote it.
    const git = (...a: string[]) => execFileSync('git', ['-C', target, ...a], { encoding: 'utf8' });
    expect(git('branch', '--show-current')).toBe('main\n');
    expect(git('ls-files').split('\n').filter(Boolean).sort()).toEqual(['blueprints/quiesce.yaml', 'coffer.yaml', 'policies/daily.yaml', 'profiles/default.yaml']);
    expect(git('status', '--porcelain')).toBe('');
    expect(c.out()).toMatch(/initialized Git repository in new-repo\/\.git \(branch main, commit [0-9a-f]{12}\)/);
    const plan = capture(dir);
    expect(await main(['plan', 'new-repo', '--diff', 'HEAD'], plan.io)).toBe(0);
    const v = capture(dir);
    expect(await main(['validate', 'new-repo'], v.io)).toBe(0);
    expect(v.err()).toBe('valid: 4 document(s) (1 Blueprint, 1 Config, 1 Policy, 1 Profile)\n');
    writeFileSync(join(target, 'coffer.yaml'), '# mine\n');
    const again = capture(dir);
    expect(await main(['init', 'new-repo'], again.io)).toBe(1);
    expect(again.err()).toMatch(/refusing to overwrite existing file\(s\) in new-repo: coffer\.yaml, profiles\/default\.yaml/);
    expect(readFileSync(join(target, 'coffer.yaml'), 'utf8')).toBe('# mine\n');
  });

  it('--no-git writes only the files; a DIR inside a Git repository gets no nested one', async () => {
    const c = capture(dir);
    expect(await main(['init', 'plain', '--no-git'], c.io)).toBe(0);
    expect(existsSync(join(dir, 'plain', '.git'))).toBe(false);
    const inside = capture(dir);
    expect(await main(['init', 'new-repo/nested'], inside.io)).toBe(0);
    expect(existsSync(join(dir, 'new-repo', 'nested', '.git'))).toBe(false);
    expect(inside.out()).toContain(`new-repo/nested is inside the Git repository ${join(dir, 'new-repo')}: commit the new files there`);
  });

  it('writes nothing when one file exists', async () => {
    const target = join(dir, 'partial');
    mkdirSync(join(target, 'policies'), { recursive: true });
    writeFileSync(join(target, 'policies', 'daily.yaml'), 'x: 1\n');
    const c = capture(dir);
    expect(await main(['init', 'partial'], c.io)).toBe(1);
    expect(existsSync(join(target, 'coffer.yaml'))).toBe(false);
  });

  it('--storage s3 scaffolds an S3 profile that validates', async () => {
    const c = capture(dir);
    expect(await main(['init', 's3-repo', '--storage', 's3', '--bucket', 'acme-backups'], c.io)).toBe(0);
    expect(readFileSync(join(dir, 's3-repo', 'profiles', 'default.yaml'), 'utf8')).toContain('bucket: acme-backups');
  });
});
