import type { ErrorObject } from 'ajv/dist/2020.js';
import type { FunctionName, Kind } from '../../schemas/index.ts';
import type { PathSegment } from '../load/yaml.ts';
import { formatPath, pointerToPath } from './paths.ts';
import { compileValidators, type Validators } from './validators.ts';
import { suggest } from '../suggest.ts';

export { suggest };

/** A schema violation with the document path it concerns; `atKey` points at the key rather than the value. */
export interface SchemaProblem {
  path: PathSegment[];
  atKey: boolean;
  message: string;
}

let validators: Validators | undefined;

/** Compiles every schema once per process: compiling is the expensive part, validating 2,000 documents is not. */
function getValidators(): Validators {
  validators ??= compileValidators();
  return validators;
}

export function validateKind(kind: Kind, value: unknown): SchemaProblem[] {
  const v = getValidators().kinds.get(kind)!;
  return v(value) ? [] : explainErrors(v.errors ?? [], []);
}

/** Validates a blueprint phase's args against schemas/functions/FUNC.schema.json; paths are prefixed with `base`. */
export function validateFunctionArgs(func: FunctionName, args: unknown, base: PathSegment[]): SchemaProblem[] {
  const v = getValidators().functions.get(func)!;
  return v(args) ? [] : explainErrors(v.errors ?? [], base);
}

/** Turns ajv's errors into one sentence each, dropping the noise of failed anyOf/oneOf branches. */
export function explainErrors(errors: ErrorObject[], base: PathSegment[]): SchemaProblem[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const kept = errors.filter((e) => {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') return true;
    if (e.keyword === 'if') return false;
    return !unions.some((u) => e.schemaPath.startsWith(`${u.schemaPath}/`));
  });
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const p = toProblem(e, base);
    const key = `${formatPath(p.path)}|${p.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(p);
    }
  }
  return out;
}

function toProblem(e: ErrorObject, base: PathSegment[]): SchemaProblem {
  const path = [...base, ...pointerToPath(e.instancePath)];
  const where = formatPath(path) || 'document';
  const got = `got ${show(e.data)}`;
  const ps = (e.parentSchema ?? {}) as Record<string, unknown>;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys((ps.properties as object | undefined) ?? {});
      const hint = suggest(field, known);
      return {
        path: [...path, field],
        atKey: true,
        message: `${formatPath([...path, field])}: unknown field "${field}"${hint ? `; did you mean "${hint}"?` : known.length ? ` (known fields: ${known.join(', ')})` : ''}`,
      };
    }
    case 'required':
      return { path, atKey: false, message: `${where}: missing required field "${String(params.missingProperty)}"` };
    case 'type': {
      let expect = String(params.type).replace(/,/g, ' or ');
      if (expect === 'integer' || expect === 'number') {
        const bounds = [ps.minimum !== undefined ? `>= ${ps.minimum}` : '', ps.maximum !== undefined ? `<= ${ps.maximum}` : ''].filter(Boolean).join(' and ');
        if (bounds) expect += ` ${bounds}`;
      }
      return { path, atKey: false, message: `${where} must be ${article(expect)} ${expect}, ${got}` };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, atKey: false, message: `${where} must be ${String(params.comparison)} ${String(params.limit)}, ${got}` };
    case 'enum':
      return { path, atKey: false, message: `${where} must be one of ${(params.allowedValues as unknown[]).map(show).join(', ')}, ${got}` };
    case 'const':
      return { path, atKey: false, message: `${where} must be ${show(params.allowedValue)}, ${got}` };
    case 'pattern':
      return { path, atKey: false, message: `${where} must be ${patternRule(ps.description, String(params.pattern))}, ${got}` };
    case 'format':
      return { path, atKey: false, message: `${where} must be a valid ${String(params.format)}, ${got}` };
    case 'minLength':
      return { path, atKey: false, message: Number(params.limit) === 1 ? `${where} must not be empty` : `${where} must be at least ${String(params.limit)} characters long` };
    case 'maxLength':
      return { path, atKey: false, message: `${where} must be at most ${String(params.limit)} characters long, got ${(e.data as string).length}` };
    case 'minItems':
      return { path, atKey: false, message: `${where} must have at least ${String(params.limit)} item(s)` };
    case 'maxItems':
      return { path, atKey: false, message: `${where} must have at most ${String(params.limit)} items` };
    case 'minProperties':
      return { path, atKey: false, message: `${where} must set at least ${String(params.limit)} field(s)` };
    case 'uniqueItems':
    {
      const [first, second] = [Number(params.i), Number(params.j)].sort((x, y) => x - y);
      return { path: [...path, second!], atKey: false, message: `${where} must not repeat items (items ${first} and ${second} are equal)` };
    }
    case 'propertyNames':
      return { path: [...path, String(params.propertyName)], atKey: true, message: `${where}: invalid name "${String(params.propertyName)}"` };
    case 'oneOf':
    case 'anyOf': {
      const branches = (e.schema as Record<string, unknown>[]) ?? [];
      const req = branches.map((b) => (Array.isArray(b.required) && Object.keys(b).length === 1 ? (b.required as string[]) : undefined));
      if (req.every((r) => r && r.length === 1)) {
        const names = req.map((r) => `"${r![0]}"`).join(', ');
        return { path, atKey: false, message: `${where} must set exactly one of ${names}` };
      }
      const what = branches.map((b) => String(b.description ?? b.type ?? 'alternative').replace(/\.$/, '').toLowerCase());
      return { path, atKey: false, message: `${where} must be one of: ${what.join('; ')}, ${got}` };
    }
    default:
      return { path, atKey: false, message: `${where} ${e.message ?? 'is invalid'}` };
  }
}

function patternRule(description: unknown, pattern: string): string {
  if (typeof description === 'string' && /^(A|An) /.test(description)) return description.replace(/^A/, 'a').replace(/\.$/, '');
  return `a string matching ${pattern}`;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

/** A short rendering of a value for messages: strings quoted, objects summarised. */
export function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}

