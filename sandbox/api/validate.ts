/**
 * Validation of incoming objects the way the real API server decodes and
 * validates them: unknown fields found from the official field lists
 * (client-node's generated models, Kubernetes 1.34 OpenAPI), types and
 * required fields from kubernetes-models' precompiled official schemas, object
 * names per kind, and custom resources against their CRD's openAPIV3Schema
 * (ajv) with structural pruning.
 */
import { createRequire } from 'node:module';
import * as k8s from '@kubernetes/client-node';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { ApiError, badRequest, fieldInvalid, fieldNotSupported, fieldRequired, invalid, type FieldError } from './errors.ts';
import { isObject, type KObject } from './object.ts';
import type { ResourceType } from './resources.ts';

const require = createRequire(import.meta.url);

type Attr = { name: string; baseName: string; type: string; format: string };
const models = k8s as unknown as Record<string, { attributeTypeMap?: Attr[] } | undefined>;

export function modelAttributes(model: string): Attr[] | undefined {
  return models[model]?.attributeTypeMap;
}

/** Where a model type string leads: another model, an array/map of one, or a primitive. */
export function parseModelType(t: string): { kind: 'model' | 'array' | 'map' | 'prim'; inner: string } {
  let m = t.match(/^Array<(.+)>$/);
  if (m) return { kind: 'array', inner: m[1] };
  m = t.match(/^\{ \[key: string\]: (.+); \}$/);
  if (m) return { kind: 'map', inner: m[1] };
  if (models[t]?.attributeTypeMap) return { kind: 'model', inner: t };
  return { kind: 'prim', inner: t };
}

/**
 * Unknown fields of `value` against `model`, as the dotted paths a strict
 * decoder reports (`spec.template.spec.containers[0].bogus`); when `prune` is
 * set they are also removed, as Go's decoder drops them.
 */
export function unknownFields(value: unknown, model: string, path: string, prune: boolean, out: string[] = []): string[] {
  const attrs = modelAttributes(model);
  if (!attrs || !isObject(value)) return out;
  const known = new Map(attrs.map((a) => [a.baseName, a.type]));
  for (const k of Object.keys(value)) {
    const t = known.get(k);
    const p = path ? `${path}.${k}` : k;
    if (t === undefined) {
      out.push(p);
      if (prune) delete value[k];
      continue;
    }
    walkType(value[k], t, p, prune, out);
  }
  return out;
}

function walkType(v: unknown, t: string, p: string, prune: boolean, out: string[]): void {
  const pt = parseModelType(t);
  if (pt.kind === 'model') unknownFields(v, pt.inner, p, prune, out);
  else if (pt.kind === 'array' && Array.isArray(v)) v.forEach((x, i) => walkType(x, pt.inner, `${p}[${i}]`, prune, out));
  else if (pt.kind === 'map' && isObject(v)) for (const [k, x] of Object.entries(v)) walkType(x, pt.inner, `${p}[${k}]`, prune, out);
}

// ---- official schema validation (kubernetes-models) ----

type ModelClass = new (data: unknown) => { validate(): void };
const validatorCache = new Map<string, ModelClass | null>();

function loadValidator(path: string, kind: string): ModelClass | null {
  if (validatorCache.has(path)) return validatorCache.get(path)!;
  let cls: ModelClass | null = null;
  try {
    cls = (require(`kubernetes-models/${path}`) as Record<string, ModelClass>)[kind] ?? null;
  } catch {
    cls = null;
  }
  validatorCache.set(path, cls);
  return cls;
}

const GO_TYPE: Record<string, string> = { integer: 'int32', number: 'float64', string: 'string', boolean: 'bool', object: 'map[string]interface {}', array: '[]interface {}' };

function jsonTypeName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

function pointerToField(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

function valueAt(obj: unknown, instancePath: string): unknown {
  let cur: unknown = obj;
  for (const s of instancePath.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[s.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

/**
 * Checks a built-in object against the official schema. Type mismatches are
 * decode errors (400, as Go's JSON decoder reports them); missing required
 * fields and bad enum values are 422 Invalid field errors.
 */
export function validateBuiltin(t: ResourceType, obj: KObject): void {
  if (!t.validator) return;
  const cls = loadValidator(t.validator, t.kind);
  if (!cls) return;
  try {
    new cls(obj).validate();
  } catch (e) {
    const errors = ((e as { errors?: ErrorObject[] }).errors ?? []) as ErrorObject[];
    const typeErr = errors.find((x) => x.keyword === 'type');
    if (typeErr) {
      const field = pointerToField(typeErr.instancePath);
      const got = jsonTypeName(valueAt(obj, typeErr.instancePath));
      const want = String((typeErr.params as { type?: string }).type ?? '');
      throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: json: cannot unmarshal ${got} into Go struct field ${field.split('.').slice(-1)[0]} of type ${GO_TYPE[want] ?? want}`);
    }
    const fieldErrs: FieldError[] = [];
    for (const x of errors) {
      const base = pointerToField(x.instancePath);
      if (x.keyword === 'required') {
        const miss = (x.params as { missingProperty: string }).missingProperty;
        if (miss === 'apiVersion' || miss === 'kind') continue;
        fieldErrs.push(fieldRequired(base ? `${base}.${miss}` : miss));
      } else if (x.keyword === 'enum') {
        fieldErrs.push(fieldNotSupported(base, valueAt(obj, x.instancePath), ((x.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String)));
      } else if (x.keyword !== 'anyOf' && x.keyword !== 'oneOf') {
        fieldErrs.push(fieldInvalid(base, valueAt(obj, x.instancePath), x.message ?? 'invalid'));
      }
    }
    if (fieldErrs.length) throw invalid(t.kind, t.group, obj.metadata.name ?? '', fieldErrs);
  }
}

// ---- names ----

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Kinds whose names must be DNS labels (RFC 1123 unless noted); everything else takes a DNS subdomain. */
const LABEL_NAMED = new Set(['namespaces']);
const DNS1035_NAMED = new Set(['services']);
const PATH_SEGMENT_NAMED = new Set(['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings']);

export function validateName(t: ResourceType, name: string | undefined): FieldError[] {
  if (!name) return [fieldRequired('metadata.name', 'name or generateName is required')];
  if (PATH_SEGMENT_NAMED.has(t.resource)) {
    if (name === '.' || name === '..') return [fieldInvalid('metadata.name', name, `may not be '${name}'`)];
    if (/[/%]/.test(name)) return [fieldInvalid('metadata.name', name, `may not contain '${name.includes('/') ? '/' : '%'}'`)];
    return [];
  }
  if (DNS1035_NAMED.has(t.resource)) {
    if (name.length > 63 || !DNS1035_LABEL.test(name))
      return [fieldInvalid('metadata.name', name, `a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`)];
    return [];
  }
  if (LABEL_NAMED.has(t.resource)) {
    if (name.length > 63 || !DNS1123_LABEL.test(name))
      return [fieldInvalid('metadata.name', name, `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`)];
    return [];
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
    return [fieldInvalid('metadata.name', name, `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`)];
  return [];
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Label keys/values and annotation keys, as ValidateObjectMeta checks them. */
export function validateMetadataMaps(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    if (!QUALIFIED_NAME.test(k) || k.split('/').pop()!.length > 63)
      errs.push(fieldInvalid('metadata.labels', k, `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`));
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v))
      errs.push(fieldInvalid('metadata.labels', v, `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`));
  }
  for (const k of Object.keys(obj.metadata.annotations ?? {})) {
    if (!QUALIFIED_NAME.test(k))
      errs.push(fieldInvalid('metadata.annotations', k, `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`));
  }
  return errs;
}

// ---- custom resources ----

export interface CrdSchema {
  validate: ValidateFunction;
  schema: Record<string, unknown>;
}

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

/** Rewrites Kubernetes structural-schema extensions into plain JSON Schema for ajv. */
function toJsonSchema(s: unknown): unknown {
  if (!isObject(s)) return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-') || k === 'nullable' || k === 'default' || k === 'example' || k === 'externalDocs') continue;
    if (k === 'properties' || k === 'patternProperties' || k === 'definitions') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([pk, pv]) => [pk, toJsonSchema(pv)]));
    } else if (k === 'items' || k === 'additionalProperties' || k === 'not') {
      out[k] = typeof v === 'boolean' ? v : toJsonSchema(v);
    } else if (k === 'allOf' || k === 'anyOf' || k === 'oneOf') {
      out[k] = (v as unknown[]).map(toJsonSchema);
    } else out[k] = v;
  }
  if (s['x-kubernetes-int-or-string']) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }, ...((out.anyOf as unknown[]) ?? [])];
  }
  if (s.nullable && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

export function compileCrdSchema(schema: Record<string, unknown> | undefined): CrdSchema | undefined {
  if (!schema) return undefined;
  const js = toJsonSchema(schema) as Record<string, unknown>;
  // metadata is validated by the server itself, like ObjectMeta.
  if (isObject(js.properties)) {
    const props = { ...(js.properties as Record<string, unknown>) };
    delete props.metadata;
    delete props.apiVersion;
    delete props.kind;
    js.properties = props;
  }
  return { validate: ajv.compile(js), schema };
}

/** Removes (and reports) fields the structural schema does not declare, honouring x-kubernetes-preserve-unknown-fields. */
export function pruneCustom(value: unknown, schema: Record<string, unknown> | undefined, path: string, prune: boolean, out: string[] = [], root = true): string[] {
  if (!schema || !isObject(schema)) return out;
  if (schema['x-kubernetes-preserve-unknown-fields'] === true && !schema.properties) return out;
  if (Array.isArray(value)) {
    if (isObject(schema.items)) value.forEach((x, i) => pruneCustom(x, schema.items as Record<string, unknown>, `${path}[${i}]`, prune, out, false));
    return out;
  }
  if (!isObject(value)) return out;
  if (schema['x-kubernetes-embedded-resource'] && !root) return out;
  const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
  const addl = schema.additionalProperties;
  for (const k of Object.keys(value)) {
    if (root && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    const p = path ? `${path}.${k}` : `.${k}`;
    if (props && props[k]) pruneCustom(value[k], props[k], p, prune, out, false);
    else if (isObject(addl)) pruneCustom(value[k], addl, p, prune, out, false);
    else if (addl === true || schema['x-kubernetes-preserve-unknown-fields'] === true) continue;
    else {
      out.push(p);
      if (prune) delete value[k];
    }
  }
  return out;
}

export function validateCustom(kind: string, group: string, obj: KObject, schema: CrdSchema | undefined): void {
  if (!schema) return;
  if ((schema.validate as (d: unknown) => boolean)(obj)) return;
  const errs: FieldError[] = [];
  for (const e of schema.validate.errors ?? []) {
    const base = pointerToField(e.instancePath);
    const v = valueAt(obj, e.instancePath);
    if (e.keyword === 'required') {
      const miss = (e.params as { missingProperty: string }).missingProperty;
      errs.push(fieldRequired(base ? `${base}.${miss}` : miss));
    } else if (e.keyword === 'type') {
      errs.push({ type: 'FieldValueTypeInvalid', field: base, message: `Invalid value: "${jsonTypeName(v) === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : jsonTypeName(v)}": ${base} in body must be of type ${(e.params as { type: string }).type}: "${jsonTypeName(v) === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : jsonTypeName(v)}"` });
    } else if (e.keyword === 'enum') {
      errs.push(fieldNotSupported(base, v, ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String)));
    } else if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      continue;
    } else {
      errs.push(fieldInvalid(base, v, `${base} in body ${e.message ?? 'is invalid'}`));
    }
  }
  if (errs.length) throw invalid(kind, group, obj.metadata.name ?? '', errs);
}

export { ApiError };
