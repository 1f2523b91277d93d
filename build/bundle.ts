/**
 * `npm run build`: the runtime in one folder (`dist/`), which is also the image (deploy/Dockerfile copies it, the
 * sandbox's `coffer` image binds it at /opt/coffer). Layout, mirroring the checkout for every file read at run time:
 *
 *   lib/coffer.mjs + lib/*.mjs   the CLI, bundled by esbuild (ESM, Node 20); each verb and the AWS SDK are chunks
 *                                loaded on first use, so `coffer --version` parses only the entry
 *   dashboard/ schemas/ blueprints/ sandbox/api/proto/k8s-descriptors.json   read at run time, at their checkout paths
 *   node_modules/                packages loaded by computed names (RUNTIME_PACKAGES) and their dependencies
 *   package.json, coffer-build.json   what was built from which inputs (build/stamp.js decides freshness)
 *
 * Source files locate those files with `new URL('../../dashboard/', import.meta.url)`. In the bundle every module's
 * `import.meta.url` becomes its checkout path under the build folder, so those expressions resolve the same way there.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { BUILD_INFO, stampOf, type BuildInfo } from './stamp.js';
import { validatorsModule } from './validators.ts';

/** The checkout: this file is `<checkout>/build/bundle.ts`. */
export const CHECKOUT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_OUT = join(CHECKOUT, 'dist');
export const ENTRY = 'lib/coffer.mjs';

/** Files and folders read at run time (found by grepping for readFileSync / import.meta.url / createRequire). */
const RUNTIME_FILES = ['dashboard', 'schemas', 'blueprints', 'sandbox/api/proto/k8s-descriptors.json'];
/** Never copied: documentation and the TypeScript next to the data. */
const SKIP = (rel: string): boolean => /\.(md|ts)$/.test(rel);
/**
 * Packages required by a computed name, which a bundler cannot follow: the sandbox's validation loads
 * `kubernetes-models/<group>/<version>/<Kind>` per kind on demand (sandbox/api/validate.ts).
 */
const RUNTIME_PACKAGES = [
  'kubernetes-models',
  // CEL's regular expressions, required on first use (compiler/cel/regex.ts) so start-up does not parse them
  're2js',
  // the data mover's extended attributes (repository/xattr.ts, loaded with createRequire) and its native binaries present here
  '@napi-rs/xattr',
  ...(existsSync(join(CHECKOUT, 'node_modules/@napi-rs')) ? readdirSync(join(CHECKOUT, 'node_modules/@napi-rs')).filter((n) => n.startsWith('xattr-')).map((n) => `@napi-rs/${n}`) : []),
  // the zstd blob codec (repository/compress.ts, createRequire; the workers load it from its resolved path) and its binaries present here
  '@toondepauw/node-zstd',
  ...(existsSync(join(CHECKOUT, 'node_modules/@toondepauw')) ? readdirSync(join(CHECKOUT, 'node_modules/@toondepauw')).filter((n) => n.startsWith('node-zstd-')).map((n) => `@toondepauw/${n}`) : []),
];
/**
 * Native add-ons built at install from the sources they ship: only what loads them is copied (not their C sources,
 * object files, or the download helper they depend on to fetch prebuilt binaries). zstd-napi: libzstd for the readers
 * and for the blobs a writer compresses on its own thread (repository/compress.ts `zstdNapi`, loaded by its resolved
 * path); a checkout where it did not build bundles without it, and both fall back to the other add-on.
 */
const NATIVE_FILES: Record<string, { binary: string; files: string[] }> = {
  'zstd-napi': { binary: 'build/Release/binding.node', files: ['package.json', 'binding.js', 'LICENSE', 'NOTICE'] },
};
/** Not needed to `require` a package: types, source maps, docs, and the ESM twins of CommonJS files. */
const PACKAGE_SKIP = /\.(d\.[mc]?ts|map|md|mjs)$/;
/** Optional native add-ons of `ws`, absent here; ws falls back to JavaScript when `require` throws. */
const OPTIONAL_NATIVE = ['bufferutil', 'utf-8-validate'];
/** Inputs that change what the bundle holds without being bundled sources. */
const LOCKFILES = ['package.json', 'package-lock.json', 'node_modules/.package-lock.json', 'build/bundle.ts', 'build/stamp.js', 'build/validators.ts'];

/** Rewrites `import.meta.url` (and `.filename`, `.dirname`) in Coffer's own sources to that module's checkout path under the build folder. */
const moduleUrls: esbuild.Plugin = {
  name: 'coffer-module-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const rel = relative(CHECKOUT, args.path).split(sep).join('/');
      if (rel.startsWith('..') || rel.startsWith('node_modules/')) return undefined;
      const url = `new URL(${JSON.stringify(rel)}, __cofferRoot)`;
      const dir = JSON.stringify(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : './');
      const contents = readFileSync(args.path, 'utf8')
        .replaceAll('import.meta.url', `${url}.href`)
        .replaceAll('import.meta.filename', `__cofferPath(${url})`)
        .replaceAll('import.meta.dirname', `__cofferPath(new URL(${dir}, __cofferRoot)).replace(/\\/$/, '')`);
      return { contents, loader: 'ts' };
    });
  },
};

/** compiler/validate/validators.ts → the validators compiled now (build/validators.ts). */
const precompiledValidators: esbuild.Plugin = {
  name: 'coffer-precompiled-validators',
  setup(b) {
    const target = join(CHECKOUT, 'compiler', 'validate', 'validators.ts');
    b.onLoad({ filter: /validators\.ts$/ }, (args) => (args.path === target ? { contents: validatorsModule(), loader: 'js', resolveDir: dirname(target) } : undefined));
  },
};

/**
 * commander loads node:child_process at start-up (~3.5 ms of every `coffer …`) for executable subcommands, which coffer
 * never uses: it is required on first use instead.
 */
const lazyChildProcess: esbuild.Plugin = {
  name: 'coffer-lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const eager = "const childProcess = require('node:child_process');";
      if (!text.includes(eager)) return undefined; // a commander that changed: bundle it as it is
      return { contents: text.replace(eager, "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };"), loader: 'js' };
    });
  },
};

/**
 * compiler/load/yaml.ts loads the `yaml` library on first use, with `createRequire(import.meta.url)('yaml')`, which
 * esbuild cannot follow: here that becomes a plain `require('yaml')`, which esbuild bundles as a CommonJS module
 * evaluated on the first call, so a `coffer validate` that never needs a position never evaluates the library.
 */
const lazyYaml: esbuild.Plugin = {
  name: 'coffer-lazy-yaml',
  setup(b) {
    // Also the catalog's document writer (reconciler/catalog/document.ts): listings never evaluate the library.
    const targets = new Set([join(CHECKOUT, 'compiler', 'load', 'yaml.ts'), join(CHECKOUT, 'reconciler', 'catalog', 'document.ts')]);
    b.onLoad({ filter: /[\\/](?:load[\\/]yaml|catalog[\\/]document)\.ts$/ }, (args) => {
      if (!targets.has(args.path)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      const lazy = "createRequire(import.meta.url)('yaml')";
      if (!text.includes(lazy) || text.replace(lazy, '').includes('import.meta')) throw new Error(`build: ${relative(CHECKOUT, args.path)} no longer loads yaml as the lazyYaml plugin expects`);
      return { contents: text.replace(lazy, "require('yaml')"), loader: 'ts' };
    });
  },
};

/** Every chunk lives in lib/: its own URL's parent is the build folder. CommonJS dependencies get a `require`. */
const BANNER = [
  "import { createRequire as __cofferCreateRequire } from 'node:module';",
  'const require = __cofferCreateRequire(import.meta.url);',
  "const __cofferRoot = new URL('../', import.meta.url);",
  "import { fileURLToPath as __cofferPath } from 'node:url';",
].join('\n');

function walkFiles(root: string, rel: string, out: string[], dirs: string[]): void {
  const abs = join(root, rel);
  if (!statSync(abs).isDirectory()) {
    out.push(rel);
    return;
  }
  dirs.push(rel);
  for (const e of readdirSync(abs).sort()) walkFiles(root, `${rel}/${e}`, out, dirs);
}

/** The package folders `names` need at run time: each package and, transitively, its dependencies as Node resolves them. */
export function packageClosure(checkout: string, names: string[]): string[] {
  const found = new Set<string>();
  const visit = (name: string, from: string): void => {
    // Node's lookup: <dir>/node_modules/<name>, then each parent's (require.resolve.paths is null for `punycode`,
    // which is also a built-in name).
    let dir: string | undefined;
    for (let d = from; !dir; d = dirname(d)) {
      if (existsSync(join(d, 'node_modules', name, 'package.json'))) dir = join(d, 'node_modules', name);
      if (d === dirname(d)) break;
    }
    if (!dir) throw new Error(`build: cannot find package "${name}" from ${relative(checkout, from) || '.'} (run npm ci)`);
    const rel = relative(checkout, dir).split(sep).join('/');
    if (found.has(rel)) return;
    found.add(rel);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir);
  };
  for (const n of names) visit(n, checkout);
  // A nested package (a/node_modules/b) comes along with its parent's folder.
  return [...found].sort().filter((d, _, all) => !all.some((p) => p !== d && d.startsWith(`${p}/`)));
}

/**
 * rename(out → old), rename(tmp → out); a concurrent build swapping at the same moment makes one of us try again.
 * The replaced build stays until the next build: a process still running it (a sandbox pod has it bind-mounted)
 * may yet load a lazy chunk from it.
 */
function swapIn(tmp: string, outDir: string): void {
  const parent = dirname(outDir);
  const prefix = `${basename(outDir)}.old-`;
  for (const e of readdirSync(parent)) if (e.startsWith(prefix)) rmSync(join(parent, e), { recursive: true, force: true });
  for (let attempt = 0; ; attempt++) {
    const old = `${outDir}.old-${process.pid}-${Date.now()}-${attempt}`;
    try {
      if (existsSync(outDir)) renameSync(outDir, old);
      renameSync(tmp, outDir);
      return;
    } catch (e) {
      if (attempt >= 5 || !['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
  }
}

export interface BuildResult {
  outDir: string;
  info: BuildInfo;
  /** Bytes of lib/ (the bundle), of the whole folder. */
  bundleBytes: number;
  totalBytes: number;
  ms: number;
}

/**
 * Builds into a fresh sibling folder and swaps it in with renames, so a reader (a running CLI, a sandbox pod
 * starting) sees the old build or the new one, never half of one, and two builds at once cannot interleave files.
 */
export async function build(opts: { checkout?: string; outDir?: string } = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const checkout = opts.checkout ?? CHECKOUT;
  const outDir = opts.outDir ?? DEFAULT_OUT;
  const tmp = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const pkg = JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')) as { version: string };
    const result = await esbuild.build({
      absWorkingDir: checkout,
      entryPoints: { 'lib/coffer': join(checkout, 'cli', 'bin.ts') },
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      chunkNames: 'lib/[name]-[hash]',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      minify: true,
      legalComments: 'none',
      external: OPTIONAL_NATIVE,
      banner: { js: BANNER },
      plugins: [precompiledValidators, lazyChildProcess, lazyYaml, moduleUrls],
      metafile: true,
      logLevel: 'warning',
    });
    const inputs: Record<string, string> = {};
    const stamp = (rel: string): void => {
      const s = stampOf(checkout, rel);
      if (s) inputs[rel] = s;
    };
    for (const rel of Object.keys(result.metafile.inputs)) if (!rel.startsWith('node_modules/')) stamp(rel);
    for (const rel of LOCKFILES) stamp(rel);

    for (const top of RUNTIME_FILES) {
      const files: string[] = [];
      const dirs: string[] = [];
      walkFiles(checkout, top, files, dirs);
      for (const d of dirs) stamp(d);
      for (const f of files.filter((f) => !SKIP(f))) {
        stamp(f);
        mkdirSync(dirname(join(tmp, f)), { recursive: true });
        cpSync(join(checkout, f), join(tmp, f));
      }
    }
    for (const dir of packageClosure(checkout, RUNTIME_PACKAGES)) {
      cpSync(join(checkout, dir), join(tmp, dir), { recursive: true, dereference: true, filter: (src) => !PACKAGE_SKIP.test(src) });
    }
    for (const [name, { binary, files }] of Object.entries(NATIVE_FILES)) {
      if (!existsSync(join(checkout, 'node_modules', name, binary))) continue;
      for (const rel of [...files, binary]) {
        mkdirSync(dirname(join(tmp, 'node_modules', name, rel)), { recursive: true });
        cpSync(join(checkout, 'node_modules', name, rel), join(tmp, 'node_modules', name, rel), { dereference: true });
      }
    }
    writeFileSync(join(tmp, 'package.json'), `${JSON.stringify({ name: 'coffer', version: pkg.version, private: true, type: 'module', bin: { coffer: ENTRY } }, null, 2)}\n`);

    const files: string[] = [];
    walkFiles(tmp, '.', files, []);
    const listed = files.map((f) => f.slice(2)).concat(BUILD_INFO).sort();
    const info: BuildInfo = { version: pkg.version, entry: ENTRY, inputs: Object.fromEntries(Object.entries(inputs).sort()), files: listed };
    writeFileSync(join(tmp, BUILD_INFO), `${JSON.stringify(info, null, 1)}\n`);

    swapIn(tmp, outDir);
    const size = (prefix: string): number => files.filter((f) => f.startsWith(prefix)).reduce((n, f) => n + statSync(join(outDir, f)).size, 0);
    return { outDir, info, bundleBytes: size('./lib/'), totalBytes: size('./'), ms: Math.round(performance.now() - t0) };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await build({ outDir: process.argv[2] });
  const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  process.stdout.write(`built ${relative(process.cwd(), r.outDir) || '.'}: bundle ${mib(r.bundleBytes)}, folder ${mib(r.totalBytes)}, ${r.info.files.length} files, ${r.ms} ms\n`);
}
