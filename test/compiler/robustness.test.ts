import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readDirectory } from '../../compiler/load/directory.ts';
import { compileSources } from '../../compiler/compile.ts';
import type { SourceFile } from '../../compiler/load/source.ts';
import { mulberry32 } from '../prng.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const JUNK = ['', '\t', '"', "'", '{{', '}}', '[', ']', '{', '}', ': ', '- ', '&a ', '*a', '!!binary ', '---\n', 'null', '-1', '1e999', '"\\u0000"', 'namespace', '@every 1s', '0 0 31 2 *', 'Mars/Olympus', '||', '(', 'x'.repeat(300)];

function mutate(text: string, r: () => number): string {
  const lines = text.split('\n');
  const n = 1 + Math.floor(r() * 3);
  for (let k = 0; k < n; k++) {
    const i = Math.floor(r() * lines.length);
    const line = lines[i] ?? '';
    const op = r();
    if (op < 0.25) lines.splice(i, 1);
    else if (op < 0.5) lines.splice(i, 0, lines[Math.floor(r() * lines.length)] ?? '');
    else {
      const at = Math.floor(r() * (line.length + 1));
      const cut = op < 0.75 ? Math.floor(r() * 4) : 0;
      lines[i] = line.slice(0, at) + JUNK[Math.floor(r() * JUNK.length)] + line.slice(at + cut);
    }
  }
  return lines.join('\n');
}

describe('robustness: mutated repositories never crash the compiler', () => {
  it('100 random mutations of the shipped examples produce diagnostics, never an exception', async () => {
    const files: SourceFile[] = [...(await readDirectory(`${ROOT}/policies`)), ...(await readDirectory(`${ROOT}/blueprints`))];
    const texts = files.map((f) => new TextDecoder().decode(f.bytes));
    const r = mulberry32(20261125);
    let withErrors = 0;
    for (let round = 0; round < 100; round++) {
      const victim = Math.floor(r() * files.length);
      const mutated = files.map((f, i) => (i === victim ? { path: f.path, bytes: new TextEncoder().encode(mutate(texts[i]!, r)) } : f));
      let result;
      try {
        result = compileSources(mutated, '');
      } catch (e) {
        throw new Error(`round ${round}, ${files[victim]!.path}: ${(e as Error).stack}\n--- input ---\n${new TextDecoder().decode(mutated[victim]!.bytes)}`);
      }
      for (const d of result.diagnostics) {
        expect(d.line).toBeGreaterThanOrEqual(d.file ? 1 : 0);
        expect(d.message).not.toMatch(/undefined|\[object Object\]|NaN/);
      }
      if (result.diagnostics.some((d) => d.severity === 'error')) withErrors++;
    }
    expect(withErrors).toBeGreaterThan(25);
  });
});
