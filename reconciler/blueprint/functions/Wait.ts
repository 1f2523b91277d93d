import { compileCel } from '../../../compiler/cel/index.ts';
import { ResourceMap, WELL_KNOWN, discoverResources } from '../../kube/discovery.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/types.ts';
import { TimeoutError, waitFor } from '../../kube/wait.ts';
import { type BlueprintFunction, FunctionArgsError, PhaseError } from '../types.ts';

export interface WaitArgs {
  timeout: string;
  object: { apiVersion?: string; kind: string; name: string; namespace?: string };
  condition: string;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations as the schema allows them (`90s`, `1h30m`, `1.5m`), to milliseconds. */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s))) {
    total += Number.parseFloat(m[1]!) * UNIT_MS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end !== s.length || s.length === 0) throw new FunctionArgsError(`invalid duration ${JSON.stringify(s)} (expected e.g. 30s, 5m, 1h30m)`);
  return total;
}

/** Kind → resource, from the well-known table or discovery (so Wait also works on custom resources). */
async function resolveResource(client: KubeClient, apiVersion: string, kind: string): Promise<{ apiVersion: string; plural: string; namespaced: boolean }> {
  const wk = WELL_KNOWN[kind];
  if (wk && wk.apiVersion === apiVersion) return wk;
  const found = new ResourceMap((await discoverResources(client)).resources).lookup(apiVersion, kind);
  if (!found) throw new PhaseError(`the server does not serve ${apiVersion} ${kind}`);
  return found;
}

/**
 * Polls one object until a CEL condition over it (`object`) is true. A missing object is "not yet" (waiting for
 * something to be created is a common need); an evaluation error (a field not set yet) is also "not yet", but the
 * last error is shown if the wait times out.
 */
export const Wait: BlueprintFunction = {
  name: 'Wait',
  async run(raw, ctx) {
    const args = raw as unknown as WaitArgs;
    const timeoutMs = parseDuration(args.timeout);
    let program;
    try {
      program = compileCel(args.condition, 'object');
    } catch (e) {
      throw new FunctionArgsError(`Wait: condition ${JSON.stringify(args.condition)}: ${(e as Error).message}`);
    }
    const apiVersion = args.object.apiVersion ?? 'v1';
    const r = await resolveResource(ctx.client, apiVersion, args.object.kind);
    const ns = r.namespaced ? args.object.namespace || undefined : undefined;
    if (r.namespaced && !ns) throw new FunctionArgsError(`Wait: ${args.object.kind} is namespaced; give object.namespace`);
    const what = `${args.object.kind} ${ns ? `${ns}/` : ''}${args.object.name} to satisfy ${args.condition}`;
    let last = 'not found';
    try {
      await waitFor(
        async () => {
          const obj = await ctx.client.find<KubeObject>(r.apiVersion, r.plural, ns, args.object.name);
          if (!obj) {
            last = 'not found';
            return undefined;
          }
          try {
            const v = program.evaluate({ object: obj, namespaceObject: {} });
            last = `condition was ${JSON.stringify(v)}`;
            return v === true ? true : undefined;
          } catch (e) {
            last = `evaluation error: ${(e as Error).message}`;
            return undefined;
          }
        },
        { timeoutMs, signal: ctx.signal, what, describe: () => last, intervalMs: 200 },
      );
    } catch (e) {
      if (e instanceof TimeoutError) throw new PhaseError(e.message);
      throw e;
    }
    return { output: {} };
  },
};
