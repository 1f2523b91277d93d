import { describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../sandbox/api/patch.ts';

const deploy = {
  spec: {
    replicas: 1,
    template: {
      spec: {
        containers: [
          { name: 'web', image: 'nginx:1', ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], volumeMounts: [{ name: 'd', mountPath: '/data' }] },
          { name: 'sidecar', image: 'busybox' },
        ],
        volumes: [{ name: 'd', emptyDir: {} }],
      },
    },
  },
  metadata: { finalizers: ['a'], labels: { x: '1' } },
};

describe('strategic merge patch', () => {
  it('merges containers by name and env by name, keeping unnamed fields', () => {
    const out = applyStrategicMergePatch(deploy, { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2', env: [{ name: 'B', value: 'two' }, { name: 'C', value: '3' }] }] } } } }) as any;
    const web = out.spec.template.spec.containers[0];
    expect(web.image).toBe('nginx:2');
    expect(web.ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
    expect(web.env).toEqual([{ name: 'A', value: '1' }, { name: 'B', value: 'two' }, { name: 'C', value: '3' }]);
    expect(out.spec.template.spec.containers[1]).toEqual({ name: 'sidecar', image: 'busybox' });
  });

  it('deletes list items with $patch: delete and fields with null', () => {
    const out = applyStrategicMergePatch(deploy, { spec: { replicas: null, template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } } } }) as any;
    expect(out.spec.replicas).toBeUndefined();
    expect(out.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['web']);
  });

  it('merges ports by containerPort, volumes by name and volumeMounts by mountPath', () => {
    const out = applyStrategicMergePatch(deploy, {
      spec: { template: { spec: { containers: [{ name: 'web', ports: [{ containerPort: 443 }], volumeMounts: [{ mountPath: '/data', readOnly: true }] }], volumes: [{ name: 'e', emptyDir: {} }] } } },
    }) as any;
    const web = out.spec.template.spec.containers[0];
    expect(web.ports.map((p: any) => p.containerPort)).toEqual([80, 443]);
    expect(web.volumeMounts).toEqual([{ name: 'd', mountPath: '/data', readOnly: true }]);
    expect(out.spec.template.spec.volumes.map((v: any) => v.name)).toEqual(['d', 'e']);
  });

  it('honours $setElementOrder, $deleteFromPrimitiveList, $retainKeys and list-level $patch: replace', () => {
    const ordered = applyStrategicMergePatch(deploy, { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'web' }], containers: [{ name: 'web', image: 'nginx:3' }] } } } }) as any;
    expect(ordered.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['sidecar', 'web']);
    const fin = applyStrategicMergePatch({ metadata: { finalizers: ['a', 'b'] } }, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }) as any;
    expect(fin.metadata.finalizers).toEqual(['b']);
    const union = applyStrategicMergePatch({ metadata: { finalizers: ['a'] } }, { metadata: { finalizers: ['b', 'a'] } }) as any;
    expect(union.metadata.finalizers).toEqual(['a', 'b']);
    const retain = applyStrategicMergePatch({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } }, { strategy: { $retainKeys: ['type'], type: 'Recreate' } }) as any;
    expect(retain.strategy).toEqual({ type: 'Recreate' });
    const replaced = applyStrategicMergePatch(deploy, { spec: { template: { spec: { containers: [{ name: 'only', image: 'x' }, { $patch: 'replace' }] } } } }) as any;
    expect(replaced.spec.template.spec.containers).toEqual([{ name: 'only', image: 'x' }]);
  });

  it('replaces lists without merge semantics (args, command)', () => {
    const out = applyStrategicMergePatch({ args: ['a', 'b'] }, { args: ['c'] }) as any;
    expect(out.args).toEqual(['c']);
  });

  it('does not mutate its input', () => {
    const before = JSON.stringify(deploy);
    applyStrategicMergePatch(deploy, { spec: { template: { spec: { containers: [{ name: 'web', image: 'z' }] } } } });
    expect(JSON.stringify(deploy)).toBe(before);
  });
});

describe('JSON merge patch (RFC 7386)', () => {
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: ['b'] }, { a: ['c', 'd'] }, { a: ['c', 'd'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  ])('%j + %j = %j', (doc, patch, want) => {
    expect(applyMergePatch(doc, patch)).toEqual(want);
  });
});

describe('JSON patch (RFC 6902)', () => {
  it('applies operations and fails a test op with 422', () => {
    expect(applyJsonPatch({ a: [1, 2] }, [{ op: 'add', path: '/a/-', value: 3 }, { op: 'add', path: '/b', value: 1 }])).toEqual({ a: [1, 2, 3], b: 1 });
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(expect.objectContaining({ code: 422 }));
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '/missing/x' }])).toThrow(expect.objectContaining({ code: 422 }));
  });
});
