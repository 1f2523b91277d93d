/**
 * The bundle's compiler/validate/validators.ts: every schema validator compiled now, by Ajv's standalone code
 * generator, from the same `createAjv` the sources compile with at run time. The module keeps the source module's
 * interface (`compileValidators()`), so nothing else knows which one it got.
 */
import { _ } from 'ajv';
import standaloneModule from 'ajv/dist/standalone/index.js';
import { FUNCTIONS, KINDS } from '../schemas/index.ts';
import { createAjv } from '../compiler/validate/validators.ts';

type Standalone = (ajv: unknown, refs: Record<string, string>) => string;
const standaloneCode = ((standaloneModule as unknown as { default?: Standalone }).default ?? standaloneModule) as Standalone;

export function validatorsModule(): string {
  const { ajv, ids } = createAjv({ source: true, esm: true, formats: _`require("ajv-formats/dist/formats").fullFormats` });
  const code = standaloneCode(ajv, ids);
  const map = (names: readonly string[]): string => `new Map([${names.map((n) => `[${JSON.stringify(n)}, ${n}]`).join(', ')}])`;
  return `${code}\nexport function compileValidators() { return { kinds: ${map(KINDS)}, functions: ${map(FUNCTIONS)} }; }\n`;
}
