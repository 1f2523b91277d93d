import type { KubeObject } from '../kube/types.ts';

/** The part of a compiled CEL program selection needs (compiler-pure's `CelProgram`, env `object`). */
export interface ObjectSelector {
  readonly source?: string;
  evaluate(vars: Record<string, unknown>): unknown;
}

export interface SelectionResult {
  selected: KubeObject[];
  /** Objects the selector answered false for. */
  rejected: number;
  /** Objects whose evaluation failed: treated as not selected (like a Kubernetes admission match error), reported. */
  errors: { object: string; message: string }[];
}

/**
 * Applies the policy's `selector.resources` CEL to each object with `namespaceObject` bound to the Namespace object.
 * Only `true` selects (a non-bool result counts as an error: the compiler type-checks for bool, so this means a
 * dynamic value surprised us). No selector selects everything.
 */
export function selectObjects(objects: KubeObject[], selector: ObjectSelector | undefined, namespace: KubeObject | undefined): SelectionResult {
  if (!selector) return { selected: objects, rejected: 0, errors: [] };
  const selected: KubeObject[] = [];
  const errors: SelectionResult['errors'] = [];
  let rejected = 0;
  for (const object of objects) {
    try {
      const v = selector.evaluate({ object, namespaceObject: namespace ?? {} });
      if (v === true) selected.push(object);
      else if (v === false) rejected++;
      else errors.push({ object: objectRef(object), message: `selector returned ${typeof v}, not bool` });
    } catch (e) {
      errors.push({ object: objectRef(object), message: (e as Error).message });
    }
  }
  return { selected, rejected, errors };
}

/** `apps/v1 Deployment shop/web` — how objects are named in messages. */
export function objectRef(o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  return `${o.apiVersion} ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}
