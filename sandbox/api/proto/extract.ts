/**
 * Regenerates `k8s-descriptors.json`: the Kubernetes API message layouts
 * (field numbers, names, types) that protobuf request bodies need. kubectl
 * registers the official `generated.proto` descriptors (gzipped
 * FileDescriptorProtos) in its binary; this reads them from the installed
 * kubectl instead of copying .proto files by hand.
 *
 *   npx tsx sandbox/api/proto/extract.ts [path/to/kubectl]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fields, str } from './wire.ts';

/** [name, number, type, repeated, typeName] — type numbers as in FieldDescriptorProto.Type. */
export type FieldDesc = [string, number, number, boolean, string?];
export interface MessageDesc {
  fields: FieldDesc[];
  mapEntry?: boolean;
}

function parseMessage(buf: Uint8Array, prefix: string, out: Record<string, MessageDesc>): void {
  let name = '';
  const fs: FieldDesc[] = [];
  const nested: Uint8Array[] = [];
  let mapEntry = false;
  for (const f of fields(buf)) {
    if (f.num === 1) name = str(f.bytes);
    else if (f.num === 2 && f.bytes) {
      let fname = '';
      let number = 0;
      let label = 1;
      let type = 0;
      let typeName: string | undefined;
      for (const g of fields(f.bytes)) {
        if (g.num === 1) fname = str(g.bytes);
        else if (g.num === 3) number = Number(g.varint);
        else if (g.num === 4) label = Number(g.varint);
        else if (g.num === 5) type = Number(g.varint);
        else if (g.num === 6) typeName = str(g.bytes).replace(/^\./, '');
      }
      fs.push(typeName ? [fname, number, type, label === 3, typeName] : [fname, number, type, label === 3]);
    } else if (f.num === 3 && f.bytes) nested.push(f.bytes);
    else if (f.num === 7 && f.bytes) for (const o of fields(f.bytes)) if (o.num === 7 && o.varint) mapEntry = true;
  }
  const full = `${prefix}.${name}`;
  out[full] = mapEntry ? { fields: fs, mapEntry } : { fields: fs };
  for (const n of nested) parseMessage(n, full, out);
}

export function extract(binary: Buffer): Record<string, MessageDesc> {
  const out: Record<string, MessageDesc> = {};
  const magic = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff]);
  let at = binary.indexOf(magic);
  while (at >= 0) {
    let file: Buffer | undefined;
    try {
      file = gunzipSync(binary.subarray(at, at + 200_000), { finishFlush: 2 /* Z_SYNC_FLUSH */ });
    } catch {
      file = undefined;
    }
    if (file && file[0] === 0x0a) {
      let name = '';
      let pkg = '';
      const messages: Uint8Array[] = [];
      try {
        for (const f of fields(file)) {
          if (f.num === 1) name = str(f.bytes);
          else if (f.num === 2) pkg = str(f.bytes);
          else if (f.num === 4 && f.bytes) messages.push(f.bytes);
        }
      } catch {
        name = '';
      }
      if (name.startsWith('k8s.io/') && name.endsWith('generated.proto') && !/alpha|beta/.test(name)) for (const m of messages) parseMessage(m, pkg, out);
    }
    at = binary.indexOf(magic, at + 1);
  }
  return out;
}

if (process.argv[1] && process.argv[1].endsWith('extract.ts')) {
  const kubectl = process.argv[2] ?? realpathSync(execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim());
  const desc = extract(readFileSync(kubectl));
  const sorted = Object.fromEntries(Object.entries(desc).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileSync(join(import.meta.dirname, 'k8s-descriptors.json'), `${JSON.stringify(sorted)}\n`);
  console.log(`${Object.keys(sorted).length} messages from ${kubectl}`);
}
