/**
 * Pure pieces of the pod runtime and controllers, table-driven: the image
 * table, bubblewrap argv, env expansion, log rendering, pod phase/status math,
 * selectors and rollout arithmetic.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bwrapArgs } from '../../sandbox/runtime/bwrap.ts';
import { exitStatus, negotiate } from '../../sandbox/runtime/channel.ts';
import { checkExecutable, hostPathFor, nsenterArgs } from '../../sandbox/runtime/container.ts';
import { expandVars, fieldValue, resolveEnv, ContainerConfigError } from '../../sandbox/runtime/env.ts';
import { COFFER_IMAGE_DIR, effectiveArgv, repositoryOf, resolveImage } from '../../sandbox/runtime/images.ts';
import { LogWriter, parseLogLine, readRecords, renderRecords, rfc3339Nano, type LogRecord } from '../../sandbox/runtime/logfile.ts';
import { podPhase, podStatus, qosClass, type ContainerView, type PodView } from '../../sandbox/runtime/podstatus.ts';
import { rollingBounds, templateKey } from '../../sandbox/controllers/deployment.ts';
import { formatIndexes } from '../../sandbox/controllers/job.ts';
import { nextRun, parseFrequency, previousSlot, ScheduleError } from '../../compiler/schedule/index.ts';
import { deletionOrder } from '../../sandbox/controllers/replicaset.ts';
import { claimName, ordinalOf } from '../../sandbox/controllers/statefulset.ts';
import { claimClass, quantityBytes } from '../../sandbox/controllers/storage.ts';
import { matchesSelector, setCondition, templateHash } from '../../sandbox/controllers/workload.ts';

describe('image table', () => {
  it.each([
    ['busybox', 'busybox'],
    ['busybox:1.36', 'busybox'],
    ['docker.io/library/alpine:3.20', 'alpine'],
    ['library/debian@sha256:abc', 'debian'],
    ['ghcr.io/coffer-dev/coffer:v1.2.3', 'coffer-dev/coffer'],
    ['localhost:5000/coffer', 'coffer'],
    ['registry.example.com:5000/team/app:1', 'team/app'],
  ])('repositoryOf(%s) = %s', (image, repo) => {
    expect(repositoryOf(image)).toBe(repo);
  });

  it.each([
    ['busybox', 'busybox'],
    ['ubuntu:24.04', 'ubuntu'],
    ['bash:5', 'bash'],
    ['keinos/sqlite3:latest', 'keinos/sqlite3'],
    ['coffer', 'coffer'],
    ['ghcr.io/coffer-dev/coffer:v0.1', 'coffer'],
    ['nginx', undefined],
    ['postgres:16', undefined],
  ])('resolveImage(%s) → %s', (image, name) => {
    expect(resolveImage(image)?.name).toBe(name);
  });

  it('applies command/args over ENTRYPOINT/CMD like Kubernetes', () => {
    const shell = resolveImage('busybox')!;
    const coffer = resolveImage('coffer', '/usr/bin/node')!;
    const cli = `${COFFER_IMAGE_DIR}/lib/coffer.mjs`;
    const table: Array<[typeof shell, string[] | undefined, string[] | undefined, string[]]> = [
      [shell, undefined, undefined, ['/bin/sh']],
      [shell, ['sh', '-c'], ['echo hi'], ['sh', '-c', 'echo hi']],
      [shell, undefined, ['echo'], ['echo']],
      [coffer, undefined, ['repo', 'backup', '/data'], ['/usr/bin/node', cli, 'repo', 'backup', '/data']],
      [coffer, undefined, undefined, ['/usr/bin/node', cli, '--help']],
      [coffer, ['coffer', 'version'], undefined, ['/usr/bin/node', cli, 'version']],
      [coffer, ['sh', '-c'], ['coffer version'], ['sh', '-c', 'coffer version']],
    ];
    for (const [def, command, args, want] of table) expect(effectiveArgv(def, command, args)).toEqual(want);
  });
});

describe('bubblewrap sandbox', () => {
  const sandbox = {
    hostname: 'web-0',
    etcFiles: { hosts: '/pod/etc/hosts' },
    tmpDir: '/pod/tmp/c',
    mounts: [
      { source: '/vol/sub', target: '/data/sub', readOnly: false },
      { source: '/vol/data', target: '/data', readOnly: false },
      { source: '/pod/cm', target: '/config', readOnly: true },
    ],
    env: { PATH: '/usr/bin:/bin', A: 'b' },
    workingDir: '/data',
    argv: ['sh', '-c', 'true'],
  };

  it('builds a root from read-only /usr and binds volumes parent-first', () => {
    const a = bwrapArgs(sandbox, { infoFd: 3 });
    const joined = a.join(' ');
    expect(joined).toContain('--ro-bind /usr /usr');
    expect(joined).toContain('--symlink usr/bin /bin');
    expect(joined).toContain('--unshare-pid');
    expect(joined).toContain('--as-pid-1');
    expect(joined).toContain('--bind /pod/tmp/c /tmp');
    expect(joined).toContain('--ro-bind /pod/etc/hosts /etc/hosts');
    expect(joined).toContain('--ro-bind /pod/cm /config');
    expect(a.indexOf('/data')).toBeLessThan(a.indexOf('/data/sub'));
    expect(joined).toContain('--chdir /data --info-fd 3 -- sh -c true');
    // The environment reaches bwrap as its own environment, never as argv (world-readable in /proc/PID/cmdline).
    expect(a).not.toContain('A=b');
    expect(a.join('\0')).not.toMatch(/setenv|\0b\0/);
  });

  it('drops to the container identity with setpriv before the command', () => {
    const a = bwrapArgs({ ...sandbox, identity: { uid: 1000, gid: 3000, groups: [3000, 2000], noNewPrivs: true, capabilities: [] } });
    expect(a.slice(a.indexOf('--'))).toEqual(['--', '/usr/bin/setpriv', '--reuid=1000', '--regid=3000', '--groups=3000,2000', '--bounding-set=-all', '--no-new-privs', '--', 'sh', '-c', 'true']);
  });

  it('maps container paths to host paths and finds executables on PATH', () => {
    expect(hostPathFor(sandbox, '/bin/sh')).toBe('/usr/bin/sh');
    expect(hostPathFor(sandbox, '/data/sub/x')).toBe('/vol/sub/x');
    expect(hostPathFor(sandbox, '/data/y')).toBe('/vol/data/y');
    expect(hostPathFor(sandbox, '/etc/passwd')).toBeUndefined();
    expect(checkExecutable(sandbox, 'sh')).toBeUndefined();
    expect(checkExecutable(sandbox, '/bin/sh')).toBeUndefined();
    expect(checkExecutable(sandbox, 'definitely-not-here')).toBe('exec: "definitely-not-here": executable file not found in $PATH');
    expect(checkExecutable(sandbox, '/usr/bin/nope')).toContain('no such file or directory');
  });

  it('enters a container with its working directory and identity (the env travels as the process environment)', () => {
    expect(nsenterArgs(42, '/w', ['ls'])).toEqual(['-t', '42', '-m', '-p', '-u', '-i', '-n', '-r', '-w', '--', '/usr/bin/env', '-C', '/w', 'ls']);
    expect(nsenterArgs(42, '/w', ['ls'], { uid: 7, gid: 0, groups: [0], noNewPrivs: false, capabilities: 'all' })).toEqual(['-t', '42', '-m', '-p', '-u', '-i', '-n', '-r', '-w', '--', '/usr/bin/setpriv', '--reuid=7', '--regid=0', '--groups=0', '--', '/usr/bin/env', '-C', '/w', 'ls']);
  });
});

describe('exec channel protocol', () => {
  it('negotiates the newest common subprotocol', () => {
    expect(negotiate(['v4.channel.k8s.io', 'v5.channel.k8s.io'])).toBe('v5.channel.k8s.io');
    expect(negotiate([' channel.k8s.io'])).toBe('channel.k8s.io');
    expect(negotiate(['base64.channel.k8s.io'])).toBeUndefined();
  });
  it('reports exit codes the way kubectl parses them', () => {
    expect(exitStatus(0, ['true'])).toEqual({ metadata: {}, status: 'Success' });
    expect(exitStatus(3, ['sh', '-c', 'exit 3'])).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });
});

describe('environment', () => {
  it.each([
    ['$(A)-$(B)', 'a-$(B)'],
    ['$$(A)', '$(A)'],
    ['plain', 'plain'],
    ['$(A)$(A)', 'aa'],
  ])('expandVars(%s) = %s', (input, out) => {
    expect(expandVars(input, { A: 'a' })).toBe(out);
  });

  const pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u', labels: { app: 'x' } }, spec: { nodeName: 'sandbox' }, status: { podIP: '10.244.0.9' } };
  it('resolves downward API fields', () => {
    expect(fieldValue(pod, 'metadata.name')).toBe('p');
    expect(fieldValue(pod, "metadata.labels['app']")).toBe('x');
    expect(fieldValue(pod, 'spec.nodeName')).toBe('sandbox');
    expect(fieldValue(pod, 'status.podIP')).toBe('10.244.0.9');
  });

  it('resolves env in order with references and fails on missing ones', async () => {
    const lookups = {
      configMap: async (_ns: string, name: string) => (name === 'cm' ? { metadata: { name }, data: { k: 'v', other: 'o' } } : null),
      secret: async (_ns: string, name: string) => (name === 's' ? { metadata: { name }, data: { pw: Buffer.from('pa55').toString('base64') } } : null),
    };
    const env = await resolveEnv(
      pod,
      {
        envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
        env: [
          { name: 'X', value: '1' },
          { name: 'Y', value: '$(X)-$(CM_k)' },
          { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'pw' } } },
          { name: 'OPT', valueFrom: { secretKeyRef: { name: 'missing', key: 'pw', optional: true } } },
        ],
      },
      { PATH: '/bin' },
      lookups,
    );
    expect(env).toEqual({ PATH: '/bin', CM_k: 'v', CM_other: 'o', X: '1', Y: '1-v', PW: 'pa55' });
    await expect(resolveEnv(pod, { env: [{ name: 'Z', valueFrom: { configMapKeyRef: { name: 'cm', key: 'nope' } } }] }, {}, lookups)).rejects.toThrow(ContainerConfigError);
  });
});

describe('container logs', () => {
  const recs: LogRecord[] = [
    { time: '2026-01-01T00:00:01.000000000Z', stream: 'stdout', full: true, text: 'a' },
    { time: '2026-01-01T00:00:02.000000000Z', stream: 'stderr', full: true, text: 'b' },
    { time: '2026-01-01T00:00:03.000000000Z', stream: 'stdout', full: false, text: 'c1' },
    { time: '2026-01-01T00:00:03.000001000Z', stream: 'stdout', full: true, text: 'c2' },
  ];
  it.each([
    [{ timestamps: false }, 'a\nb\nc1c2\n'],
    [{ timestamps: false, tailLines: 1 }, 'c1c2\n'],
    [{ timestamps: false, tailLines: 2 }, 'b\nc1c2\n'],
    [{ timestamps: false, tailLines: 0 }, ''],
    [{ timestamps: false, sinceTime: '2026-01-01T00:00:02' }, 'b\nc1c2\n'],
    [{ timestamps: true, tailLines: 3 }, '2026-01-01T00:00:01.000000000Z a\n2026-01-01T00:00:02.000000000Z b\n2026-01-01T00:00:03.000000000Z c12026-01-01T00:00:03.000001000Z c2\n'],
  ])('renders %j', (q, want) => {
    expect(renderRecords(recs, q)).toBe(want);
  });

  it('writes CRI-format lines and reads them back from an offset', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'coffer-logs-'));
    try {
      let t = Date.parse('2026-01-01T00:00:00Z');
      const w = new LogWriter(path.join(dir, '0.log'), () => t);
      w.write('stdout', 'one\ntw');
      w.write('stdout', 'o\n');
      t += 1000;
      w.write('stderr', 'err without newline');
      await w.close();
      const text = await readFile(path.join(dir, '0.log'), 'utf8');
      expect(text).toBe('2026-01-01T00:00:00.000000000Z stdout F one\n2026-01-01T00:00:00.000000001Z stdout F two\n2026-01-01T00:00:01.000000000Z stderr P err without newline\n');
      const first = await readRecords(path.join(dir, '0.log'));
      expect(first.records.map((r) => r.text)).toEqual(['one', 'two', 'err without newline']);
      expect((await readRecords(path.join(dir, '0.log'), first.offset)).records).toEqual([]);
      expect(parseLogLine('garbage')).toBeUndefined();
      expect(rfc3339Nano(0, 5)).toBe('1970-01-01T00:00:00.000000005Z');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pod status', () => {
  const running = (name: string, ready = true): ContainerView => ({ name, image: 'busybox', imageID: 'x', state: { running: { startedAt: 't' } }, lastState: {}, restartCount: 0, ready, started: true, willRestart: true });
  const exited = (name: string, exitCode: number, willRestart = false): ContainerView => ({
    name,
    image: 'busybox',
    imageID: 'x',
    state: { terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: 't', finishedAt: 't' } },
    lastState: {},
    restartCount: 0,
    ready: false,
    started: false,
    willRestart,
  });
  const waiting = (name: string, reason: string): ContainerView => ({ name, image: 'nginx', imageID: '', state: { waiting: { reason } }, lastState: {}, restartCount: 0, ready: false, started: false, willRestart: true });
  const view = (containers: ContainerView[], extra: Partial<PodView> = {}): PodView => ({ initContainers: [], containers, initialized: true, sandboxReady: true, hostIP: '127.0.0.1', ...extra });

  it.each<[string, PodView, string]>([
    ['all running', view([running('a'), running('b')]), 'Running'],
    ['image missing', view([waiting('a', 'ErrImagePull')]), 'Pending'],
    ['all exited 0', view([exited('a', 0), exited('b', 0)]), 'Succeeded'],
    ['one failed, no restart', view([exited('a', 0), exited('b', 1)]), 'Failed'],
    ['failed but restarting', view([exited('a', 1, true)]), 'Running'],
    ['one running, one done', view([running('a'), exited('b', 0)]), 'Running'],
    ['init pending', view([waiting('a', 'PodInitializing')], { initialized: false, initContainers: [running('i')] }), 'Pending'],
    ['init failed for good', view([waiting('a', 'PodInitializing')], { initialized: false, initContainers: [exited('i', 1)] }), 'Failed'],
    ['deadline', view([running('a')], { failed: { reason: 'DeadlineExceeded', message: 'm' } }), 'Failed'],
  ])('%s', (_name, v, phase) => {
    expect(podPhase(v)).toBe(phase);
  });

  it('keeps condition transition times when nothing changed', () => {
    const first = podStatus(view([running('a', false)]), 'T1') as any;
    expect(first.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [a]', lastTransitionTime: 'T1' });
    const second = podStatus(view([running('a', true)]), 'T2', first) as any;
    expect(second.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: 'T2' });
    expect(second.conditions.find((c: any) => c.type === 'PodScheduled').lastTransitionTime).toBe('T1');
  });

  it.each([
    [[{}], 'BestEffort'],
    [[{ resources: { requests: { cpu: '100m' } } }], 'Burstable'],
    [[{ resources: { limits: { cpu: '1', memory: '1Gi' } } }], 'Guaranteed'],
  ])('qosClass(%j) = %s', (containers, want) => {
    expect(qosClass(containers)).toBe(want);
  });
});

describe('controller arithmetic', () => {
  it.each([
    [{ matchLabels: { a: '1' } }, { a: '1', b: '2' }, true],
    [{ matchLabels: { a: '1' } }, { a: '2' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] }, { a: '2' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, {}, true],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, {}, false],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { b: '1' }, true],
    [{}, { any: 'x' }, true],
    [undefined, { any: 'x' }, false],
  ] as const)('selector %j on %j → %s', (sel, labels, want) => {
    expect(matchesSelector(sel as any, labels)).toBe(want);
  });

  it.each([
    [4, undefined, undefined, 1, 1],
    [10, '25%', '25%', 3, 2],
    [3, 0, 0, 0, 1],
    [3, 1, '0%', 1, 0],
  ])('rollingBounds(replicas=%s, surge=%s, unavailable=%s) = %s/%s', (replicas, surge, unavail, wantSurge, wantUnavail) => {
    const d = { metadata: {}, spec: { replicas, strategy: { rollingUpdate: { maxSurge: surge, maxUnavailable: unavail } } } };
    expect(rollingBounds(d)).toEqual({ maxSurge: wantSurge, maxUnavailable: wantUnavail });
  });

  it('orders pods for deletion: unscheduled, pending, unready, then youngest', () => {
    const p = (name: string, nodeName: string | undefined, phase: string, ready: boolean, created: string) => ({
      metadata: { name, creationTimestamp: created },
      spec: { nodeName },
      status: { phase, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const order = deletionOrder([p('old-ready', 'n', 'Running', true, '2026-01-01T00:00:00Z'), p('new-ready', 'n', 'Running', true, '2026-01-02T00:00:00Z'), p('unready', 'n', 'Running', false, '2026-01-01T00:00:00Z'), p('pending', 'n', 'Pending', false, '2026-01-01T00:00:00Z'), p('unscheduled', undefined, 'Pending', false, '2026-01-01T00:00:00Z')]);
    expect(order.map((x) => x.metadata.name)).toEqual(['unscheduled', 'pending', 'unready', 'new-ready', 'old-ready']);
  });

  it('names StatefulSet pods and claims', () => {
    expect(ordinalOf('web', 'web-3')).toBe(3);
    expect(ordinalOf('web', 'web-03')).toBeUndefined();
    expect(ordinalOf('web', 'webby-1')).toBeUndefined();
    expect(claimName('data', 'web', 2)).toBe('data-web-2');
  });

  it('formats completed indexes and storage quantities', () => {
    expect(formatIndexes([0, 1, 2, 5, 7, 8])).toBe('0-2,5,7-8');
    expect(formatIndexes([])).toBe('');
    expect(quantityBytes('1Gi')).toBe(1024 ** 3);
    expect(quantityBytes('500M')).toBe(500e6);
    expect(quantityBytes('42')).toBe(42);
  });

  it('picks the claim class: explicit, default, or none for ""', () => {
    const classes = [
      { metadata: { name: 'fast' } },
      { metadata: { name: 'std', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } },
    ];
    expect(claimClass({ metadata: {}, spec: { storageClassName: 'fast' } }, classes)?.metadata.name).toBe('fast');
    expect(claimClass({ metadata: {}, spec: {} }, classes)?.metadata.name).toBe('std');
    expect(claimClass({ metadata: {}, spec: { storageClassName: '' } }, classes)).toBeUndefined();
  });

  it('compares pod templates the way rollout undo needs (hash label and nulls ignored)', () => {
    const rsTemplate = { metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' } }, spec: { containers: [{ name: 'c', image: 'busybox:1', resources: {} }] } };
    const undone = { metadata: { creationTimestamp: null, labels: { app: 'web' } }, spec: { containers: [{ image: 'busybox:1', name: 'c' }] } };
    expect(templateKey(undone)).toBe(templateKey(rsTemplate));
    expect(templateKey({ ...undone, spec: { containers: [{ name: 'c', image: 'busybox:2' }] } })).not.toBe(templateKey(rsTemplate));
  });

  it('hashes templates stably and keeps condition times', () => {
    expect(templateHash({ a: 1, b: [2] })).toBe(templateHash({ b: [2], a: 1 }));
    expect(templateHash({ a: 1 })).not.toBe(templateHash({ a: 2 }));
    expect(templateHash({ a: 1 })).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
    const c1 = setCondition([], { type: 'Available', status: 'True' }, 'T1');
    const c2 = setCondition(c1, { type: 'Available', status: 'True', reason: 'R' }, 'T2');
    expect(c2[0].lastTransitionTime).toBe('T1');
    const c3 = setCondition(c2, { type: 'Available', status: 'False' }, 'T3');
    expect(c3[0].lastTransitionTime).toBe('T3');
  });
});

describe('CronJob schedules (the policy compiler\'s, in the Kubernetes cron dialect)', () => {
  const at = (s: string) => Date.parse(s);
  const fires = (expr: string, ms: number, tz = 'UTC') => previousSlot(parseFrequency(expr, tz), new Date(ms))?.getTime() === ms;
  it.each([
    ['*/15 * * * *', '2026-03-01T10:45:00Z', true],
    ['*/15 * * * *', '2026-03-01T10:46:00Z', false],
    ['0 2 * * *', '2026-03-01T02:00:00Z', true],
    ['@daily', '2026-03-01T00:00:00Z', true],
    ['@hourly', '2026-03-01T07:00:00Z', true],
    ['0 0 * * mon-fri', '2026-03-01T00:00:00Z', false], // a Sunday
    ['0 0 * * 7', '2026-03-01T00:00:00Z', true], // 7 is Sunday too
    ['0 0 1 jan,jul *', '2026-07-01T00:00:00Z', true],
    ['0 0 13 * 5', '2026-03-13T00:00:00Z', true], // Friday the 13th: dom OR dow
    ['0 0 13 * 5', '2026-03-06T00:00:00Z', true],
    ['0 0 13 * 5', '2026-03-07T00:00:00Z', false],
    ['30 9 * * *', '2026-03-01T09:30:00Z', true],
  ])('%s fires at %s: %s', (expr, time, want) => {
    expect(fires(expr, at(time))).toBe(want);
  });

  it('honours time zones', () => {
    // 02:00 in Berlin (UTC+1 in March) is 01:00 UTC.
    expect(fires('0 2 * * *', at('2026-03-01T01:00:00Z'), 'Europe/Berlin')).toBe(true);
    expect(fires('0 2 * * *', at('2026-03-01T02:00:00Z'), 'Europe/Berlin')).toBe(false);
  });

  it('finds the last and next firing', () => {
    const s = parseFrequency('0 */6 * * *');
    expect(previousSlot(s, new Date(at('2026-03-01T13:30:00Z')))?.getTime()).toBe(at('2026-03-01T12:00:00Z'));
    expect(nextRun(s, new Date(at('2026-03-01T13:30:00Z'))).getTime()).toBe(at('2026-03-01T18:00:00Z'));
    expect(nextRun(s, new Date(at('2026-03-01T18:00:00Z'))).getTime()).toBe(at('2026-03-02T00:00:00Z'));
  });

  it.each(['* * * *', '60 * * * *', '* * * * * *', 'a b c d e', '*/0 * * * *', '5-1 * * * *'])('rejects %s', (expr) => {
    expect(() => parseFrequency(expr)).toThrow(ScheduleError);
  });
});
