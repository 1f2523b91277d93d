/**
 * The shapes Pod Security Admission reads and returns. Pods arrive as decoded
 * JSON, so every field is optional; checks read only what the Pod Security
 * Standards restrict.
 */

export type Level = 'privileged' | 'baseline' | 'restricted';

/** A policy version: `v1.<minor>`, or `latest` (newer than every version, even future ones). */
export interface Version {
  minor: number;
  latest?: true;
}

export interface LevelVersion {
  level: Level;
  version: Version;
}

export interface SeccompProfile {
  type?: string;
  localhostProfile?: string;
}

export interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  procMount?: string;
  seccompProfile?: SeccompProfile;
  appArmorProfile?: { type?: string; localhostProfile?: string };
  seLinuxOptions?: { user?: string; role?: string; type?: string; level?: string };
  windowsOptions?: { hostProcess?: boolean };
}

export interface PodSecurityContext extends Omit<SecurityContext, 'privileged' | 'allowPrivilegeEscalation' | 'capabilities' | 'procMount'> {
  fsGroup?: number;
  supplementalGroups?: number[];
  sysctls?: Array<{ name: string; value?: string }>;
}

export interface Handler {
  httpGet?: { host?: string };
  tcpSocket?: { host?: string };
}

export interface Container {
  name: string;
  image?: string;
  securityContext?: SecurityContext;
  ports?: Array<{ containerPort?: number; hostPort?: number }>;
  livenessProbe?: Handler;
  readinessProbe?: Handler;
  startupProbe?: Handler;
  lifecycle?: { postStart?: Handler; preStop?: Handler };
}

export type Volume = { name: string } & Record<string, unknown>;

export interface PodSpec {
  os?: { name?: string };
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostUsers?: boolean;
  securityContext?: PodSecurityContext;
  containers?: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  volumes?: Volume[];
}

export interface PodMeta {
  name?: string;
  annotations?: Record<string, string>;
}

/** What one check says about one pod: data, never prose (the admission joins it into messages). */
export interface CheckResult {
  allowed: boolean;
  /** Short, e.g. `runAsNonRoot != true`. */
  forbiddenReason?: string;
  /** Which fields of which containers, e.g. `pod or container "a" must set securityContext.runAsNonRoot=true`. */
  forbiddenDetail?: string;
}

export type CheckPodFn = (meta: PodMeta, spec: PodSpec) => CheckResult;

export interface VersionedCheck {
  /** The first policy version this implementation applies to. */
  minimumVersion: Version;
  checkPod: CheckPodFn;
  /** Baseline checks this restricted check replaces (e.g. capabilities_restricted replaces capabilities_baseline). */
  overrideCheckIds?: string[];
}

export interface Check {
  id: string;
  level: Exclude<Level, 'privileged'>;
  /** Strictly increasing minimum versions. */
  versions: VersionedCheck[];
}

export const ALLOWED: CheckResult = Object.freeze({ allowed: true });
