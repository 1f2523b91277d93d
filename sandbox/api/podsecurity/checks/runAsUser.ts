/**
 * Containers must not set runAsUser to 0, unless the pod runs in a user namespace.
 * Restricted fields: spec.securityContext.runAsUser, spec.{containers,initContainers,ephemeralContainers}[*].securityContext.runAsUser.
 * Allowed values: non-zero, undefined; anything with `hostUsers: false` (v1.35+). Level: restricted, since v1.23.
 */
import { containersPhrase, inUserNamespace, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const runAsUser_1_23: CheckPodFn = (_meta, spec) => {
  const setters: string[] = [];
  if (spec.securityContext?.runAsUser === 0) setters.push('pod');
  const bad: string[] = [];
  visitContainers(spec, (c) => {
    if (c.securityContext?.runAsUser === 0) bad.push(c.name);
  });
  if (bad.length) setters.push(containersPhrase(bad));
  if (!setters.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'runAsUser=0', forbiddenDetail: `${setters.join(' and ')} must not set runAsUser=0` };
};

const runAsUser_1_35: CheckPodFn = (meta, spec) => (inUserNamespace(spec) ? ALLOWED : runAsUser_1_23(meta, spec));

export const runAsUser: Check = {
  id: 'runAsUser',
  level: 'restricted',
  versions: [
    { minimumVersion: v1(23), checkPod: runAsUser_1_23 },
    { minimumVersion: v1(35), checkPod: runAsUser_1_35 },
  ],
};
