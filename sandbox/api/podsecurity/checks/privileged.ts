/**
 * Privileged Pods disable most security mechanisms and must be disallowed.
 * Restricted fields: spec.{containers,initContainers,ephemeralContainers}[*].securityContext.privileged.
 * Allowed values: false, undefined. Level: baseline, since v1.0.
 */
import { containersPhrase, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const privileged_1_0: CheckPodFn = (_meta, spec) => {
  const bad: string[] = [];
  visitContainers(spec, (c) => {
    if (c.securityContext?.privileged === true) bad.push(c.name);
  });
  if (!bad.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'privileged', forbiddenDetail: `${containersPhrase(bad)} must not set securityContext.privileged=true` };
};

export const privileged: Check = {
  id: 'privileged',
  level: 'baseline',
  versions: [{ minimumVersion: v1(0), checkPod: privileged_1_0 }],
};
