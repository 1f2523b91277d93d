import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileTarget } from '../../compiler/load/target.ts';
import { schemas, KINDS, FUNCTIONS } from '../../schemas/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('shipped examples', () => {
  it('policies/ with blueprints/ validates without errors or warnings', async () => {
    const r = await compileTarget(['policies', 'blueprints'], undefined, ROOT);
    expect(r.diagnostics).toEqual([]);
    const kinds = Object.values(r.documents).map((d) => d.kind);
    for (const k of ['Config', 'Profile', 'Policy', 'Blueprint', 'TransformSet', 'Restore']) expect(kinds).toContain(k);
  });

  it.each(readdirSync(`${ROOT}/blueprints`).filter((f) => f.endsWith('.yaml')))('blueprints/%s validates on its own', async (f) => {
    const r = await compileTarget(['blueprints'], undefined, ROOT);
    expect(r.diagnostics.filter((d) => d.severity === 'error' && d.file === `blueprints/${f}`)).toEqual([]);
    expect(Object.values(r.documents).some((d) => d.file === `blueprints/${f}` && d.kind === 'Blueprint')).toBe(true);
  });

  it('the library has sqlite, postgres, mysql, redis, etcd (logical and snapshot paths) and quiesce; transforms cover storage class, registry, replicas, hostnames', async () => {
    const r = await compileTarget(['policies', 'blueprints'], undefined, ROOT);
    expect(r.plan!.blueprints.map((b) => b.name)).toEqual(['etcd', 'mysql', 'mysql-snapshot', 'postgres', 'postgres-snapshot', 'quiesce', 'redis', 'sqlite']);
    const patches = r.plan!.transformSets.flatMap((t) => t.transforms.flatMap((x) => x.patch.map((p) => p.path)));
    expect(patches).toEqual(expect.arrayContaining(['/spec/storageClassName', '/spec/template/spec/containers/0/image', '/spec/replicas', '/spec/rules/0/host']));
  });
});

describe('schemas are strict and documented', () => {
  type S = Record<string, any>;
  const problems: string[] = [];
  const walk = (node: S, where: string, inDefs = false) => {
    if (!node || typeof node !== 'object') return;
    if (node.properties) {
      if (node.additionalProperties !== false && node.unevaluatedProperties !== false) problems.push(`${where}: object with properties is not closed`);
      for (const [k, v] of Object.entries(node.properties as S)) {
        if (typeof (v as S).description !== 'string' || !(v as S).description) problems.push(`${where}.${k}: no description`);
        walk(v as S, `${where}.${k}`);
      }
    }
    for (const key of ['items', 'additionalProperties']) if (node[key] && typeof node[key] === 'object') walk(node[key], `${where}[${key}]`);
    for (const key of ['anyOf', 'oneOf']) for (const [i, b] of ((node[key] ?? []) as S[]).entries()) walk(b, `${where}.${key}[${i}]`);
    if (node.$defs) for (const [k, v] of Object.entries(node.$defs as S)) walk(v as S, `${where}.$defs.${k}`, true);
    void inDefs;
  };
  const all = schemas();
  walk(all.common, 'common');
  for (const k of KINDS) walk(all.kinds[k], k);
  for (const f of FUNCTIONS) walk(all.functions[f], `functions/${f}`);

  it('every object is closed (additionalProperties: false) and every field has a description', () => {
    expect(problems).toEqual([]);
  });

  it('every schema is draft 2020-12 with an $id', () => {
    for (const s of [all.common, ...Object.values(all.kinds), ...Object.values(all.functions)]) {
      expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(s.$id).toMatch(/^https:\/\/coffer\.dev\/schemas\//);
    }
  });
});
