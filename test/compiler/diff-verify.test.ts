/**
 * `coffer plan --diff` on restore verification (spec.verify): a pull request that adds, changes or removes a policy's
 * `verify:` shows each field (frequency, timeout, every check) and the risks a reviewer must weigh, like schedule
 * changes. Three commits on the example repository, each diffed against its parent through the CLI; golden markdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../cli/main.ts';
import { capture } from './helpers.ts';
import { editIn, gitIn, golden as goldenFile } from './diff-fixture.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const golden = (name: string, actual: string): void => goldenFile(fileURLToPath(new URL(`./golden/plan-diff-verify-${name}.md`, import.meta.url)), actual);

let repo: string;
const git = gitIn(() => repo);
const edit = editIn(() => repo);
const commit = (message: string, edits: () => void): void => {
  edits();
  git('add', '-A');
  git('commit', '-qm', message);
  git('tag', message);
};

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'coffer-diff-verify-'));
  git('init', '-q');
  cpSync(join(ROOT, 'policies'), repo, { recursive: true });
  cpSync(join(ROOT, 'blueprints'), join(repo, 'blueprints'), { recursive: true });
  git('add', '-A');
  git('commit', '-qm', 'base');
  git('tag', 'base');
  commit('changed', () => {
    edit('databases.yaml', 'frequency: "@weekly"\n    timeout: 45m', 'frequency: "@monthly"\n    timeout: 1h'); // less often, longer
    edit('databases.yaml', 'expect: { atLeast: 1000 }', 'expect: { atLeast: 10 }'); // weakened
    edit('databases.yaml', /      - name: session-key\n[\s\S]*?expect: \{ equals: "1" \}\n/, '      - name: orders-recent\n        blueprint: postgres\n        database: shop\n        query: SELECT count(*) FROM orders WHERE created > now() - interval \'1 day\'\n        expect: { atLeast: 1 }\n'); // one check replaced
  });
  commit('added', () => edit('apps.yaml', '      workloads: has(workload.metadata.annotations) && "coffer.dev/sqlite-path" in workload.metadata.annotations\n---', '      workloads: has(workload.metadata.annotations) && "coffer.dev/sqlite-path" in workload.metadata.annotations\n  verify:\n    frequency: "@daily"\n---'));
  commit('removed', () => edit('databases.yaml', /  # Every week the latest[\s\S]*$/, ''));
});

afterAll(() => rmSync(repo, { recursive: true, force: true }));

async function diff(base: string, head: string): Promise<{ code: number; markdown: string; risks: string[] }> {
  const md = capture(repo);
  const code = await main(['plan', '--diff', base, '--head', head, '--detailed-exitcode'], md.io);
  const js = capture(repo);
  expect(await main(['plan', '--diff', base, '--head', head, '--format', 'json'], js.io)).toBe(0);
  const risks = (JSON.parse(js.out()) as { risks: { severity: string; code: string; kind: string; name: string }[] }).risks.map((r) => `${r.severity} ${r.code} ${r.kind}/${r.name}`);
  return { code, markdown: md.out(), risks };
}

describe('coffer plan --diff shows restore verification changes', () => {
  it('changed: frequency, timeout and checks field by field; less often, a check dropped and one weakened are risks', async () => {
    const d = await diff('base', 'changed');
    expect(d.code).toBe(2);
    expect(d.risks).toEqual(['medium verify-check-removed Policy/databases', 'medium verify-check-weakened Policy/databases', 'medium verify-frequency-lowered Policy/databases']);
    // The derived schedule fields (normalized cron, intervals) stay out, as for spec.frequency.
    expect(d.markdown).not.toContain('verify.schedule.normalized');
    golden('changed', d.markdown);
  });

  it('added to an existing policy: every field shown, and the scratch copies it will make flagged', async () => {
    const d = await diff('changed', 'added');
    expect(d.code).toBe(2);
    expect(d.risks).toEqual(['medium verify-added Policy/apps']);
    golden('added', d.markdown);
  });

  it('removed: what is no longer verified, field by field, as a risk', async () => {
    const d = await diff('added', 'removed');
    expect(d.code).toBe(2);
    expect(d.risks).toEqual(['medium verify-removed Policy/databases']);
    golden('removed', d.markdown);
  });

  it('the same commit on both sides: no change, no risk', async () => {
    const d = await diff('removed', 'removed');
    expect([d.code, d.risks]).toEqual([0, []]);
  });
});
