import { Writable } from 'node:stream';
import { Exec, type V1Status } from '@kubernetes/client-node';
import type { KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/types.ts';
import { WELL_KNOWN } from '../../kube/discovery.ts';
import { type BlueprintFunction, type FunctionContext, type FunctionResult, PhaseError, parseOutputLines, tail } from '../types.ts';

export interface KubeExecArgs {
  namespace: string;
  pod?: string;
  workload?: { kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string };
  container?: string;
  command: string[];
}

/** Output captured per stream; beyond this the phase fails rather than exhaust memory (stream dumps to a PVC instead). */
export const MAX_CAPTURE_BYTES = 256 * 1024 * 1024;

/** Runs a command in a running container over the exec subresource (WebSocket, like kubectl exec). */
export const KubeExec: BlueprintFunction = {
  name: 'KubeExec',
  async run(raw, ctx) {
    const args = raw as unknown as KubeExecArgs;
    const pod = args.pod ? await readPod(ctx.client, args.namespace, args.pod) : await readyPodOf(ctx.client, args.namespace, args.workload!);
    const containers = ((pod.spec as { containers?: { name: string }[] }).containers ?? []).map((c) => c.name);
    const container = args.container ?? containers[0]!;
    if (!containers.includes(container)) throw new PhaseError(`container "${container}" not found in pod ${args.namespace}/${pod.metadata.name} (containers: ${containers.join(', ')})`);
    ctx.log?.(`exec in ${args.namespace}/${pod.metadata.name} [${container}]: ${args.command.join(' ')}`);
    const r = await execInPod(ctx.client, args.namespace, pod.metadata.name, container, args.command, ctx.signal);
    if (r.exitCode !== 0) {
      if (r.message && !r.exitedWithCode) {
        throw new PhaseError(`exec of ${JSON.stringify(args.command.join(' '))} in pod ${args.namespace}/${pod.metadata.name} [${container}] failed: ${r.message}`, r.stdout, r.stderr);
      }
      const detail = tail(r.stderr) || tail(r.stdout) || r.message || '';
      const refs = secretEnvUsed(pod, container, args.command);
      const creds = refs.length ? `\n(credentials the command used: ${refs.join('; ')})` : '';
      throw new PhaseError(`command ${JSON.stringify(args.command.join(' '))} in pod ${args.namespace}/${pod.metadata.name} exited with ${r.exitCode}${detail ? `:\n${detail}` : ''}${creds}`, r.stdout, r.stderr);
    }
    return { output: { ...parseOutputLines(r.stdout.toString('utf8')), pod: pod.metadata.name, exitCode: '0' }, stdout: r.stdout, stderr: r.stderr };
  },
};

/**
 * The container's environment variables that come from a Secret and that the command mentions (`$NAME`, `${NAME`),
 * as `POSTGRES_PASSWORD from Secret shop/pg-credentials key "password"`: when a database refuses a password, the
 * failure names where that password lives — never its value.
 */
export function secretEnvUsed(pod: KubeObject, container: string, command: string[]): string[] {
  const c = ((pod.spec as { containers?: { name: string; env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] }[] }).containers ?? []).find((x) => x.name === container);
  const text = command.join(' ');
  const out: string[] = [];
  for (const e of c?.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (!ref) continue;
    if (!new RegExp(`\\$\\{?${e.name}(?![A-Za-z0-9_])`).test(text)) continue;
    out.push(`${e.name} from Secret ${pod.metadata.namespace}/${ref.name} key "${ref.key}"`);
  }
  return out;
}

async function readPod(client: KubeClient, namespace: string, name: string): Promise<KubeObject> {
  const pod = await client.find(WELL_KNOWN.Pod!.apiVersion, 'pods', namespace, name);
  if (!pod) throw new PhaseError(`pod ${namespace}/${name} not found`);
  return pod;
}

/** `matchLabels` + `matchExpressions` as a label selector string for list calls. */
export function labelSelectorString(sel: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const vals = `(${(e.values ?? []).join(',')})`;
    if (e.operator === 'In') parts.push(`${e.key} in ${vals}`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin ${vals}`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export function isPodReady(p: KubeObject): boolean {
  const st = p.status as { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
  return !p.metadata.deletionTimestamp && st?.phase === 'Running' && !!st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** A ready pod of the workload, chosen deterministically (lowest name: `db-0` of a StatefulSet, the primary by convention). */
export async function readyPodOf(client: KubeClient, namespace: string, w: { kind: string; name: string }): Promise<KubeObject> {
  const info = WELL_KNOWN[w.kind];
  if (!info) throw new PhaseError(`unsupported workload kind ${w.kind}`);
  const workload = await client.find(info.apiVersion, info.plural, namespace, w.name);
  if (!workload) throw new PhaseError(`${w.kind} ${namespace}/${w.name} not found`);
  const selector = labelSelectorString((workload.spec as { selector?: Parameters<typeof labelSelectorString>[0] }).selector);
  if (!selector) throw new PhaseError(`${w.kind} ${namespace}/${w.name} has no pod selector`);
  const pods = await client.list('v1', 'pods', namespace, { labelSelector: selector });
  const ready = pods.filter(isPodReady).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name, 'en', { numeric: true }));
  if (!ready.length) throw new PhaseError(`${w.kind} ${namespace}/${w.name} has no ready pod (${pods.length} pod(s) match ${selector})`);
  return ready[0]!;
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  /** The API's message when the exec itself failed (container not found, not running). */
  message?: string;
  /** True when the command ran and exited (the Status carried an ExitCode), false when exec itself failed. */
  exitedWithCode: boolean;
}

/** Collects a stream into memory up to a bound. */
class Capture extends Writable {
  readonly chunks: Buffer[] = [];
  size = 0;
  overflow = false;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > MAX_CAPTURE_BYTES) this.overflow = true;
    else this.chunks.push(Buffer.from(chunk));
    cb();
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * One exec call. The exit code comes from the final v1.Status on the error channel (`Success`, or `Failure` with an
 * `ExitCode` cause), which is how kubectl learns it too.
 */
export async function execInPod(client: KubeClient, namespace: string, pod: string, container: string, command: string[], signal?: AbortSignal): Promise<ExecResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  let status: V1Status | undefined;
  const exec = new Exec(client.kc);
  let ws: Awaited<ReturnType<Exec['exec']>>;
  try {
    ws = await exec.exec(namespace, pod, container, command, stdout, stderr, null, false, (s) => {
      status = s;
    });
  } catch (e) {
    throw new PhaseError(`exec into ${namespace}/${pod} [${container}] failed: ${(e as Error).message ?? String(e)}`);
  }
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      ws.close();
      reject(new PhaseError(`exec into ${namespace}/${pod} cancelled: ${String(signal?.reason ?? 'aborted')}`, stdout.data, stderr.data));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.on('close', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    ws.on('error', (e: Error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new PhaseError(`exec into ${namespace}/${pod} failed: ${e.message}`, stdout.data, stderr.data));
    });
  });
  if (stdout.overflow || stderr.overflow) throw new PhaseError(`output of exec in ${namespace}/${pod} exceeds ${MAX_CAPTURE_BYTES} bytes; write large dumps to a volume instead`);
  return {
    exitCode: exitCodeOf(status),
    stdout: stdout.data,
    stderr: stderr.data,
    message: status?.status === 'Success' ? undefined : (status?.message ?? (status ? undefined : 'the exec stream closed without a status')),
    exitedWithCode: status?.status === 'Success' || !!status?.details?.causes?.some((c) => c.reason === 'ExitCode'),
  };
}

/** Exit code from the exec Status; no Status at all (connection dropped) counts as failure. */
export function exitCodeOf(status: V1Status | undefined): number {
  if (!status) return -1;
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const n = cause?.message ? Number.parseInt(cause.message, 10) : Number.NaN;
  return Number.isFinite(n) ? n : 1;
}

export type { FunctionContext, FunctionResult };
