/**
 * Builds the bubblewrap command line for one container: a root made of the
 * host's read-only /usr (plus the merged-/usr symlinks), a private /proc, /dev
 * and /tmp, the pod's /etc files, and each volume bound at its mountPath. Pure:
 * the kubelet computes the plan, this turns it into argv, tests read the argv.
 * The environment is not part of argv (argv is world-readable in /proc): the
 * caller hands it to bwrap as bwrap's own environment, which it passes on.
 */
import path from 'node:path';
import { setprivArgv, type Identity } from './identity.ts';

export interface Mount {
  /** Host path. */
  source: string;
  /** Path inside the container. */
  target: string;
  readOnly: boolean;
}

export interface ContainerSandbox {
  hostname: string;
  /** Host files bound read-only into /etc (name → host path). */
  etcFiles: Record<string, string>;
  /** Host directory bound as the container's /tmp (so `exec` sees the same /tmp). */
  tmpDir: string;
  mounts: Mount[];
  /** The container's environment: given to bwrap/nsenter as their process environment, never on a command line. */
  env: Record<string, string>;
  workingDir: string;
  argv: string[];
  /** Credentials the command runs with (applied by `setpriv` inside the root); absent = bwrap's own (root). */
  identity?: Identity;
  /** securityContext.readOnlyRootFilesystem. */
  readOnlyRoot?: boolean;
  /** A network namespace of its own (loopback only), for servers that must not clash on a host port. */
  privateNetwork?: boolean;
}

/** Host /etc entries every image sees: dynamic linker cache, certificates, name service config. */
export const HOST_ETC_ENTRIES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'ssl',
  'ca-certificates',
  'ca-certificates.conf',
  'nsswitch.conf',
  'localtime',
  'os-release',
  'debian_version',
  'protocols',
  'services',
  'mime.types',
  'gitconfig',
];

/** Paths of host's merged-/usr layout, recreated as symlinks in the container root. */
const USR_SYMLINKS: Array<[string, string]> = [
  ['usr/bin', '/bin'],
  ['usr/sbin', '/sbin'],
  ['usr/lib', '/lib'],
  ['usr/lib64', '/lib64'],
];

/** Directories the root already has (bound or created above the volumes). */
const FIXED_DIRS = new Set(['/usr', '/proc', '/dev', '/tmp', '/var', '/run', '/root', '/etc']);

/**
 * argv for `bwrap` (without the binary itself). `--as-pid-1` makes the
 * container's process PID 1 of its PID namespace, so signals behave as in a
 * container (PID 1 ignores SIGTERM it does not handle); `--info-fd 3` reports
 * the host PID that `exec` later enters with nsenter.
 */
export function bwrapArgs(s: ContainerSandbox, opts: { infoFd?: number } = {}): string[] {
  const a: string[] = ['--die-with-parent', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--as-pid-1', '--new-session'];
  if (s.privateNetwork) a.push('--unshare-net');
  a.push('--hostname', s.hostname);
  a.push('--ro-bind', '/usr', '/usr');
  for (const [target, link] of USR_SYMLINKS) a.push('--symlink', target, link);
  a.push('--proc', '/proc', '--dev', '/dev');
  a.push(s.readOnlyRoot ? '--ro-bind' : '--bind', s.tmpDir, '/tmp');
  a.push('--dir', '/var', '--dir', '/run', '--symlink', '../tmp', '/var/tmp', '--dir', '/root', '--dir', '/etc');
  for (const [name, host] of Object.entries(s.etcFiles).sort(([x], [y]) => x.localeCompare(y))) a.push('--ro-bind', host, `/etc/${name}`);
  // Shorter targets first so a volume at /data/sub lands inside a volume at /data.
  const mounts = [...s.mounts].sort((x, y) => x.target.split('/').length - y.target.split('/').length || x.target.localeCompare(y.target));
  // bwrap makes missing parents of a mount point 0700: a non-root user could not reach /data/demo through /data.
  const parents = new Set<string>();
  for (const m of mounts) for (let d = path.posix.dirname(m.target); d !== '/' && !FIXED_DIRS.has(d); d = path.posix.dirname(d)) parents.add(d);
  for (const d of [...parents].sort((x, y) => x.split('/').length - y.split('/').length || x.localeCompare(y))) a.push('--perms', '0755', '--dir', d);
  for (const m of mounts) a.push(m.readOnly ? '--ro-bind' : '--bind', m.source, m.target);
  // readOnlyRootFilesystem: the root (and /tmp, part of the writable layer) read-only; volumes keep their own mode.
  if (s.readOnlyRoot) a.push('--remount-ro', '/');
  // The runtime creates a missing workingDir (redis' /data without a volume), as container engines do.
  if (s.workingDir && s.workingDir !== '/' && !s.mounts.some((m) => m.target === s.workingDir)) a.push('--dir', s.workingDir);
  a.push('--chdir', s.workingDir || '/');
  if (opts.infoFd !== undefined) a.push('--info-fd', String(opts.infoFd));
  a.push('--', ...(s.identity ? setprivArgv(s.identity) : []), ...s.argv);
  return a;
}
