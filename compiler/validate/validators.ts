/**
 * The compiled schema validators. From the sources, Ajv compiles them on first use (~0.4 s); the bundle replaces
 * this module with the same validators compiled at build time by Ajv's standalone code generator
 * (build/validators.ts, ~10 ms to load), so `coffer validate` does not pay for compiling at every start.
 * Both come from `createAjv`, so they share options, formats and schemas.
 */
import { Ajv2020, type Options, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { FUNCTIONS, KINDS, schemas, type FunctionName, type Kind } from '../../schemas/index.ts';

type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

export interface Validators {
  kinds: Map<Kind, ValidateFunction>;
  functions: Map<FunctionName, ValidateFunction>;
}

/** An Ajv holding every schema under its `$id`; `code` options are for the build's standalone generation. */
export function createAjv(code?: Options['code']): { ajv: Ajv2020; ids: Record<Kind | FunctionName, string> } {
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false, ...(code ? { code } : {}) });
  addFormats(ajv);
  const all = schemas();
  ajv.addSchema(all.common);
  const ids = {} as Record<Kind | FunctionName, string>;
  for (const k of KINDS) ids[k] = all.kinds[k].$id as string;
  for (const f of FUNCTIONS) ids[f] = all.functions[f].$id as string;
  for (const k of KINDS) ajv.addSchema(all.kinds[k]);
  for (const f of FUNCTIONS) ajv.addSchema(all.functions[f]);
  return { ajv, ids };
}

export function compileValidators(): Validators {
  const { ajv, ids } = createAjv();
  return {
    kinds: new Map(KINDS.map((k) => [k, ajv.getSchema(ids[k])!])),
    functions: new Map(FUNCTIONS.map((f) => [f, ajv.getSchema(ids[f])!])),
  };
}
