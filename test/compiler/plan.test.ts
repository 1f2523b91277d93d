import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileSources } from '../../compiler/compile.ts';
import { readDirectory } from '../../compiler/load/directory.ts';
import { compileTarget } from '../../compiler/load/target.ts';
import { planJson } from '../../compiler/plan/build.ts';
import { compileFromDirectory } from '../../compiler/index.ts';
import { BASE, compileTexts, errorsOf } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GOLDEN = fileURLToPath(new URL('./golden/examples.plan.json', import.meta.url));

/** Set UPDATE_GOLDEN=1 to rewrite a golden after reviewing the change. */
function golden(path: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN || !existsSync(path)) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

describe('plan', () => {
  it('shipped example repository (policies/ + blueprints/) compiles to the golden plan', async () => {
    const r = await compileTarget(['policies', 'blueprints'], undefined, ROOT);
    expect(errorsOf(r)).toEqual([]);
    golden(GOLDEN, planJson(r.plan!));
  });

  it('is byte-identical whatever the file order, and the hash ignores the source commit', async () => {
    const files = [...(await readDirectory(`${ROOT}/policies`)), ...(await readDirectory(`${ROOT}/blueprints`))];
    const a = compileSources(files, '');
    const b = compileSources([...files].reverse(), 'f'.repeat(40));
    expect(a.plan!.hash).toBe(b.plan!.hash);
    expect(b.plan!.sourceCommit).toBe('f'.repeat(40));
    expect(planJson(a.plan!)).toBe(planJson({ ...b.plan!, sourceCommit: '' }));
  });

  it('canonical JSON: sorted keys at every level, entries sorted by name', async () => {
    const r = await compileFromDirectory([`${ROOT}/policies`, `${ROOT}/blueprints`]);
    const text = planJson({ ...r.plan! });
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(walk);
      if (v && typeof v === 'object') {
        const keys = Object.keys(v);
        expect(keys).toEqual([...keys].sort());
        Object.values(v).forEach(walk);
      }
    };
    walk(JSON.parse(text));
    const names = r.plan!.policies.map((p) => p.name);
    expect(names).toEqual([...names].sort());
  });

  it('fills defaults and resolves references', () => {
    const r = compileTexts(BASE);
    expect(errorsOf(r)).toEqual([]);
    const p = r.plan!.policies[0]!;
    expect(p).toMatchObject({
      name: 'db',
      paused: false,
      profile: 'fs',
      retention: { hourly: 0, daily: 7, weekly: 0, monthly: 0, yearly: 0 },
      schedule: { source: '@daily', normalized: '0 0 * * *', kind: 'cron', timezone: 'UTC', maxIntervalSeconds: 86400 },
      actions: { snapshot: { enabled: true, keepLocal: 0 }, export: { enabled: true, volumeData: true, parallelism: 9 } },
      blueprints: [{ blueprint: 'bp' }],
    });
    expect(p.selector.excludeKinds).toContain('Event');
    expect(p.selector.excludeControlled).toBe(true);
    expect(r.plan!.config).toEqual({
      cluster: 'test',
      catalog: { branch: 'coffer-catalog', path: 'catalog' },
      reports: { path: 'reports', interval: '24h' },
      sync: { branch: 'main', interval: '5m' },
      concurrency: { runs: 3, volumes: 9 },
      defaults: { timezone: 'UTC' },
    });
    expect(r.plan!.profiles[0]).toMatchObject({ name: 'fs', type: 'filesystem', location: 'file:///srv/backups' });
    expect(r.plan!.blueprints[0]!.actions.backup!.phases[0]).toMatchObject({ name: 'dump', func: 'KubeExec', timeout: '10m' });
  });

  it('holds Secret references only, never credentials', async () => {
    const r = await compileTarget(['policies', 'blueprints'], undefined, ROOT);
    const text = planJson(r.plan!);
    expect(text).not.toMatch(/secretAccessKey"\s*:\s*"(?!aws_secret_access_key|secretkey)/);
    for (const p of r.plan!.profiles) {
      expect(Object.keys(p.encryption.keySecret).sort()).toEqual(expect.arrayContaining(['key', 'name']));
      if (p.s3?.credentials) expect(Object.keys(p.s3.credentials).sort()).toEqual(['accessKeyIdKey', 'namespace', 'secretAccessKeyKey', 'secretName'].filter((k) => k in p.s3!.credentials!));
    }
  });

  it('no plan when there is any error; warnings do not block it', () => {
    expect(compileTexts({ ...BASE, 'policy.yaml': BASE['policy.yaml']!.replace('profile: fs', 'profile: x') }).plan).toBeUndefined();
    const warned = compileTexts({ ...BASE, 'k.yaml': 'apiVersion: v1\nkind: ConfigMap\n' });
    expect(warned.plan).toBeDefined();
    expect(warned.diagnostics.map((d) => d.code)).toEqual(['W_FOREIGN']);
  });

  it('documents are keyed Kind/name and keep their source position', () => {
    const r = compileTexts(BASE);
    expect(Object.keys(r.documents).sort()).toEqual(['Blueprint/bp', 'Config/coffer', 'Policy/db', 'Profile/fs']);
    expect(r.documents['Policy/db']).toMatchObject({ kind: 'Policy', name: 'db', file: 'policy.yaml', line: 1, column: 1 });
  });
});
