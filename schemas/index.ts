import { readFileSync } from 'node:fs';

/** The kinds a policy repository is written in (users write the first six, Coffer writes the rest). */
export const KINDS = ['Config', 'Profile', 'Policy', 'Blueprint', 'TransformSet', 'Restore', 'RestorePoint', 'RestoreResult', 'ComplianceReport', 'VerificationResult'] as const;
export type Kind = (typeof KINDS)[number];

/** Blueprint functions with an argument schema in schemas/functions/. */
export const FUNCTIONS = ['KubeExec', 'KubeTask', 'ScaleWorkload', 'Wait'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export const API_VERSION = 'coffer.dev/v1alpha1';

export type JsonSchema = Record<string, unknown>;

function load(rel: string): JsonSchema {
  return JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as JsonSchema;
}

let cache: { common: JsonSchema; kinds: Record<Kind, JsonSchema>; functions: Record<FunctionName, JsonSchema> } | undefined;

/** All schemas, read once. Kept as JSON files so other tools (editors, docs) can use them directly. */
export function schemas(): { common: JsonSchema; kinds: Record<Kind, JsonSchema>; functions: Record<FunctionName, JsonSchema> } {
  if (!cache) {
    const kinds = {} as Record<Kind, JsonSchema>;
    for (const k of KINDS) kinds[k] = load(`./${k.toLowerCase()}.schema.json`);
    const functions = {} as Record<FunctionName, JsonSchema>;
    for (const f of FUNCTIONS) functions[f] = load(`./functions/${f}.schema.json`);
    cache = { common: load('./common.schema.json'), kinds, functions };
  }
  return cache;
}

export function schemaForKind(kind: Kind): JsonSchema {
  return schemas().kinds[kind];
}

export function schemaForFunction(name: FunctionName): JsonSchema {
  return schemas().functions[name];
}
