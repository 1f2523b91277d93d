/**
 * Privilege escalation (set-user-ID or set-group-ID binaries, file capabilities) must not be allowed.
 * Restricted fields: spec.{containers,initContainers,ephemeralContainers}[*].securityContext.allowPrivilegeEscalation.
 * Allowed values: false. Level: restricted, since v1.8 (the field's first release); Windows pods exempt since v1.25.
 */
import { containersPhrase, isWindows, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const allowPrivilegeEscalation_1_8: CheckPodFn = (_meta, spec) => {
  const bad: string[] = [];
  visitContainers(spec, (c) => {
    if (c.securityContext?.allowPrivilegeEscalation !== false) bad.push(c.name);
  });
  if (!bad.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'allowPrivilegeEscalation != false', forbiddenDetail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false` };
};

const allowPrivilegeEscalation_1_25: CheckPodFn = (meta, spec) => (isWindows(spec) ? ALLOWED : allowPrivilegeEscalation_1_8(meta, spec));

export const allowPrivilegeEscalation: Check = {
  id: 'allowPrivilegeEscalation',
  level: 'restricted',
  versions: [
    { minimumVersion: v1(8), checkPod: allowPrivilegeEscalation_1_8 },
    { minimumVersion: v1(25), checkPod: allowPrivilegeEscalation_1_25 },
  ],
};
