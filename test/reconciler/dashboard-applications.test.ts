/**
 * The dashboard's server-side pieces without a cluster: the Applications view's protection states (pure, table
 * driven — the cases are the states the issue names: protected, unprotected, failing, never backed up), its filter /
 * sort / paging, and the server-sent event stream over a real HTTP connection (the WHATWG EventSource format:
 * `id:` / `event:` / `data:` lines; a reconnect with Last-Event-ID replays what was missed; an id from another
 * process gets `reset`).
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LastRun } from '../../reconciler/catalog/index.ts';
import type { ComplianceResult } from '../../reconciler/report/types.ts';
import { applications, queryApplications, type ApplicationsInput, type DirFacts } from '../../reconciler/server/applications.ts';
import { EventHub, type EventFilter } from '../../reconciler/server/events.ts';

const T = '2026-12-06T10:00:00.000Z';
const dir = (namespace: string, policy: string, good = true): DirFacts => ({ namespace, policy, count: 3, ...(good ? { latestGood: { name: `${policy}-20261206t100000z`, startTime: T, bytes: 1000, phase: 'Succeeded' } } : {}) });
const last = (namespace: string, policy: string, phase: LastRun['phase']): LastRun => ({ namespace, policy, phase, run: `backup-${namespace}`, startTime: T, trigger: 'schedule' });
const rpo = (namespace: string, policy: string, result: ComplianceResult['result']): ComplianceResult => ({ source: 'coffer', policy, rule: 'rpo', result, category: 'Data Protection', message: `RPO ${result}`, scored: true, resources: [{ apiVersion: 'v1', kind: 'Namespace', name: namespace }], properties: {} });

function input(over: Partial<ApplicationsInput>): ApplicationsInput {
  return { namespaces: [], policies: [{ name: 'hourly', paused: false }, { name: 'daily', paused: false }], selected: new Map(), dirs: [], lastRuns: [], compliance: [], ...over };
}

describe('applications: one protection state per namespace', () => {
  it.each([
    ['selected by no policy', input({ namespaces: ['web'] }), 'Unprotected', /no policy selects it/],
    ['selected, no run yet', input({ namespaces: ['web'], selected: new Map([['hourly', ['web']]]) }), 'NeverBackedUp', /selected by hourly; no restore point yet/],
    ['selected, only failed runs (the failing app the timeline could not show)', input({ namespaces: ['web'], selected: new Map([['hourly', ['web']]]), lastRuns: [last('web', 'hourly', 'Failed')] }), 'Failing', /last backup failed: hourly/],
    ['selected, last run failed after a good one', input({ namespaces: ['web'], selected: new Map([['hourly', ['web']]]), dirs: [dir('web', 'hourly')], lastRuns: [last('web', 'hourly', 'Failed')] }), 'Failing', /last backup failed/],
    ['selected, good restore point, RPO met', input({ namespaces: ['web'], selected: new Map([['hourly', ['web']]]), dirs: [dir('web', 'hourly')], lastRuns: [last('web', 'hourly', 'Succeeded')], compliance: [rpo('web', 'hourly', 'pass')] }), 'Protected', /protected by hourly/],
    ['selected, good restore point, RPO missed', input({ namespaces: ['web'], selected: new Map([['hourly', ['web']]]), dirs: [dir('web', 'hourly')], lastRuns: [last('web', 'hourly', 'Succeeded')], compliance: [rpo('web', 'hourly', 'fail')] }), 'Failing', /RPO missed: hourly/],
    ['no longer selected, restore points remain', input({ namespaces: ['web'], dirs: [dir('web', 'hourly')] }), 'Unprotected', /no policy selects it now; 3 restore points remain/],
  ])('%s', (_, given, state, reason) => {
    const [app] = applications(given);
    expect(app).toMatchObject({ namespace: 'web', state, reason: expect.stringMatching(reason) });
  });

  it('shows the newest restore verification per policy and the worst verdict per application (policies with verify: only)', () => {
    const verified = (policy: string, result: ComplianceResult['result'], name: string): ComplianceResult => ({ ...rpo('web', policy, result), rule: 'last-verified', message: `verify ${result}`, properties: { verification: name, phase: result === 'pass' ? 'Succeeded' : 'Failed', startTime: T } });
    const given = input({ namespaces: ['web'], selected: new Map([['hourly', ['web']], ['daily', ['web']]]), dirs: [dir('web', 'hourly'), dir('web', 'daily')], compliance: [rpo('web', 'hourly', 'pass'), verified('hourly', 'pass', 'verify-1'), verified('daily', 'fail', 'verify-2')] });
    const [app] = applications(given);
    expect(app!.policies.find((p) => p.name === 'hourly')!.verification).toEqual({ result: 'pass', message: 'verify pass', name: 'verify-1', phase: 'Succeeded', startTime: T });
    expect(app!.verified).toEqual({ result: 'fail', policy: 'daily', name: 'verify-2', phase: 'Failed', startTime: T });
    const [none] = applications(input({ namespaces: ['web'], selected: new Map([['hourly', ['web']]]), compliance: [rpo('web', 'hourly', 'pass')] }));
    expect(none!.verified).toBeUndefined();
  });

  it('lists deleted namespaces the catalog remembers, and the newest good point over every policy', () => {
    const later = { ...dir('gone', 'daily'), latestGood: { name: 'daily-x', startTime: '2026-12-06T11:00:00.000Z', bytes: 5, phase: 'Succeeded' as const } };
    const apps = applications(input({ namespaces: ['web'], dirs: [dir('gone', 'hourly'), later] }));
    expect(apps.map((a) => [a.namespace, a.live])).toEqual([['gone', false], ['web', true]]);
    expect(apps[0]).toMatchObject({ restorePoints: 6, lastGood: { name: 'daily-x', policy: 'daily', bytes: 5 } });
  });
});

describe('queryApplications', () => {
  const rows = applications(
    input({
      namespaces: ['alpha', 'beta', 'gamma', 'delta', 'new', 'shop'],
      selected: new Map([['hourly', ['alpha', 'beta', 'new', 'shop']], ['daily', ['shop']]]),
      dirs: [dir('alpha', 'hourly'), { ...dir('shop', 'daily'), latestGood: { name: 'd', startTime: T, bytes: 9000, phase: 'Succeeded' } }],
      lastRuns: [last('beta', 'hourly', 'Failed')],
    }),
  );
  it('filters by text (namespace or policy) and state, counting each state of the text match', () => {
    const r = queryApplications(rows, { q: 'DAILY', limit: 10 });
    expect(r.items.map((a) => a.namespace)).toEqual(['shop']);
    const u = queryApplications(rows, { state: 'Unprotected', limit: 10 });
    expect(u.items.map((a) => a.namespace)).toEqual(['delta', 'gamma']);
    expect(u.counts).toEqual({ Failing: 1, NeverBackedUp: 1, Unprotected: 2, Protected: 2 });
  });
  it('sorts worst first by default and by size descending, namespace breaking ties', () => {
    expect(queryApplications(rows, { limit: 10 }).items.map((a) => a.state)).toEqual(['Failing', 'NeverBackedUp', 'Unprotected', 'Unprotected', 'Protected', 'Protected']);
    expect(queryApplications(rows, { sort: 'size', desc: true, limit: 2 }).items.map((a) => a.namespace)).toEqual(['shop', 'alpha']);
  });
  it('pages without losing or repeating a row', () => {
    const seen: string[] = [];
    let offset: number | undefined = 0;
    while (offset !== undefined) {
      const p = queryApplications(rows, { sort: 'namespace', limit: 2, offset });
      seen.push(...p.items.map((a) => a.namespace));
      offset = p.next;
    }
    expect(seen).toEqual(['alpha', 'beta', 'delta', 'gamma', 'new', 'shop']);
  });
});

describe('EventHub over HTTP', () => {
  let hub: EventHub;
  let server: Server;
  let port: number;
  let filter: EventFilter = () => true;
  beforeAll(async () => {
    hub = new EventHub({ keep: 3 });
    // `/filtered` streams through `filter`, as `GET /events` does for a caller who sees only some namespaces.
    server = createServer((req, res) => hub.attach(res, req.headers['last-event-id'] as string | undefined, req.url === '/filtered' ? (e) => filter(e) : undefined));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    hub.close();
    await new Promise((r) => server.close(r));
  });

  /** Opens a stream and collects parsed events until `until` says stop. */
  function stream(lastId: string | undefined, until: (evs: Array<{ id?: string; event?: string; data?: string }>) => boolean, path = '/') {
    return new Promise<Array<{ id?: string; event?: string; data?: string }>>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', path, headers: lastId ? { 'last-event-id': lastId } : {} }, (res) => {
        expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
        let buf = '';
        const evs: Array<{ id?: string; event?: string; data?: string }> = [];
        res.on('data', (c: Buffer) => {
          buf += c.toString('utf8');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev: { id?: string; event?: string; data?: string } = {};
            for (const line of block.split('\n')) {
              const m = /^(id|event|data): (.*)$/.exec(line);
              if (m) ev[m[1] as 'id'] = m[2];
            }
            if (ev.event) evs.push(ev);
          }
          if (until(evs)) {
            req.destroy();
            resolve(evs);
          }
        });
        res.on('end', () => resolve(evs));
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
      req.end();
    });
  }

  it('streams published events, replays what a reconnect missed, and resets when it cannot', async () => {
    const first = stream(undefined, (evs) => evs.some((e) => e.event === 'run'));
    await waitFor(() => hub.listeners === 1);
    hub.publish('run', { namespace: 'shop', phase: 'Running' });
    const got = await first;
    expect(got.map((e) => e.event)).toEqual(['hello', 'run']);
    expect(JSON.parse(got[1]!.data!)).toEqual({ namespace: 'shop', phase: 'Running' });
    const lastId = got[1]!.id!;
    await waitFor(() => hub.listeners === 0);
    // Missed while away: two events, both still kept.
    hub.publish('catalog', { reason: 'a' });
    hub.publish('run', { namespace: 'shop', phase: 'Succeeded' });
    const resumed = await stream(lastId, (evs) => evs.length === 2);
    expect(resumed.map((e) => [e.event, JSON.parse(e.data!)])).toEqual([['catalog', { reason: 'a' }], ['run', { namespace: 'shop', phase: 'Succeeded' }]]);
    // Fallen out of the buffer (keep: 3) → reset; an id of another process (a restart) → reset.
    for (let i = 0; i < 4; i++) hub.publish('catalog', { reason: String(i) });
    expect((await stream(lastId, (evs) => evs.length >= 1))[0]).toMatchObject({ event: 'reset', data: '{"reason":"events missed"}' });
    expect((await stream('0000-5', (evs) => evs.length >= 1))[0]).toMatchObject({ event: 'reset', data: '{"reason":"server restarted"}' });
  });

  it('a filtered stream gets only what its filter admits, in publish order even when decisions take time; a filter that fails ends the stream, and the reconnect replays', async () => {
    filter = async (e) => {
      // The first decision is the slowest: order must still be publish order.
      if (e.data.n === 1) await new Promise((r) => setTimeout(r, 50));
      return e.data.namespace === 'shop';
    };
    await waitFor(() => hub.listeners === 0); // the streams of the test before have gone
    const got = stream(undefined, (evs) => evs.some((e) => e.data?.includes('"n":4')), '/filtered');
    await waitFor(() => hub.listeners === 1);
    hub.publish('run', { namespace: 'shop', n: 1 });
    hub.publish('run', { namespace: 'other', n: 2 });
    hub.publish('run', { namespace: 'shop', n: 3 });
    hub.publish('run', { namespace: 'shop', n: 4 });
    const evs = await got;
    expect(evs.filter((e) => e.event === 'run').map((e) => JSON.parse(e.data!).n)).toEqual([1, 3, 4]);
    const lastId = evs.at(-1)!.id!;
    await waitFor(() => hub.listeners === 0);

    filter = () => Promise.reject(new Error('the cluster cannot answer'));
    const ended = stream(lastId, () => false, '/filtered');
    await waitFor(() => hub.listeners === 1);
    hub.publish('run', { namespace: 'shop', n: 5 });
    expect((await ended).filter((e) => e.event === 'run')).toEqual([]);
    filter = (e) => e.data.namespace === 'shop';
    const resumed = await stream(lastId, (e) => e.length >= 1, '/filtered');
    expect(resumed.map((e) => [e.event, JSON.parse(e.data!).n])).toEqual([['run', 5]]);
  });
});

async function waitFor(f: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!f()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
