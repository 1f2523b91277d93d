/**
 * Lease coordination against a real API server: the sandbox by default, or a real cluster when COFFER_TEST_KUBECONFIG
 * names a kubeconfig (the test works in its own random namespace and deletes it).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseLock, startElection } from '../../reconciler/lease/index.ts';

let kubeConfig: KubeConfig;
let kubeconfigPath: string;
let stopCluster: () => Promise<void>;
const namespace = `lease-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-lease-'));
  const real = process.env.COFFER_TEST_KUBECONFIG;
  if (real) {
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(real);
    kubeconfigPath = real;
    stopCluster = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const { startSandbox } = await import('../../sandbox/index.ts');
    const sb = await startSandbox({ dir: join(dir, 'sandbox'), controllers: false });
    kubeConfig = sb.kubeConfig;
    kubeconfigPath = sb.kubeconfigPath;
    stopCluster = async () => {
      await sb.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await kubeConfig?.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace }).catch(() => undefined);
  await stopCluster?.();
});

/** A clock the test moves by hand, so expiry needs no sleeping. */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** Async on purpose: the sandbox API server runs in this process, so a blocking child would deadlock it. */
async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfigPath }, encoding: 'utf8' });
  return stdout;
}

describe('LeaseLock (coordination.k8s.io/v1)', () => {
  it('one holder at a time: create, renew, wait, release, hand over', async () => {
    const name = 'handover';
    const ca = fakeClock();
    const cb = fakeClock();
    const a = new LeaseLock({ kubeConfig, namespace, name, identity: 'replica-a', leaseDurationSeconds: 15, clock: ca.now });
    const b = new LeaseLock({ kubeConfig, namespace, name, identity: 'replica-b', leaseDurationSeconds: 15, clock: cb.now });
    expect(await a.tryAcquire()).toEqual({ held: true, transition: 'created' });
    expect(a.holds()).toBe(true);
    expect(await b.tryAcquire()).toMatchObject({ held: false, holder: 'replica-a' });
    expect(b.holds()).toBe(false);
    const rv1 = (await a.read())!.metadata!.resourceVersion;
    ca.advance(5_000);
    expect(await a.tryAcquire()).toEqual({ held: true, transition: 'renewed' });
    expect((await a.read())!.metadata!.resourceVersion).not.toBe(rv1);
    // kubectl sees the same holder.
    const viaKubectl = JSON.parse(await kubectl('get', 'lease', name, '-n', namespace, '-o', 'json')) as { spec: { holderIdentity: string; leaseDurationSeconds: number } };
    expect(viaKubectl.spec).toMatchObject({ holderIdentity: 'replica-a', leaseDurationSeconds: 15 });
    // Our own clock says when the lease stops being safely ours.
    ca.advance(13_000);
    expect(a.holds()).toBe(false);
    expect(await a.release()).toBe(true);
    expect(await b.tryAcquire()).toEqual({ held: true, transition: 'released' });
    expect((await b.read())!.spec).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 1 });
    expect(await a.tryAcquire()).toMatchObject({ held: false, holder: 'replica-b' });
  });

  it('a crashed holder is taken over after the lease duration, by exactly one of two racing contenders', async () => {
    const name = 'takeover';
    const dead = new LeaseLock({ kubeConfig, namespace, name, identity: 'crashed', leaseDurationSeconds: 15 });
    expect((await dead.tryAcquire()).held).toBe(true);
    const cb = fakeClock();
    const cc = fakeClock();
    const b = new LeaseLock({ kubeConfig, namespace, name, identity: 'replica-b', leaseDurationSeconds: 15, clock: cb.now });
    const c = new LeaseLock({ kubeConfig, namespace, name, identity: 'replica-c', leaseDurationSeconds: 15, clock: cc.now });
    expect(await b.tryAcquire()).toMatchObject({ held: false, holder: 'crashed' });
    expect(await c.tryAcquire()).toMatchObject({ held: false, holder: 'crashed' });
    cb.advance(10_000);
    expect(await b.tryAcquire()).toMatchObject({ held: false, holder: 'crashed' }); // not yet expired on b's clock
    cb.advance(6_000);
    cc.advance(16_000);
    const [rb, rc] = await Promise.all([b.tryAcquire(), c.tryAcquire()]);
    const winners = [rb, rc].filter((r) => r.held);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toEqual({ held: true, transition: 'expired' });
    const lease = (await b.read())!;
    const winner = rb.held ? 'replica-b' : 'replica-c';
    expect(lease.spec).toMatchObject({ holderIdentity: winner, leaseTransitions: 1 });
    const loser = rb.held ? rc : rb;
    expect(loser).toMatchObject({ held: false, holder: winner });
  });

  it('the API server refuses a write based on a stale resourceVersion (the guarantee the lock relies on)', async () => {
    const name = 'stale';
    const a = new LeaseLock({ kubeConfig, namespace, name, identity: 'a' });
    await a.tryAcquire();
    const stale = (await a.read())!;
    await a.tryAcquire(); // renew: the resourceVersion moves on
    const api = kubeConfig.makeApiClient(CoordinationV1Api);
    await expect(api.replaceNamespacedLease({ name, namespace, body: { ...stale, spec: { ...stale.spec, holderIdentity: 'intruder' } } })).rejects.toMatchObject({ code: 409 });
    expect((await a.read())!.spec!.holderIdentity).toBe('a');
  });

  it('two electors: one leader at a time, and a clean stop hands over', async () => {
    const name = 'election';
    const events: string[] = [];
    const mk = (id: string) =>
      startElection({
        // Long enough that a starved renew loop cannot lose it (the hand-over below comes from the clean stop's release).
        lock: new LeaseLock({ kubeConfig, namespace, name, identity: id, leaseDurationSeconds: 30 }),
        retryPeriodMs: 100,
        onStartedLeading: () => events.push(`${id}+`),
        onStoppedLeading: () => events.push(`${id}-`),
      });
    const stopA = mk('a');
    await until(() => events.includes('a+'));
    const stopB = mk('b');
    await new Promise((r) => setTimeout(r, 400));
    expect(events).toEqual(['a+']);
    await stopA();
    await until(() => events.includes('b+'));
    expect(events).toEqual(['a+', 'a-', 'b+']);
    await stopB();
    expect(events).toEqual(['a+', 'a-', 'b+', 'b-']);
  });
});

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
