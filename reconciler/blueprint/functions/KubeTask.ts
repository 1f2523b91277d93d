import { WELL_KNOWN } from '../../kube/discovery.ts';
import type { KubeObject } from '../../kube/types.ts';
import { waitFor } from '../../kube/wait.ts';
import { type BlueprintFunction, PhaseError, parseOutputLines, tail } from '../types.ts';

export interface KubeTaskArgs {
  namespace: string;
  image: string;
  command: string[];
  env?: { name: string; value?: string; secretKeyRef?: { name: string; key: string } }[];
  volumes?: { claimName: string; mountPath: string; readOnly?: boolean }[];
  serviceAccount?: string;
  /** A non-root uid: with it the task pod meets the `restricted` Pod Security level (without it, `baseline`). */
  runAsUser?: number;
}

/** Label on every pod Coffer starts, so leftovers of a crashed run can be found and removed. */
export const TASK_LABEL = 'coffer.dev/task';

/**
 * The Pod a KubeTask runs: one container, never restarted, the PVCs mounted, no service-account token unless asked.
 * Locked down as far as an arbitrary image allows: no privilege escalation, no capabilities, the runtime's seccomp
 * profile; the user is the image's unless `runAsUser` names a non-root one (then `restricted` admits the pod).
 */
export function taskPod(args: KubeTaskArgs, labels: Record<string, string> = {}): KubeObject {
  const volumes = (args.volumes ?? []).map((v, i) => ({ name: `vol-${i}`, persistentVolumeClaim: { claimName: v.claimName, readOnly: v.readOnly ?? false } }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'coffer-task-', namespace: args.namespace, name: '', labels: { [TASK_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'coffer', ...labels } },
    spec: {
      restartPolicy: 'Never',
      ...(args.serviceAccount ? { serviceAccountName: args.serviceAccount } : { automountServiceAccountToken: false }),
      securityContext: { ...(args.runAsUser ? { runAsNonRoot: true, runAsUser: args.runAsUser } : {}), seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'task',
          image: args.image,
          command: args.command,
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          env: (args.env ?? []).map((e) => (e.secretKeyRef ? { name: e.name, valueFrom: { secretKeyRef: e.secretKeyRef } } : { name: e.name, value: e.value ?? '' })),
          volumeMounts: (args.volumes ?? []).map((v, i) => ({ name: `vol-${i}`, mountPath: v.mountPath, readOnly: v.readOnly ?? false })),
        },
      ],
      volumes,
    },
  };
}

/** Runs a command to completion in a new pod, collects its log, and deletes the pod whatever happened. */
export const KubeTask: BlueprintFunction = {
  name: 'KubeTask',
  async run(raw, ctx) {
    const args = raw as unknown as KubeTaskArgs;
    const manifest = taskPod(args);
    delete (manifest.metadata as { name?: string }).name;
    const pod = await ctx.client.create(WELL_KNOWN.Pod!.apiVersion, 'pods', args.namespace, manifest);
    const name = pod.metadata.name;
    ctx.log?.(`task pod ${args.namespace}/${name} (${args.image}): ${args.command.join(' ')}`);
    try {
      let last: KubeObject = pod;
      const done = await waitFor(
        async () => {
          last = await ctx.client.get('v1', 'pods', args.namespace, name);
          const st = last.status as { phase?: string; containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[] } | undefined;
          const waiting = st?.containerStatuses?.[0]?.state?.waiting;
          if (waiting && /ImagePull|ErrImage|InvalidImageName|CreateContainerConfigError/.test(waiting.reason ?? '')) {
            throw new PhaseError(`task pod ${args.namespace}/${name} cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
          }
          return st?.phase === 'Succeeded' || st?.phase === 'Failed' ? st.phase : undefined;
        },
        { timeoutMs: 24 * 3600_000, signal: ctx.signal, what: `task pod ${args.namespace}/${name} to finish`, describe: () => JSON.stringify((last.status as { phase?: string })?.phase) },
      );
      const log = await ctx.client.podLog(args.namespace, name, { container: 'task' }).catch(() => '');
      const stdout = Buffer.from(log);
      if (done === 'Failed') {
        const code = (last.status as { containerStatuses?: { state?: { terminated?: { exitCode?: number } } }[] }).containerStatuses?.[0]?.state?.terminated?.exitCode;
        throw new PhaseError(`task pod ${args.namespace}/${name} failed${code !== undefined ? ` with exit code ${code}` : ''}${log ? `:\n${tail(log)}` : ''}`, stdout);
      }
      return { output: { ...parseOutputLines(log), pod: name }, stdout };
    } finally {
      await ctx.client.delete('v1', 'pods', args.namespace, name).catch((e) => ctx.log?.(`could not delete task pod ${args.namespace}/${name}: ${(e as Error).message}`));
    }
  },
};
