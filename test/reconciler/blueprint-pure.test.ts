import { secretEnvUsed } from '../../reconciler/blueprint/functions/KubeExec.ts';
import { describe, expect, it } from 'vitest';
import { exitCodeOf, FUNCTIONS, labelSelectorString, parseDuration, parseOutputLines, renderArgs, validateArgs } from '../../reconciler/blueprint/index.ts';
import { parseReplicas } from '../../reconciler/blueprint/functions/ScaleWorkload.ts';
import { taskPod } from '../../reconciler/blueprint/functions/KubeTask.ts';
import type { KubeObject } from '../../reconciler/kube/types.ts';
import { DEFAULT_CHECKS } from '../../sandbox/api/podsecurity/checks/index.ts';
import { LATEST } from '../../sandbox/api/podsecurity/helpers.ts';
import { aggregate, newEvaluator } from '../../sandbox/api/podsecurity/registry.ts';

describe('argument validation against schemas/functions', () => {
  const ok: [string, Record<string, unknown>][] = [
    ['KubeExec', { namespace: 'shop', pod: 'db-0', command: ['sqlite3', '/data/app.db', '.dump'] }],
    ['KubeExec', { namespace: 'shop', workload: { kind: 'StatefulSet', name: 'db' }, container: 'db', command: ['sh', '-c', 'true'] }],
    ['KubeTask', { namespace: 'shop', image: 'busybox', command: ['sh', '-c', 'ls /data'], volumes: [{ claimName: 'data-db-0', mountPath: '/data' }], env: [{ name: 'A', value: '1' }] }],
    ['ScaleWorkload', { namespace: 'shop', kind: 'Deployment', name: 'web', replicas: 0 }],
    ['Wait', { timeout: '2m', object: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' }, condition: 'object.status.readyReplicas == 1' }],
  ];
  for (const [fn, args] of ok) it(`${fn} accepts ${JSON.stringify(args).slice(0, 60)}`, () => expect(() => validateArgs(fn, args)).not.toThrow());

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['KubeExec', { namespace: 'shop', command: ['ls'] }, /KubeExec: invalid arguments: .*must have required property 'pod'/],
    ['KubeExec', { namespace: 'shop', pod: 'p', command: 'ls' }, /\/command must be array/],
    ['ScaleWorkload', { namespace: 'shop', kind: 'DaemonSet', name: 'x', replicas: 1 }, /\/kind must be equal to one of the allowed values \(Deployment, StatefulSet\)/],
    ['Wait', { timeout: 'soon', object: { kind: 'Pod', name: 'p' }, condition: 'true' }, /\/timeout must match pattern/],
    ['Nope', {}, /unknown blueprint function "Nope"/],
  ];
  for (const [fn, args, re] of bad) it(`${fn} rejects ${JSON.stringify(args).slice(0, 60)}`, () => expect(() => validateArgs(fn, args)).toThrow(re));

  it('registers exactly the four functions', () => expect(Object.keys(FUNCTIONS).sort()).toEqual(['KubeExec', 'KubeTask', 'ScaleWorkload', 'Wait']));
});

describe('template rendering of phase arguments', () => {
  const ctx = {
    namespace: 'shop',
    workload: { kind: 'StatefulSet', name: 'db', namespace: 'shop' },
    restorePoint: { id: 'rp-20261124-0100', policy: 'daily' },
    phases: { down: { output: { originalReplicas: '3' } } },
    artifacts: {},
  };
  it('renders nested strings and leaves other values alone', () => {
    const r = renderArgs({ namespace: '{{ namespace }}', workload: { kind: 'StatefulSet', name: '{{ workload.name }}' }, command: ['sh', '-c', 'echo {{ restorePoint.id }}'], replicas: 2, flag: true }, ctx, 'bp.backup.p');
    expect(r).toEqual({ namespace: 'shop', workload: { kind: 'StatefulSet', name: 'db' }, command: ['sh', '-c', 'echo rp-20261124-0100'], replicas: 2, flag: true });
  });
  it('a phase output feeds a later phase; ScaleWorkload coerces the rendered count', () => {
    const r = renderArgs({ namespace: '{{ namespace }}', kind: 'StatefulSet', name: 'db', replicas: '{{ phases.down.output.originalReplicas }}' }, ctx, 'bp.backup.up');
    expect(r.replicas).toBe('3');
    const c = FUNCTIONS.ScaleWorkload!.coerce!(r);
    expect(c.replicas).toBe(3);
    expect(() => validateArgs('ScaleWorkload', c)).not.toThrow();
  });
  it('a missing value is an error naming the phase and argument', () => {
    expect(() => renderArgs({ command: ['echo', '{{ phases.nope.output.x }}'] }, ctx, 'bp.backup.dump')).toThrow(/bp\.backup\.dump: args\.command\[1\]/);
  });
});

describe('small parsers', () => {
  it('coffer-output lines become phase output (later wins, other lines ignored)', () => {
    expect(parseOutputLines('hello\ncoffer-output size=12\ncoffer-output path=/data/x y\r\ncoffer-output size=13\ncoffer-outputs bad=1\n')).toEqual({ size: '13', path: '/data/x y' });
  });
  it('durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('5 m')).toThrow(/invalid duration/);
    expect(() => parseDuration('')).toThrow(/invalid duration/);
  });
  it('label selectors from matchLabels and matchExpressions', () => {
    expect(labelSelectorString({ matchLabels: { app: 'db', tier: 'x' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['a', 'b'] }, { key: 'skip', operator: 'DoesNotExist' }, { key: 'has', operator: 'Exists' }, { key: 'z', operator: 'NotIn', values: ['q'] }] })).toBe(
      'app=db,tier=x,env in (a,b),!skip,has,z notin (q)',
    );
  });
  it('exec exit codes from the final Status', () => {
    expect(exitCodeOf({ status: 'Success' })).toBe(0);
    expect(exitCodeOf({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } })).toBe(3);
    expect(exitCodeOf({ status: 'Failure', message: 'container not found' })).toBe(1);
    expect(exitCodeOf(undefined)).toBe(-1);
  });
  it('replica counts', () => {
    expect(parseReplicas(0)).toBe(0);
    expect(parseReplicas(' 4 ')).toBe(4);
    expect(() => parseReplicas('-1')).toThrow(/replicas must be an integer >= 0, got "-1"/);
    expect(() => parseReplicas(1.5)).toThrow(/replicas/);
  });
  it('KubeTask pod: never restarted, PVCs mounted, no token unless a ServiceAccount is asked for', () => {
    const p = taskPod({ namespace: 'shop', image: 'busybox', command: ['ls'], volumes: [{ claimName: 'data', mountPath: '/data', readOnly: true }], env: [{ name: 'P', secretKeyRef: { name: 's', key: 'k' } }] });
    expect(p.spec).toEqual({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'task',
          image: 'busybox',
          command: ['ls'],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
          volumeMounts: [{ name: 'vol-0', mountPath: '/data', readOnly: true }],
        },
      ],
      volumes: [{ name: 'vol-0', persistentVolumeClaim: { claimName: 'data', readOnly: true } }],
    });
    expect(taskPod({ namespace: 'shop', image: 'x', command: ['y'], serviceAccount: 'backup' }).spec).toMatchObject({ serviceAccountName: 'backup' });
  });
  it('KubeTask pod and Pod Security: baseline always, restricted with a non-root runAsUser (sandbox PSA evaluator)', () => {
    const psa = newEvaluator(DEFAULT_CHECKS);
    const reasons = (level: 'baseline' | 'restricted', p: KubeObject) => aggregate(psa.evaluatePod({ level, version: LATEST }, p.metadata as object, p.spec as object)).reasons;
    const plain = taskPod({ namespace: 'shop', image: 'busybox', command: ['ls'] });
    expect(reasons('baseline', plain)).toEqual([]);
    expect(reasons('restricted', plain)).toEqual(['runAsNonRoot != true']);
    expect(reasons('restricted', taskPod({ namespace: 'shop', image: 'busybox', command: ['ls'], runAsUser: 1000 }))).toEqual([]);
  });
});

describe('KubeExec names the Secret keys a failing command used', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'db-0', namespace: 'shop' },
    spec: {
      containers: [
        {
          name: 'db',
          env: [
            { name: 'MARIADB_ROOT_PASSWORD', valueFrom: { secretKeyRef: { name: 'db-credentials', key: 'root-password' } } },
            { name: 'MARIADB_ROOT', valueFrom: { secretKeyRef: { name: 'other', key: 'k' } } },
            { name: 'MARIADB_DATABASE', value: 'shop' },
          ],
        },
      ],
    },
  };
  it.each([
    ['$VAR', ['bash', '-c', 'mariadb -p"$MARIADB_ROOT_PASSWORD"'], ['MARIADB_ROOT_PASSWORD from Secret shop/db-credentials key "root-password"']],
    ['${VAR:-…}', ['bash', '-c', 'x=${MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}'], ['MARIADB_ROOT_PASSWORD from Secret shop/db-credentials key "root-password"']],
    ['a longer name is not a prefix match', ['sh', '-c', 'echo $MARIADB_ROOTX $MARIADB_DATABASE'], []],
    ['not mentioned', ['true'], []],
  ])('%s', (_name, command, want) => {
    expect(secretEnvUsed(pod as never, 'db', command)).toEqual(want);
  });
});
