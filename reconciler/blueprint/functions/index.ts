import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { BlueprintFunction } from '../types.ts';
import { FunctionArgsError } from '../types.ts';
import { KubeExec } from './KubeExec.ts';
import { KubeTask } from './KubeTask.ts';
import { ScaleWorkload } from './ScaleWorkload.ts';
import { Wait } from './Wait.ts';

/** Every blueprint function by name. The argument schema of each is `schemas/functions/<name>.schema.json`. */
export const FUNCTIONS: Readonly<Record<string, BlueprintFunction>> = { KubeExec, KubeTask, ScaleWorkload, Wait };

const schemasDir = new URL('../../../schemas/functions/', import.meta.url);
let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

/** Compiled once per function; the same schema files the compiler validates blueprints with. */
function validatorFor(name: string): ValidateFunction {
  let v = validators.get(name);
  if (!v) {
    ajv ??= new Ajv2020({ allErrors: true, strict: false });
    const schema = JSON.parse(readFileSync(new URL(`${name}.schema.json`, schemasDir), 'utf8')) as object;
    v = ajv.compile(schema);
    validators.set(name, v);
  }
  return v;
}

export function lookupFunction(name: string): BlueprintFunction {
  const fn = FUNCTIONS[name];
  if (!fn) throw new FunctionArgsError(`unknown blueprint function ${JSON.stringify(name)} (known: ${Object.keys(FUNCTIONS).join(', ')})`);
  return fn;
}

/**
 * Validates arguments against the function's schema at run time (the compiler already did at plan time, but a plan
 * can be older than the binary, and rendered templates are only known now). Throws with every problem listed.
 */
export function validateArgs(name: string, args: unknown): void {
  lookupFunction(name);
  const v = validatorFor(name);
  if (!v(args)) {
    const problems = (v.errors ?? []).map((e) => `${e.instancePath || '(args)'} ${e.message}${e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : ''}`);
    throw new FunctionArgsError(`${name}: invalid arguments: ${[...new Set(problems)].join('; ')}`);
  }
}
