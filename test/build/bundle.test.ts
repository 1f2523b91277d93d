/**
 * `npm run build` (build/): the bundle runs on its own, outside the checkout, exactly what the sources do: the same
 * validation messages (its validators are compiled at build time), a real backup and restore on two worker threads,
 * and cli/coffer.js runs it only while it matches the sources.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { ValidateFunction } from 'ajv';
import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { DEFAULT_OUT } from '../../build/bundle.ts';
import { ensureBuild } from '../../build/ensure.ts';
import { isFresh, readBuildInfo, stampOf } from '../../build/stamp.js';
import { validatorsModule } from '../../build/validators.ts';
import { main } from '../../cli/main.ts';
import { compileValidators, type Validators } from '../../compiler/validate/validators.ts';
import { capture } from '../compiler/helpers.ts';
import { mulberry32 } from '../prng.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let work: string;
/** A copy of dist/ with no checkout (and no node_modules) above it, like the image's /opt/coffer. */
let image: string;

beforeAll(async () => {
  await ensureBuild();
  work = mkdtempSync(join(tmpdir(), 'coffer-build-'));
  image = join(work, 'opt', 'coffer');
  cpSync(DEFAULT_OUT, image, { recursive: true });
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const bundle = (args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []) =>
  run(process.execPath, [...nodeArgs, join(image, 'lib', 'coffer.mjs'), ...args], { cwd: work, env: { ...process.env, ...env } });
const settle = (p: Promise<{ stdout: string; stderr: string }>) =>
  p.then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }), ({ code, stdout, stderr }: { code: number; stdout: string; stderr: string }) => ({ code, stdout, stderr }));

describe('the build output', () => {
  it('lists exactly the files it holds, with no TypeScript and every runtime file the sources read', () => {
    const info = readBuildInfo(DEFAULT_OUT)!;
    const walk = (d: string, rel = ''): string[] => readdirSync(join(d, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(d, `${rel}${e.name}/`) : [`${rel}${e.name}`]));
    expect(walk(DEFAULT_OUT).sort()).toEqual(info.files);
    expect(info.files.filter((f) => f.endsWith('.ts') && !f.startsWith('node_modules/'))).toEqual([]);
    for (const f of ['lib/coffer.mjs', 'dashboard/index.html', 'schemas/policy.schema.json', 'schemas/functions/KubeExec.schema.json', 'blueprints/sqlite.yaml', 'sandbox/api/proto/k8s-descriptors.json', 'node_modules/kubernetes-models/apps/v1/Deployment.js']) {
      expect(info.files, f).toContain(f);
    }
    expect(isFresh(DEFAULT_OUT, ROOT)).toBe(true);
  });

  it('runs outside the checkout: --version, and validate prints what the sources print', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await bundle(['--version'])).stdout).toBe(`coffer ${pkg.version}\n`);
    const bad = join(work, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'p.yaml'), 'apiVersion: coffer.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: db\nspec:\n  frequency: "@daily"\n  retention:\n    daily: seven\n    dialy: 3\n  selector: {}\n');
    for (const args of [['validate', join(ROOT, 'policies'), join(ROOT, 'blueprints')], ['validate', 'bad'], ['validate', 'bad', '-o', 'json']]) {
      // The sources in this process (what tsx would run), against the bundle in its own.
      const c = capture(work);
      const code = await main(args, { ...c.io, env: process.env });
      expect(await settle(bundle(args)), args.join(' ')).toEqual({ code, stdout: c.out(), stderr: c.err() });
    }
  });

  it('backs up on two worker threads, restores on one beside the main thread, checks on two', async () => {
    const src = join(work, 'data');
    mkdirSync(join(src, 'sub'), { recursive: true });
    const rnd = mulberry32(15);
    const bytes = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (rnd() * 256) | 0;
    writeFileSync(join(src, 'random.bin'), bytes);
    writeFileSync(join(src, 'sub', 'text.txt'), 'hello\n'.repeat(100_000));
    // the native xattr add-on must load from dist/node_modules, with no checkout above it
    setAttributeSync(join(src, 'sub', 'text.txt'), 'user.origin', 'bundle');
    const env = { COFFER_REPOSITORY: join(work, 'repo'), COFFER_PASSWORD: 'build-test' };
    await bundle(['repo', 'init'], env);
    // Node's trace events record one Environment per thread: the main thread and each worker.
    const threads = async (args: string[], name: string): Promise<number> => {
      const file = join(work, `${name}.trace.json`);
      await bundle(args, env, ['--trace-event-categories', 'node.environment', '--trace-event-file-pattern', file]);
      const events = (JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: Array<{ name: string; tid: number }> }).traceEvents;
      return new Set(events.filter((e) => e.name === 'Environment').map((e) => e.tid)).size;
    };
    expect(await threads(['repo', 'backup', src], 'backup')).toBe(3);
    // the main thread is one of a restore's two decoders (restore-workers.ts); check keeps both on threads
    expect(await threads(['repo', 'restore', 'latest', join(work, 'out')], 'restore')).toBe(2);
    expect(await threads(['repo', 'check', '--read-data'], 'check')).toBe(3);
    expect(readFileSync(join(work, 'out', 'data', 'random.bin')).equals(bytes)).toBe(true);
    expect(readFileSync(join(work, 'out', 'data', 'sub', 'text.txt'), 'utf8')).toBe('hello\n'.repeat(100_000));
    expect(getAttributeSync(join(work, 'out', 'data', 'sub', 'text.txt'), 'user.origin')?.toString()).toBe('bundle');
    expect((await bundle(['repo', 'check', '--read-data'], env)).stdout).toMatch(/no errors/);
    // The readers decode zstd with zstd-napi from dist/node_modules: with the writer's add-on gone they still read
    // what it wrote (on Node 20, which has no zstd of its own, nothing else could; Node ≥ 22.15 could fall back)
    rmSync(join(image, 'node_modules', '@toondepauw'), { recursive: true });
    await bundle(['repo', 'restore', 'latest', join(work, 'out2')], env);
    expect(readFileSync(join(work, 'out2', 'data', 'sub', 'text.txt'), 'utf8')).toBe('hello\n'.repeat(100_000));
    expect((await bundle(['repo', 'check', '--read-data'], env)).stdout).toMatch(/no errors/);
  });

  it('cli/coffer.js runs the bundle while it is fresh, the sources with COFFER_TSX=1', async () => {
    const loaded = async (env: NodeJS.ProcessEnv) => {
      const { stderr } = await run(process.execPath, [join(ROOT, 'cli', 'coffer.js'), '--version'], { env: { ...process.env, ...env, NODE_DEBUG: 'esm' } });
      return stderr;
    };
    const fresh = await loaded({});
    expect(fresh).toContain(pathToFileURL(join(DEFAULT_OUT, 'lib', 'coffer.mjs')).href);
    expect(fresh).not.toContain('cli/main.ts');
    expect(await loaded({ COFFER_TSX: '1' })).toContain(pathToFileURL(join(ROOT, 'cli', 'main.ts')).href);
  });
});

describe('isFresh', () => {
  it.each([
    ['nothing changed', () => {}, true],
    ['a source edited (new mtime)', (d: string) => utimesSync(join(d, 'src', 'a.ts'), new Date(), new Date(Date.now() + 5_000)), false],
    ['a source removed', (d: string) => rmSync(join(d, 'src', 'a.ts')), false],
    ['a file added to a copied folder', (d: string) => writeFileSync(join(d, 'data', 'new.json'), '{}'), false],
    ['the build info missing', (d: string) => rmSync(join(d, 'out', 'coffer-build.json')), false],
  ])('%s → %s', (_name, change, want) => {
    const d = mkdtempSync(join(tmpdir(), 'coffer-fresh-'));
    try {
      for (const f of ['src/a.ts', 'data/x.json']) {
        mkdirSync(join(d, f, '..'), { recursive: true });
        writeFileSync(join(d, f), 'x');
      }
      utimesSync(join(d, 'data'), new Date(1e12), new Date(1e12));
      mkdirSync(join(d, 'out'));
      const inputs = Object.fromEntries(['src/a.ts', 'data/x.json', 'data'].map((f) => [f, stampOf(d, f)!]));
      writeFileSync(join(d, 'out', 'coffer-build.json'), JSON.stringify({ version: '0', entry: 'lib/coffer.mjs', inputs, files: [] }));
      change(d);
      expect(isFresh(join(d, 'out'), d)).toBe(want);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('validators compiled at build time', () => {
  let built: Validators;
  let runtime: Validators;
  beforeAll(async () => {
    // The generated module as the bundle gets it, its ajv runtime imports resolved from the checkout.
    const file = join(work, 'validators.mjs');
    writeFileSync(file, `import { createRequire } from 'node:module';\nconst require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});\n${validatorsModule()}`);
    built = ((await import(pathToFileURL(file).href)) as { compileValidators: () => Validators }).compileValidators();
    runtime = compileValidators();
  }, 60_000);

  /** Every document of the example repository, and mutants of each: a field dropped, a value of the wrong type. */
  function corpus(): Array<{ kind: string; doc: unknown; name: string }> {
    const out: Array<{ kind: string; doc: unknown; name: string }> = [];
    const files = ['policies', 'blueprints'].flatMap((d) => readdirSync(join(ROOT, d), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.yaml')).map((e) => join(e.parentPath, e.name)));
    files.push(...readdirSync(join(ROOT, 'test', 'compiler', 'fixtures')).map((f) => join(ROOT, 'test', 'compiler', 'fixtures', f)));
    const rnd = mulberry32(7);
    const wrong = ['x', 42, -1, true, null, {}, [], 'not a date', '../../etc'];
    for (const f of files) {
      for (const d of YAML.parseAllDocuments(readFileSync(f, 'utf8'))) {
        const doc = d.toJSON() as { kind: string };
        out.push({ kind: doc.kind, doc, name: f });
        const paths: string[][] = [];
        const walk = (v: unknown, p: string[]): void => {
          if (p.length) paths.push(p);
          if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
        };
        walk(doc, []);
        for (const p of paths) {
          const mutant = structuredClone(doc) as Record<string, unknown>;
          let parent: Record<string, unknown> = mutant;
          for (const k of p.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
          if (rnd() < 0.3) delete parent[p.at(-1)!];
          else parent[p.at(-1)!] = wrong[Math.floor(rnd() * wrong.length)];
          out.push({ kind: doc.kind, doc: mutant, name: `${f}:${p.join('.')}` });
        }
      }
    }
    return out;
  }

  it('accept and reject exactly what the run-time compiled ones do, with the same errors', () => {
    const docs = corpus();
    let rejected = 0;
    for (const { kind, doc, name } of docs) {
      const a = built.kinds.get(kind as never) as ValidateFunction;
      const b = runtime.kinds.get(kind as never) as ValidateFunction;
      const ok = a(doc);
      expect(ok, name).toBe(b(doc));
      expect(a.errors ?? null, name).toEqual(b.errors ?? null);
      if (!ok) rejected++;
    }
    expect(docs.length).toBeGreaterThan(500);
    expect(rejected).toBeGreaterThan(docs.length / 2);
  });
});
