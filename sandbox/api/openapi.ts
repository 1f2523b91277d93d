/**
 * OpenAPI v3 documents per group-version, generated (never hand-written) from
 * the official field lists and descriptions that @kubernetes/client-node's
 * models carry (Kubernetes 1.34 OpenAPI) and from installed CRDs' schemas.
 * kubectl reads them for `explain`, and to learn that the server validates
 * fields itself (the `fieldValidation` PATCH parameter), so it sends
 * `fieldValidation=Strict` instead of validating client-side.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { modelAttributes, parseModelType } from './validate.ts';
import { apiVersionOf, groupResource, type ResourceRegistry, type ResourceType } from './resources.ts';

type Rec = Record<string, unknown>;
const require = createRequire(import.meta.url);

let modelDir: string | undefined;
function modelsDir(): string {
  if (!modelDir) modelDir = join(dirname(require.resolve('@kubernetes/client-node')), 'gen', 'models');
  return modelDir;
}

interface Docs {
  description: string;
  fields: Map<string, string>;
}
const docCache = new Map<string, Docs>();

function cleanComment(c: string): string {
  return c
    .split('\n')
    .map((l) => l.replace(/^\s*\/?\*+\/?\s?/, '').replace(/\*\/\s*$/, ''))
    .join('\n')
    .trim()
    .replace(/\\'/g, "'");
}

/** Descriptions of a model and its fields, read from the generated .d.ts doc comments. */
function docsOf(model: string): Docs {
  let d = docCache.get(model);
  if (d) return d;
  d = { description: '', fields: new Map() };
  try {
    const src = readFileSync(join(modelsDir(), `${model}.d.ts`), 'utf8');
    const cls = src.match(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*export declare class/);
    if (cls) d.description = cleanComment(cls[1]);
    const re = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*'([^']+)'\??:/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(src))) d.fields.set(m[2], cleanComment(m[1]));
  } catch {
    /* no docs: schema without descriptions */
  }
  docCache.set(model, d);
  return d;
}

const FORMAT_TYPES: Record<string, Rec> = {
  string: { type: 'string' },
  number: { type: 'integer' },
  boolean: { type: 'boolean' },
  Date: { type: 'string', format: 'date-time' },
  IntOrString: { 'x-kubernetes-int-or-string': true },
  any: { type: 'object' },
  object: { type: 'object' },
};

function schemaForType(t: string, format: string, refs: Set<string>): Rec {
  const pt = parseModelType(t);
  if (pt.kind === 'model') {
    refs.add(pt.inner);
    return { allOf: [{ $ref: `#/components/schemas/${pt.inner}` }] };
  }
  if (pt.kind === 'array') return { type: 'array', items: schemaForType(pt.inner, '', refs) };
  if (pt.kind === 'map') return { type: 'object', additionalProperties: schemaForType(pt.inner, '', refs) };
  if (t === 'number') return format === 'double' || format === 'float' ? { type: 'number', format } : { type: 'integer', ...(format ? { format } : {}) };
  if (t === 'string' && format === 'int-or-string') return { 'x-kubernetes-int-or-string': true };
  if (t === 'string' && format === 'quantity') return { type: 'string' };
  return { ...(FORMAT_TYPES[t] ?? { type: 'object' }), ...(format && t === 'string' ? { format } : {}) };
}

function modelSchema(model: string, refs: Set<string>): Rec {
  const attrs = modelAttributes(model) ?? [];
  const docs = docsOf(model);
  const properties: Rec = {};
  for (const a of attrs) {
    const s = schemaForType(a.type, a.format, refs);
    const desc = docs.fields.get(a.baseName);
    properties[a.baseName] = desc ? { ...s, description: desc } : s;
  }
  return { type: 'object', ...(docs.description ? { description: docs.description } : {}), properties };
}

function hash(s: string): string {
  return createHash('sha512').update(s).digest('hex').slice(0, 64).toUpperCase();
}

const PATCH_PARAMS = [
  { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
  { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
  { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
  { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
];

export class OpenApi {
  private v3Cache = new Map<string, string>();
  private rootCache?: { gen: number; doc: unknown };

  constructor(
    private registry: ResourceRegistry,
    private crdSchema: (gr: string, version: string) => Rec | undefined,
  ) {}

  invalidate(): void {
    this.v3Cache.clear();
    this.rootCache = undefined;
  }

  private gvKeys(): string[] {
    const keys: string[] = [];
    for (const [g, vs] of this.registry.groups()) for (const v of vs) keys.push(g ? `apis/${g}/${v}` : `api/${v}`);
    return keys.sort();
  }

  v3Root(): unknown {
    if (this.rootCache && this.rootCache.gen === this.registry.generation) return this.rootCache.doc;
    const paths: Rec = {};
    for (const k of this.gvKeys()) paths[k] = { serverRelativeURL: `/openapi/v3/${k}?hash=${hash(`${this.registry.generation}/${k}/${this.docFor(k)?.length ?? 0}`)}` };
    const doc = { paths };
    this.rootCache = { gen: this.registry.generation, doc };
    return doc;
  }

  v3Doc(key: string): string | undefined {
    return this.docFor(key.replace(/\/+$/, ''));
  }

  v2Json(): string {
    // A minimal Swagger 2.0 document: clients that still read v2 find the definitions under their own names.
    const definitions: Rec = {};
    for (const k of this.gvKeys()) {
      const doc = JSON.parse(this.docFor(k) ?? '{}') as { components?: { schemas?: Rec } };
      for (const [n, s] of Object.entries(doc.components?.schemas ?? {})) definitions[n] = JSON.parse(JSON.stringify(s).replaceAll('#/components/schemas/', '#/definitions/'));
    }
    return JSON.stringify({ swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths: {}, definitions });
  }

  private docFor(key: string): string | undefined {
    const cached = this.v3Cache.get(key);
    if (cached) return cached;
    const m = key.match(/^api\/(v[^/]+)$/) ?? key.match(/^apis\/([^/]+)\/([^/]+)$/);
    if (!m) return undefined;
    const group = key.startsWith('api/') ? '' : m[1];
    const version = key.startsWith('api/') ? m[1] : m[2];
    const types = this.registry.all().filter((t) => t.group === group && t.versions.includes(version));
    if (!types.length) return undefined;
    const schemas: Rec = {};
    const refs = new Set<string>();
    const paths: Rec = {};
    for (const t of types) {
      const gvk = [{ group, version, kind: t.kind }];
      let schemaName: string;
      if (t.custom) {
        schemaName = `${reverseDomain(group)}.${version}.${t.kind}`;
        const raw = this.crdSchema(groupResource(t), version) ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
        const props = { ...((raw.properties as Rec) ?? {}) };
        props.metadata = { allOf: [{ $ref: '#/components/schemas/V1ObjectMeta' }], description: "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata" };
        props.apiVersion ??= { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' };
        props.kind ??= { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' };
        refs.add('V1ObjectMeta');
        schemas[schemaName] = { ...raw, properties: props, 'x-kubernetes-group-version-kind': gvk };
      } else {
        schemaName = t.model ?? t.kind;
        schemas[schemaName] = { ...modelSchema(schemaName, refs), 'x-kubernetes-group-version-kind': gvk };
      }
      Object.assign(paths, pathsFor(t, version, schemaName, gvk));
    }
    // Close over referenced models.
    const queue = [...refs];
    while (queue.length) {
      const r = queue.pop()!;
      if (schemas[r]) continue;
      const more = new Set<string>();
      schemas[r] = modelSchema(r, more);
      for (const x of more) if (!schemas[x]) queue.push(x);
    }
    const doc = JSON.stringify({ openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas } });
    this.v3Cache.set(key, doc);
    return doc;
  }
}

function reverseDomain(g: string): string {
  return g.split('.').reverse().join('.');
}

function pathsFor(t: ResourceType, version: string, schemaName: string, gvk: unknown): Rec {
  const base = `/${t.group ? `apis/${t.group}` : 'api'}/${version}`;
  const coll = t.namespaced ? `${base}/namespaces/{namespace}/${t.resource}` : `${base}/${t.resource}`;
  const ref = { $ref: `#/components/schemas/${schemaName}` };
  const json = { 'application/json': { schema: ref } };
  const op = (action: string, extra: Rec = {}) => ({ 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': (gvk as unknown[])[0], responses: { '200': { description: 'OK', content: json } }, ...extra });
  const patchOp = op('patch', {
    parameters: PATCH_PARAMS,
    requestBody: { content: { 'application/json-patch+json': { schema: { type: 'object' } }, 'application/merge-patch+json': { schema: { type: 'object' } }, 'application/apply-patch+yaml': { schema: { type: 'object' } } }, required: true },
  });
  const out: Rec = {
    [coll]: { get: op('list'), post: op('post', { parameters: PATCH_PARAMS.filter((p) => p.name !== 'force'), requestBody: { content: json, required: true } }) },
    [`${coll}/{name}`]: { get: op('get'), put: op('put', { parameters: PATCH_PARAMS.filter((p) => p.name !== 'force'), requestBody: { content: json, required: true } }), patch: patchOp, delete: op('delete') },
  };
  if (t.status) out[`${coll}/{name}/status`] = { get: op('get'), put: op('put'), patch: patchOp };
  void apiVersionOf;
  return out;
}
