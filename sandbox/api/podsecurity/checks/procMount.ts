/**
 * The default /proc masks reduce attack surface and are required, unless the pod runs in a user namespace.
 * Restricted fields: spec.{containers,initContainers,ephemeralContainers}[*].securityContext.procMount.
 * Allowed values: undefined, "Default" (any value with `hostUsers: false` since v1.35). Level: baseline.
 */
import { containersPhrase, inUserNamespace, joinQuote, sortedSet, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

/** Shared with procMount_restricted, which applies it without the user-namespace relaxation. */
export const procMount_1_0: CheckPodFn = (_meta, spec) => {
  const bad: string[] = [];
  const types: string[] = [];
  visitContainers(spec, (c) => {
    const pm = c.securityContext?.procMount;
    if (pm === undefined || pm === 'Default') return;
    bad.push(c.name);
    types.push(pm);
  });
  if (!bad.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'procMount', forbiddenDetail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sortedSet(types))}` };
};

const procMount_1_35: CheckPodFn = (meta, spec) => (inUserNamespace(spec) ? ALLOWED : procMount_1_0(meta, spec));

export const procMount: Check = {
  id: 'procMount',
  level: 'baseline',
  versions: [
    { minimumVersion: v1(0), checkPod: procMount_1_0 },
    { minimumVersion: v1(35), checkPod: procMount_1_35 },
  ],
};
