import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';

/** One finding: `ok` lines say what was found, problems say how to fix them. */
export interface Finding {
  check: string;
  ok: boolean;
  /** What was found (ok) or what is wrong (problem). */
  detail: string;
  /** For problems: the command or step that fixes it. */
  fix?: string;
  /** Optional tools only warn: their absence does not make doctor fail. */
  optional?: boolean;
}

/** Where a command would be found on PATH (no shell, no spawn: cheap enough for the demo to call first). */
export function which(cmd: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 15_000, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}`.trim() }));
  });
}

/** package.json engines: >=20.19 (require(esm) and import attributes without flags). */
export function checkNode(version: string): Finding {
  const [major = 0, minor = 0] = (/^v?(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  return major > 20 || (major === 20 && minor >= 19)
    ? { check: 'node', ok: true, detail: `Node.js ${version}` }
    : { check: 'node', ok: false, detail: `Node.js ${version} is too old; Coffer needs 20.19 or newer`, fix: 'install Node.js 22 LTS (https://nodejs.org or your distribution)' };
}

/**
 * bubblewrap runs the sandbox cluster's containers. Found is not enough: a kernel or container without unprivileged
 * user namespaces makes it fail at the first Pod, so it is run once (`bwrap … true`), as the sandbox would.
 */
export async function checkBwrap(env: NodeJS.ProcessEnv): Promise<Finding> {
  const path = which('bwrap', env);
  if (!path) return { check: 'bwrap', ok: false, detail: 'bubblewrap (bwrap) is not installed: the sandbox cluster cannot start Pods', fix: 'sudo apt-get install bubblewrap   (Fedora: dnf install bubblewrap; macOS: use a Linux VM)' };
  const r = await run(path, ['--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--unshare-pid', 'true'], env);
  return r.ok
    ? { check: 'bwrap', ok: true, detail: `bubblewrap at ${path} runs a container` }
    : { check: 'bwrap', ok: false, detail: `bubblewrap at ${path} cannot create a container: ${r.out.split('\n')[0]}`, fix: 'enable unprivileged user namespaces: sudo sysctl -w kernel.unprivileged_userns_clone=1 (and kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04)' };
}

export function checkTool(cmd: string, env: NodeJS.ProcessEnv, why: string, fix: string, optional = false): Finding {
  const path = which(cmd, env);
  return path ? { check: cmd, ok: true, detail: `${cmd} at ${path}` } : { check: cmd, ok: false, detail: `${cmd} is not installed: ${why}`, fix, optional };
}

export function checkChromium(env: NodeJS.ProcessEnv): Finding {
  const found = ['chromium', 'chromium-browser', 'google-chrome'].map((c) => which(c, env)).find(Boolean);
  return found
    ? { check: 'chromium', ok: true, detail: `Chromium at ${found}` }
    : { check: 'chromium', ok: false, detail: 'Chromium is not installed: the dashboard tests need it', fix: 'sudo apt-get install chromium', optional: true };
}

/**
 * The Debian servers and clients behind the sandbox's postgres:15, mariadb:10.11, redis:7 and etcd images
 * (sandbox/runtime/images/databases.ts), by the package the README installs (it pulls in the clients), looked up where
 * those containers look: PostgreSQL in its versioned directory, the rest on the containers' fixed PATH (a user's PATH
 * often lacks /usr/sbin, where mariadbd is).
 */
const DATABASE_BINARIES: readonly (readonly [pkg: string, binary: string])[] = [
  ['postgresql-15', '/usr/lib/postgresql/15/bin/postgres'],
  ['postgresql-15', '/usr/lib/postgresql/15/bin/psql'],
  ['mariadb-server', 'mariadbd'],
  ['mariadb-server', 'mariadb'],
  ['redis-server', 'redis-server'],
  ['redis-tools', 'redis-cli'],
  ['etcd-server', 'etcd'],
  ['etcd-client', 'etcdctl'],
];
const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const installed = (binary: string) => (binary.startsWith('/') ? which(basename(binary), { PATH: dirname(binary) }) : which(binary, { PATH: CONTAINER_PATH })) !== undefined;

/** Only the database suites and `npm run bench:databases` need them: missing ones warn, naming the packages. */
export function checkDatabases(found: (binary: string) => boolean = installed): Finding {
  const missing = [...new Set(DATABASE_BINARIES.filter(([, b]) => !found(b)).map(([pkg]) => pkg))];
  return missing.length
    ? { check: 'databases', ok: false, detail: `${missing.join(', ')} not installed: the database suites run them behind the sandbox's database images`, fix: `sudo apt-get install ${missing.join(' ')}`, optional: true }
    : { check: 'databases', ok: true, detail: 'PostgreSQL 15, MariaDB, Redis and etcd servers and clients' };
}

/** Everything doctor checks on this machine, in the order a first run needs them. */
export async function localFindings(env: NodeJS.ProcessEnv, nodeVersion = process.version): Promise<Finding[]> {
  return [
    checkNode(nodeVersion),
    await checkBwrap(env),
    checkTool('git', env, 'policies are read from Git and CI runs git', 'sudo apt-get install git'),
    checkTool('sqlite3', env, "the demo's app keeps its data in SQLite and its blueprint runs sqlite3", 'sudo apt-get install sqlite3'),
    checkChromium(env),
    checkTool('restic', env, 'npm run bench:mover compares against it', 'sudo apt-get install restic', true),
    checkTool('kubectl', env, 'handy against the sandbox (export KUBECONFIG=…)', 'install kubectl: https://kubernetes.io/docs/tasks/tools/', true),
    checkDatabases(),
  ];
}

/** One line per finding: `ok`, `warn` (optional) or `FAIL`, with the fix on the problem's line. */
export function formatFindings(fs: Finding[]): string {
  return fs.map((f) => `${f.ok ? 'ok  ' : f.optional ? 'warn' : 'FAIL'}  ${f.check.padEnd(12)} ${f.detail}${f.ok ? '' : f.fix ? ` — fix: ${f.fix}` : ''}\n`).join('');
}

export const problems = (fs: Finding[]) => fs.filter((f) => !f.ok && !f.optional);

/**
 * What the demo and `sandbox up` check before anything else: without a working bubblewrap the first Pod would wait
 * out its timeout (120 s) and fail without naming the cause. Returns the error text, or undefined when ready.
 */
export async function sandboxNotReady(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const f = await checkBwrap(env);
  return f.ok ? undefined : `${f.detail}\n  fix: ${f.fix}\n  (coffer doctor --local checks everything this machine needs)`;
}
