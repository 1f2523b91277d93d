/**
 * The watcher edge on a real temporary directory with real files and real chokidar: every scenario an editor or Git
 * produces, checked through the reports `coffer dev` prints. Sequenced by waiting for each report (expect.poll),
 * never by sleeping.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compileFromDirectory } from '../../compiler/index.ts';
import { runDevLoop, type CompileReport } from '../../compiler/watch/index.ts';
import { BASE } from './helpers.ts';

// Each wait is for a compile on a possibly loaded two-core machine: generous, and never a timing assertion.
vi.setConfig({ testTimeout: 180_000 });

const root = mkdtempSync(join(tmpdir(), 'coffer-dev-'));
const dir = join(root, 'repo');
const reports: CompileReport[] = [];
const stop = new AbortController();
let loop: Promise<void>;
const latencies: number[] = [];

const policy = (name: string, daily: number, extra = '') => BASE['policy.yaml']!.replace('name: db', `name: ${name}`).replace('daily: 7', `daily: ${daily}${extra}`);
const write = (rel: string, text: string) => {
  mkdirSync(join(dir, rel, '..'), { recursive: true });
  writeFileSync(join(dir, rel), text);
};

/** Waits for the report after `seen` and returns it; also records how long it took (a figure for the report, not an assertion). */
async function nextReport(seen: number): Promise<CompileReport> {
  const t0 = performance.now();
  await expect.poll(() => reports.length, { timeout: 45_000, interval: 20 }).toBeGreaterThan(seen);
  latencies.push(performance.now() - t0);
  return reports[seen]!;
}

function seedRepo(): void {
  write('coffer.yaml', BASE['coffer.yaml']!);
  write('profiles/fs.yaml', BASE['profile.yaml']!);
  write('blueprints/bp.yaml', BASE['blueprint.yaml']!);
  write('policies/db.yaml', policy('db', 7));
}

beforeAll(async () => {
  seedRepo();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  loop = runDevLoop({
    dirs: [{ path: dir, display: '' }],
    compile: () => compileFromDirectory(dir),
    onReport: (r) => reports.push(r),
    signal: stop.signal,
    debounceMs: 300,
    onReady: ready,
    onWatchError: (e) => {
      throw e;
    },
  });
  await isReady;
});

afterAll(async () => {
  stop.abort();
  await loop;
  rmSync(root, { recursive: true, force: true });
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(JSON.stringify({ saveToReportMs: { median: Math.round(sorted[sorted.length >> 1] ?? 0), max: Math.round(sorted.at(-1) ?? 0), samples: sorted.length, debounceMs: 300 } }));
});

describe('coffer dev on a real directory', () => {
  it('prints the first plan, then diffs against the last good plan through errors and fixes', async () => {
    const first = await nextReport(0);
    expect(first).toMatchObject({ seq: 1, status: 'initial', files: [] });
    expect(first.plan!.policies.map((p) => p.name)).toEqual(['db']);

    write('policies/db.yaml', policy('db', 3));
    const cut = await nextReport(1);
    expect(cut.status).toBe('changed');
    expect(cut.files).toEqual([{ event: 'change', path: 'policies/db.yaml' }]);
    expect(cut.diff!.changes[0]!.fields).toEqual([{ path: 'retention.daily', before: 7, after: 3 }]);
    expect(cut.diff!.risks.map((r) => `${r.severity} ${r.code} ${r.name}`)).toEqual(['high retention-reduced db']);

    write('policies/db.yaml', policy('db', 3).replace('frequency: "@daily"', 'frequency: "@daily'));
    const broken = await nextReport(2);
    expect(broken.status).toBe('error');
    expect(broken.errors[0]).toMatchObject({ code: 'E_YAML', file: 'policies/db.yaml', line: 6 });
    expect(broken.errors[0]!.column).toBeGreaterThan(0);
    expect(broken.baseline).toEqual({ seq: 2, hash: cut.plan!.hash });

    write('policies/db.yaml', policy('db', 3, '\n    weekly: 4'));
    const fixed = await nextReport(3);
    expect(fixed.status).toBe('changed');
    expect(fixed.diff!.base.hash).toBe(cut.plan!.hash);
    expect(fixed.diff!.changes[0]!.fields).toEqual([{ path: 'retention.weekly', before: 0, after: 4 }]);
    expect(fixed.diff!.risks).toEqual([]);
  });

  it('a burst of 20 saves is one compile', async () => {
    const seen = reports.length;
    for (let i = 1; i <= 20; i++) write('policies/db.yaml', policy('db', 3, `\n    weekly: ${i}`));
    const burst = await nextReport(seen);
    expect(burst.diff!.changes[0]!.fields).toEqual([{ path: 'retention.weekly', before: 4, after: 20 }]);
    // The next compile is caused by this sentinel, so nothing else came out of the burst.
    write('policies/db.yaml', policy('db', 4, '\n    weekly: 20'));
    const after = await nextReport(seen + 1);
    expect(after.seq).toBe(burst.seq + 1);
    expect(after.diff!.changes[0]!.fields).toEqual([{ path: 'retention.daily', before: 3, after: 4 }]);
  });

  it('sees atomic saves (write a temporary file, rename it over the original)', async () => {
    const seen = reports.length;
    writeFileSync(join(dir, 'policies/.db.yaml.swp'), policy('db', 9, '\n    weekly: 20'));
    renameSync(join(dir, 'policies/.db.yaml.swp'), join(dir, 'policies/db.yaml'));
    const r = await nextReport(seen);
    expect(r.diff!.changes[0]!.fields).toEqual([{ path: 'retention.daily', before: 4, after: 9 }]);
    expect(r.files.map((c) => c.path)).toEqual(['policies/db.yaml']);
    // JetBrains "safe write": original renamed away, temporary file renamed in, original deleted.
    writeFileSync(join(dir, 'policies/db.yaml___jb_tmp___'), policy('db', 4, '\n    weekly: 20'));
    renameSync(join(dir, 'policies/db.yaml'), join(dir, 'policies/db.yaml___jb_old___'));
    renameSync(join(dir, 'policies/db.yaml___jb_tmp___'), join(dir, 'policies/db.yaml'));
    rmSync(join(dir, 'policies/db.yaml___jb_old___'));
    const jb = await nextReport(seen + 1);
    expect(jb.diff!.changes[0]!.fields).toEqual([{ path: 'retention.daily', before: 9, after: 4 }]);
    expect(jb.files.map((c) => c.path)).toEqual(['policies/db.yaml']);
  });

  it('sees new files and deleted files', async () => {
    let seen = reports.length;
    write('policies/web.yaml', policy('web', 5));
    const added = await nextReport(seen++);
    expect(added.diff!.changes.map((c) => `${c.change} ${c.kind} ${c.name}`)).toEqual(['added Policy web']);
    rmSync(join(dir, 'policies/web.yaml'));
    const removed = await nextReport(seen++);
    expect(removed.files).toEqual([{ event: 'unlink', path: 'policies/web.yaml' }]);
    expect(removed.diff!.risks.map((r) => `${r.severity} ${r.code} ${r.name}`)).toEqual(['high policy-removed web']);
  });

  it('ignores .git, node_modules, catalog/reports/runs, dot files and non-YAML files', async () => {
    const seen = reports.length;
    write('.git/config.yaml', 'x: 1\n');
    write('node_modules/pkg/a.yaml', 'x: 1\n');
    write('catalog/test/db/rp.yaml', 'x: 1\n');
    write('reports/compliance.yaml', 'x: 1\n');
    write('runs/r.yaml', 'x: 1\n');
    write('policies/.#db.yaml', 'x: 1\n');
    write('policies/notes.txt', 'x\n');
    write('policies/db.yaml~', 'x\n');
    // The sentinel: the next compile must name only it.
    write('policies/db.yaml', policy('db', 8, '\n    weekly: 20'));
    const r = await nextReport(seen);
    expect(r.files).toEqual([{ event: 'change', path: 'policies/db.yaml' }]);
    expect(r.diff!.changes[0]!.fields).toEqual([{ path: 'retention.daily', before: 4, after: 8 }]);
  });

  it('a folder removed and created again', async () => {
    let seen = reports.length;
    rmSync(join(dir, 'policies'), { recursive: true });
    const gone = await nextReport(seen++);
    expect(gone.diff!.risks.map((r) => r.code)).toContain('policy-removed');
    write('policies/db.yaml', policy('db', 8, '\n    weekly: 20'));
    const back = await nextReport(seen++);
    expect(back.diff!.changes.map((c) => `${c.change} ${c.name}`)).toEqual(['added db']);
  });

  it('the whole directory removed (a failed compile, baseline kept) and created again', async () => {
    let seen = reports.length;
    const before = reports.at(-1)!.plan!.hash;
    rmSync(dir, { recursive: true });
    const gone = await nextReport(seen++);
    expect(gone.status).toBe('error');
    expect(gone.errors[0]).toMatchObject({ code: 'E_SOURCE' });
    expect(gone.baseline!.hash).toBe(before);
    seedRepo();
    write('policies/db.yaml', policy('db', 8, '\n    weekly: 20'));
    // Recreating several files may take more than one quiet period: wait until a compile succeeds again.
    await expect.poll(() => reports.at(-1)?.status, { timeout: 45_000, interval: 20 }).toBe('unchanged');
    expect(reports.at(-1)!.plan!.hash).toBe(before);
    // And the recreated directory is watched again.
    seen = reports.length;
    write('policies/db.yaml', policy('db', 2, '\n    weekly: 20'));
    const again = await nextReport(seen);
    expect(again.diff!.changes[0]!.fields).toEqual([{ path: 'retention.daily', before: 8, after: 2 }]);
  });
});

describe('coffer dev --poll, two folders compiled as one repository', () => {
  it('sees a save in the second folder and names it with its folder', async () => {
    const base = mkdtempSync(join(tmpdir(), 'coffer-dev-poll-'));
    const app = join(base, 'app');
    const lib = join(base, 'lib');
    for (const [rel, text] of [['coffer.yaml', BASE['coffer.yaml']!], ['profiles/fs.yaml', BASE['profile.yaml']!], ['policies/db.yaml', policy('db', 7)]] as const) {
      mkdirSync(join(app, rel, '..'), { recursive: true });
      writeFileSync(join(app, rel), text);
    }
    mkdirSync(join(lib, 'blueprints'), { recursive: true });
    writeFileSync(join(lib, 'blueprints/bp.yaml'), BASE['blueprint.yaml']!);
    const got: CompileReport[] = [];
    const halt = new AbortController();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const running = runDevLoop({
      dirs: [{ path: app, display: 'app' }, { path: lib, display: 'lib' }],
      compile: () => compileFromDirectory([app, lib]),
      onReport: (r) => got.push(r),
      signal: halt.signal,
      debounceMs: 100,
      watch: { usePolling: true, intervalMs: 100 },
      onReady: ready,
    });
    try {
      await isReady;
      await expect.poll(() => got.length, { timeout: 45_000, interval: 20 }).toBe(1);
      expect(got[0]!.status).toBe('initial');
      writeFileSync(join(lib, 'blueprints/bp.yaml'), BASE['blueprint.yaml']!.replace('pod: db-0', 'pod: db-1'));
      await expect.poll(() => got.length, { timeout: 45_000, interval: 20 }).toBe(2);
      expect(got[1]!.files).toEqual([{ event: 'change', path: 'lib/blueprints/bp.yaml' }]);
      expect(got[1]!.diff!.changes.map((c) => `${c.change} ${c.kind} ${c.name}`)).toEqual(['changed Blueprint bp']);
    } finally {
      halt.abort();
      await running;
      rmSync(base, { recursive: true, force: true });
    }
  });
});
