/**
 * Who a container's processes are: uid, gid, supplementary groups,
 * no_new_privs and the capability bounding set — computed from the pod's and
 * the container's securityContext (the container wins) over the image's USER,
 * as the kubelet and containerd do, and applied inside the bubblewrap root with
 * util-linux `setpriv`, so the kernel really sees those credentials (files the
 * container writes are owned by them, and permission checks apply).
 */
import { ContainerConfigError } from './env.ts';

export interface Identity {
  uid: number;
  gid: number;
  /** Supplementary groups: the primary gid, fsGroup, then supplementalGroups (containerd's order; the kernel sorts). */
  groups: number[];
  /** allowPrivilegeEscalation: false → the no_new_privs bit (setuid binaries cannot raise privileges). */
  noNewPrivs: boolean;
  /** Capability bounding set (lower-case names without `cap_`), or 'all' for privileged containers. */
  capabilities: string[] | 'all';
}

/** containerd's default capability set for containers (non-privileged). */
export const DEFAULT_CAPABILITIES = ['chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap', 'net_bind_service', 'sys_chroot', 'kill', 'audit_write'];

interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
}

interface PodLike {
  metadata: { name?: string; namespace?: string; uid?: string };
  spec?: { securityContext?: SecurityContext & { fsGroup?: number; supplementalGroups?: number[] } };
}

/** The image's USER: `uid`, `uid:gid`, or a name (which cannot be verified as non-root). */
export function parseImageUser(user: string | undefined): { uid?: number; gid?: number; name?: string } {
  if (!user) return { uid: 0 };
  const [u, g] = user.split(':');
  const uid = /^\d+$/.test(u!) ? Number(u) : undefined;
  const gid = g !== undefined && /^\d+$/.test(g) ? Number(g) : undefined;
  return uid === undefined ? { name: u, ...(gid !== undefined ? { gid } : {}) } : { uid, ...(gid !== undefined ? { gid } : {}) };
}

/** `name_namespace(uid)`, the kubelet's format.Pod. */
function formatPod(pod: PodLike): string {
  return `${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
}

/**
 * The effective identity, or a ContainerConfigError with the kubelet's own
 * message when `runAsNonRoot` cannot be honoured (the container then waits in
 * CreateContainerConfigError).
 */
export function resolveIdentity(pod: PodLike, container: { name: string; securityContext?: SecurityContext }, imageUser: string | undefined, passwd: (uid: number) => number | undefined = () => undefined): Identity {
  const psc = pod.spec?.securityContext ?? {};
  const csc = container.securityContext ?? {};
  const runAsUser = csc.runAsUser ?? psc.runAsUser;
  const runAsGroup = csc.runAsGroup ?? psc.runAsGroup;
  const runAsNonRoot = csc.runAsNonRoot ?? psc.runAsNonRoot;
  const image = parseImageUser(imageUser);
  const where = `(pod: ${JSON.stringify(formatPod(pod))}, container: ${container.name})`;
  if (runAsNonRoot) {
    if (runAsUser !== undefined) {
      if (runAsUser === 0) throw new ContainerConfigError(`container's runAsUser breaks non-root policy ${where}`);
    } else if (image.uid === undefined) {
      throw new ContainerConfigError(`container has runAsNonRoot and image has non-numeric user (${image.name}), cannot verify user is non-root ${where}`);
    } else if (image.uid === 0) {
      throw new ContainerConfigError(`container has runAsNonRoot and image will run as root ${where}`);
    }
  }
  if (runAsUser === undefined && image.uid === undefined) throw new ContainerConfigError(`unable to find user ${image.name}: no matching entries in passwd file`);
  const uid = runAsUser ?? image.uid!;
  // Without runAsGroup: the image's group, else the user's passwd entry, else root (as containerd does).
  const gid = runAsGroup ?? (runAsUser === undefined ? image.gid : undefined) ?? passwd(uid) ?? 0;
  const groups = [...new Set([gid, ...(psc.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc.supplementalGroups ?? [])])];
  const privileged = csc.privileged === true;
  let capabilities: Identity['capabilities'] = 'all';
  if (!privileged) {
    const norm = (c: string) => c.toLowerCase().replace(/^cap_/, '');
    const drop = (csc.capabilities?.drop ?? []).map(norm);
    const set = new Set(drop.includes('all') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)));
    for (const c of csc.capabilities?.add ?? []) set.add(norm(c));
    capabilities = [...set];
  }
  // Kubernetes: privilege escalation is always allowed for privileged containers.
  const noNewPrivs = !privileged && csc.allowPrivilegeEscalation === false;
  return { uid, gid, groups, noNewPrivs, capabilities };
}

/** The `setpriv` prefix that turns the container's root into `id` before exec'ing its command. */
export function setprivArgv(id: Identity): string[] {
  const a = ['/usr/bin/setpriv', `--reuid=${id.uid}`, `--regid=${id.gid}`, id.groups.length ? `--groups=${id.groups.join(',')}` : '--clear-groups'];
  if (id.capabilities !== 'all') a.push(`--bounding-set=-all${id.capabilities.map((c) => `,+${c}`).join('')}`);
  if (id.noNewPrivs) a.push('--no-new-privs');
  a.push('--');
  return a;
}

/** HOME for the user, as containerd derives it from the image's /etc/passwd (`/` when the uid has no entry). */
export function homeFor(uid: number): string {
  return uid === 0 ? '/root' : uid === 65534 ? '/nonexistent' : '/';
}
