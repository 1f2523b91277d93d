/**
 * `coffer sandbox up|down|status`: run the local sandbox cluster. `up` stays
 * in the foreground (Ctrl-C stops it) unless `--detach`, which starts it in
 * the background with its pid in DIR/sandbox.pid for `down`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './args.ts';
import { sandboxNotReady } from './doctor/local.ts';
import type { CliIO, Command } from './io.ts';
import { UsageError } from './io.ts';

class SandboxError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}

const HELP = `Usage: coffer sandbox COMMAND [flags]

Run a local Kubernetes API server (with storage, snapshots and pods) for demos and tests.

Commands:
  up      Start the sandbox (foreground; --detach to run in the background)
  down    Stop a detached sandbox
  status  Show whether the sandbox in DIR is running

Flags:
  --dir DIR        State directory (default: .coffer/sandbox, or $COFFER_SANDBOX_DIR)
  --port PORT      Port on 127.0.0.1 (default: the previous port in DIR, else a free one)
  -d, --detach     (up) Run in the background; stop with 'coffer sandbox down'
  --no-controllers (up) API server only: no storage/workload controllers, no pods
  --nodes N        (up) Register N nodes, 1-64 (default: as the last 'up' in DIR, else 1)
  -o, --output     table|json (default table)
`;

function stateDir(io: CliIO, dir: string | undefined): string {
  return resolve(io.cwd, dir ?? io.env.COFFER_SANDBOX_DIR ?? '.coffer/sandbox');
}

/** A process that exists and is not a zombie (a killed detached sandbox stays a zombie until its reaper runs). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function readPid(dir: string): number | undefined {
  const f = join(dir, 'sandbox.pid');
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return alive(pid) ? pid : undefined;
}

function previousPort(dir: string): number {
  const f = join(dir, 'port');
  if (!existsSync(f)) return 0;
  const p = Number(readFileSync(f, 'utf8').trim());
  return Number.isInteger(p) && p > 0 && p < 65536 ? p : 0;
}

function usageLines(dir: string, url: string): string {
  return `Sandbox cluster running at ${url} (state in ${dir})\n\nTo use it:\n  export KUBECONFIG=${join(dir, 'kubeconfig')}\n  kubectl get namespaces\n`;
}

async function waitReady(url: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function up(io: CliIO, values: Record<string, unknown>): Promise<number> {
  const dir = stateDir(io, values.dir as string | undefined);
  const json = values.output === 'json';
  const running = readPid(dir);
  if (running) throw new SandboxError('E_SANDBOX_RUNNING', `a sandbox is already running from ${dir} (pid ${running}); stop it with 'coffer sandbox down --dir ${dir}'`);
  let port = previousPort(dir);
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: "${values.port}" is not a port number (0-65535)`);
  }
  let nodes: number | undefined;
  if (values.nodes !== undefined) {
    const { validateNodeCount } = await import('../sandbox/controllers/node.ts');
    try {
      nodes = validateNodeCount(values.nodes);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  mkdirSync(dir, { recursive: true });

  if (values.detach) {
    const log = openSync(join(dir, 'sandbox.log'), 'a');
    // This CLI again: cli/coffer.js in a checkout, the bundle's entry in a build (no sources next to it there).
    const coffer = fileURLToPath(new URL(existsSync(new URL('./main.ts', import.meta.url)) ? './coffer.js' : '../lib/coffer.mjs', import.meta.url));
    const args = [coffer, 'sandbox', 'up', '--dir', dir, '--port', String(port), ...(values['no-controllers'] ? ['--no-controllers'] : []), ...(nodes ? ['--nodes', String(nodes)] : [])];
    rmSync(join(dir, 'ready'), { force: true });
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log, log], env: { ...io.env, COFFER_SANDBOX_CHILD: '1' } });
    child.unref();
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      if (existsSync(join(dir, 'ready'))) break;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!existsSync(join(dir, 'ready'))) throw new SandboxError('E_SANDBOX_START', `the sandbox did not start; see ${join(dir, 'sandbox.log')}`);
    const url = readFileSync(join(dir, 'ready'), 'utf8').trim();
    if (json) io.stdout.write(`${JSON.stringify({ dir, url, kubeconfig: join(dir, 'kubeconfig'), pid: child.pid })}\n`);
    else io.stdout.write(`${usageLines(dir, url)}  coffer sandbox down --dir ${dir}   # to stop it\n`);
    return 0;
  }

  const { startSandbox } = await import('../sandbox/index.ts');
  const start = (p: number) => startSandbox({ dir, port: p, controllers: !values['no-controllers'], nodes, log: (l) => io.stderr.write(`${l}\n`) });
  let sb: Awaited<ReturnType<typeof start>>;
  try {
    sb = await start(port);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
    // The port remembered from the last run is taken now: pick a free one; an explicit --port is the user's call.
    if (values.port !== undefined) throw new SandboxError('E_SANDBOX_PORT', `--port: 127.0.0.1:${port} is already in use`);
    sb = await start(0);
  }
  writeFileSync(join(dir, 'sandbox.pid'), `${process.pid}\n`);
  writeFileSync(join(dir, 'port'), `${new URL(sb.url).port}\n`);
  writeFileSync(join(dir, 'ready'), `${sb.url}\n`);
  if (!(await waitReady(sb.url, 5000))) throw new SandboxError('E_SANDBOX_START', 'the sandbox API server did not become ready');
  if (json) io.stdout.write(`${JSON.stringify({ dir, url: sb.url, kubeconfig: sb.kubeconfigPath, pid: process.pid })}\n`);
  else if (!io.env.COFFER_SANDBOX_CHILD) io.stdout.write(`${usageLines(dir, sb.url)}\nPress Ctrl-C to stop.\n`);
  else io.stdout.write(`sandbox up at ${sb.url}\n`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await sb.stop();
  rmSync(join(dir, 'sandbox.pid'), { force: true });
  rmSync(join(dir, 'ready'), { force: true });
  if (!json) io.stdout.write('sandbox stopped\n');
  return 0;
}

async function down(io: CliIO, values: Record<string, unknown>): Promise<number> {
  const dir = stateDir(io, values.dir as string | undefined);
  const pid = readPid(dir);
  if (!pid) throw new SandboxError('E_SANDBOX_NOT_RUNNING', `no sandbox is running from ${dir}`);
  process.kill(pid, 'SIGTERM');
  const until = Date.now() + 20_000;
  while (Date.now() < until && alive(pid)) await new Promise((r) => setTimeout(r, 100));
  let forced = false;
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    forced = true;
  }
  rmSync(join(dir, 'sandbox.pid'), { force: true });
  rmSync(join(dir, 'ready'), { force: true });
  if (values.output === 'json') io.stdout.write(`${JSON.stringify({ dir, stopped: true, forced })}\n`);
  else io.stdout.write(`sandbox stopped${forced ? ' (killed after 20s)' : ''}; state kept in ${dir}\n`);
  return 0;
}

async function status(io: CliIO, values: Record<string, unknown>): Promise<number> {
  const dir = stateDir(io, values.dir as string | undefined);
  const pid = readPid(dir);
  const url = pid && existsSync(join(dir, 'ready')) ? readFileSync(join(dir, 'ready'), 'utf8').trim() : undefined;
  if (values.output === 'json') io.stdout.write(`${JSON.stringify({ dir, running: !!pid, pid: pid ?? null, url: url ?? null, kubeconfig: join(dir, 'kubeconfig') })}\n`);
  else io.stdout.write(pid ? `running (pid ${pid}) at ${url}\n  export KUBECONFIG=${join(dir, 'kubeconfig')}\n` : `not running (state in ${dir})\n`);
  return pid ? 0 : 3;
}

export const run: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      port: { type: 'string' },
      detach: { type: 'boolean', short: 'd' },
      'no-controllers': { type: 'boolean' },
      nodes: { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length === 0) {
    io.stdout.write(HELP);
    return values.help ? 0 : 1;
  }
  if (values.output !== undefined && !['json', 'table'].includes(values.output)) throw new UsageError(`--output: "${values.output}" is not one of table|json`);
  switch (positionals[0]) {
    case 'up': {
      // Without controllers no Pod runs, so bubblewrap is not needed.
      const notReady = values['no-controllers'] ? undefined : await sandboxNotReady(io.env);
      if (notReady) throw new UsageError(`the sandbox runs Pods with ${notReady}`);
      return up(io, values);
    }
    case 'down':
      return down(io, values);
    case 'status':
      return status(io, values);
    default:
      throw new UsageError(`unknown sandbox command "${positionals[0]}" (expected up, down or status)`);
  }
};
