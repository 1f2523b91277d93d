/**
 * ClusterRole aggregation (pkg/controller/clusterroleaggregation): an
 * aggregated ClusterRole's `rules` are the union, in name order and without
 * duplicates, of the rules of every other ClusterRole its selectors match.
 * The authorizer reads only `rules`; this is what keeps them filled.
 */
import { deepEqual } from '../object.ts';
import { matchRequirements, requirementsFromObject } from '../selectors.ts';
import type { PolicyRule, RoleObject } from './types.ts';

/** The rules `role` should have, or undefined when it has no aggregationRule. */
export function aggregatedRules(role: RoleObject, all: readonly RoleObject[]): PolicyRule[] | undefined {
  const selectors = role.aggregationRule?.clusterRoleSelectors;
  if (!role.aggregationRule) return undefined;
  const out: PolicyRule[] = [];
  const byName = [...all].sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : (a.metadata.name ?? '') > (b.metadata.name ?? '') ? 1 : 0));
  for (const sel of selectors ?? []) {
    const match = matchRequirements(requirementsFromObject(sel));
    for (const other of byName) {
      if (other.metadata.name === role.metadata.name || !match(other.metadata.labels)) continue;
      for (const r of other.rules ?? []) if (!out.some((x) => deepEqual(x, r))) out.push(r);
    }
  }
  return out;
}

/**
 * One controller pass over all ClusterRoles: the aggregated roles whose rules
 * must change, with their new rules. Roles are synced one after the other, each
 * seeing the rules already changed in this pass (as the controller's queue
 * does), so chains (`view` feeds `edit` feeds `admin`) and cycles settle;
 * callers run passes until one returns nothing.
 */
export function aggregationPass(all: readonly RoleObject[]): { name: string; rules: PolicyRule[] }[] {
  const current = all.map((r) => ({ ...r }));
  const changes: { name: string; rules: PolicyRule[] }[] = [];
  for (const role of current) {
    const want = aggregatedRules(role, current);
    if (!want || deepEqual(want, role.rules ?? [])) continue;
    role.rules = want;
    changes.push({ name: role.metadata.name!, rules: want });
  }
  return changes;
}
