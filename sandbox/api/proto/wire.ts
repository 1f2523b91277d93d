/** A minimal protobuf wire-format reader: enough to walk messages field by field. */

export interface WireField {
  num: number;
  wire: number;
  /** varint value (as bigint-safe number when it fits) */
  varint?: bigint;
  bytes?: Uint8Array;
  fixed?: Uint8Array;
}

export function* fields(buf: Uint8Array): Generator<WireField> {
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const num = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) yield { num, wire, varint: varint() };
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > buf.length) throw new Error('truncated length-delimited field');
      yield { num, wire, bytes: buf.subarray(i, i + len) };
      i += len;
    } else if (wire === 1) {
      yield { num, wire, fixed: buf.subarray(i, i + 8) };
      i += 8;
    } else if (wire === 5) {
      yield { num, wire, fixed: buf.subarray(i, i + 4) };
      i += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

export function str(b: Uint8Array | undefined): string {
  return b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8') : '';
}
