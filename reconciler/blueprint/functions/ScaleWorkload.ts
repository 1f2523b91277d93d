import { WELL_KNOWN } from '../../kube/discovery.ts';
import type { KubeObject } from '../../kube/types.ts';
import { waitFor } from '../../kube/wait.ts';
import { type BlueprintFunction, FunctionArgsError, PhaseError } from '../types.ts';
import { labelSelectorString } from './KubeExec.ts';

export interface ScaleWorkloadArgs {
  namespace: string;
  kind: 'Deployment' | 'StatefulSet';
  name: string;
  /** A number, or a rendered template such as "3". */
  replicas: number | string;
  waitForReady?: boolean;
}

/** Replica counts arrive as numbers or as rendered templates ("3"); anything else is a clear argument error. */
export function parseReplicas(v: number | string): number {
  const n = typeof v === 'number' ? v : /^\s*\d+\s*$/.test(v) ? Number.parseInt(v, 10) : Number.NaN;
  if (!Number.isInteger(n) || n < 0) throw new FunctionArgsError(`ScaleWorkload: replicas must be an integer >= 0, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Scales through the `scale` subresource (works for any scalable workload and needs only the scale subresource in RBAC), outputs
 * `originalReplicas` so a `finally` phase can restore it, and optionally waits until the workload really reached
 * the new size: ready replicas for scale-up, no pods left for scale-down (a quiesced database has no process).
 */
export const ScaleWorkload: BlueprintFunction = {
  name: 'ScaleWorkload',
  coerce(args) {
    // `replicas: "{{ phases.down.output.originalReplicas }}"` renders to "3".
    return typeof args.replicas === 'string' && /^\s*\d+\s*$/.test(args.replicas) ? { ...args, replicas: Number.parseInt(args.replicas, 10) } : args;
  },
  async run(raw, ctx) {
    const args = raw as unknown as ScaleWorkloadArgs;
    const replicas = parseReplicas(args.replicas);
    const info = WELL_KNOWN[args.kind]!;
    const scale = await ctx.client.getSubresource<{ spec?: { replicas?: number } }>(info.apiVersion, info.plural, args.namespace, args.name, 'scale').catch((e: Error & { status?: number }) => {
      throw new PhaseError(e.status === 404 ? `${args.kind} ${args.namespace}/${args.name} not found` : e.message);
    });
    const original = scale.spec?.replicas ?? 0;
    ctx.log?.(`scale ${args.kind} ${args.namespace}/${args.name}: ${original} -> ${replicas}`);
    await ctx.client.mergePatch(info.apiVersion, info.plural, args.namespace, args.name, { spec: { replicas } }, 'scale');
    if (args.waitForReady !== false) {
      let last = '';
      await waitFor(
        async () => {
          const w = await ctx.client.get(info.apiVersion, info.plural, args.namespace, args.name);
          const st = (w.status ?? {}) as { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number };
          last = `observedGeneration=${st.observedGeneration} generation=${w.metadata.generation} replicas=${st.replicas ?? 0} ready=${st.readyReplicas ?? 0}`;
          if ((st.observedGeneration ?? 0) < (w.metadata.generation ?? 0)) return undefined;
          if (replicas === 0) {
            const pods = await podsOf(ctx.client, w);
            last += ` pods=${pods.length}`;
            return (st.replicas ?? 0) === 0 && pods.length === 0 ? true : undefined;
          }
          return (st.readyReplicas ?? 0) >= replicas && (st.replicas ?? 0) === replicas ? true : undefined;
        },
        { timeoutMs: 30 * 60_000, signal: ctx.signal, what: `${args.kind} ${args.namespace}/${args.name} to reach ${replicas} ready replica(s)`, describe: () => last },
      );
    }
    return { output: { originalReplicas: String(original), replicas: String(replicas) } };
  },
};

async function podsOf(client: Parameters<BlueprintFunction['run']>[1]['client'], w: KubeObject): Promise<KubeObject[]> {
  const sel = labelSelectorString((w.spec as { selector?: Parameters<typeof labelSelectorString>[0] }).selector);
  return sel ? client.list('v1', 'pods', w.metadata.namespace, { labelSelector: sel }) : [];
}
