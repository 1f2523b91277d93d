import { describe, expect, it } from 'vitest';
import { BASE, compileTexts, errorsOf } from './helpers.ts';

const fmt = (r: ReturnType<typeof compileTexts>) => errorsOf(r).map((e) => `${e.file}:${e.line}:${e.column}: ${e.message}`);

describe('references and duplicates', () => {
  it('duplicate names are reported at both locations', () => {
    const r = compileTexts({ ...BASE, 'other.yaml': `# another profile\n${BASE['profile.yaml']}` });
    expect(fmt(r)).toEqual([
      'other.yaml:5:9: duplicate Profile "fs": also defined at profile.yaml:1:1',
      'profile.yaml:4:9: duplicate Profile "fs": also defined at other.yaml:2:1',
    ]);
    expect(errorsOf(r)[0]!.related).toEqual({ file: 'profile.yaml', line: 1, column: 1 });
  });

  it('same name in different kinds is fine', () => {
    const r = compileTexts({ ...BASE, 'bp2.yaml': BASE['blueprint.yaml']!.replace('name: bp', 'name: fs') });
    expect(errorsOf(r)).toEqual([]);
  });

  it('two Config documents are an error', () => {
    const r = compileTexts({ ...BASE, 'more.yaml': BASE['coffer.yaml']!.replace('name: coffer', 'name: other') });
    expect(errorsOf(r).map((e) => e.code)).toEqual(['E_DUPLICATE', 'E_DUPLICATE']);
  });

  it('dangling policy → profile and policy → blueprint, with suggestions', () => {
    const r = compileTexts({ ...BASE, 'policy.yaml': BASE['policy.yaml']!.replace('profile: fs', 'profile: fz').replace('blueprint: bp', 'blueprint: pg') });
    expect(fmt(r)).toEqual(['policy.yaml:11:12: Profile "fz" not found; did you mean "fs"?', 'policy.yaml:12:14: Blueprint "pg" not found; did you mean "bp"?']);
  });

  it('dangling restore → transform is an error; restore → removed policy only a warning', () => {
    const restore = 'apiVersion: coffer.dev/v1alpha1\nkind: Restore\nmetadata:\n  name: r\nspec:\n  source:\n    namespace: shop\n    policy: gone\n  transforms: [missing]\n';
    const r = compileTexts({ ...BASE, 'r.yaml': restore });
    expect(fmt(r)).toEqual(['r.yaml:9:16: TransformSet "missing" not found (no TransformSet is defined in this repository)']);
    expect(r.diagnostics.find((d) => d.severity === 'warning' && d.code === 'E_REFERENCE')).toMatchObject({ line: 8, column: 13 });
  });

  it('Config default profile must exist', () => {
    const r = compileTexts({ ...BASE, 'coffer.yaml': `${BASE['coffer.yaml']}  defaults:\n    profile: nope\n` });
    expect(fmt(r)).toEqual(['coffer.yaml:8:14: Profile "nope" not found (defined: fs)']);
  });
});

describe('blueprint consistency', () => {
  const bp = (body: string) => `apiVersion: coffer.dev/v1alpha1\nkind: Blueprint\nmetadata:\n  name: b2\nspec:\n  actions:\n${body}`;

  it('template errors point inside the argument', () => {
    const r = compileTexts({
      ...BASE,
      'b2.yaml': bp('    backup:\n      phases:\n        - name: a\n          func: KubeExec\n          args:\n            namespace: "{{ namespce }}"\n            pod: p\n            command: [sh, -c, "echo {{ phases.b.output.x }}"]\n        - name: b\n          func: Wait\n          args:\n            timeout: 1m\n            object: { kind: Pod, name: p }\n            condition: object.status.phase == "Running"\n'),
    });
    expect(fmt(r)).toEqual([
      'b2.yaml:12:28: namespace: unknown template variable "namespce" (known: namespace, cluster, policy, workload, restorePoint, artifacts, phases, verify)',
      'b2.yaml:14:47: command[2]: phase "b" is not an earlier phase of this action',
    ]);
  });

  it('finally phases may read every phase; restore reads only declared artifacts', () => {
    const r = compileTexts({
      ...BASE,
      'b2.yaml': bp(
        '    backup:\n      phases:\n        - name: down\n          func: ScaleWorkload\n          args: { namespace: n, kind: Deployment, name: w, replicas: 0 }\n      finally:\n        - name: up\n          func: ScaleWorkload\n          args: { namespace: n, kind: Deployment, name: w, replicas: "{{ phases.down.output.originalReplicas }}" }\n      outputArtifacts:\n        state:\n          keyValue:\n            replicas: "{{ phases.down.output.originalReplicas }}"\n    restore:\n      inputArtifacts: [state, other]\n      phases:\n        - name: up\n          func: KubeExec\n          args: { namespace: n, pod: p, command: ["echo {{ artifacts.state.replicas }} {{ artifacts.state.nope }}"] }\n',
      ),
    });
    expect(fmt(r)).toEqual([
      `b2.yaml:21:31: artifact "other" is not recorded by the backup action's outputArtifacts`,
      `b2.yaml:25:107: command[0]: artifact "state" has no key "nope" (keys: replicas)`,
    ]);
  });

  it('phase names are unique within an action', () => {
    const r = compileTexts({
      ...BASE,
      'b2.yaml': bp('    backup:\n      phases:\n        - name: a\n          func: KubeExec\n          args: { namespace: n, pod: p, command: [x] }\n      finally:\n        - name: a\n          func: KubeExec\n          args: { namespace: n, pod: p, command: [y] }\n'),
    });
    expect(fmt(r)).toEqual(['b2.yaml:13:17: phase "a" is defined twice in the backup action']);
  });
});

describe('policy ↔ blueprint binding', () => {
  it('a blueprint that needs a workload cannot be bound once per namespace', () => {
    const files = { ...BASE, 'blueprint.yaml': BASE['blueprint.yaml']!.replace('pod: db-0', 'pod: "{{ workload.name }}-0"') };
    expect(fmt(compileTexts(files))).toEqual([
      'policy.yaml:12:14: blueprint "bp" uses {{ workload.… }} but is bound once per namespace here: add `workloads: <CEL>` to say which workloads it runs for',
    ]);
    const bound = { ...files, 'policy.yaml': BASE['policy.yaml']!.replace('  blueprint: bp\n', '  blueprints:\n    - name: bp\n      workloads: workload.kind == "StatefulSet"\n') };
    expect(fmt(compileTexts(bound))).toEqual([]);
  });
});

describe('transform sets', () => {
  it('JSON Patch operations need their operands', () => {
    const ts = 'apiVersion: coffer.dev/v1alpha1\nkind: TransformSet\nmetadata:\n  name: t\nspec:\n  transforms:\n    - name: r\n      condition: "true"\n      patch:\n        - op: replace\n          path: /spec/replicas\n        - op: move\n          path: /a\n        - op: replace\n          path: /metadata/namespace\n          value: x\n';
    expect(fmt(compileTexts({ ...BASE, 't.yaml': ts }))).toEqual([
      't.yaml:10:11: replace operation needs a "value"',
      't.yaml:12:11: move operation needs a "from" pointer',
      `t.yaml:15:17: a transform cannot change /metadata/namespace (use the Restore's target.namespace to rename the namespace)`,
    ]);
  });
});
