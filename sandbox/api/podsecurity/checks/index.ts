/** Every Pod Security Standards check, baseline and restricted. The evaluator orders them by id. */
import type { Check } from '../types.ts';
import { allowPrivilegeEscalation } from './allowPrivilegeEscalation.ts';
import { appArmorProfile } from './appArmorProfile.ts';
import { capabilities_baseline } from './capabilities_baseline.ts';
import { capabilities_restricted } from './capabilities_restricted.ts';
import { hostNamespaces } from './hostNamespaces.ts';
import { hostPathVolumes } from './hostPathVolumes.ts';
import { hostPorts } from './hostPorts.ts';
import { hostProbesAndHostLifecycle } from './hostProbesAndHostLifecycle.ts';
import { privileged } from './privileged.ts';
import { procMount } from './procMount.ts';
import { procMount_restricted } from './procMount_restricted.ts';
import { restrictedVolumes } from './restrictedVolumes.ts';
import { runAsNonRoot } from './runAsNonRoot.ts';
import { runAsUser } from './runAsUser.ts';
import { seccompProfile_baseline } from './seccompProfile_baseline.ts';
import { seccompProfile_restricted } from './seccompProfile_restricted.ts';
import { seLinuxOptions } from './seLinuxOptions.ts';
import { sysctls } from './sysctls.ts';
import { windowsHostProcess } from './windowsHostProcess.ts';

export const DEFAULT_CHECKS: readonly Check[] = [
  // baseline
  windowsHostProcess,
  hostNamespaces,
  privileged,
  capabilities_baseline,
  hostPathVolumes,
  hostPorts,
  appArmorProfile,
  seLinuxOptions,
  procMount,
  seccompProfile_baseline,
  sysctls,
  hostProbesAndHostLifecycle,
  // restricted
  restrictedVolumes,
  allowPrivilegeEscalation,
  runAsNonRoot,
  runAsUser,
  seccompProfile_restricted,
  capabilities_restricted,
  procMount_restricted,
];
