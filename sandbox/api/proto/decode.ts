/**
 * Decodes Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`:
 * the `k8s\0` magic, a runtime.Unknown envelope, then the typed message) into
 * the JSON object the rest of the server handles. kubectl's typed clients
 * (`kubectl create configmap|secret|namespace …`) send this.
 * Message layouts come from the official descriptors in k8s-descriptors.json.
 */
import { createRequire } from 'node:module';
import { fields, str, type WireField } from './wire.ts';
import type { FieldDesc, MessageDesc } from './extract.ts';

const require = createRequire(import.meta.url);
let descs: Record<string, MessageDesc> | undefined;
function descriptors(): Record<string, MessageDesc> {
  descs ??= require('./k8s-descriptors.json') as Record<string, MessageDesc>;
  return descs;
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00];
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

/** Which proto package holds a group's types (`apps` → k8s.io.api.apps.v1). */
export function messageName(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'meta.k8s.io' || kind === 'DeleteOptions' || kind === 'Status') return `${META}.${kind}`;
  const pkg = group === '' ? 'core' : group.split('.')[0];
  return `k8s.io.api.${pkg}.${version}.${kind}`;
}

export class ProtobufError extends Error {}

function signed64(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

function zigzag(v: bigint): number {
  return Number((v >> 1n) ^ -(v & 1n));
}

function scalar(f: WireField, type: number): unknown {
  switch (type) {
    case 1:
      return Buffer.from(f.fixed!).readDoubleLE(0);
    case 2:
      return Buffer.from(f.fixed!).readFloatLE(0);
    case 3:
    case 5:
      return signed64(f.varint ?? 0n);
    case 4:
    case 13:
    case 14:
      return Number(f.varint ?? 0n);
    case 6:
      return Number(Buffer.from(f.fixed!).readBigUInt64LE(0));
    case 7:
      return Buffer.from(f.fixed!).readUInt32LE(0);
    case 8:
      return (f.varint ?? 0n) !== 0n;
    case 9:
      return str(f.bytes);
    case 12:
      return Buffer.from(f.bytes ?? new Uint8Array()).toString('base64');
    case 15:
      return Buffer.from(f.fixed!).readInt32LE(0);
    case 16:
      return Number(Buffer.from(f.fixed!).readBigInt64LE(0));
    case 17:
    case 18:
      return zigzag(f.varint ?? 0n);
    default:
      throw new ProtobufError(`unsupported protobuf field type ${type}`);
  }
}

function rfc3339(seconds: number, nanos = 0, micro = false): string {
  const iso = new Date(seconds * 1000).toISOString();
  if (!micro) return iso.replace(/\.\d{3}Z$/, 'Z');
  return iso.replace(/\.\d{3}Z$/, `.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z`);
}

/** Values Go's JSON encoder would leave out (`omitempty`); gogo-protobuf writes them anyway. */
function isEmpty(v: unknown): boolean {
  return v === '' || v === 0 || v === false || v === null || v === undefined;
}

function decodeMessage(buf: Uint8Array, name: string): unknown {
  // Well-known Kubernetes types with their own JSON forms.
  switch (name) {
    case `${META}.Time`:
    case `${META}.MicroTime`: {
      let s = 0;
      let n = 0;
      for (const f of fields(buf)) {
        if (f.num === 1) s = signed64(f.varint ?? 0n);
        if (f.num === 2) n = Number(f.varint ?? 0n);
      }
      return s === 0 && n === 0 ? null : rfc3339(s, n, name.endsWith('MicroTime'));
    }
    case `${META}.Duration`: {
      for (const f of fields(buf)) if (f.num === 1) return `${signed64(f.varint ?? 0n) / 1e9}s`;
      return '0s';
    }
    case 'k8s.io.apimachinery.pkg.util.intstr.IntOrString': {
      let type = 0;
      let i = 0;
      let s = '';
      for (const f of fields(buf)) {
        if (f.num === 1) type = Number(f.varint ?? 0n);
        if (f.num === 2) i = signed64(f.varint ?? 0n);
        if (f.num === 3) s = str(f.bytes);
      }
      return type === 1 ? s : i;
    }
    case 'k8s.io.apimachinery.pkg.api.resource.Quantity':
      for (const f of fields(buf)) if (f.num === 1) return str(f.bytes);
      return '0';
    case 'k8s.io.apimachinery.pkg.runtime.RawExtension':
    case `${META}.FieldsV1`:
      for (const f of fields(buf)) if (f.num === 1 && f.bytes?.length) return JSON.parse(str(f.bytes));
      return {};
    default:
      break;
  }
  const d = descriptors()[name];
  if (!d) throw new ProtobufError(`no protobuf layout for ${name}`);
  const byNum = new Map<number, FieldDesc>(d.fields.map((f) => [f[1], f]));
  const out: Record<string, unknown> = {};
  for (const f of fields(buf)) {
    const fd = byNum.get(f.num);
    if (!fd) continue;
    const [fname, , type, repeated, typeName] = fd;
    let value: unknown;
    if (type === 11 && typeName) {
      const sub = descriptors()[typeName];
      if (sub?.mapEntry) {
        let k: unknown = '';
        let v: unknown = null;
        const kd = sub.fields.find((x) => x[1] === 1)!;
        const vd = sub.fields.find((x) => x[1] === 2)!;
        for (const g of fields(f.bytes!)) {
          if (g.num === 1) k = scalar(g, kd[2]);
          if (g.num === 2) v = vd[2] === 11 && vd[4] ? decodeMessage(g.bytes!, vd[4]) : scalar(g, vd[2]);
        }
        if (v === null) v = vd[2] === 9 ? '' : vd[2] === 12 ? '' : null;
        const m = (out[fname] as Record<string, unknown>) ?? {};
        m[String(k)] = v;
        out[fname] = m;
        continue;
      }
      value = decodeMessage(f.bytes!, typeName);
    } else if (f.wire === 2 && type !== 9 && type !== 12) {
      // packed repeated scalars
      const vals: unknown[] = [];
      for (const g of fields(packedToTagged(f.bytes!, type))) vals.push(scalar(g, type));
      out[fname] = [...((out[fname] as unknown[]) ?? []), ...vals];
      continue;
    } else value = scalar(f, type);
    if (repeated) out[fname] = [...((out[fname] as unknown[]) ?? []), value];
    else if (!isEmpty(value)) out[fname] = value;
  }
  return out;
}

/** Re-tags packed scalars so the field reader can walk them (tag 1, wire type of the scalar). */
function packedToTagged(buf: Uint8Array, type: number): Uint8Array {
  const fixed64 = [1, 6, 16].includes(type);
  const fixed32 = [2, 7, 15].includes(type);
  const parts: number[] = [];
  let i = 0;
  while (i < buf.length) {
    if (fixed64) {
      parts.push(0x09, ...buf.subarray(i, i + 8));
      i += 8;
    } else if (fixed32) {
      parts.push(0x0d, ...buf.subarray(i, i + 4));
      i += 4;
    } else {
      parts.push(0x08);
      do parts.push(buf[i]);
      while (buf[i++] & 0x80);
    }
  }
  return Uint8Array.from(parts);
}

/** Decodes a whole `application/vnd.kubernetes.protobuf` body into a JSON object. */
export function decodeK8sProtobuf(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b)) throw new ProtobufError('provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]');
  let apiVersion = '';
  let kind = '';
  let raw: Uint8Array | undefined;
  for (const f of fields(body.subarray(4))) {
    if (f.num === 1 && f.bytes) {
      for (const g of fields(f.bytes)) {
        if (g.num === 1) apiVersion = str(g.bytes);
        if (g.num === 2) kind = str(g.bytes);
      }
    } else if (f.num === 2) raw = f.bytes;
  }
  if (!kind) throw new ProtobufError('protobuf envelope has no kind');
  const obj = decodeMessage(raw ?? new Uint8Array(), messageName(apiVersion, kind)) as Record<string, unknown>;
  return { apiVersion, kind, ...obj };
}
