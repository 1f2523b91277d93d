/**
 * The sandbox's kubelet, one process for every node: runs each pod bound to
 * one of `nodeNames` (by the scheduler, `controllers/scheduler/`) as
 * bubblewrap processes, publishing the
 * status a real kubelet would (phase, conditions, container states, restarts),
 * and finalizing graceful deletion (SIGTERM, grace period, SIGKILL).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApiError, isNotFound, type ApiClient, type KubeObject } from '../controllers/client.ts';
import type { EventRecorder } from '../controllers/events.ts';
import { type Informer, WorkQueue } from '../controllers/informer.ts';
import { HOST_ETC_ENTRIES, type ContainerSandbox } from './bwrap.ts';
import { checkExecutable, ContainerProcess, isoSeconds, type ExitStatus } from './container.ts';
import { ContainerConfigError, expandVars, resolveEnv } from './env.ts';
import { homeFor, resolveIdentity } from './identity.ts';
import { effectiveArgv, pullCofferImage, pullError, resolveImage, type ImageDefinition } from './images.ts';
import { type ContainerState, type ContainerView, podStatus, qosClass } from './podstatus.ts';
import { Prober, runLifecycleHook } from './probes.ts';
import { containerMounts, prepareVolumes, VolumeNotReady, type PreparedVolume } from './volumes.ts';
import { ProjectedTokens } from './sa-token.ts';

export interface KubeletOptions {
  api: ApiClient;
  pods: Informer;
  events: EventRecorder;
  nodeName: string;
  /** Every node this process serves (default: `nodeName` alone). */
  nodeNames?: string[];
  dataDir: string;
  log: (line: string) => void;
  /** First crash-loop delay; doubles per restart up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/** What exec/logs need about a live container. */
export interface LiveContainer {
  pod: KubeObject;
  name: string;
  proc: ContainerProcess | undefined;
  sandbox: ContainerSandbox | undefined;
  state: ContainerState;
  logDir: string;
  restartCount: number;
}

class ContainerRecord {
  proc: ContainerProcess | undefined;
  sandbox: ContainerSandbox | undefined;
  image: ImageDefinition | undefined;
  state: ContainerState = { waiting: { reason: 'ContainerCreating' } };
  lastState: ContainerState | Record<string, never> = {};
  restartCount = 0;
  ready = false;
  restartTimer: NodeJS.Timeout | undefined;
  /** start() is in flight (it awaits env and volume lookups): never start twice. */
  starting = false;
  prober: Prober | undefined;
  constructor(
    readonly spec: any,
    readonly init: boolean,
  ) {}
}

/** uid → primary gid of the users in every pod's /etc/passwd (written by writeEtc). */
const PASSWD_GID = new Map([
  [0, 0],
  [65534, 65534],
]);

export class PodWorker {
  readonly dir: string;
  readonly uid: string;
  private readonly init: ContainerRecord[];
  private readonly main: ContainerRecord[];
  private volumes: Map<string, PreparedVolume> | undefined;
  private podIP: string | undefined;
  private startTime: string | undefined;
  private initialized = false;
  private terminating = false;
  /** The grace period a graceful deletion began with (lowered by a later, shorter delete) and when it began. */
  private terminated: { grace: number; since: number } | undefined;
  private failed: { reason: string; message: string } | undefined;
  private lastPublished = '';
  private publishing: Promise<void> = Promise.resolve();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private warnedImages = new Set<string>();
  private readonly tokens: ProjectedTokens;

  constructor(
    public pod: KubeObject,
    private readonly k: KubeletOptions,
    private readonly requeue: (ms?: number) => void,
  ) {
    this.uid = pod.metadata.uid!;
    this.dir = podDir(k.dataDir, pod);
    this.tokens = new ProjectedTokens(k.api, { log: k.log });
    this.init = (pod.spec?.initContainers ?? []).map((c: any) => new ContainerRecord(c, true));
    this.main = (pod.spec?.containers ?? []).map((c: any) => new ContainerRecord(c, false));
    // Resume counts after a sandbox restart: the processes are gone, the history is not.
    const prev = new Map<string, any>([...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].map((s: any) => [s.name, s]));
    for (const r of [...this.init, ...this.main]) {
      const s = prev.get(r.spec.name);
      if (!s) continue;
      r.restartCount = s.restartCount ?? 0;
      if (s.state?.terminated) {
        r.state = s.state;
        r.lastState = s.lastState ?? {};
      } else if (s.state?.running) {
        r.lastState = { terminated: { exitCode: 137, reason: 'Error', message: 'sandbox restarted', startedAt: s.state.running.startedAt, finishedAt: isoSeconds() } };
        r.restartCount++;
      }
    }
    if (this.init.length > 0 && this.init.every((r) => 'terminated' in r.state && r.state.terminated.exitCode === 0)) this.initialized = true;
    if (this.init.length === 0) this.initialized = true;
    this.startTime = pod.status?.startTime;
    this.podIP = pod.status?.podIP;
  }

  get terminal(): boolean {
    const phase = this.pod.status?.phase;
    return phase === 'Succeeded' || phase === 'Failed';
  }

  container(name: string | undefined): { record: ContainerRecord | undefined; names: string[] } {
    const names = this.main.map((r) => r.spec.name);
    const all = [...this.main, ...this.init];
    if (!name) return { record: this.main.length === 1 ? this.main[0] : undefined, names };
    return { record: all.find((r) => r.spec.name === name), names };
  }

  live(name: string): LiveContainer | undefined {
    const r = [...this.main, ...this.init].find((c) => c.spec.name === name);
    if (!r) return undefined;
    return { pod: this.pod, name, proc: r.proc, sandbox: r.sandbox, state: r.state, logDir: path.join(this.dir, 'logs', name), restartCount: r.restartCount };
  }

  /** Host PIDs of the containers' PID 1 when the pod mounts `hostDir` (a volume's directory). */
  pidsUsing(hostDir: string): number[] {
    if (!this.volumes || ![...this.volumes.values()].some((v) => v.hostPath === hostDir)) return [];
    return [...this.init, ...this.main].map((r) => r.proc?.hostPid).filter((p): p is number => p !== undefined);
  }

  /** Level-triggered: called on every change of the pod and every container event. */
  async sync(pod: KubeObject): Promise<void> {
    this.pod = pod;
    if (this.terminating) return;
    if (pod.metadata.deletionTimestamp) return this.terminate();
    if (this.terminal && !this.anyRunning()) return;
    if (!this.startTime) this.startTime = isoSeconds();
    this.armDeadline();

    // Images: everything must be in the table before anything starts.
    let imagesOk = true;
    for (const r of [...this.init, ...this.main]) {
      r.image = resolveImage(r.spec.image ?? '');
      if (!r.image) {
        imagesOk = false;
        const msg = `Failed to pull image "${r.spec.image}": ${pullError(r.spec.image ?? '')}`;
        r.state = { waiting: { reason: this.warnedImages.has(r.spec.image) ? 'ImagePullBackOff' : 'ErrImagePull', message: msg } };
        if (!this.warnedImages.has(r.spec.image)) {
          this.warnedImages.add(r.spec.image);
          this.k.events.record(pod, 'Warning', 'Failed', msg);
          this.requeue(2000);
        }
      }
    }
    if (!imagesOk) return this.publish();

    if (!this.volumes) {
      try {
        await mkdir(path.join(this.dir, 'logs'), { recursive: true });
        this.volumes = await prepareVolumes(pod, this.dir, this.lookups());
        await this.writeEtc();
        this.podIP ??= podIPFor(this.uid);
      } catch (e) {
        if (e instanceof VolumeNotReady) {
          this.k.events.record(pod, 'Warning', 'FailedMount', e.message);
          this.requeue(1000);
          return this.publish();
        }
        throw e;
      }
    }

    // Init containers run one at a time, each to success, before the app containers.
    if (!this.initialized) {
      for (const r of this.init) {
        if ('terminated' in r.state && r.state.terminated.exitCode === 0) continue;
        if (!r.proc && !r.restartTimer && !r.starting && !('terminated' in r.state)) await this.start(r);
        return this.publish();
      }
      this.initialized = true;
    }
    for (const r of this.main) {
      if (r.proc || r.restartTimer || r.starting) continue;
      if ('terminated' in r.state) continue; // exit handling decided not to restart
      await this.start(r);
    }
    return this.publish();
  }

  private anyRunning(): boolean {
    return [...this.init, ...this.main].some((r) => r.proc?.running);
  }

  private restarts(r: ContainerRecord, exitCode: number): boolean {
    if (this.terminating || this.failed) return false;
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    if (r.init) return policy !== 'Never' && exitCode !== 0;
    if (policy === 'Always') return true;
    if (policy === 'OnFailure') return exitCode !== 0;
    return false;
  }

  private lookups() {
    const api = this.k.api;
    return {
      configMap: (ns: string, name: string) => api.getOrNull(`/api/v1/namespaces/${ns}/configmaps/${encodeURIComponent(name)}`),
      secret: (ns: string, name: string) => api.getOrNull(`/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(name)}`),
      pvc: (ns: string, name: string) => api.getOrNull(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${encodeURIComponent(name)}`),
      pv: (name: string) => api.getOrNull(`/api/v1/persistentvolumes/${encodeURIComponent(name)}`),
      tokens: this.tokens,
    };
  }

  private hostname(): string {
    return this.pod.spec?.hostname ?? this.pod.metadata.name ?? 'pod';
  }

  /** /etc/hosts, /etc/hostname, /etc/resolv.conf, passwd/group for the pod (bound read-only into every container). */
  private async writeEtc(): Promise<void> {
    const etc = path.join(this.dir, 'etc');
    await mkdir(etc, { recursive: true });
    const host = this.hostname();
    const fqdn = this.pod.spec?.subdomain ? `${host}.${this.pod.spec.subdomain}.${this.pod.metadata.namespace}.svc.cluster.local` : host;
    await writeFile(path.join(etc, 'hostname'), `${host}\n`);
    await writeFile(path.join(etc, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t${fqdn} ${host}\n`);
    await writeFile(path.join(etc, 'resolv.conf'), existsSync('/etc/resolv.conf') ? await readFile('/etc/resolv.conf', 'utf8') : '');
    // Image accounts (postgres, mysql, redis…) as their images' /etc/passwd has them.
    const users = new Map([...this.init, ...this.main].flatMap((r) => r.image?.users ?? []).map((u) => [u.uid, u]));
    const passwd = [...users.values()].map((u) => `${u.name}:x:${u.uid}:${u.gid}:${u.name}:${u.home}:/usr/sbin/nologin\n`).join('');
    const groups = [...users.values()].map((u) => `${u.name}:x:${u.gid}:\n`).join('');
    await writeFile(path.join(etc, 'passwd'), `root:x:0:0:root:/root:/bin/sh\n${passwd}nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
    await writeFile(path.join(etc, 'group'), `root:x:0:\n${groups}nogroup:x:65534:\n`);
  }

  private etcFiles(): Record<string, string> {
    const files: Record<string, string> = {};
    for (const e of HOST_ETC_ENTRIES) if (existsSync(`/etc/${e}`)) files[e] = `/etc/${e}`;
    for (const e of ['hostname', 'hosts', 'resolv.conf', 'passwd', 'group']) files[e] = path.join(this.dir, 'etc', e);
    return files;
  }

  private async buildSandbox(r: ContainerRecord): Promise<ContainerSandbox> {
    const def = r.image!;
    const pod = this.pod;
    const identity = resolveIdentity(pod, r.spec, def.user, (uid) => PASSWD_GID.get(uid) ?? def.users?.find((u) => u.uid === uid)?.gid);
    const base: Record<string, string> = {
      ...def.env,
      HOSTNAME: this.hostname(),
      HOME: homeFor(identity.uid),
      KUBERNETES_SERVICE_HOST: new URL(this.k.api.server).hostname,
      KUBERNETES_SERVICE_PORT: new URL(this.k.api.server).port || '443',
    };
    const env = await resolveEnv(pod, r.spec, base, this.lookups());
    const mounts = containerMounts(r.spec, this.volumes!);
    for (const m of def.readOnlyMounts) mounts.push({ ...m, readOnly: true });
    const argv = effectiveArgv(def, r.spec.command, r.spec.args).map((a) => expandVars(a, env));
    // A restarted container starts from a fresh /tmp, like a fresh writable layer.
    const tmpDir = path.join(this.dir, 'tmp', `${r.spec.name}-${r.restartCount}`);
    if (r.restartCount > 0) await rm(path.join(this.dir, 'tmp', `${r.spec.name}-${r.restartCount - 1}`), { recursive: true, force: true });
    await mkdir(tmpDir, { recursive: true });
    await chmod(tmpDir, 0o1777); // a container's /tmp is world-writable and sticky: servers that drop root write there
    if (def.name === 'coffer') {
      try {
        await pullCofferImage();
      } catch (e) {
        throw new ContainerConfigError(`building the coffer image (npm run build) failed: ${(e as Error).message}`);
      }
      // `coffer` on PATH inside the container, like the image's /usr/local/bin/coffer.
      const bin = path.join(this.dir, 'bin');
      await mkdir(bin, { recursive: true });
      await writeFile(path.join(bin, 'coffer'), `#!/bin/sh\nexec ${def.entrypoint.map((a) => `'${a}'`).join(' ')} "$@"\n`, { mode: 0o755 });
      mounts.push({ source: bin, target: '/.sandbox/bin', readOnly: true });
      env.PATH = `/.sandbox/bin:${env.PATH}`;
    }
    return { hostname: this.hostname(), etcFiles: this.etcFiles(), tmpDir, mounts, env, workingDir: r.spec.workingDir ?? def.workingDir, argv, identity, readOnlyRoot: r.spec.securityContext?.readOnlyRootFilesystem === true, ...(def.privateNetwork ? { privateNetwork: true } : {}) };
  }

  private async start(r: ContainerRecord): Promise<void> {
    if (r.starting || r.proc) return;
    r.starting = true;
    try {
      await this.startNow(r);
    } finally {
      r.starting = false;
    }
  }

  private async startNow(r: ContainerRecord): Promise<void> {
    const pod = this.pod;
    let sandbox: ContainerSandbox;
    try {
      sandbox = await this.buildSandbox(r);
    } catch (e) {
      if (e instanceof ContainerConfigError || e instanceof VolumeNotReady) {
        r.state = { waiting: { reason: e instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'CreateContainerError', message: e.message } };
        this.k.events.record(pod, 'Warning', 'Failed', `Error: ${e.message}`);
        this.requeue(2000);
        return;
      }
      throw e;
    }
    r.sandbox = sandbox;
    const logDir = path.join(this.dir, 'logs', r.spec.name);
    await mkdir(logDir, { recursive: true });
    const logFile = path.join(logDir, `${r.restartCount}.log`);
    if (r.restartCount === 0 && !r.init) this.k.events.record(pod, 'Normal', 'Pulled', `Container image "${r.spec.image}" already present on machine`);
    const problem = checkExecutable(sandbox, sandbox.argv[0]);
    const containerID = `sandbox://${this.uid.slice(0, 8)}-${r.spec.name}-${r.restartCount}`;
    if (problem) {
      const now = isoSeconds();
      const msg = `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: ${problem}: unknown`;
      await writeFile(logFile, '', { flag: 'a' });
      this.k.events.record(pod, 'Warning', 'Failed', `Error: ${msg}`);
      this.onExit(r, { exitCode: 128, reason: 'StartError', message: msg, startedAt: now, finishedAt: now }, containerID);
      return;
    }
    if (r.spec.tty) {
      // A terminal for `kubectl run -it` / `attach -it`: util-linux `script` runs the command on a pty (-e keeps its exit code).
      const quoted = sandbox.argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      sandbox = { ...sandbox, argv: ['/usr/bin/script', '-qefc', quoted, '/dev/null'], env: { TERM: 'xterm', ...sandbox.env } };
      r.sandbox = sandbox;
    }
    const proc = new ContainerProcess(sandbox, logFile, { stdin: !!r.spec.stdin });
    r.proc = proc;
    void proc.exited.then((status) => this.onExit(r, status, containerID));
    // Running means the process exists in its namespaces (exec and probes need its PID).
    await proc.started;
    if (!proc.running) return;
    r.state = { running: { startedAt: proc.startedAt } };
    r.ready = !r.init && !r.spec.readinessProbe;
    this.k.events.record(pod, 'Normal', 'Created', `Created container ${r.spec.name}`);
    this.k.events.record(pod, 'Normal', 'Started', `Started container ${r.spec.name}`);
    if (!r.init && (r.spec.readinessProbe || r.spec.livenessProbe || r.spec.startupProbe)) {
      r.prober = new Prober(r.spec, proc, {
        onReady: (ready) => {
          if (r.ready !== ready) {
            r.ready = ready;
            void this.publish();
          }
        },
        onLivenessFailure: (msg) => {
          this.k.events.record(pod, 'Warning', 'Unhealthy', `Liveness probe failed: ${msg}`);
          this.k.events.record(pod, 'Normal', 'Killing', `Container ${r.spec.name} failed liveness probe, will be restarted`);
          void proc.stop(r.spec.terminationGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30);
        },
        onReadinessFailure: (msg) => this.k.events.record(pod, 'Warning', 'Unhealthy', `Readiness probe failed: ${msg}`),
      });
      r.prober.start();
    }
  }

  private onExit(r: ContainerRecord, status: ExitStatus, containerID: string): void {
    r.prober?.stop();
    r.prober = undefined;
    r.proc = undefined;
    r.ready = false;
    r.state = {
      terminated: {
        exitCode: status.exitCode,
        reason: status.reason,
        ...(status.message ? { message: status.message } : {}),
        startedAt: status.startedAt,
        finishedAt: status.finishedAt,
        containerID,
      },
    };
    if (r.init && status.exitCode === 0) {
      this.requeue();
      return;
    }
    if (this.restarts(r, status.exitCode)) {
      const base = this.k.baseBackoffMs ?? 1000;
      const delay = r.restartCount === 0 ? 0 : Math.min(base * 2 ** (r.restartCount - 1), this.k.maxBackoffMs ?? 60_000);
      r.lastState = r.state;
      if (delay > 0) {
        r.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${r.spec.name} pod=${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.uid})` } };
        this.k.events.record(this.pod, 'Warning', 'BackOff', 'Back-off restarting failed container ' + r.spec.name + ' in pod ' + this.pod.metadata.name);
      }
      r.restartCount++;
      r.restartTimer = setTimeout(() => {
        r.restartTimer = undefined;
        if (!this.terminating) {
          r.state = { waiting: { reason: 'ContainerCreating' } };
          void this.start(r).then(() => this.publish()).catch((e) => this.k.log(`restart ${r.spec.name}: ${(e as Error).message}`));
        }
      }, delay);
    }
    void this.publish();
    this.requeue();
  }

  private armDeadline(): void {
    const secs = this.pod.spec?.activeDeadlineSeconds;
    if (secs === undefined || this.deadlineTimer || !this.startTime) return;
    const left = Date.parse(this.startTime) + secs * 1000 - Date.now();
    this.deadlineTimer = setTimeout(() => {
      this.failed = { reason: 'DeadlineExceeded', message: `Pod was active on the node longer than the specified deadline` };
      this.k.events.record(this.pod, 'Normal', 'DeadlineExceeded', this.failed.message);
      void this.killAll(0).then(() => this.publish());
    }, Math.max(0, left));
  }

  private async killAll(graceSeconds: number): Promise<void> {
    const all = [...this.init, ...this.main];
    for (const r of all) {
      clearTimeout(r.restartTimer);
      r.restartTimer = undefined;
      r.prober?.stop();
    }
    await Promise.all(all.map((r) => r.proc?.stop(graceSeconds)));
  }

  /** Graceful deletion: SIGTERM every container, SIGKILL after the grace period, then remove the pod object. */
  private async terminate(): Promise<void> {
    this.terminating = true;
    clearTimeout(this.deadlineTimer);
    const grace = this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    const started = Date.now();
    this.terminated = { grace, since: started };
    // preStop hooks run first, inside the grace period, as the kubelet does.
    await Promise.all(
      this.main.map(async (r) => {
        const hook = r.spec.lifecycle?.preStop;
        if (!r.proc || !hook) return;
        const res = await runLifecycleHook(hook, r.spec, r.proc, grace);
        if (!res.ok) this.k.events.record(this.pod, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${res.message}`);
      }),
    );
    for (const r of this.main) if (r.proc) this.k.events.record(this.pod, 'Normal', 'Killing', `Stopping container ${r.spec.name}`);
    await this.killAll(Math.max(0, this.terminated.grace - Math.floor((Date.now() - started) / 1000)));
    const p = `/api/v1/namespaces/${this.pod.metadata.namespace}/pods/${encodeURIComponent(this.pod.metadata.name!)}`;
    try {
      await this.k.api.delete(p, { gracePeriodSeconds: 0, preconditions: { uid: this.uid } });
    } catch (e) {
      if (!(e instanceof ApiError && (e.statusCode === 409 || e.statusCode === 404))) throw e;
    }
  }

  /**
   * A later delete with a shorter grace period shortens the termination under way, as the kubelet's pod workers do
   * (they cancel it and kill again with the shorter one): `kubectl delete --grace-period=1` after a default delete
   * does not wait out the first one's 30 s. Called from the pod informer, not the work queue, which holds this pod's
   * key until `terminate` ends.
   */
  shortenGrace(pod: KubeObject): void {
    const grace = pod.metadata.deletionGracePeriodSeconds;
    if (!this.terminated || grace === undefined || grace >= this.terminated.grace) return;
    this.terminated.grace = grace;
    void this.killAll(Math.max(0, grace - Math.floor((Date.now() - this.terminated.since) / 1000)));
  }

  /** Stops everything immediately and removes the pod's directory (the object is gone). */
  async destroy(): Promise<void> {
    this.terminating = true;
    this.tokens.stop();
    clearTimeout(this.deadlineTimer);
    await this.killAll(0);
    await rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }

  /** Stops processes but keeps the directory (sandbox shutdown; a restart resumes the pod). */
  async shutdown(): Promise<void> {
    this.terminating = true;
    this.tokens.stop();
    clearTimeout(this.deadlineTimer);
    await this.killAll(0);
  }

  private view(r: ContainerRecord): ContainerView {
    const state = r.state;
    return {
      name: r.spec.name,
      image: r.spec.image,
      imageID: r.image ? `sandbox.local/${r.image.name}@sha256:${createHash('sha256').update(r.image.name).digest('hex')}` : '',
      containerID: 'running' in state || 'terminated' in state ? `sandbox://${this.uid.slice(0, 8)}-${r.spec.name}-${'running' in state ? r.restartCount : Math.max(0, r.restartCount)}` : undefined,
      state,
      lastState: r.lastState,
      restartCount: r.restartCount,
      ready: r.ready && 'running' in state,
      started: 'running' in state,
      willRestart: !('terminated' in state) || this.restarts(r, state.terminated.exitCode),
    };
  }

  /** Writes the status if it changed; serialized so updates land in order. */
  publish(): Promise<void> {
    this.publishing = this.publishing.then(() => this.publishNow()).catch((e) => this.k.log(`status ${this.pod.metadata.name}: ${(e as Error).message}`));
    return this.publishing;
  }

  private async publishNow(): Promise<void> {
    if (this.terminating && !this.pod.metadata.deletionTimestamp) return;
    const status = podStatus(
      {
        initContainers: this.init.map((r) => this.view(r)),
        containers: this.main.map((r) => this.view(r)),
        initialized: this.initialized,
        sandboxReady: !!this.volumes,
        podIP: this.podIP,
        hostIP: '127.0.0.1',
        startTime: this.startTime,
        failed: this.failed,
      },
      isoSeconds(),
      this.pod.status,
      qosClass(this.pod.spec?.containers ?? []),
    );
    const text = JSON.stringify(status);
    if (text === this.lastPublished) return;
    const p = `/api/v1/namespaces/${this.pod.metadata.namespace}/pods/${encodeURIComponent(this.pod.metadata.name!)}/status`;
    try {
      const updated = await this.k.api.patch(p, { metadata: { uid: this.uid }, status });
      this.lastPublished = text;
      if (updated?.metadata?.uid === this.uid) this.pod = updated;
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
  }
}

/** The parent PID of `pid` (from /proc/PID/stat), or undefined once it is gone. */
function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function podDir(dataDir: string, pod: KubeObject): string {
  return path.join(dataDir, 'pods', `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`);
}

/** A stable, unique-enough pod IP in 10.244.0.0/16 derived from the uid. */
export function podIPFor(uid: string): string {
  const h = createHash('sha256').update(uid).digest();
  return `10.244.${h[0]!}.${(h[1]! % 253) + 2}`;
}

export class Kubelet {
  private readonly workers = new Map<string, PodWorker>();
  private readonly queue: WorkQueue;
  private stopped = false;

  constructor(private readonly k: KubeletOptions) {
    this.queue = new WorkQueue((key) => this.sync(key), k.log);
    k.pods.on((type, obj) => {
      if (type === 'DELETED') {
        void this.forget(obj.metadata.uid!);
        return;
      }
      if (obj.metadata.deletionTimestamp) this.workers.get(obj.metadata.uid!)?.shortenGrace(obj);
      this.queue.add(`${obj.metadata.namespace}/${obj.metadata.name}`);
    });
  }

  /** The worker for a pod by namespace/name, for exec and logs. */
  worker(namespace: string, name: string): PodWorker | undefined {
    const pod = this.k.pods.get(namespace, name);
    return pod ? this.workers.get(pod.metadata.uid!) : undefined;
  }

  private async forget(uid: string): Promise<void> {
    const w = this.workers.get(uid);
    if (!w) return;
    this.workers.delete(uid);
    await w.destroy();
  }

  private async sync(key: string): Promise<void> {
    if (this.stopped) return;
    const [ns, name] = key.split('/') as [string, string];
    const pod = this.k.pods.get(ns, name);
    if (!pod) return;
    if (!pod.spec?.nodeName) {
      if (pod.metadata.deletionTimestamp) {
        await this.k.api.delete(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}`, { gracePeriodSeconds: 0 });
        return;
      }
      return;
    }
    if (!(this.k.nodeNames ?? [this.k.nodeName]).includes(pod.spec.nodeName)) return;
    // A pod re-created under the same name has a new uid: drop the old worker.
    for (const [uid, w] of this.workers) if (w.pod.metadata.namespace === ns && w.pod.metadata.name === name && uid !== pod.metadata.uid) await this.forget(uid);
    let w = this.workers.get(pod.metadata.uid!);
    if (!w) {
      w = new PodWorker(pod, this.k, (ms) => (ms ? this.queue.addAfter(key, ms) : this.queue.add(key)));
      this.workers.set(pod.metadata.uid!, w);
    }
    await w.sync(pod);
  }

  /**
   * Pauses (SIGSTOP) every process in the PID namespaces of containers that
   * mount `hostDir`, including processes started by exec, so a snapshot copy
   * sees no concurrent writes; the returned function resumes them (SIGCONT).
   */
  async quiesce(hostDir: string): Promise<() => void> {
    const namespaces = new Set<string>();
    for (const w of this.workers.values()) {
      for (const pid of w.pidsUsing(hostDir)) {
        try {
          namespaces.add(readlinkSync(`/proc/${pid}/ns/pid`));
        } catch {
          /* exited */
        }
      }
    }
    if (namespaces.size === 0) return () => {};
    const frozen: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (namespaces.has(readlinkSync(`/proc/${entry}/ns/pid`))) {
          process.kill(Number(entry), 'SIGSTOP');
          frozen.push(Number(entry));
        }
      } catch {
        /* exited or not ours */
      }
    }
    this.k.log(`quiesced ${frozen.length} processes using ${hostDir}`);
    // `nsenter` (kubectl exec) sees its child stop and stops itself, outside the namespace: continue those too, or the
    // exec session would hang with its child a zombie. Twice, for an nsenter that had not stopped yet the first time.
    const parents = new Set(frozen.map(parentPid).filter((p): p is number => p !== undefined && !frozen.includes(p)));
    const resume = (pids: Iterable<number>) => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          /* exited */
        }
      }
    };
    return () => {
      resume(frozen);
      resume(parents);
      setTimeout(() => resume(parents), 200).unref();
    };
  }

  /** Kills every container (keeping pod directories, so a restarted sandbox resumes). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.stop();
    await Promise.all([...this.workers.values()].map((w) => w.shutdown()));
    this.workers.clear();
  }
}
