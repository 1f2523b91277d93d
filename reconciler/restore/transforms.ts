import jsonpatch from 'fast-json-patch';
import { compileCel, type CelProgram } from '../../compiler/cel/index.ts';
import type { PlanTransformSet } from '../../compiler/plan/types.ts';
import type { KubeObject } from '../kube/types.ts';
import { RestoreError } from './errors.ts';

/** A TransformSet with its conditions compiled once (type-checked like the rest of the plan). */
export interface CompiledTransformSet {
  name: string;
  rules: { name: string; condition: CelProgram; patch: jsonpatch.Operation[] }[];
}

export function compileTransformSets(sets: readonly PlanTransformSet[]): CompiledTransformSet[] {
  return sets.map((s) => ({
    name: s.name,
    rules: s.transforms.map((t) => {
      try {
        return { name: t.name, condition: compileCel(t.condition.source, 'transform', { expect: 'bool' }), patch: t.patch as jsonpatch.Operation[] };
      } catch (e) {
        throw new RestoreError('E_RESTORE_TRANSFORM', `TransformSet ${s.name}, transform ${t.name}: ${(e as Error).message}`);
      }
    }),
  }));
}

export interface TransformOutcome {
  object: KubeObject;
  /** `SET/RULE` of every rule that changed the object, in order. */
  applied: string[];
}

/**
 * Applies every rule whose CEL condition holds, in order (set by set, rule by rule), each seeing the previous rules'
 * output — the way kustomize patches compose. A patch that does not apply (a `test` op failing, a missing path) is an
 * error naming the set, rule and object, never a silent partial change. Pure: the input is not modified.
 */
export function applyTransforms(input: KubeObject, sets: readonly CompiledTransformSet[]): TransformOutcome {
  let object = input;
  const applied: string[] = [];
  for (const s of sets) {
    for (const r of s.rules) {
      let hit: boolean;
      try {
        hit = r.condition.test({ object });
      } catch {
        // A condition that cannot be evaluated on this object (a missing field) does not select it.
        hit = false;
      }
      if (!hit) continue;
      try {
        object = jsonpatch.applyPatch(structuredClone(object), structuredClone(r.patch), true, false).newDocument;
      } catch (e) {
        const what = `${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;
        throw new RestoreError('E_RESTORE_TRANSFORM', `transform ${s.name}/${r.name} does not apply to ${what}: ${(e as Error).message.split('\n')[0]}`);
      }
      applied.push(`${s.name}/${r.name}`);
    }
  }
  return { object, applied };
}
