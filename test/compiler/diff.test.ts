import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFromGit } from '../../compiler/index.ts';
import { diffPlans, diffToMarkdown } from '../../compiler/diff/index.ts';
import { main } from '../../cli/main.ts';
import { capture } from './helpers.ts';
import { editIn, gitIn, golden } from './diff-fixture.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GOLDEN_MD = fileURLToPath(new URL('./golden/plan-diff.md', import.meta.url));
const GOLDEN_JSON = fileURLToPath(new URL('./golden/plan-diff.json', import.meta.url));

let repo: string;
const git = gitIn(() => repo);
const edit = editIn(() => repo);

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'coffer-diff-'));
  git('init', '-q');
  cpSync(join(ROOT, 'policies'), repo, { recursive: true });
  cpSync(join(ROOT, 'blueprints'), join(repo, 'blueprints'), { recursive: true });
  git('add', '-A');
  git('commit', '-qm', 'base');
  // The pull request: every risk the reviewer must see, plus harmless changes.
  edit('databases.yaml', 'daily: 30', 'daily: 7'); // retention reduced
  edit('databases.yaml', '"@hourly"', '"0 */4 * * *"'); // frequency lowered
  edit('legacy.yaml', 'namespaceObject.metadata.name == "erp"', 'namespaceObject.metadata.name == "erp" && namespaceObject.metadata.labels["tier"] == "prod"'); // narrowed
  edit('legacy.yaml', '  profile: minio-dr', '  paused: true\n  profile: minio-dr'); // paused
  edit('apps.yaml', /---\n# Large but rebuildable[\s\S]*$/, ''); // policy removed
  edit('profiles/local.yaml', 'name: coffer-repository-key', 'name: coffer-repository-key-v2'); // key changed
  edit('profiles/s3-primary.yaml', 'days: 30', 'days: 7'); // immutability reduced
  edit('blueprints/postgres.yaml', 'timeout: 30m', 'timeout: 45m'); // harmless
  writeFileSync(join(repo, 'transforms/labels.yaml'), 'apiVersion: coffer.dev/v1alpha1\nkind: TransformSet\nmetadata:\n  name: restored-label\nspec:\n  transforms:\n    - name: mark\n      condition: "true"\n      patch:\n        - op: add\n          path: /metadata/labels/restored\n          value: "true"\n');
  git('add', '-A');
  git('commit', '-qm', 'head');
});

afterAll(() => rmSync(repo, { recursive: true, force: true }));

describe('plan diff from two Git commits', () => {
  it('compiles both commits straight from Git and renders the golden markdown', async () => {
    const base = await compileFromGit(join(repo, '.git'), 'HEAD~1');
    const head = await compileFromGit(join(repo, '.git'), 'main');
    expect(base.plan!.sourceCommit).toBe(git('rev-parse', 'HEAD~1'));
    expect(head.plan!.sourceCommit).toBe(git('rev-parse', 'HEAD'));
    const byOid = await compileFromGit(join(repo, '.git'), git('rev-parse', 'HEAD'));
    expect(byOid.plan!.hash).toBe(head.plan!.hash);
    expect((await compileFromGit(join(repo, '.git'), git('rev-parse', '--short', 'HEAD~1'))).plan!.hash).toBe(base.plan!.hash);
    const diff = diffPlans(base.plan, head.plan!);
    expect(diff.risks.map((r) => `${r.severity} ${r.code} ${r.kind}/${r.name}`)).toEqual([
      'high retention-reduced Policy/databases',
      'high policy-paused Policy/legacy-erp',
      'high selector-narrowed Policy/legacy-erp',
      'high policy-removed Policy/manifests-only',
      'high encryption-key-changed Profile/nfs-local',
      'medium frequency-lowered Policy/databases',
      'medium immutability-reduced Profile/s3-primary',
    ]);
    golden(GOLDEN_MD, diffToMarkdown(diff, { baseRef: 'HEAD~1', headRef: 'main' }));
  });

  it('coffer plan --diff --detailed-exitcode: 2 with changes, JSON format matches the golden', async () => {
    const c = capture(repo);
    expect(await main(['plan', '--diff', 'HEAD~1', '--head', 'HEAD', '--format', 'json', '--detailed-exitcode'], c.io)).toBe(2);
    golden(GOLDEN_JSON, c.out());
  });

  it('exit 0 and "No changes" when nothing changed; the working tree is the default head', async () => {
    const c = capture(repo);
    expect(await main(['plan', '--diff', 'HEAD', '--detailed-exitcode'], c.io)).toBe(0);
    expect(c.out()).toContain('No changes: the plan is identical');
  });

  it('exit 1 with the errors as markdown when the head does not compile', async () => {
    writeFileSync(join(repo, 'broken.yaml'), 'apiVersion: coffer.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: broken\nspec:\n  frequency: "@daily"\n');
    try {
      const c = capture(repo);
      expect(await main(['plan', '--diff', 'HEAD', '--detailed-exitcode'], c.io)).toBe(1);
      expect(c.out()).toContain('does not compile');
      expect(c.out()).toContain('`broken.yaml:6:3` spec: missing required field "retention"');
    } finally {
      rmSync(join(repo, 'broken.yaml'));
    }
  });

  it('a base without the policy folder counts as empty (a PR that adds it)', async () => {
    const c = capture(repo);
    expect(await main(['plan', 'transforms', '--diff', 'HEAD~1', '--head', 'HEAD', '--format', 'json'], c.io)).toBe(0);
    const sub = mkdtempSync(join(tmpdir(), 'coffer-diff-sub-'));
    try {
      execFileSync('git', ['clone', '-q', repo, sub]);
      cpSync(join(ROOT, 'policies'), join(sub, 'gitops'), { recursive: true });
      cpSync(join(ROOT, 'blueprints'), join(sub, 'gitops', 'blueprints'), { recursive: true });
      execFileSync('git', ['add', '-A'], { cwd: sub });
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'add gitops'], { cwd: sub });
      const d = capture(sub);
      expect(await main(['plan', 'gitops', '--diff', 'HEAD~1', '--head', 'HEAD', '--detailed-exitcode'], d.io)).toBe(2);
      expect(d.out()).toContain('| Policy | 4 | 0 | 0 |');
    } finally {
      rmSync(sub, { recursive: true, force: true });
    }
  });

  it('the working tree is never touched: git status stays clean', () => {
    expect(git('status', '--porcelain')).toBe('');
  });

  it('an unknown revision is a clear error', async () => {
    const c = capture(repo);
    expect(await main(['plan', '--diff', 'nope-branch'], c.io)).toBe(1);
    expect(c.err()).toBe(`error: nope-branch: unknown revision in ${repo}/.git\n`);
  });
});

describe('diff semantics', () => {
  it('a base that does not exist compares against an empty plan: everything added, only the restores it would run are risks', async () => {
    const head = await compileFromGit(join(repo, '.git'), 'HEAD');
    const d = diffPlans(undefined, head.plan!);
    expect(d.risks.map((r) => `${r.severity} ${r.code} ${r.name}`)).toEqual(['medium restore-requested erp-config-rollback', 'medium restore-requested shop-drill']);
    expect(d.changes.every((c) => c.change === 'added')).toBe(true);
  });

  it('a Restore added in Git is flagged: merging runs it; in place with update overwrites live objects', async () => {
    const base = (await compileFromGit(join(repo, '.git'), 'HEAD~1')).plan!;
    const head = structuredClone(base);
    const drill = base.restores.find((r) => r.name === 'shop-drill')!;
    head.restores.push({ ...structuredClone(drill), name: 'rollback', target: { cluster: drill.source.cluster, namespace: drill.source.namespace }, existingResourcePolicy: 'update' });
    const d = diffPlans(base, head);
    expect(d.risks).toEqual([
      {
        severity: 'high',
        code: 'restore-requested',
        kind: 'Restore',
        name: 'rollback',
        message: 'merging runs a restore of shop-db (policy databases, restore point latest) into namespace shop-db on prod-eu-1: existing objects in the live namespace are overwritten (existingResourcePolicy: update)',
      },
    ]);
  });

  it('widening a selector or raising retention is a change but not a risk', async () => {
    const base = (await compileFromGit(join(repo, '.git'), 'HEAD~1')).plan!;
    const head = structuredClone(base);
    head.policies[0]!.retention.daily += 10;
    head.policies[0]!.selector.namespaces.source = `(${base.policies[0]!.selector.namespaces.source}) || true`;
    const d = diffPlans(base, head);
    expect(d.changes).toHaveLength(1);
    expect(d.risks.map((r) => r.code)).toEqual(['selector-changed']);
    expect(d.risks[0]!.severity).toBe('medium');
  });
});
