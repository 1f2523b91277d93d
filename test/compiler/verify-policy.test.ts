import { describe, expect, it } from 'vitest';
import { explain } from '../../compiler/explain.ts';
import { BASE, compileTexts, errorsOf } from './helpers.ts';

/**
 * A policy's `verify:` (issue 18, restore verification): schema and semantic errors with file:line:col, the
 * compiled plan's shape, and the `verify.*` template variables that only a blueprint's verify action may read.
 */
const fmt = (files: Record<string, string>) => errorsOf(compileTexts({ ...BASE, ...files })).map((e) => `${e.file}:${e.line}:${e.column}: ${e.message}`);

/** BASE's blueprint `bp` with a verify action answering {{ verify.query }}. */
const BP_VERIFY = `${BASE['blueprint.yaml']}    verify:
      phases:
        - name: query
          func: KubeExec
          args:
            namespace: "{{ namespace }}"
            pod: db-0
            command: [sh, -c, "echo coffer-output result=$(psql -XAtc {{ verify.query | quote }} {{ verify.database | default \\"app\\" | quote }})"]
`;
const policy = (verify: string) => `${BASE['policy.yaml']}  verify:\n${verify}`;

describe('policy verify: compiled into the plan', () => {
  it('schedule in the policy time zone, default timeout 30m, checks as written', () => {
    const r = compileTexts({ ...BASE, 'blueprint.yaml': BP_VERIFY, 'policy.yaml': policy('    frequency: "@weekly"\n    checks:\n      - name: orders\n        query: SELECT count(*) FROM orders\n        expect: { atLeast: 10, exists: true }\n') });
    expect(errorsOf(r)).toEqual([]);
    expect(r.plan!.policies[0]!.verify).toEqual({
      schedule: expect.objectContaining({ source: '@weekly', normalized: '0 0 * * 0', timezone: 'UTC', maxIntervalSeconds: 604_800 }),
      timeout: '30m',
      checks: [{ name: 'orders', query: 'SELECT count(*) FROM orders', expect: { atLeast: 10, exists: true } }],
    });
    expect(r.plan!.blueprints[0]!.actions.verify?.phases.map((p) => p.name)).toEqual(['query']);
  });

  it('a policy without verify has none in the plan', () => {
    expect(compileTexts(BASE).plan!.policies[0]!.verify).toBeUndefined();
  });
});

describe('policy verify: bad input names file:line:col', () => {
  const cases: { name: string; files: Record<string, string>; want: string[] }[] = [
    { name: 'frequency is required', files: { 'policy.yaml': policy('    timeout: 10m\n') }, want: ['policy.yaml:14:5: spec.verify: missing required field "frequency"'] },
    { name: 'bad frequency points inside the string', files: { 'policy.yaml': policy('    frequency: "@wekly"\n') }, want: ["policy.yaml:14:17: verify.frequency: unknown schedule '@wekly': expected @hourly, @daily, @weekly, @monthly, @yearly, @every DURATION or a 5-field cron"] },
    { name: 'timeout must be a duration', files: { 'policy.yaml': policy('    frequency: "@weekly"\n    timeout: ages\n') }, want: ['policy.yaml:15:14: spec.verify.timeout must be a duration such as 30s, 15m, 1h30m or 2h (units: ms, s, m, h), got "ages"'] },
    { name: 'unknown expectation', files: { 'blueprint.yaml': BP_VERIFY, 'policy.yaml': policy('    frequency: "@weekly"\n    checks:\n      - name: orders\n        query: SELECT 1\n        expect: { greaterThan: 1 }\n') }, want: ['policy.yaml:18:19: spec.verify.checks[0].expect.greaterThan: unknown field "greaterThan" (known fields: atLeast, atMost, equals, exists)'] },
    { name: 'empty expectation', files: { 'blueprint.yaml': BP_VERIFY, 'policy.yaml': policy('    frequency: "@weekly"\n    checks:\n      - name: orders\n        query: SELECT 1\n        expect: {}\n') }, want: ['policy.yaml:18:17: spec.verify.checks[0].expect must set at least 1 field(s)'] },
    { name: 'duplicate check names', files: { 'blueprint.yaml': BP_VERIFY, 'policy.yaml': policy('    frequency: "@weekly"\n    checks:\n      - name: a\n        query: SELECT 1\n        expect: { equals: "1" }\n      - name: a\n        query: SELECT 2\n        expect: { equals: "2" }\n') }, want: ['policy.yaml:19:15: check "a" is defined twice in spec.verify.checks (also checks[0])'] },
    { name: 'atLeast above atMost', files: { 'blueprint.yaml': BP_VERIFY, 'policy.yaml': policy('    frequency: "@weekly"\n    checks:\n      - name: a\n        query: SELECT 1\n        expect: { atLeast: 5, atMost: 2 }\n') }, want: ['policy.yaml:18:17: expect.atLeast 5 is greater than expect.atMost 2: no answer can pass'] },
    { name: 'check blueprint not bound', files: { 'blueprint.yaml': BP_VERIFY, 'policy.yaml': policy('    frequency: "@weekly"\n    checks:\n      - name: a\n        blueprint: other\n        query: SELECT 1\n        expect: { equals: "1" }\n') }, want: ['policy.yaml:17:20: blueprint "other" is not bound by this policy (bound: bp)'] },
    { name: 'check blueprint without verify action', files: { 'policy.yaml': policy('    frequency: "@weekly"\n    checks:\n      - name: a\n        blueprint: bp\n        query: SELECT 1\n        expect: { equals: "1" }\n') }, want: ['policy.yaml:17:20: blueprint "bp" has no verify action to answer this check'] },
    { name: 'no bound blueprint can answer', files: { 'policy.yaml': policy('    frequency: "@weekly"\n    checks:\n      - name: a\n        query: SELECT 1\n        expect: { equals: "1" }\n') }, want: ['policy.yaml:17:16: no blueprint bound by this policy has a verify action to answer this check (bound: bp)'] },
    {
      name: 'verify.* outside the verify action',
      files: { 'blueprint.yaml': BASE['blueprint.yaml']!.replace('echo coffer-output path=/x', 'echo {{ verify.query }}') },
      want: ['blueprint.yaml:14:40: command[2]: "verify" is only available in the verify action (it is the policy check being answered)'],
    },
    {
      name: 'unknown verify field',
      files: { 'blueprint.yaml': BP_VERIFY.replace('verify.database', 'verify.db') },
      want: ['blueprint.yaml:26:101: command[2]: "verify.db" is not a field of verify (known: verify.name, verify.query, verify.database)'],
    },
  ];
  it.each(cases)('$name', (c) => {
    expect(fmt(c.files)).toEqual(c.want);
  });
});

describe('coffer explain covers verify', () => {
  it('policy.spec.verify lists its fields with their descriptions; the VerificationResult kind is explained too', () => {
    const text = explain('policy.spec.verify');
    expect(text).toContain('FIELD:    verify <Object>');
    for (const f of ['frequency\t<string> -required-', 'timeout\t<string>', 'checks\t<[]Object>']) expect(text).toContain(f);
    expect(explain('policy.spec.verify.checks.expect')).toContain('atLeast\t<number>');
    expect(explain('verificationresult.spec')).toContain('rtoSeconds\t<number>');
  });
});
