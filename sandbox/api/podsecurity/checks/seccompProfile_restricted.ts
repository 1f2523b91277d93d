/**
 * Seccomp must be set, to RuntimeDefault or Localhost.
 * Restricted fields: spec.securityContext.seccompProfile.type, spec.{containers,initContainers,ephemeralContainers}[*].securityContext.seccompProfile.type.
 * Allowed values: RuntimeDefault, Localhost; a container may leave it unset when the pod sets it.
 * Level: restricted, since v1.19 (overrides seccompProfile_baseline); Windows pods exempt since v1.25.
 */
import { containersPhrase, isWindows, joinQuote, sortedSet, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';
import { validSeccomp } from './seccompProfile_baseline.ts';

const seccompProfileRestricted_1_19: CheckPodFn = (_meta, spec) => {
  const setters: string[] = [];
  const badValues: string[] = [];
  let podSet = false;
  const podProfile = spec.securityContext?.seccompProfile;
  if (podProfile) {
    if (validSeccomp(podProfile)) podSet = true;
    else {
      setters.push('pod');
      badValues.push(podProfile.type ?? '');
    }
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  visitContainers(spec, (c) => {
    const p = c.securityContext?.seccompProfile;
    if (p) {
      if (!validSeccomp(p)) {
        explicit.push(c.name);
        badValues.push(p.type ?? '');
      }
    } else if (!podSet) implicit.push(c.name);
  });
  if (explicit.length) setters.push(containersPhrase(explicit));
  if (setters.length)
    return {
      allowed: false,
      forbiddenReason: 'seccompProfile',
      forbiddenDetail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sortedSet(badValues))}`,
    };
  if (implicit.length)
    return {
      allowed: false,
      forbiddenReason: 'seccompProfile',
      forbiddenDetail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
    };
  return ALLOWED;
};

const seccompProfileRestricted_1_25: CheckPodFn = (meta, spec) => (isWindows(spec) ? ALLOWED : seccompProfileRestricted_1_19(meta, spec));

export const seccompProfile_restricted: Check = {
  id: 'seccompProfile_restricted',
  level: 'restricted',
  versions: [
    { minimumVersion: v1(19), checkPod: seccompProfileRestricted_1_19, overrideCheckIds: ['seccompProfile_baseline'] },
    { minimumVersion: v1(25), checkPod: seccompProfileRestricted_1_25, overrideCheckIds: ['seccompProfile_baseline'] },
  ],
};
