/**
 * Restricted keeps the default /proc masks even in user namespaces.
 * Restricted fields: spec.{containers,initContainers,ephemeralContainers}[*].securityContext.procMount.
 * Allowed values: undefined, "Default". Level: restricted, since v1.35 (overrides procMount).
 */
import { v1 } from '../helpers.ts';
import type { Check } from '../types.ts';
import { procMount_1_0 } from './procMount.ts';

export const procMount_restricted: Check = {
  id: 'procMount_restricted',
  level: 'restricted',
  versions: [{ minimumVersion: v1(35), checkPod: procMount_1_0, overrideCheckIds: ['procMount'] }],
};
