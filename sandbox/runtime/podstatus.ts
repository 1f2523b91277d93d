/**
 * Pure pod-status math: from the kubelet's view of each container to the
 * `status` a real kubelet publishes (phase, conditions with stable transition
 * times, containerStatuses). Tested table-driven, no processes involved.
 */

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; signal?: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID?: string } };

export interface ContainerView {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  state: ContainerState;
  lastState: ContainerState | Record<string, never>;
  restartCount: number;
  ready: boolean;
  started: boolean;
  /** Will the kubelet start this container again (restart policy and not terminating)? */
  willRestart: boolean;
}

export interface PodView {
  initContainers: ContainerView[];
  containers: ContainerView[];
  /** All init containers completed successfully. */
  initialized: boolean;
  /** The sandbox (volumes, IP) is set up. */
  sandboxReady: boolean;
  podIP?: string;
  hostIP: string;
  startTime?: string;
  /** Set when the pod failed as a whole (e.g. activeDeadlineSeconds, init failure with Never). */
  failed?: { reason: string; message: string };
}

type Condition = { type: string; status: 'True' | 'False'; reason?: string; message?: string; lastProbeTime: null; lastTransitionTime: string };

export function podPhase(v: PodView): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  if (v.failed) return 'Failed';
  const cs = v.containers;
  const initFailedForGood = v.initContainers.some((c) => 'terminated' in c.state && c.state.terminated.exitCode !== 0 && !c.willRestart);
  if (initFailedForGood) return 'Failed';
  if (!v.initialized) return 'Pending';
  const running = cs.filter((c) => 'running' in c.state).length;
  const terminated = cs.filter((c) => 'terminated' in c.state);
  const waiting = cs.filter((c) => 'waiting' in c.state);
  const restarting = cs.filter((c) => c.willRestart && !('running' in c.state) && c.restartCount + ('terminated' in c.state ? 1 : 0) > 0).length;
  if (running > 0 || restarting > 0) return 'Running';
  if (waiting.length > 0) return 'Pending';
  if (terminated.length === cs.length && cs.length > 0) {
    return terminated.every((c) => 'terminated' in c.state && c.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  return 'Pending';
}

function cond(type: string, ok: boolean, now: string, prev: Condition[] | undefined, reason?: string, message?: string): Condition {
  const status = ok ? 'True' : 'False';
  const old = prev?.find((c) => c.type === type);
  const c: Condition = { type, status, lastProbeTime: null, lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now };
  if (!ok && reason) c.reason = reason;
  if (!ok && message) c.message = message;
  return c;
}

function view(c: ContainerView): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: c.name,
    image: c.image,
    imageID: c.imageID,
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: c.state,
    lastState: c.lastState,
  };
  if (c.containerID) out.containerID = c.containerID;
  return out;
}

/** The pod's `status` object; `prev` keeps condition transition times stable across updates. */
export function podStatus(v: PodView, now: string, prev?: { conditions?: Condition[] }, qosClass = 'BestEffort'): Record<string, unknown> {
  const phase = podPhase(v);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const containersReady = !terminal && v.containers.length > 0 && v.containers.every((c) => c.ready);
  const notReady = v.containers.filter((c) => !c.ready).map((c) => c.name);
  const notReadyMsg = notReady.length ? `containers with unready status: [${notReady.join(' ')}]` : undefined;
  const initPending = v.initContainers.filter((c) => !('terminated' in c.state && c.state.terminated.exitCode === 0)).map((c) => c.name);
  const reason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const conditions: Condition[] = [
    cond('PodReadyToStartContainers', v.sandboxReady && !terminal, now, prev?.conditions),
    cond('Initialized', v.initialized, now, prev?.conditions, terminal && v.initialized ? 'PodCompleted' : 'ContainersNotInitialized', initPending.length ? `containers with incomplete status: [${initPending.join(' ')}]` : undefined),
    cond('Ready', containersReady, now, prev?.conditions, reason, notReadyMsg),
    cond('ContainersReady', containersReady, now, prev?.conditions, reason, notReadyMsg),
    cond('PodScheduled', true, now, prev?.conditions),
  ];
  if (terminal && v.initialized) conditions[1] = { ...cond('Initialized', true, now, prev?.conditions), reason: 'PodCompleted' } as Condition;
  const status: Record<string, unknown> = {
    phase,
    conditions,
    hostIP: v.hostIP,
    hostIPs: [{ ip: v.hostIP }],
    qosClass,
    containerStatuses: v.containers.map(view),
  };
  if (v.failed) {
    status.reason = v.failed.reason;
    status.message = v.failed.message;
  }
  if (v.podIP) {
    status.podIP = v.podIP;
    status.podIPs = [{ ip: v.podIP }];
  }
  if (v.startTime) status.startTime = v.startTime;
  if (v.initContainers.length) status.initContainerStatuses = v.initContainers.map(view);
  return status;
}

/** Kubernetes QoS class from resources: Guaranteed, Burstable or BestEffort. */
export function qosClass(containers: any[]): string {
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      const l = lim[r];
      const q = req[r] ?? l;
      if (l === undefined || String(q) !== String(l)) guaranteed = false;
    }
  }
  if (guaranteed) return 'Guaranteed';
  return any ? 'Burstable' : 'BestEffort';
}
