import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { schemas } from '../../schemas/index.ts';
import type { RestorePoint, RunRecord } from './types.ts';

/** Thrown before anything is committed: a malformed document never reaches the catalog. */
export class CatalogValidationError extends Error {
  readonly code = 'E_CATALOG_INVALID';
}

const name = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', maxLength: 253 };
const ts = { type: 'string', format: 'date-time' };
const phase = { enum: ['Pending', 'Running', 'Succeeded', 'PartiallyFailed', 'Failed', 'Cancelled'] };

/** Schema of the Run records this module writes (kind Run; Coffer writes them, users only read them). */
export const RUN_SCHEMA = {
  $id: 'https://coffer.dev/schemas/run.schema.json',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
  properties: {
    apiVersion: { const: 'coffer.dev/v1alpha1' },
    kind: { const: 'Run' },
    metadata: { type: 'object', additionalProperties: false, required: ['name'], properties: { name } },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'cluster', 'trigger'],
      properties: {
        type: { enum: ['backup', 'restore', 'retention', 'verify'] },
        cluster: name,
        namespace: name,
        policy: name,
        trigger: { enum: ['schedule', 'manual', 'webhook', 'poll', 'drill', 'verify'] },
        scheduledFor: ts,
        sourceCommit: { type: 'string', pattern: '^([0-9a-f]{40}|[0-9a-f]{64})?$' },
        planHash: { type: 'string' },
        restore: name,
      },
    },
    status: {
      type: 'object',
      additionalProperties: false,
      required: ['phase', 'startTime'],
      properties: {
        phase,
        startTime: ts,
        endTime: ts,
        restorePoint: name,
        volumes: { type: 'integer', minimum: 0 },
        bytes: { type: 'integer', minimum: 0 },
        expired: { type: 'array', items: { type: 'string' } },
        error: { type: 'string' },
        log: { type: 'array', maxItems: 500, items: { type: 'string', maxLength: 2000 } },
      },
    },
  },
} as const;

let compiled: { restorePoint: ValidateFunction; run: ValidateFunction } | undefined;

function validators(): { restorePoint: ValidateFunction; run: ValidateFunction } {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    const all = schemas();
    ajv.addSchema(all.common);
    for (const s of Object.values(all.functions)) ajv.addSchema(s);
    for (const s of Object.values(all.kinds)) ajv.addSchema(s);
    const rp = ajv.getSchema('https://coffer.dev/schemas/restorepoint.schema.json');
    if (!rp) throw new Error('schemas/restorepoint.schema.json is missing');
    compiled = { restorePoint: rp, run: ajv.compile(RUN_SCHEMA) };
  }
  return compiled;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
}

export function validateRestorePoint(rp: RestorePoint): void {
  const v = validators().restorePoint;
  if (!(v as (d: unknown) => boolean)(rp)) throw new CatalogValidationError(`RestorePoint ${rp?.metadata?.name ?? '?'}: ${describe(v.errors)}`);
}

export function validateRun(run: RunRecord): void {
  const v = validators().run;
  if (!(v as (d: unknown) => boolean)(run)) throw new CatalogValidationError(`Run ${run?.metadata?.name ?? '?'}: ${describe(v.errors)}`);
}
