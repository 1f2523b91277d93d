import { describe, expect, it } from 'vitest';
import { decodeK8sProtobuf, messageName } from '../../sandbox/api/proto/decode.ts';

// A tiny encoder for building bodies the way gogo-protobuf writes them.
const varint = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
};
const bytes = (num: number, b: number[]): number[] => [...varint((num << 3) | 2), ...varint(b.length), ...b];
const s = (num: number, v: string): number[] => bytes(num, [...Buffer.from(v)]);
const int = (num: number, v: number): number[] => [...varint(num << 3), ...varint(v)];
const envelope = (apiVersion: string, kind: string, raw: number[]) => Uint8Array.from([0x6b, 0x38, 0x73, 0x00, ...bytes(1, [...s(1, apiVersion), ...s(2, kind)]), ...bytes(2, raw)]);

describe('protobuf request bodies', () => {
  it('maps API versions to proto packages', () => {
    expect(messageName('v1', 'ConfigMap')).toBe('k8s.io.api.core.v1.ConfigMap');
    expect(messageName('apps/v1', 'Deployment')).toBe('k8s.io.api.apps.v1.Deployment');
    expect(messageName('rbac.authorization.k8s.io/v1', 'Role')).toBe('k8s.io.api.rbac.v1.Role');
  });

  it('decodes a ConfigMap with maps, empty defaults dropped and a zero Time as absent', () => {
    const meta = [...s(1, 'cfg'), ...s(2, ''), ...s(3, 'team'), ...int(7, 0), ...bytes(8, [...int(1, 0), ...int(2, 0)]), ...bytes(11, [...s(1, 'app'), ...s(2, 'web')])];
    const raw = [...bytes(1, meta), ...bytes(2, [...s(1, 'a'), ...s(2, '1')]), ...bytes(2, [...s(1, 'b'), ...s(2, '')]), ...int(4, 1)];
    expect(decodeK8sProtobuf(envelope('v1', 'ConfigMap', raw))).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'team', labels: { app: 'web' } },
      data: { a: '1', b: '' },
      immutable: true,
    });
  });

  it('decodes IntOrString, Quantity, Time and bytes fields', () => {
    // Service port: name=1 protocol=2 port=3 targetPort=4 (IntOrString: type=1 intVal=2 strVal=3)
    const port = [...s(1, 'http'), ...s(2, 'TCP'), ...int(3, 80), ...bytes(4, [...int(1, 1), ...s(3, 'web')])];
    const svc = decodeK8sProtobuf(envelope('v1', 'Service', [...bytes(1, s(1, 'svc')), ...bytes(2, bytes(1, port))]));
    expect(svc.spec).toEqual({ ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'web' }] });
    const secret = decodeK8sProtobuf(envelope('v1', 'Secret', [...bytes(1, [...s(1, 'sec'), ...bytes(8, int(1, 1767225600))]), ...bytes(2, [...s(1, 'k'), ...bytes(2, [0, 255])])]));
    expect(secret).toMatchObject({ metadata: { name: 'sec', creationTimestamp: '2026-01-01T00:00:00Z' }, data: { k: 'AP8=' } });
  });

  it('rejects bodies without the k8s magic', () => {
    expect(() => decodeK8sProtobuf(Uint8Array.from([1, 2, 3, 4, 5]))).toThrow('expected prefix [107 56 115 0]');
  });
});
