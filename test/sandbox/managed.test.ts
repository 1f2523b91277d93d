import { describe, expect, it } from 'vitest';
import { fieldSetOf, leaves, recordUpdate, serverSideApply } from '../../sandbox/api/managed.ts';
import type { KObject } from '../../sandbox/api/object.ts';

const NOW = '2026-01-01T00:00:00Z';
const cm = (data: Record<string, string>, extra: Partial<KObject['metadata']> = {}): KObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', ...extra }, data });

describe('field sets', () => {
  it('keys list items by merge key and skips server-owned metadata', () => {
    const s = fieldSetOf({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', uid: 'u', labels: { a: 'b' } }, spec: { template: { spec: { containers: [{ name: 'web', image: 'i' }] } } } });
    expect(leaves(s).map((p) => p.join(' '))).toEqual(['f:metadata f:labels f:a', 'f:spec f:template f:spec f:containers k:{"name":"web"} f:name', 'f:spec f:template f:spec f:containers k:{"name":"web"} f:image']);
  });
});

describe('server-side apply', () => {
  it('creates ownership, detects conflicts with other managers, and forces them over', () => {
    const applied = serverSideApply({ ...cm({}), metadata: { name: 'c', namespace: 'n', managedFields: [] } }, cm({ k: 'one' }), 'a', false, 'v1', NOW);
    const cur: KObject = { ...applied.obj, metadata: { ...applied.obj.metadata, managedFields: applied.managedFields } };
    expect(cur.data).toEqual({ k: 'one' });
    expect(() => serverSideApply(cur, cm({ k: 'two' }), 'b', false, 'v1', NOW)).toThrow('Apply failed with 1 conflict: conflict with "a": .data.k');
    // Same value: no conflict, shared ownership.
    const shared = serverSideApply(cur, cm({ k: 'one' }), 'b', false, 'v1', NOW);
    expect(shared.managedFields.map((m) => m.manager).sort()).toEqual(['a', 'b']);
    const forced = serverSideApply(cur, cm({ k: 'two' }), 'b', true, 'v1', NOW);
    expect(forced.obj.data).toEqual({ k: 'two' });
    expect(forced.managedFields.map((m) => m.manager)).toEqual(['b']);
  });

  it('removes fields a manager stops applying unless another manager owns them', () => {
    const first = serverSideApply(cm({}), cm({ k: '1', j: '2' }), 'a', false, 'v1', NOW);
    const cur = { ...first.obj, metadata: { ...first.obj.metadata, managedFields: first.managedFields } };
    const second = serverSideApply(cur, cm({ k: '1' }), 'a', false, 'v1', NOW);
    expect(second.obj.data).toEqual({ k: '1' });
    // When an Update manager also owns j it stays.
    const mf = recordUpdate(cur, { ...cur, data: { k: '1', j: '3' } }, 'kubectl-edit', 'v1', NOW);
    const cur2 = { ...cur, data: { k: '1', j: '3' }, metadata: { ...cur.metadata, managedFields: mf } };
    const third = serverSideApply(cur2, cm({ k: '1' }), 'a', false, 'v1', NOW);
    expect(third.obj.data).toEqual({ k: '1', j: '3' });
  });

  it('names Update managers with their API version in conflicts', () => {
    const mf = recordUpdate(undefined, cm({ k: '1' }), 'kubectl-client-side-apply', 'v1', NOW);
    const cur = { ...cm({ k: '1' }), metadata: { name: 'c', namespace: 'n', managedFields: mf } };
    expect(() => serverSideApply(cur, cm({ k: '2' }), 'kubectl', false, 'v1', NOW)).toThrow('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .data.k');
  });

  it('merges keyed lists item by item', () => {
    const base: KObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: '1' }, { name: 'b', image: '2' }] } };
    const r = serverSideApply(base, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'b', image: '3' }] } }, 'm', true, 'v1', NOW);
    expect((r.obj.spec as any).containers).toEqual([{ name: 'a', image: '1' }, { name: 'b', image: '3' }]);
  });
});
