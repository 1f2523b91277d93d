import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { DocumentIndex } from '../documents.ts';
import { readDirectory } from './directory.ts';
import type { SourceFile } from './source.ts';
import { parseSourceFile } from './yaml.ts';

/** Blueprint names policies bind that no document in `index` defines. */
export function missingBlueprints(index: DocumentIndex): string[] {
  const defined = new Set(Object.values(index).filter((d) => d.kind === 'Blueprint').map((d) => d.name));
  const wanted = new Set<string>();
  for (const d of Object.values(index)) {
    if (d.kind !== 'Policy') continue;
    const spec = (d.value.spec ?? {}) as { blueprint?: unknown; blueprints?: unknown };
    if (typeof spec.blueprint === 'string') wanted.add(spec.blueprint);
    if (Array.isArray(spec.blueprints)) for (const b of spec.blueprints) if (typeof (b as { name?: unknown })?.name === 'string') wanted.add((b as { name: string }).name);
  }
  return [...wanted].filter((n) => !defined.has(n)).sort();
}

export interface Discovery {
  /** Files holding only Blueprints, each defining a name that was missing (paths as shown to the user). */
  files: SourceFile[];
  /** Every folder looked in, in order (as shown to the user). */
  searched: string[];
}

const SKIP = new Set(['node_modules', 'catalog', 'reports', 'runs']);

/**
 * Policies and their blueprints often live in sibling folders (`policies/`, `blueprints/`), and `coffer validate
 * policies` should not fail for that. Looks beside each folder validated — `blueprints/` first, then, when the folder
 * is part of a Git repository (so the siblings are the same repository), the other siblings — for files that hold only Blueprints, and takes a name only where exactly one file defines it, so a
 * test fixture or a copy elsewhere can never be picked by accident. Stops as soon as nothing is missing.
 */
export async function discoverBlueprints(dirs: string[], missing: string[], cwd: string): Promise<Discovery> {
  const given = new Set(dirs.map((d) => resolve(cwd, d)));
  const parents = [...new Set([...given].map((d) => dirname(d)))];
  const firstTier: string[] = [];
  const secondTier: string[] = [];
  for (const parent of parents) {
    let names: string[];
    try {
      names = (await readdir(parent, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    } catch {
      continue;
    }
    const inGit = gitWorkTree(parent);
    for (const n of names) {
      const full = join(parent, n);
      if (n.startsWith('.') || SKIP.has(n) || [...given].some((g) => g === full || g.startsWith(full + sep) || full.startsWith(g + sep))) continue;
      if (/^blueprints?$/i.test(n)) firstTier.push(full);
      else if (inGit) secondTier.push(full);
    }
  }
  const show = (p: string) => relative(cwd, p).split(sep).join('/') || '.';
  const want = new Set(missing);
  const files: SourceFile[] = [];
  const searched: string[] = [];
  for (const tier of [firstTier, secondTier]) {
    if (want.size === 0) break;
    const definers = new Map<string, SourceFile[]>();
    for (const folder of tier) {
      searched.push(show(folder));
      for (const f of await readDirectory(folder).catch(() => [] as SourceFile[])) {
        const file = { ...f, path: `${show(folder)}/${f.path}` };
        const { documents } = parseSourceFile(file);
        if (documents.length === 0 || documents.some((d) => d.value.kind !== 'Blueprint')) continue;
        for (const d of documents) {
          const name = (d.value.metadata as { name?: unknown } | undefined)?.name;
          if (typeof name === 'string' && want.has(name)) definers.set(name, [...(definers.get(name) ?? []), file]);
        }
      }
    }
    for (const [name, defs] of definers) {
      if (defs.length !== 1) continue; // ambiguous: left missing, and the message names the folders searched
      want.delete(name);
      if (!files.includes(defs[0]!)) files.push(defs[0]!);
    }
  }
  return { files, searched };
}


function gitWorkTree(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return true;
    if (dirname(d) === d) return false;
  }
}
