import { describe, expect, it } from 'vitest';
import { BASE, compileTexts, errorsOf } from './helpers.ts';

const policy = (selector: string) => `apiVersion: coffer.dev/v1alpha1
kind: Policy
metadata:
  name: db
spec:
  frequency: "@daily"
  retention:
    daily: 7
  profile: fs
  selector:
${selector}`;

function firstError(selector: string) {
  const errs = errorsOf(compileTexts({ ...BASE, 'policy.yaml': policy(selector) })).filter((e) => e.code === 'E_CEL');
  expect(errs.length, JSON.stringify(errs)).toBe(1);
  return errs[0]!;
}

/**
 * CEL errors point at the offending token inside the file, whatever the YAML scalar
 * style: the expression offset from compiler/cel is mapped through quoting, folding and
 * block indentation.
 */
describe('CEL error positions inside YAML scalars', () => {
  it('plain scalar', () => {
    const e = firstError('    namespaces: namespaceObject.metadata.name == nme\n');
    expect(e).toMatchObject({ line: 11, column: 50, path: 'spec.selector.namespaces' });
    expect(e.message).toMatch(/^namespaces: undeclared reference to 'nme'/);
  });

  it('double-quoted scalar with escapes before the error', () => {
    const e = firstError('    namespaces: "namespaceObject.metadata.name == \\"a\\" && bogus"\n');
    expect(e).toMatchObject({ line: 11, column: 60 }); // two backslashes in the source before 'bogus'
    expect(e.message).toMatch(/undeclared reference to 'bogus'/);
  });

  it('literal block scalar (|), error on the second line', () => {
    const e = firstError('    namespaces: |\n      namespaceObject.metadata.name == "a" &&\n        missing.startsWith("x")\n');
    expect(e).toMatchObject({ line: 13, column: 9 });
  });

  it('folded block scalar (>-), error on the third line', () => {
    const e = firstError('    namespaces: >-\n      namespaceObject.metadata.name == "a" ||\n      namespaceObject.metadata.name == "b" ||\n      oops == "c"\n');
    expect(e).toMatchObject({ line: 14, column: 7 });
  });

  it('multi-line plain scalar', () => {
    const e = firstError('    namespaces: namespaceObject.metadata.name == "a"\n      && nope\n');
    expect(e).toMatchObject({ line: 12, column: 10 });
  });

  it('reserved word namespace gets a hint', () => {
    const e = firstError('    namespaces: namespace.metadata.name == "a"\n');
    expect(e).toMatchObject({ line: 11, column: 17 });
    expect(e.message).toContain("use 'namespaceObject'");
  });

  it('type errors: a selector must be a bool', () => {
    const e = firstError('    namespaces: size(namespaceObject.metadata.name)\n');
    expect(e.message).toMatch(/must evaluate to bool/);
    expect(e).toMatchObject({ line: 11, column: 17 });
  });

  it('object selector and workload binding are checked in their own environments', () => {
    const errs = errorsOf(
      compileTexts({
        ...BASE,
        'policy.yaml': policy('    namespaces: "true"\n    resources: object.kind == 1 + "x"\n').replace('  profile: fs\n', '  profile: fs\n  blueprints:\n    - name: bp\n      workloads: namespaceObject.metadata.name == object.metadata.name && worklod.kind == "x"\n'),
      }),
    ).filter((e) => e.code === 'E_CEL');
    expect(errs.map((e) => [e.path, e.line, e.column])).toEqual([
      ['spec.blueprints[0].workloads', 12, 75],
      ['spec.selector.resources', 15, 31],
    ]);
  });

  it('Wait conditions and transform conditions are compiled too', () => {
    const errs = errorsOf(
      compileTexts({
        ...BASE,
        't.yaml': 'apiVersion: coffer.dev/v1alpha1\nkind: TransformSet\nmetadata:\n  name: t\nspec:\n  transforms:\n    - name: r\n      condition: object.kind = "Deployment"\n      patch:\n        - op: remove\n          path: /spec/replicas\n',
      }),
    );
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ code: 'E_CEL', file: 't.yaml', line: 8, path: 'spec.transforms[0].condition' });
  });
});

describe('schedule errors', () => {
  const withFreq = (f: string, extra = '') => ({ ...BASE, 'policy.yaml': BASE['policy.yaml']!.replace('frequency: "@daily"', `frequency: ${f}${extra}`) });

  it('points inside the cron expression at the bad field', () => {
    const errs = errorsOf(compileTexts(withFreq('"0 25 * * *"')));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ code: 'E_SCHEDULE', line: 6, column: 17, path: 'spec.frequency' });
  });

  it('unknown macro', () => {
    const errs = errorsOf(compileTexts(withFreq('"@dialy"')));
    expect(errs[0]).toMatchObject({ code: 'E_SCHEDULE', line: 6, column: 15 });
    expect(errs[0]!.message).toMatch(/unknown schedule '@dialy'/);
  });

  it('unknown time zone points at spec.timezone', () => {
    const errs = errorsOf(compileTexts(withFreq('"@daily"', '\n  timezone: Mars/Olympus')));
    expect(errs[0]).toMatchObject({ code: 'E_SCHEDULE', line: 7, column: 13, path: 'spec.timezone' });
  });

  it('retention the frequency cannot meet is a warning at the tier, and in the plan', () => {
    const r = compileTexts({ ...BASE, 'policy.yaml': BASE['policy.yaml']!.replace('daily: 7', 'daily: 7\n    hourly: 24') });
    const w = r.diagnostics.filter((d) => d.code === 'W_RETENTION');
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ severity: 'warning', line: 9, column: 13, path: 'spec.retention.hourly' });
    expect(r.plan!.policies[0]!.warnings).toEqual([w[0]!.message]);
  });

  it('a frequency that never runs inside the backup window is a warning', () => {
    const r = compileTexts(withFreq('"0 12 * * *"', '\n  backupWindow: { start: "22:00", end: "05:00" }'));
    expect(r.diagnostics.map((d) => [d.code, d.line, d.column, d.message])).toEqual([
      ['W_WINDOW', 7, 17, "no run of frequency '0 12 * * *' falls inside the backup window 22:00–05:00 (UTC): every run will wait for the window to open"],
    ]);
    const ok = compileTexts(withFreq('"30 1 * * *"', '\n  backupWindow: { start: "22:00", end: "05:00" }'));
    expect(ok.diagnostics).toEqual([]);
  });

  it('retention that keeps nothing is an error', () => {
    const errs = errorsOf(compileTexts({ ...BASE, 'policy.yaml': BASE['policy.yaml']!.replace('daily: 7', 'daily: 0') }));
    expect(errs.map((e) => e.code)).toEqual(['E_RETENTION']);
  });
});
