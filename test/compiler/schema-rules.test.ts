import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BASE, compileTexts, errorsOf } from './helpers.ts';

/**
 * One failing fixture per schema rule: the document is the valid base with one field
 * broken, and the test pins the exact message and the file:line:col it points at.
 */
const POLICY = (spec: string) => `apiVersion: coffer.dev/v1alpha1
kind: Policy
metadata:
  name: db
spec:
${spec}`;
const OK_SPEC = `  frequency: "@daily"
  retention:
    daily: 7
  selector:
    namespaces: "true"
  profile: fs
`;

interface Case {
  rule: string;
  file: string;
  yaml: string;
  message: string;
  line: number;
  column: number;
}

const cases: Case[] = [
  { rule: 'type integer with bounds', file: 'policy.yaml', yaml: POLICY(OK_SPEC.replace('daily: 7', 'daily: seven')), message: 'spec.retention.daily must be an integer >= 0 and <= 100000, got "seven"', line: 8, column: 12 },
  { rule: 'minimum', file: 'policy.yaml', yaml: POLICY(OK_SPEC.replace('daily: 7', 'daily: -1')), message: 'spec.retention.daily must be >= 0, got -1', line: 8, column: 12 },
  { rule: 'unknown field with suggestion', file: 'policy.yaml', yaml: POLICY(OK_SPEC.replace('daily: 7', 'daily: 7\n    dialy: 3')), message: 'spec.retention.dialy: unknown field "dialy"; did you mean "daily"?', line: 9, column: 5 },
  { rule: 'unknown field without suggestion', file: 'policy.yaml', yaml: POLICY(`${OK_SPEC}  colour: blue\n`), message: 'spec.colour: unknown field "colour" (known fields: description, paused, frequency, timezone, backupWindow, retention, selector, profile, actions, blueprints, blueprint, verify)', line: 12, column: 3 },
  { rule: 'required', file: 'policy.yaml', yaml: POLICY(OK_SPEC.replace('  profile: fs\n', '')), message: 'spec: missing required field "profile"', line: 6, column: 3 },
  { rule: 'minProperties', file: 'policy.yaml', yaml: POLICY(OK_SPEC.replace('  retention:\n    daily: 7\n', '  retention: {}\n')), message: 'spec.retention must set at least 1 field(s)', line: 7, column: 14 },
  { rule: 'boolean type', file: 'policy.yaml', yaml: POLICY(`${OK_SPEC}  paused: "yes"\n`), message: 'spec.paused must be a boolean, got "yes"', line: 12, column: 11 },
  { rule: 'pattern (DNS label)', file: 'policy.yaml', yaml: POLICY(OK_SPEC).replace('name: db', 'name: Db_1'), message: `metadata.name must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters, got "Db_1"`, line: 4, column: 9 },
  { rule: 'maxLength', file: 'policy.yaml', yaml: POLICY(OK_SPEC).replace('name: db', `name: ${'a'.repeat(64)}`), message: 'metadata.name must be at most 63 characters long, got 64', line: 4, column: 9 },
  { rule: 'const apiVersion', file: 'policy.yaml', yaml: POLICY(OK_SPEC).replace('coffer.dev/v1alpha1', 'coffer.dev/v2'), message: 'apiVersion must be "coffer.dev/v1alpha1", got "coffer.dev/v2"', line: 1, column: 13 },
  { rule: 'unknown kind with suggestion', file: 'policy.yaml', yaml: POLICY(OK_SPEC).replace('kind: Policy', 'kind: Polcy'), message: 'kind must be one of Config, Profile, Policy, Blueprint, TransformSet, Restore, RestorePoint, RestoreResult, ComplianceReport, VerificationResult, got "Polcy"; did you mean "Policy"?', line: 2, column: 7 },
  { rule: 'missing apiVersion', file: 'policy.yaml', yaml: POLICY(OK_SPEC).replace('apiVersion: coffer.dev/v1alpha1\n', ''), message: 'document: missing required field "apiVersion" (every Coffer document starts with apiVersion: coffer.dev/v1alpha1)', line: 1, column: 1 },
  { rule: 'pattern (HH:MM window)', file: 'policy.yaml', yaml: POLICY(`${OK_SPEC}  backupWindow:\n    start: "25:00"\n    end: "06:00"\n`), message: 'spec.backupWindow.start must be a string matching ^([01][0-9]|2[0-3]):[0-5][0-9]$, got "25:00"', line: 13, column: 12 },
  { rule: 'uniqueItems', file: 'policy.yaml', yaml: POLICY(OK_SPEC.replace('  selector:\n', '  selector:\n    excludeKinds: [Secret, Secret]\n')), message: 'spec.selector.excludeKinds must not repeat items (items 0 and 1 are equal)', line: 10, column: 28 },
  { rule: 'maximum', file: 'policy.yaml', yaml: POLICY(`${OK_SPEC}  actions:\n    export:\n      parallelism: 65\n`), message: 'spec.actions.export.parallelism must be <= 64, got 65', line: 14, column: 20 },
  { rule: 'oneOf s3 | filesystem (neither)', file: 'profile.yaml', yaml: BASE['profile.yaml']!.replace('  filesystem:\n    path: /srv/backups\n', ''), message: 'spec must set exactly one of "s3", "filesystem"', line: 6, column: 3 },
  { rule: 'oneOf s3 | filesystem (both)', file: 'profile.yaml', yaml: BASE['profile.yaml']!.replace('  filesystem:', '  s3:\n    bucket: my-bucket\n  filesystem:'), message: 'spec must set exactly one of "s3", "filesystem"', line: 6, column: 3 },
  { rule: 'pattern (absolute path)', file: 'profile.yaml', yaml: BASE['profile.yaml']!.replace('/srv/backups', 'srv/backups'), message: 'spec.filesystem.path must be a string matching ^/, got "srv/backups"', line: 7, column: 11 },
  { rule: 'no inline credentials', file: 'profile.yaml', yaml: BASE['profile.yaml']!.replace('  filesystem:\n    path: /srv/backups\n', '  s3:\n    bucket: my-bucket\n    accessKey: AKIA123\n'), message: 'spec.s3.accessKey: unknown field "accessKey" (known fields: bucket, prefix, region, endpoint, forcePathStyle, insecureSkipTLSVerify, credentials)', line: 8, column: 5 },
  { rule: 'format uri', file: 'profile.yaml', yaml: BASE['profile.yaml']!.replace('  filesystem:\n    path: /srv/backups\n', '  s3:\n    bucket: my-bucket\n    endpoint: "not a url"\n'), message: 'spec.s3.endpoint must be a valid uri, got "not a url"', line: 8, column: 15 },
  { rule: 'minimum immutability', file: 'profile.yaml', yaml: `${BASE['profile.yaml']}  immutability:\n    days: 0\n`, message: 'spec.immutability.days must be >= 1, got 0', line: 13, column: 11 },
  { rule: 'enum func', file: 'blueprint.yaml', yaml: BASE['blueprint.yaml']!.replace('func: KubeExec', 'func: KubeExek'), message: 'spec.actions.backup.phases[0].func must be one of "KubeExec", "KubeTask", "ScaleWorkload", "Wait", got "KubeExek"', line: 10, column: 17 },
  { rule: 'minItems phases', file: 'blueprint.yaml', yaml: BASE['blueprint.yaml']!.replace(/      phases:\n[\s\S]*?      outputArtifacts/, '      phases: []\n      outputArtifacts'), message: 'spec.actions.backup.phases must have at least 1 item(s)', line: 8, column: 15 },
  { rule: 'unknown action', file: 'blueprint.yaml', yaml: BASE['blueprint.yaml']!.replace('    backup:', '    snapshot:\n      phases: []\n    backup:'), message: 'spec.actions.snapshot: unknown field "snapshot" (known fields: backup, restore, delete, validate, verify)', line: 7, column: 5 },
  { rule: 'function args: oneOf pod | workload', file: 'blueprint.yaml', yaml: BASE['blueprint.yaml']!.replace('            pod: db-0\n', ''), message: 'spec.actions.backup.phases[0].args must set exactly one of "pod", "workload"', line: 12, column: 13 },
  { rule: 'function args: type', file: 'blueprint.yaml', yaml: BASE['blueprint.yaml']!.replace('command: [sh, -c, "echo coffer-output path=/x"]', 'command: "echo hi"'), message: 'spec.actions.backup.phases[0].args.command must be an array, got "echo hi"', line: 14, column: 22 },
  { rule: 'function args: unknown field', file: 'blueprint.yaml', yaml: BASE['blueprint.yaml']!.replace('            pod: db-0\n', '            pod: db-0\n            shell: bash\n'), message: 'spec.actions.backup.phases[0].args.shell: unknown field "shell" (known fields: namespace, pod, workload, container, command)', line: 14, column: 13 },
  { rule: 'ScaleWorkload replicas', file: 'blueprint.yaml', yaml: BASE['blueprint.yaml']!.replace(/          func: KubeExec\n          args:\n[\s\S]*?path=\/x"\]\n/, '          func: ScaleWorkload\n          args:\n            namespace: ns\n            kind: Deployment\n            name: web\n            replicas: -2\n'), message: 'spec.actions.backup.phases[0].args.replicas must be one of: replica count; a template that renders to a replica count (or a rendered digit string), got -2', line: 15, column: 23 },
  { rule: 'duration pattern', file: 'blueprint.yaml', yaml: BASE['blueprint.yaml']!.replace('          func: KubeExec\n', '          func: KubeExec\n          timeout: 10 minutes\n'), message: 'spec.actions.backup.phases[0].timeout must be a duration such as 30s, 15m, 1h30m or 2h (units: ms, s, m, h), got "10 minutes"', line: 11, column: 20 },
  { rule: 'JSON patch op enum', file: 't.yaml', yaml: 'apiVersion: coffer.dev/v1alpha1\nkind: TransformSet\nmetadata:\n  name: t\nspec:\n  transforms:\n    - name: r\n      condition: "true"\n      patch:\n        - op: rename\n          path: /spec\n', message: 'spec.transforms[0].patch[0].op must be one of "add", "remove", "replace", "move", "copy", "test", got "rename"', line: 10, column: 15 },
  { rule: 'JSON pointer pattern', file: 't.yaml', yaml: 'apiVersion: coffer.dev/v1alpha1\nkind: TransformSet\nmetadata:\n  name: t\nspec:\n  transforms:\n    - name: r\n      condition: "true"\n      patch:\n        - op: remove\n          path: spec.replicas\n', message: 'spec.transforms[0].patch[0].path must be a string matching ^(/([^~]|~[01])*)*$, got "spec.replicas"', line: 11, column: 17 },
  { rule: 'Restore existingResourcePolicy enum', file: 'r.yaml', yaml: 'apiVersion: coffer.dev/v1alpha1\nkind: Restore\nmetadata:\n  name: r\nspec:\n  source:\n    namespace: db\n    policy: db\n  existingResourcePolicy: overwrite\n', message: 'spec.existingResourcePolicy must be one of "skip", "update", got "overwrite"', line: 9, column: 27 },
  { rule: 'Restore timestamp format', file: 'r.yaml', yaml: 'apiVersion: coffer.dev/v1alpha1\nkind: Restore\nmetadata:\n  name: r\nspec:\n  source:\n    namespace: db\n    policy: db\n    before: yesterday\n', message: 'spec.source.before must be a valid date-time, got "yesterday"', line: 9, column: 13 },
  { rule: 'Config cluster required', file: 'coffer.yaml', yaml: 'apiVersion: coffer.dev/v1alpha1\nkind: Config\nmetadata:\n  name: coffer\nspec:\n  catalog:\n    branch: main\n', message: 'spec: missing required field "cluster"', line: 6, column: 3 },
  { rule: 'Config concurrency minimum', file: 'coffer.yaml', yaml: `${BASE['coffer.yaml']}  concurrency:\n    volumes: 0\n`, message: 'spec.concurrency.volumes must be >= 1, got 0', line: 8, column: 14 },
];

describe('schema rules: message and position', () => {
  it.each(cases)('$rule', (c) => {
    const r = compileTexts({ ...BASE, [c.file]: c.yaml });
    const errs = errorsOf(r);
    const hit = errs.find((e) => e.message === c.message);
    expect(hit, `got:\n${errs.map((e) => `${e.file}:${e.line}:${e.column}: ${e.message}`).join('\n')}`).toBeDefined();
    expect({ file: hit!.file, line: hit!.line, column: hit!.column }).toEqual({ file: c.file, line: c.line, column: c.column });
    expect(r.plan).toBeUndefined();
  });

  it('reports every error of a file in one run, not only the first', () => {
    const yaml = POLICY(OK_SPEC.replace('daily: 7', 'daily: seven\n    hourly: -1').replace('profile: fs', 'profile: nope'));
    const errs = errorsOf(compileTexts({ ...BASE, 'policy.yaml': yaml }));
    expect(errs.map((e) => e.message).sort()).toEqual([
      'Profile "nope" not found (defined: fs)',
      'spec.retention.daily must be an integer >= 0 and <= 100000, got "seven"',
      'spec.retention.hourly must be >= 0, got -1',
    ]);
  });

  it('JSON diagnostics carry code, file, line, column and path', () => {
    const errs = errorsOf(compileTexts({ ...BASE, 'policy.yaml': POLICY(OK_SPEC.replace('daily: 7', 'daily: seven')) }));
    expect(errs[0]).toMatchObject({ code: 'E_SCHEMA', severity: 'error', file: 'policy.yaml', line: 8, column: 12, path: 'spec.retention.daily' });
  });
});

describe('documents Coffer writes (RestorePoint, RestoreResult, ComplianceReport)', () => {
  const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');

  it.each(['restorepoint.yaml', 'restoreresult.yaml', 'compliancereport.yaml'])('the complete example %s validates', (f) => {
    const r = compileTexts({ ...BASE, [f]: fixture(f) });
    expect(errorsOf(r)).toEqual([]);
  });

  it.each([
    ['restorepoint.yaml', 'planHash: sha256:b8', 'planHash: md5:b8', /^spec\.planHash must be a string matching \^sha256:\[0-9a-f\]\{64\}\$, got "md5:b895/, 13, 13],
    ['restorepoint.yaml', '  phase: Succeeded\n  retention', '  phase: Done\n  retention', /^spec\.phase must be one of "Pending", "Running", "Succeeded", "PartiallyFailed", "Failed", got "Done"$/, 18, 10],
    ['restorepoint.yaml', '      sizeBytes: 2147483648', '      sizeBytes: 2Gi', /^spec\.volumes\[0\]\.sizeBytes must be an integer >= 0, got "2Gi"$/, 32, 18],
    ['restoreresult.yaml', 'action: skipped', 'action: ignored', /^spec\.resources\[2\]\.action must be one of "created", "updated", "skipped", "failed", got "ignored"$/, 19, 91],
    ['compliancereport.yaml', '      result: fail', '      result: bad', /^spec\.results\[1\]\.result must be one of "pass", "fail", "warn", "error", "skip", got "bad"$/, 23, 15],
    ['compliancereport.yaml', '  summary: { pass: 1, fail: 1, warn: 0, error: 0, skip: 0 }', '  summary: { pass: 1, fail: 1 }', /^spec\.summary: missing required field "warn"$/, 10, 12],
  ])('%s: %s → %s', (f, from, to, message, line, column) => {
    const text = fixture(f).replace(from, to);
    expect(text).not.toBe(fixture(f));
    const errs = errorsOf(compileTexts({ ...BASE, [f]: text }));
    const hit = errs.find((e) => message.test(e.message));
    expect(hit, errs.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n')).toBeDefined();
    expect([hit!.line, hit!.column]).toEqual([line, column]);
  });
});
