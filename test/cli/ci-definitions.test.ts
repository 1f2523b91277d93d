/**
 * deploy/ci: the GitHub Actions and GitLab CI definitions parse, run the real commands with flags the CLI accepts
 * (checked by running them here on a real Git repository), and update one comment found by the shared marker.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { cleanup, tempDir } from '../reconciler/git-helpers.ts';

const read = (f: string) => readFileSync(new URL(`../../deploy/ci/${f}`, import.meta.url), 'utf8');

describe('deploy/ci', () => {
  it('GitHub Actions: validate, plan --diff markdown, and one comment updated by its marker', () => {
    const wf = YAML.parse(read('github-actions.yaml')) as { on: unknown; jobs: { plan: { steps: Array<{ run?: string; uses?: string; with?: { script?: string } }> } } };
    expect(wf.on).toHaveProperty('pull_request');
    const steps = wf.jobs.plan.steps;
    expect(steps.map((s) => s.run ?? s.uses).join('\n')).toMatch(/\$COFFER validate[\s\S]*\$COFFER plan "\$COFFER_DIR" --diff "origin\/\$\{\{ github\.base_ref \}\}" --head HEAD --format markdown/);
    const script = steps.at(-1)!.with!.script!;
    expect(script).toContain("c.body.startsWith('<!-- coffer-plan -->')");
    expect(script).toMatch(/updateComment[\s\S]*createComment/);
  });

  it('GitLab CI: the same on merge requests, the note updated through the API', () => {
    const ci = YAML.parse(read('gitlab-ci.yaml')) as Record<string, { rules: Array<{ if: string }>; script: string[]; after_script: string[] }>;
    const job = ci['coffer-plan']!;
    expect(job.rules[0]!.if).toBe('$CI_PIPELINE_SOURCE == "merge_request_event"');
    expect(job.script.join('\n')).toMatch(/coffer\.js validate[\s\S]*coffer\.js plan "\$COFFER_DIR" --diff "origin\/\$CI_MERGE_REQUEST_TARGET_BRANCH_NAME" --head HEAD --format markdown/);
    expect(job.after_script.join('\n')).toMatch(/method: mine \? "PUT" : "POST"/);
  });

  describe('the commands they run work on a policy repository', () => {
    let dir: string;
    beforeAll(() => {
      dir = tempDir('ci');
      const git = (...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a], { stdio: 'pipe' });
      execFileSync('cp', ['-r', new URL('../../policies', import.meta.url).pathname, new URL('../../blueprints', import.meta.url).pathname, dir]);
      git('init', '-q', '-b', 'main');
      git('add', '-A');
      git('commit', '-qm', 'base');
      execFileSync('sed', ['-i', 's/daily: 7/daily: 3/', join(dir, 'policies/apps.yaml')]);
      git('commit', '-qam', 'cut retention');
    });
    afterAll(() => cleanup(dir));

    it('validate . and plan --diff main~1 --head HEAD --format markdown', async () => {
      const out = new PassThrough();
      let text = '';
      out.on('data', (d) => (text += d));
      const io = { stdout: out, stderr: new PassThrough(), env: {}, cwd: dir };
      expect(await main(['validate', '.'], io)).toBe(0);
      expect(await main(['plan', '.', '--diff', 'main~1', '--head', 'HEAD', '--format', 'markdown'], io)).toBe(0);
      expect(text).toMatch(/retention/i);
    });
  });
});
