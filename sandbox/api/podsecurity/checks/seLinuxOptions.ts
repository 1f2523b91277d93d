/**
 * Setting the SELinux type is restricted; setting a custom SELinux user or role is forbidden.
 * Restricted fields: spec.securityContext.seLinuxOptions.{type,user,role} and the containers'.
 * Allowed types: undefined/empty, container_t, container_init_t, container_kvm_t
 * (+ container_engine_t since v1.31); user and role: undefined/empty. Level: baseline.
 */
import { containersPhrase, joinQuote, pluralize, sortedSet, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn, type SecurityContext } from '../types.ts';

const TYPES_1_0 = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t']);
const TYPES_1_31 = new Set([...TYPES_1_0, 'container_engine_t']);

function seLinuxOptionsWith(allowedTypes: Set<string>): CheckPodFn {
  return (_meta, spec) => {
    const badTypes: string[] = [];
    let setUser = false;
    let setRole = false;
    const valid = (o: NonNullable<SecurityContext['seLinuxOptions']>) => {
      let ok = true;
      if (!allowedTypes.has(o.type ?? '')) {
        ok = false;
        badTypes.push(o.type ?? '');
      }
      if (o.user) (ok = false), (setUser = true);
      if (o.role) (ok = false), (setRole = true);
      return ok;
    };
    const setters: string[] = [];
    const podOpts = spec.securityContext?.seLinuxOptions;
    if (podOpts && !valid(podOpts)) setters.push('pod');
    const bad: string[] = [];
    visitContainers(spec, (c) => {
      const o = c.securityContext?.seLinuxOptions;
      if (o && !valid(o)) bad.push(c.name);
    });
    if (bad.length) setters.push(containersPhrase(bad));
    if (!setters.length) return ALLOWED;
    const data: string[] = [];
    const types = sortedSet(badTypes);
    if (types.length) data.push(`${pluralize('type', 'types', types.length)} ${joinQuote(types)}`);
    if (setUser) data.push('user may not be set');
    if (setRole) data.push('role may not be set');
    return { allowed: false, forbiddenReason: 'seLinuxOptions', forbiddenDetail: `${setters.join(' and ')} set forbidden securityContext.seLinuxOptions: ${data.join('; ')}` };
  };
}

export const seLinuxOptions: Check = {
  id: 'seLinuxOptions',
  level: 'baseline',
  versions: [
    { minimumVersion: v1(0), checkPod: seLinuxOptionsWith(TYPES_1_0) },
    { minimumVersion: v1(31), checkPod: seLinuxOptionsWith(TYPES_1_31) },
  ],
};
