/**
 * The NodeAffinity filter and score (mirrors kube-scheduler
 * pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go and
 * component-helpers/scheduling/corev1/nodeaffinity): `spec.nodeSelector`
 * and `requiredDuringSchedulingIgnoredDuringExecution` must both match;
 * `preferredDuringScheduling…` terms add their weight to the node's score.
 */
import type { KubeObject } from '../client.ts';
import type { FilterResult } from './types.ts';

/** nodeaffinity.ErrReasonPod. */
export const ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";

export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: string[];
}
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** Gt/Lt compare integers; a value that is not one never matches (as labels.Requirement does). */
function intOf(s: string | undefined): number | undefined {
  return s !== undefined && /^-?\d+$/.test(s) ? Number(s) : undefined;
}

export function requirementMatches(r: NodeSelectorRequirement, values: Record<string, string>): boolean {
  const has = Object.hasOwn(values, r.key);
  const v = values[r.key];
  switch (r.operator) {
    case 'In':
      return has && (r.values ?? []).includes(v!);
    case 'NotIn':
      return !has || !(r.values ?? []).includes(v!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      const a = intOf(v);
      const b = intOf(r.values?.[0]);
      if (!has || a === undefined || b === undefined || (r.values ?? []).length !== 1) return false;
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** A term ANDs its requirements; an empty term matches no node. matchFields knows only `metadata.name`. */
export function termMatches(term: NodeSelectorTerm, node: KubeObject): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  const fieldValues = { 'metadata.name': node.metadata.name ?? '' };
  return exprs.every((r) => requirementMatches(r, labels)) && fields.every((r) => (r.key === 'metadata.name' && (r.operator === 'In' || r.operator === 'NotIn')) && requirementMatches(r, fieldValues));
}

/** A NodeSelector ORs its terms (no terms: no node). */
export function nodeSelectorMatches(sel: { nodeSelectorTerms?: NodeSelectorTerm[] } | undefined, node: KubeObject): boolean {
  return (sel?.nodeSelectorTerms ?? []).some((t) => termMatches(t, node));
}

export function nodeAffinityFilter(pod: KubeObject, node: KubeObject): FilterResult {
  const labels = node.metadata.labels ?? {};
  const selectorOk = Object.entries<string>(pod.spec?.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (selectorOk && (!required || nodeSelectorMatches(required, node))) return undefined;
  return { reason: ERR_NODE_AFFINITY, unresolvable: true };
}

/** Sum of the weights of the preferred terms the node matches (before normalisation). */
export function preferredAffinityScore(pod: KubeObject, node: KubeObject): number {
  const preferred: Array<{ weight: number; preference: NodeSelectorTerm }> = pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  return preferred.reduce((sum, p) => sum + (p.weight && termMatches(p.preference ?? {}, node) ? p.weight : 0), 0);
}

/** The node affinity that ties a volume to one node, as local provisioners write it. */
export function hostnameAffinity(hostname: string) {
  return { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [hostname] }] }] } };
}
