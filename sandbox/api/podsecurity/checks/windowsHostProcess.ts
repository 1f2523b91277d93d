/**
 * Pod and containers must not set securityContext.windowsOptions.hostProcess to true.
 * Restricted fields: spec.securityContext.windowsOptions.hostProcess,
 * spec.{containers,initContainers,ephemeralContainers}[*].securityContext.windowsOptions.hostProcess.
 * Allowed values: undefined, false. Level: baseline, since v1.0.
 */
import { containersPhrase, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const windowsHostProcess_1_0: CheckPodFn = (_meta, spec) => {
  const bad: string[] = [];
  visitContainers(spec, (c) => {
    if (c.securityContext?.windowsOptions?.hostProcess === true) bad.push(c.name);
  });
  const setters: string[] = [];
  if (spec.securityContext?.windowsOptions?.hostProcess === true) setters.push('pod');
  if (bad.length) setters.push(containersPhrase(bad));
  if (!setters.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'hostProcess', forbiddenDetail: `${setters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true` };
};

export const windowsHostProcess: Check = {
  id: 'windowsHostProcess',
  level: 'baseline',
  versions: [{ minimumVersion: v1(0), checkPod: windowsHostProcess_1_0 }],
};
