/**
 * Sysctls can disable security mechanisms or affect every container on a host; only a namespaced,
 * isolated "safe" subset is allowed. Restricted fields: spec.securityContext.sysctls[*].name.
 * Level: baseline; the safe set grows with the policy version (below).
 */
import { v1 } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const SAFE_1_0 = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start'];
const SAFE_1_27 = [...SAFE_1_0, 'net.ipv4.ip_local_reserved_ports'];
const SAFE_1_29 = [...SAFE_1_27, 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'];
const SAFE_1_32 = [...SAFE_1_29, 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem'];
const SAFE_1_37 = [...SAFE_1_32, 'net.ipv4.tcp_slow_start_after_idle', 'net.ipv4.tcp_notsent_lowat'];

function sysctlsWith(safe: string[]): CheckPodFn {
  const allowed = new Set(safe);
  return (_meta, spec) => {
    const forbidden = (spec.securityContext?.sysctls ?? []).map((s) => s.name).filter((n) => !allowed.has(n));
    if (!forbidden.length) return ALLOWED;
    return { allowed: false, forbiddenReason: 'forbidden sysctls', forbiddenDetail: forbidden.join(', ') };
  };
}

export const sysctls: Check = {
  id: 'sysctls',
  level: 'baseline',
  versions: [
    { minimumVersion: v1(0), checkPod: sysctlsWith(SAFE_1_0) },
    { minimumVersion: v1(27), checkPod: sysctlsWith(SAFE_1_27) },
    { minimumVersion: v1(29), checkPod: sysctlsWith(SAFE_1_29) },
    { minimumVersion: v1(32), checkPod: sysctlsWith(SAFE_1_32) },
    { minimumVersion: v1(37), checkPod: sysctlsWith(SAFE_1_37) },
  ],
};
