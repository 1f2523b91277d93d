/**
 * Issue 19: three on-demand backups went down to one within minutes because the policy's GFS retention counted them
 * as its own. On-demand points (trigger manual) now live outside GFS: kept until their TTL (default 720h, Velero's
 * default) or pinned until deleted. Pure outcome by table, then the real catalog on Git with an injected clock.
 */
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { parseFrequency } from '../../compiler/schedule/index.ts';
import { DEFAULT_ON_DEMAND_TTL_MS, onDemandKeep } from '../../reconciler/backup-run.ts';
import { openCatalog, retentionOutcome, type CatalogEntry, type RestorePoint } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { backup } from './catalog-fixtures.ts';
import { cleanup, gitCli, makePolicyRepo, tempDir } from './git-helpers.ts';

const policy: Pick<PlanPolicy, 'name' | 'paused' | 'retention' | 'schedule'> = { name: 'daily', paused: false, retention: { hourly: 0, daily: 2, weekly: 0, monthly: 0, yearly: 0 }, schedule: parseFrequency('@daily') };

function point(iso: string, keep?: { pinned?: boolean; expires?: string }): CatalogEntry<RestorePoint> {
  const { rp } = backup({ namespace: 'shop', policy: 'daily', start: new Date(iso) });
  if (keep) Object.assign(rp.spec, { trigger: 'manual' }, keep);
  return { path: `catalog/dev/shop/daily/${rp.metadata.name}.yaml`, doc: rp };
}

describe('on-demand points and GFS (table)', () => {
  const scheduled = ['2026-11-10T01:00:00Z', '2026-11-11T01:00:00Z', '2026-11-12T01:00:00Z'].map((t) => point(t));
  const now = new Date('2026-11-12T12:00:00Z');
  it.each([
    {
      name: 'three on-demand backups after the scheduled ones: all kept, GFS keeps its own 2 (the issue)',
      pts: [...scheduled, ...['2026-11-12T10:00:00Z', '2026-11-12T10:05:00Z', '2026-11-12T10:10:00Z'].map((t) => point(t, { expires: '2026-12-12T10:00:00Z' }))],
      expire: ['daily-20261110-010000'],
    },
    { name: 'a TTL that has passed expires the point, exactly at its expiry', pts: [...scheduled, point('2026-11-11T12:00:00Z', { expires: '2026-11-12T12:00:00Z' })], expire: ['daily-20261110-010000', 'daily-20261111-120000'] },
    { name: 'a TTL one millisecond in the future keeps it', pts: [...scheduled, point('2026-11-11T12:00:00Z', { expires: '2026-11-12T12:00:00.001Z' })], expire: ['daily-20261110-010000'] },
    { name: 'pinned is kept whatever its age', pts: [...scheduled, point('2020-01-01T00:00:00Z', { pinned: true })], expire: ['daily-20261110-010000'] },
    { name: 'an on-demand point without expiry (recorded before TTLs) is kept, not GFS-counted', pts: [...scheduled, point('2026-11-12T11:00:00Z', {})], expire: ['daily-20261110-010000'] },
  ])('$name', ({ pts, expire }) => {
    const [o] = retentionOutcome(policy, pts, now);
    expect(o!.expire.map((d) => d.metadata.name).sort()).toEqual([...expire].sort());
  });

  it('keep reasons say pinned or ttl for on-demand points', () => {
    const [o] = retentionOutcome(policy, [...scheduled, point('2026-11-12T10:00:00Z', { pinned: true }), point('2026-11-12T10:05:00Z', { expires: '2027-01-01T00:00:00Z' })], now);
    expect(o!.keep.filter((k) => k.name.includes('T10') || k.name.endsWith('-100000') || k.name.endsWith('-100500'))).toEqual([
      { name: 'daily-20261112-100000', reasons: ['pinned'] },
      { name: 'daily-20261112-100500', reasons: ['ttl'] },
    ]);
  });

  it.each([
    ['no flags: 720h after the start', undefined, { expires: '2026-12-12T10:00:00.000Z' }],
    ['--ttl 1h', { ttlMs: 3600_000 }, { expires: '2026-11-12T11:00:00.000Z' }],
    ['--pin', { pin: true }, { pinned: true }],
  ] as const)('onDemandKeep: %s', (_, keep, want) => {
    expect(onDemandKeep(keep, '2026-11-12T10:00:00Z')).toEqual(want);
    expect(DEFAULT_ON_DEMAND_TTL_MS).toBe(720 * 3600_000);
  });
});

describe('retention on the catalog branch with an injected clock', () => {
  let dir: string;
  let repo: string;
  let clock = new Date('2026-11-12T12:00:00Z');
  const ttlExpiry = '2026-11-13T10:00:00.000Z';
  beforeAll(async () => {
    dir = tempDir('on-demand');
    repo = makePolicyRepo(join(dir, 'policies'), { 'coffer.yaml': 'apiVersion: coffer.dev/v1alpha1\nkind: Config\nmetadata:\n  name: c\nspec:\n  cluster: dev\n' });
  });
  afterAll(() => cleanup(dir));

  const catalog = async () => openCatalog({ source: await openSource({ source: repo }), cluster: 'dev', clock: () => clock });
  const held = () => gitCli(repo, 'ls-tree', '-r', '--name-only', 'coffer-catalog', 'catalog/dev/shop/daily').split('\n').filter(Boolean).map((p) => p.split('/').pop()!.replace(/\.yaml$/, ''));

  it('a pinned and a TTL’d point survive GFS; the TTL’d one goes at its expiry, not a moment before', async () => {
    const c = await catalog();
    for (const t of ['2026-11-10T01:00:00Z', '2026-11-11T01:00:00Z', '2026-11-12T01:00:00Z']) {
      const { run, rp } = backup({ namespace: 'shop', policy: 'daily', start: new Date(t) });
      await c.recordBackup(run, rp);
    }
    for (const [t, keep] of [['2026-11-12T09:00:00Z', { pinned: true }], ['2026-11-12T10:00:00Z', { expires: ttlExpiry }]] as const) {
      const { run, rp } = backup({ namespace: 'shop', policy: 'daily', start: new Date(t), suffix: `manual-${t.slice(11, 13)}` });
      Object.assign(rp.spec, { trigger: 'manual' }, keep);
      run.spec.trigger = 'manual';
      await c.recordBackup(run, rp);
    }
    await c.applyRetention(policy);
    expect(held()).toEqual(['daily-20261111-010000', 'daily-20261112-010000', 'daily-20261112-090000', 'daily-20261112-100000']);

    clock = new Date(Date.parse(ttlExpiry) - 1);
    await (await catalog()).applyRetention(policy);
    expect(held()).toContain('daily-20261112-100000');

    clock = new Date(ttlExpiry);
    const out = await (await catalog()).applyRetention(policy);
    expect(out[0]!.expire.map((d) => d.metadata.name)).toEqual(['daily-20261112-100000']);
    expect(held()).toEqual(['daily-20261111-010000', 'daily-20261112-010000', 'daily-20261112-090000']);

    clock = new Date('2030-01-01T00:00:00Z');
    await (await catalog()).applyRetention(policy);
    expect(held()).toContain('daily-20261112-090000'); // pinned: kept until deleted
  });

  it('get restorepoints shows the expiry column: pinned, or the expiry time', async () => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d) => (out += d));
    expect(await main(['get', 'restorepoints'], { stdout, stderr: new PassThrough(), env: {}, cwd: repo })).toBe(0);
    const rows = out.trim().split('\n');
    expect(rows[0]).toMatch(/\bEXPIRES\b/);
    expect(rows.find((r) => r.includes('daily-20261112-090000'))).toMatch(/\bpinned\b/);
    expect(rows.find((r) => r.includes('daily-20261112-010000'))).toMatch(/Succeeded\s+1\s+1\.0 KiB\s+-\s+/);
  });
});

describe('RunLog', () => {
  it('keeps the first 100 and the newest 399 lines with a marker, timestamped, each cut at 2,000 characters', async () => {
    const { RunLog } = await import('../../reconciler/run-log.ts');
    const l = new RunLog(() => new Date('2026-11-12T10:00:00Z'));
    for (let i = 0; i < 1000; i++) l.add(i === 0 ? 'x'.repeat(5000) : `line ${i}`);
    const lines = l.lines;
    expect(lines).toHaveLength(500);
    expect(lines[0]!.length).toBeLessThanOrEqual(2000);
    expect(lines[0]!.startsWith('2026-11-12T10:00:00.000Z xxx')).toBe(true);
    expect(lines[99]).toBe('2026-11-12T10:00:00.000Z line 99');
    expect(lines[100]).toBe('… 501 line(s) left out …');
    expect(lines[499]).toBe('2026-11-12T10:00:00.000Z line 999');
  });
});
