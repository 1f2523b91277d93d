/**
 * One running container: a bubblewrap process with its log writer, the host PID
 * of its PID-1 (for nsenter-based exec), and a graceful kill (SIGTERM, grace
 * period, SIGKILL) the way a kubelet stops containers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import path from 'node:path';
import { bwrapArgs, type ContainerSandbox } from './bwrap.ts';
import { setprivArgv, type Identity } from './identity.ts';
import { LogWriter } from './logfile.ts';

export interface ExitStatus {
  exitCode: number;
  signal?: string;
  reason: 'Completed' | 'Error' | 'OOMKilled' | 'StartError';
  message?: string;
  startedAt: string;
  finishedAt: string;
}

/** Maps a path inside the container to the host path that backs it (or undefined). */
export function hostPathFor(sandbox: ContainerSandbox, p: string): string | undefined {
  const norm = path.posix.normalize(p);
  const mounts = [...sandbox.mounts].sort((a, b) => b.target.length - a.target.length);
  for (const m of mounts) {
    if (norm === m.target || norm.startsWith(m.target + '/')) return path.join(m.source, norm.slice(m.target.length));
  }
  for (const prefix of ['/bin', '/sbin', '/lib', '/lib64']) {
    if (norm === prefix || norm.startsWith(prefix + '/')) return '/usr' + norm;
  }
  if (norm === '/usr' || norm.startsWith('/usr/')) return norm;
  if (norm.startsWith('/tmp/')) return path.join(sandbox.tmpDir, norm.slice(5));
  return undefined;
}

/** Finds argv[0] the way execvp would inside the container; returns an error message if it cannot run. */
export function checkExecutable(sandbox: ContainerSandbox, argv0: string | undefined): string | undefined {
  if (!argv0) return 'no command specified';
  const isExec = (p: string | undefined) => {
    try {
      return p !== undefined && existsSync(p) && statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0;
    } catch {
      return false;
    }
  };
  if (argv0.includes('/')) {
    const abs = argv0.startsWith('/') ? argv0 : path.posix.join(sandbox.workingDir || '/', argv0);
    const host = hostPathFor(sandbox, abs);
    // Paths we cannot map (e.g. inside /etc) are left for bwrap to judge.
    if (host === undefined || isExec(host)) return undefined;
    return `exec: "${argv0}": stat ${argv0}: no such file or directory`;
  }
  const dirs = (sandbox.env.PATH ?? '/usr/bin:/bin').split(':');
  for (const d of dirs) if (isExec(hostPathFor(sandbox, path.posix.join(d, argv0)))) return undefined;
  return `exec: "${argv0}": executable file not found in $PATH`;
}

/** Resolves once `pid` no longer runs the bwrap binary (it exec'd the container's command), it exited, or 5 s passed. */
async function waitForExec(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    let exe: string;
    try {
      exe = await readlink(`/proc/${pid}/exe`);
    } catch {
      return; // gone (or unreadable): let the exit path report it
    }
    if (!/(^|\/)bwrap( \(deleted\))?$/.test(exe) || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

export class ContainerProcess {
  readonly startedAt = isoSeconds();
  /** Host PID of the container's PID 1, known once bwrap reports it. */
  hostPid: number | undefined;
  readonly exited: Promise<ExitStatus>;
  /** Resolves once bwrap reports the container's PID (or the process ended first): the container is running. */
  readonly started: Promise<number | undefined>;
  private startedResolve!: (pid: number | undefined) => void;
  private readonly child: ChildProcess;
  private readonly logs: LogWriter;
  /** When the SIGKILL of a stop under way is due (ms since the epoch), and its timer. */
  private killAt: number | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    readonly sandbox: ContainerSandbox,
    logFile: string,
    opts: { stdin?: boolean; bwrap?: string } = {},
  ) {
    this.logs = new LogWriter(logFile);
    this.started = new Promise((r) => (this.startedResolve = r));
    this.child = spawn(opts.bwrap ?? BWRAP, bwrapArgs(sandbox, { infoFd: 3 }), {
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'],
      // bwrap passes its environment to the container: values stay out of every command line.
      env: sandbox.env,
    });
    let info = '';
    const infoStream = this.child.stdio[3] as NodeJS.ReadableStream | null;
    infoStream?.on('data', (c: Buffer) => {
      info += c.toString();
      const m = /"child-pid":\s*(\d+)/.exec(info);
      if (m && this.hostPid === undefined) {
        const pid = Number(m[1]);
        // bwrap reports the PID right after clone(), before it builds the mount namespace and execs the command:
        // an exec entering the namespaces then would find no /usr. Running means the command has replaced bwrap.
        void waitForExec(pid).then(() => {
          this.hostPid = pid;
          this.startedResolve(pid);
        });
      }
    });
    infoStream?.on('error', () => {});
    this.child.stdout!.on('data', (c: Buffer) => this.logs.write('stdout', c));
    this.child.stderr!.on('data', (c: Buffer) => this.logs.write('stderr', c));
    this.exited = new Promise<ExitStatus>((resolve) => {
      let spawnError: Error | undefined;
      this.child.on('error', (e) => (spawnError = e));
      // 'close' waits for every holder of the stdio pipes; if bwrap is gone but something still holds them, give up after 2 s.
      this.child.on('exit', () => {
        setTimeout(() => {
          if (!this.done) {
            this.child.stdout?.destroy();
            this.child.stderr?.destroy();
            (this.child.stdio[3] as NodeJS.ReadableStream & { destroy?: () => void } | null)?.destroy?.();
          }
        }, 2000).unref();
      });
      this.child.on('close', async (code, signal) => {
        this.done = true;
        this.startedResolve(this.hostPid);
        await this.logs.close();
        const finishedAt = isoSeconds();
        if (spawnError) {
          resolve({ exitCode: 128, reason: 'StartError', message: spawnError.message, startedAt: this.startedAt, finishedAt });
          return;
        }
        const exitCode = code ?? 128 + (signal ? signalNumber(signal) : 9);
        resolve({ exitCode, signal: signal ?? undefined, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: this.startedAt, finishedAt });
      });
    });
  }

  get stdin(): NodeJS.WritableStream | null {
    return this.child.stdin;
  }

  get running(): boolean {
    return !this.done;
  }

  /** Sends `signal` to the container's PID 1 (not to bwrap, which would just exit); a no-op before it is known. */
  signal(sig: NodeJS.Signals): void {
    if (this.done || !this.hostPid) return;
    try {
      process.kill(this.hostPid, sig);
    } catch {
      /* already gone */
    }
  }

  /**
   * SIGTERM, wait up to `graceSeconds`, then SIGKILL; resolves with the exit status. A later call with a shorter grace
   * brings the SIGKILL forward, never back (as a second delete with a shorter grace period does on a real cluster): a
   * sandbox shutting down (grace 0) does not wait out a pod's graceful termination already under way.
   */
  async stop(graceSeconds: number): Promise<ExitStatus> {
    if (this.done) return this.exited;
    const killAt = Date.now() + Math.max(0, graceSeconds) * 1000;
    if (this.killAt !== undefined && killAt >= this.killAt) return this.exited;
    const first = this.killAt === undefined;
    this.killAt = killAt;
    clearTimeout(this.killTimer);
    this.killTimer = setTimeout(() => {
      // PID 1 first (the kernel then kills its whole PID namespace), then bwrap itself.
      if (this.hostPid) this.signal('SIGKILL');
      try {
        this.child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }, killAt - Date.now());
    if (first) {
      void this.exited.finally(() => clearTimeout(this.killTimer));
      if (graceSeconds > 0) {
        // SIGTERM goes to the container's PID 1, never to bwrap (which would just leave): wait until it is known.
        void Promise.race([this.started, this.exited]).then(() => {
          if (this.hostPid && !this.done) this.signal('SIGTERM');
        });
      }
    }
    return this.exited;
  }
}

function signalNumber(sig: string): number {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };
  return table[sig] ?? 9;
}

/**
 * argv for running a command inside a running container (its mount and PID
 * namespaces, root and working directory) as the container's user. The
 * container's environment is not in argv: spawn nsenter with `env` = the
 * container's environment (see `spawnInContainer`).
 */
export function nsenterArgs(hostPid: number, workingDir: string, command: string[], identity?: Identity): string[] {
  // `-w` alone enters the target's cwd inside its root; env -C then moves to the container's workingDir.
  // `-n` is the host network for most containers and the container's own for database images.
  return ['-t', String(hostPid), '-m', '-p', '-u', '-i', '-n', '-r', '-w', '--', ...(identity ? setprivArgv(identity) : []), '/usr/bin/env', '-C', workingDir || '/', ...command];
}

/** Runs `command` inside a running container with its environment, working directory and credentials. */
export function spawnInContainer(hostPid: number, sandbox: ContainerSandbox, command: string[], opts: { stdin?: boolean; env?: Record<string, string> } = {}): ChildProcess {
  return spawn(NSENTER, nsenterArgs(hostPid, sandbox.workingDir, command, sandbox.identity), { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: opts.env ?? sandbox.env });
}

/** Absolute paths, because the spawn environment is the container's, whose PATH need not hold the host's tools. */
function hostBinary(name: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return name;
}
const NSENTER = hostBinary('nsenter');
const BWRAP = hostBinary('bwrap');

/** Kubernetes timestamps are RFC 3339 with second precision. */
export function isoSeconds(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
