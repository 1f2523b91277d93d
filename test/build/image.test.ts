/**
 * deploy/Dockerfile against the build output, since there is no container engine here to build it: the image is
 * exactly the build folder (no file copied by hand from the checkout), every COPY source exists, and the sandbox's
 * `coffer` image (sandbox/runtime/images.ts) serves the same files at the same path with the same entrypoint.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUT } from '../../build/bundle.ts';
import { ensureBuild } from '../../build/ensure.ts';
import { readBuildInfo } from '../../build/stamp.js';
import { COFFER_BUILD_DIR, COFFER_IMAGE_DIR, resolveImage } from '../../sandbox/runtime/images.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Instruction {
  op: string;
  flags: Record<string, string>;
  args: string[];
  line: number;
}
interface Stage {
  name: string | undefined;
  from: string;
  workdir: string;
  steps: Instruction[];
}

/** Dockerfile instructions: comments dropped, `\` continuations joined, `--flag=value`s split off, JSON (exec) form or words. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let l = lines[i]!.trim();
    if (!l || l.startsWith('#')) continue;
    while (l.endsWith('\\') && i + 1 < lines.length) l = `${l.slice(0, -1)} ${lines[++i]!.trim()}`;
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile:${start + 1}: not an instruction: ${l}`);
    let rest = m[2]!;
    const flags: Record<string, string> = {};
    for (let f = /^--([\w-]+)=(\S+)\s+/.exec(rest); f; f = /^--([\w-]+)=(\S+)\s+/.exec(rest)) {
      flags[f[1]!] = f[2]!;
      rest = rest.slice(f[0].length);
    }
    const args = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
    out.push({ op: m[1]!.toUpperCase(), flags, args, line: start + 1 });
  }
  return out;
}

function stages(instructions: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') out.push({ from: ins.args[0]!, name: ins.args[2], workdir: '/', steps: [] });
    else {
      const s = out.at(-1)!;
      if (ins.op === 'WORKDIR') s.workdir = posix.resolve(s.workdir, ins.args[0]!);
      s.steps.push(ins);
    }
  }
  return out;
}

function walk(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(dir, `${rel}${e.name}/`) : [`${rel}${e.name}`]));
}

let dockerfile: Stage[];
beforeAll(async () => {
  await ensureBuild();
  dockerfile = stages(parseDockerfile(readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8')));
}, 300_000);

describe('deploy/Dockerfile', () => {
  it('parses instructions with continuations, flags and both command forms', () => {
    const got = parseDockerfile('# c\nFROM node:22 AS build\nCOPY --from=build --chown=1:1 /a/ /b/\nRUN a \\\n  && b\nENTRYPOINT ["node", "x.mjs"]\n');
    expect(got).toEqual([
      { op: 'FROM', flags: {}, args: ['node:22', 'AS', 'build'], line: 2 },
      { op: 'COPY', flags: { from: 'build', chown: '1:1' }, args: ['/a/', '/b/'], line: 3 },
      { op: 'RUN', flags: {}, args: ['a', '&&', 'b'], line: 4 },
      { op: 'ENTRYPOINT', flags: {}, args: ['node', 'x.mjs'], line: 6 },
    ]);
  });

  it('builds: every COPY source of the build stage exists in the checkout, the build stage runs npm run build', () => {
    const build = dockerfile[0]!;
    const copies = build.steps.filter((s) => s.op === 'COPY' || s.op === 'ADD');
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) for (const src of c.args.slice(0, -1)) expect(existsSync(join(ROOT, src)), `Dockerfile:${c.line}: ${src}`).toBe(true);
    expect(build.steps.some((s) => s.op === 'RUN' && s.args.join(' ') === 'npm run build')).toBe(true);
    // npm ci --ignore-scripts builds no add-on: the readers' zstd decoder (zstd-napi) is compiled by a step of its own,
    // else the image's readers would fall back to the slower decoders without a word
    expect(build.steps.some((s) => s.op === 'RUN' && /\bnpm rebuild zstd-napi\b/.test(s.args.join(' ')))).toBe(true);
    // What `COPY . .` must not carry in: the host's installed or built trees.
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.git']) expect(ignored, p).toContain(p);
  });

  it('the image holds exactly the build output, which is exactly what the sandbox coffer image mounts', () => {
    const [build, image] = [dockerfile[0]!, dockerfile.at(-1)!];
    const copies = image.steps.filter((s) => s.op === 'COPY' || s.op === 'ADD');
    // Nothing from the build context in the final image: only the build stage's output folder.
    const outFolder = posix.join(build.workdir, relative(ROOT, DEFAULT_OUT));
    for (const c of copies) {
      expect(c.op, `Dockerfile:${c.line}`).toBe('COPY');
      expect(c.flags.from, `Dockerfile:${c.line}: COPY without --from takes files from the checkout`).toBe(build.name);
    }
    const files = new Set<string>();
    for (const c of copies) {
      const dest = c.args.at(-1)!;
      for (const src of c.args.slice(0, -1)) {
        const rel = posix.relative(outFolder, src);
        expect(rel.startsWith('..'), `Dockerfile:${c.line}: ${src} is outside ${outFolder}`).toBe(false);
        const host = join(DEFAULT_OUT, rel);
        expect(existsSync(host), `Dockerfile:${c.line}: ${src} after npm run build`).toBe(true);
        for (const f of walk(host)) files.add(posix.join(dest, f));
      }
    }
    const listed = readBuildInfo(DEFAULT_OUT)!.files;
    expect([...files].sort()).toEqual(listed.map((f) => posix.join(COFFER_IMAGE_DIR, f)).sort());

    // The sandbox's image: the same host folder, mounted at the image's path, nothing else of Coffer's.
    const sandbox = resolveImage('ghcr.io/coffer-dev/coffer:latest', '/usr/bin/node')!;
    expect(COFFER_BUILD_DIR).toBe(DEFAULT_OUT);
    expect(sandbox.readOnlyMounts).toEqual([{ source: COFFER_BUILD_DIR, target: COFFER_IMAGE_DIR }]);
    const mounted = walk(COFFER_BUILD_DIR).map((f) => posix.join(COFFER_IMAGE_DIR, f));
    expect(mounted.sort()).toEqual([...files].sort());

    const entrypoint = image.steps.filter((s) => s.op === 'ENTRYPOINT').at(-1)!.args;
    expect(entrypoint).toEqual(['node', `${COFFER_IMAGE_DIR}/${readBuildInfo(DEFAULT_OUT)!.entry}`]);
    expect(sandbox.entrypoint.slice(1)).toEqual(entrypoint.slice(1));
    expect(sandbox.workingDir).toBe(image.workdir);
  });
});
