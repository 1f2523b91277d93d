/**
 * Containers must run as non-root users, unless the pod runs in a user namespace.
 * Restricted fields: spec.securityContext.runAsNonRoot, spec.{containers,initContainers,ephemeralContainers}[*].securityContext.runAsNonRoot.
 * Allowed values: true; undefined at container level when the pod sets true; anything with `hostUsers: false` (v1.35+).
 * Level: restricted, since v1.0.
 */
import { containersPhrase, inUserNamespace, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const runAsNonRoot_1_0: CheckPodFn = (_meta, spec) => {
  const setters: string[] = [];
  let podNonRoot = false;
  const pod = spec.securityContext?.runAsNonRoot;
  if (pod === false) setters.push('pod');
  else if (pod === true) podNonRoot = true;
  const explicit: string[] = [];
  const implicit: string[] = [];
  visitContainers(spec, (c) => {
    const v = c.securityContext?.runAsNonRoot;
    if (v === false) explicit.push(c.name);
    else if (v === undefined && !podNonRoot) implicit.push(c.name);
  });
  if (explicit.length) setters.push(containersPhrase(explicit));
  if (setters.length) return { allowed: false, forbiddenReason: 'runAsNonRoot != true', forbiddenDetail: `${setters.join(' and ')} must not set securityContext.runAsNonRoot=false` };
  if (implicit.length) return { allowed: false, forbiddenReason: 'runAsNonRoot != true', forbiddenDetail: `pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true` };
  return ALLOWED;
};

const runAsNonRoot_1_35: CheckPodFn = (meta, spec) => (inUserNamespace(spec) ? ALLOWED : runAsNonRoot_1_0(meta, spec));

export const runAsNonRoot: Check = {
  id: 'runAsNonRoot',
  level: 'restricted',
  versions: [
    { minimumVersion: v1(0), checkPod: runAsNonRoot_1_0 },
    { minimumVersion: v1(35), checkPod: runAsNonRoot_1_35 },
  ],
};
