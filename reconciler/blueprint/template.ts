import { isTemplated, parseTemplate, renderTemplate } from '../../compiler/template.ts';
import { FunctionArgsError } from './types.ts';

/** The variables blueprint templates can use (`{{ namespace }}`, `{{ workload.name }}`, `{{ phases.P.output.K }}`, …). */
export interface TemplateContext {
  namespace: string;
  cluster?: string;
  policy?: string;
  workload?: { kind: string; name: string; namespace: string };
  restorePoint?: { id: string; policy?: string; namespace?: string; time?: string };
  artifacts?: Record<string, Record<string, string>>;
  /** The verify action's check (a policy's spec.verify.checks entry); only that action has it. */
  verify?: { name: string; query: string; database?: string };
  phases: Record<string, { output: Record<string, string> }>;
}

/**
 * Renders every string inside a phase's arguments (nested objects and arrays included) with compiler-core's
 * template engine; other values pass through. `where` names the phase in errors.
 */
export function renderArgs(args: Record<string, unknown>, context: TemplateContext, where: string): Record<string, unknown> {
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      if (!isTemplated(v)) return v;
      try {
        return renderTemplate(parseTemplate(v), context as unknown as Record<string, unknown>);
      } catch (e) {
        throw new FunctionArgsError(`${where}: args${path}: ${(e as Error).message}`);
      }
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, `${path}.${k}`)]));
    return v;
  };
  return walk(args, '') as Record<string, unknown>;
}
